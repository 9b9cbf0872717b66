package log

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Sync uses fdatasync: the log needs the data and the size durable, and
// skipping the inode timestamps saves a journal write per flush.
func (f osFile) Sync() error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
		}
		return nil
	}
}

// fileSystemID is the device number of the file system holding name (after
// symbolic links).
func (osFS) fileSystemID(name string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(name, &st); err != nil {
		return 0, &os.PathError{Op: "stat", Path: name, Err: err}
	}
	return uint64(st.Dev), nil
}

// syncfsDirs keeps one open descriptor per synced file system root for the
// life of the process: syncfs reports a writeback error to each descriptor
// that was open when it happened, so a descriptor opened just for the call
// would miss errors from before it.
var syncfsDirs sync.Map // dir -> *os.File

// PrepareSyncFS opens the descriptor SyncFS will use for dir. Call it before
// anything is written there, so that no writeback error goes unseen.
func PrepareSyncFS(fsys FS, dir string) error {
	if _, ok := fsys.(osFS); !ok || !syncfsReportsErrors() {
		return nil
	}
	_, err := syncfsFile(dir)
	return err
}

func syncfsFile(dir string) (*os.File, error) {
	if f, ok := syncfsDirs.Load(dir); ok {
		return f.(*os.File), nil
	}
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if prev, loaded := syncfsDirs.LoadOrStore(dir, f); loaded {
		f.Close()
		return prev.(*os.File), nil
	}
	return f, nil
}

// canSyncFS is true only where syncfs reports every failure a per-file
// fdatasync would: writeback errors on any file since Linux 5.8 (a
// per-super-block error sequence), and errors from the file system's own
// sync, such as a failed ext4 journal commit, since 5.17 (before, the VFS
// dropped them). On an older kernel a sync round could report success
// for batches whose data or size never reached the disk, so partitions
// are synced one by one there.
func (osFS) canSyncFS() bool { return syncfsReportsErrors() }

var syncfsReportsErrors = sync.OnceValue(func() bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	return kernelAtLeast(unix.ByteSliceToString(u.Release[:]), 5, 17)
})

// kernelAtLeast reports whether a kernel release string ("6.8.0-49-generic",
// "5.17.0-rc1") names version major.minor or later; an unreadable one
// counts as older.
func kernelAtLeast(release string, major, minor int) bool {
	fields := strings.SplitN(release, ".", 3)
	if len(fields) < 2 {
		return false
	}
	maj, err := strconv.Atoi(fields[0])
	if err != nil {
		return false
	}
	end := strings.IndexFunc(fields[1], func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(fields[1])
	}
	mnr, err := strconv.Atoi(fields[1][:end])
	if err != nil {
		return false
	}
	return maj > major || maj == major && mnr >= minor
}

func (osFS) SyncFS(dir string) error {
	f, err := syncfsFile(dir)
	if err != nil {
		return err
	}
	for {
		err := unix.Syncfs(int(f.Fd()))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "syncfs", Path: dir, Err: err}
		}
		return nil
	}
}

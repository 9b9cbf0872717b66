package log

import (
	"os"
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

// syncfsDirs keeps one open descriptor per synced file system root for the
// life of the process: syncfs reports a writeback error to each descriptor
// that was open when it happened, so a descriptor opened just for the call
// would miss errors from before it.
var syncfsDirs sync.Map // dir -> *os.File

// PrepareSyncFS opens the descriptor SyncFS will use for dir. Call it before
// anything is written there, so that no writeback error goes unseen.
func PrepareSyncFS(fsys FS, dir string) error {
	if _, ok := fsys.(osFS); !ok {
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

func (osFS) canSyncFS() bool { return true }

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

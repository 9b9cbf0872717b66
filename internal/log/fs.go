package log

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// FS is every file-system operation the log performs. The log never touches
// the os package directly, so tests can run it on MemFS (and crash it) or on
// FaultFS (and make the disk fail).
type FS interface {
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	Remove(name string) error
	RemoveAll(path string) error
	Rename(oldpath, newpath string) error
	MkdirAll(path string, perm os.FileMode) error
	// ReadDir returns the sorted names of the entries of a directory.
	ReadDir(name string) ([]string, error)
	Stat(name string) (os.FileInfo, error)
	// SyncDir makes the entries of a directory durable: files created,
	// renamed or removed in it survive a power loss only after it.
	SyncDir(name string) error
}

// File is an open file. ReadAt and WriteAt do not move a shared file
// position, so readers and the appender can use one File concurrently.
type File interface {
	io.ReaderAt
	io.Writer
	io.WriterAt
	io.Closer
	// Sync makes the file's data durable (fdatasync: the size is included,
	// the modification time need not be).
	Sync() error
	Truncate(size int64) error
	Size() (int64, error)
}

// OS is the FS of the operating system.
var OS FS = osFS{}

type osFS struct{}

type osFile struct{ *os.File }

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Remove(name string) error               { return os.Remove(name) }
func (osFS) RemoveAll(path string) error            { return os.RemoveAll(path) }
func (osFS) Rename(oldpath, newpath string) error   { return os.Rename(oldpath, newpath) }
func (osFS) MkdirAll(p string, m os.FileMode) error { return os.MkdirAll(p, m) }
func (osFS) Stat(name string) (os.FileInfo, error)  { return os.Stat(name) }

func (osFS) ReadDir(name string) ([]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	return names, nil
}

func (osFS) SyncDir(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (f osFile) Size() (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// isNotExist reports whether err says a file is missing, on any FS.
func isNotExist(err error) bool { return errors.Is(err, os.ErrNotExist) }

func join(dir, name string) string { return filepath.Join(dir, name) }

// FileSystemSyncer is an FS that can make everything written to the file
// system holding a directory durable in one call (Linux syncfs): one
// journal commit for any number of files. A flush round uses it to cover
// many partitions at once instead of syncing each file.
type FileSystemSyncer interface {
	canSyncFS() bool
	// SyncFS makes durable every file's data and every directory entry
	// written before the call on the file system that holds dir. Errors
	// from writeback anywhere on it since the previous SyncFS are
	// reported: a failure means nothing it covered may be trusted.
	SyncFS(dir string) error
}

// SupportsSyncFS reports whether fsys can sync a whole file system at once.
func SupportsSyncFS(fsys FS) bool {
	s, ok := fsys.(FileSystemSyncer)
	return ok && s.canSyncFS()
}

// fileSystemIdentifier is an FS that can tell which file system holds a
// path (Linux: the device of stat), for FileSystemOf.
type fileSystemIdentifier interface {
	fileSystemID(name string) (uint64, error)
}

// FileSystemOf identifies the file system holding dir, or for a dir not
// created yet the nearest existing directory above it (where it would be
// created); ok is false when it cannot be examined. An FS that is a single
// file system gives 0. A SyncFS of one directory makes what is written
// under another durable when both give the same id.
func FileSystemOf(fsys FS, dir string) (id uint64, ok bool) {
	fi, isID := fsys.(fileSystemIdentifier)
	if !isID {
		return 0, true
	}
	for {
		id, err := fi.fileSystemID(dir)
		if err == nil {
			return id, true
		}
		up := filepath.Dir(dir)
		if !errors.Is(err, fs.ErrNotExist) || up == dir {
			return 0, false
		}
		dir = up
	}
}

// errUnsupportedSyncFS: the FS cannot sync a whole file system.
var errUnsupportedSyncFS = errors.New("log: the file system cannot be synced as a whole")

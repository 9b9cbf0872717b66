package log

import (
	"errors"
	"os"
	"strings"
	"sync"
)

// Op is a set of file-system operations a Fault applies to.
type Op uint32

const (
	OpOpen Op = 1 << iota
	OpRead
	OpWrite // Write and WriteAt
	OpSync
	OpTruncate
	OpRename
	OpRemove // Remove and RemoveAll
	OpSyncDir
	OpMkdir
	OpReadDir
	OpStat
	OpAll Op = 1<<iota - 1
)

// Fault is an error that FaultFS returns from matching operations.
type Fault struct {
	Ops Op
	// Path selects the operations on paths containing it ("" matches all).
	// For Rename both paths are tried.
	Path string
	// Err is returned wrapped in an *os.PathError, e.g. syscall.ENOSPC.
	Err error
	// After lets this many matching operations succeed before failing.
	After int
	// Times bounds how many operations fail (0: every one until cleared).
	Times int
	// Partial makes a failing write store the first half of its bytes
	// first, as a short write on a full disk does.
	Partial bool
	// DropUnsynced makes a failing Sync also discard the file's data written
	// since its last successful Sync, as Linux does when writeback fails
	// (the pages are marked clean and the next fsync succeeds). It needs a
	// MemFS underneath.
	DropUnsynced bool

	seen, failed int
}

// FaultFS wraps an FS and fails the operations that match injected faults.
type FaultFS struct {
	inner  FS
	mu     sync.Mutex
	faults []*Fault
	hits   int
	open   map[*faultFile]struct{} // for SyncFS: the files it would cover
}

// NewFaultFS wraps inner.
func NewFaultFS(inner FS) *FaultFS { return &FaultFS{inner: inner} }

// Inject adds a fault.
func (f *FaultFS) Inject(ft Fault) {
	f.mu.Lock()
	f.faults = append(f.faults, &ft)
	f.mu.Unlock()
}

// Clear removes every fault.
func (f *FaultFS) Clear() {
	f.mu.Lock()
	f.faults = nil
	f.mu.Unlock()
}

// Hits is the number of operations failed so far.
func (f *FaultFS) Hits() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits
}

// fault returns the fault that fails this operation, if any.
func (f *FaultFS) fault(op Op, paths ...string) *Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ft := range f.faults {
		if ft.Ops&op == 0 || ft.Times > 0 && ft.failed >= ft.Times {
			continue
		}
		match := ft.Path == ""
		for _, p := range paths {
			match = match || strings.Contains(p, ft.Path)
		}
		if !match {
			continue
		}
		ft.seen++
		if ft.seen <= ft.After {
			continue
		}
		ft.failed++
		f.hits++
		c := *ft
		return &c
	}
	return nil
}

func (f *FaultFS) err(op Op, name string) error {
	if ft := f.fault(op, name); ft != nil {
		return &os.PathError{Op: "fault", Path: name, Err: ft.Err}
	}
	return nil
}

func (f *FaultFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if err := f.err(OpOpen, name); err != nil {
		return nil, err
	}
	file, err := f.inner.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	ff := &faultFile{File: file, fs: f, name: name}
	f.mu.Lock()
	if f.open == nil {
		f.open = map[*faultFile]struct{}{}
	}
	f.open[ff] = struct{}{}
	f.mu.Unlock()
	return ff, nil
}

func (f *FaultFS) Remove(name string) error {
	if err := f.err(OpRemove, name); err != nil {
		return err
	}
	return f.inner.Remove(name)
}

func (f *FaultFS) RemoveAll(name string) error {
	if err := f.err(OpRemove, name); err != nil {
		return err
	}
	return f.inner.RemoveAll(name)
}

func (f *FaultFS) Rename(oldpath, newpath string) error {
	if ft := f.fault(OpRename, oldpath, newpath); ft != nil {
		return &os.LinkError{Op: "fault", Old: oldpath, New: newpath, Err: ft.Err}
	}
	return f.inner.Rename(oldpath, newpath)
}

func (f *FaultFS) MkdirAll(name string, perm os.FileMode) error {
	if err := f.err(OpMkdir, name); err != nil {
		return err
	}
	return f.inner.MkdirAll(name, perm)
}

func (f *FaultFS) ReadDir(name string) ([]string, error) {
	if err := f.err(OpReadDir, name); err != nil {
		return nil, err
	}
	return f.inner.ReadDir(name)
}

func (f *FaultFS) Stat(name string) (os.FileInfo, error) {
	if err := f.err(OpStat, name); err != nil {
		return nil, err
	}
	return f.inner.Stat(name)
}

func (f *FaultFS) SyncDir(name string) error {
	if err := f.err(OpSyncDir, name); err != nil {
		return err
	}
	return f.inner.SyncDir(name)
}

type faultFile struct {
	File
	fs   *FaultFS
	name string
}

func (f *faultFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.fs.err(OpRead, f.name); err != nil {
		return 0, err
	}
	return f.File.ReadAt(p, off)
}

func (f *faultFile) Write(p []byte) (int, error) {
	if ft := f.fs.fault(OpWrite, f.name); ft != nil {
		n := 0
		if ft.Partial {
			n, _ = f.File.Write(p[:len(p)/2])
		}
		return n, &os.PathError{Op: "fault", Path: f.name, Err: ft.Err}
	}
	return f.File.Write(p)
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	if ft := f.fs.fault(OpWrite, f.name); ft != nil {
		n := 0
		if ft.Partial {
			n, _ = f.File.WriteAt(p[:len(p)/2], off)
		}
		return n, &os.PathError{Op: "fault", Path: f.name, Err: ft.Err}
	}
	return f.File.WriteAt(p, off)
}

func (f *faultFile) Sync() error {
	if ft := f.fs.fault(OpSync, f.name); ft != nil {
		if d, ok := f.File.(interface{ dropUnsynced() }); ok && ft.DropUnsynced {
			d.dropUnsynced()
		}
		return &os.PathError{Op: "fault", Path: f.name, Err: ft.Err}
	}
	return f.File.Sync()
}

func (f *faultFile) Truncate(size int64) error {
	if err := f.fs.err(OpTruncate, f.name); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

func (f *FaultFS) fileSystemID(name string) (uint64, error) {
	if id, ok := f.inner.(fileSystemIdentifier); ok {
		return id.fileSystemID(name)
	}
	return 0, nil
}

func (f *FaultFS) canSyncFS() bool {
	s, ok := f.inner.(FileSystemSyncer)
	return ok && s.canSyncFS()
}

// SyncFS fails when a sync fault matches the directory or any file opened
// through the FaultFS (a writeback error on any file fails syncfs). With
// DropUnsynced, the matching files lose their unsynced data first, and
// nothing is synced.
func (f *FaultFS) SyncFS(dir string) error {
	f.mu.Lock()
	open := make([]*faultFile, 0, len(f.open))
	for ff := range f.open {
		open = append(open, ff)
	}
	f.mu.Unlock()
	for _, ff := range open {
		if ft := f.fault(OpSync, dir, ff.name); ft != nil {
			if ft.DropUnsynced {
				for _, other := range open {
					if ft.Path == "" || strings.Contains(other.name, ft.Path) {
						if d, ok := other.File.(interface{ dropUnsynced() }); ok {
							d.dropUnsynced()
						}
					}
				}
			}
			return &os.PathError{Op: "fault", Path: dir, Err: ft.Err}
		}
	}
	if err := f.err(OpSync, dir); err != nil {
		return err
	}
	s, ok := f.inner.(FileSystemSyncer)
	if !ok {
		return errors.ErrUnsupported
	}
	return s.SyncFS(dir)
}

func (f *faultFile) Close() error {
	f.fs.mu.Lock()
	delete(f.fs.open, f)
	f.fs.mu.Unlock()
	return f.File.Close()
}

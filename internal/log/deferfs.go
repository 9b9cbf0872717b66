package log

import (
	"os"
	"sync/atomic"
	"syscall"
)

// DeferredFS wraps an FS so that, while deferring, file and directory
// syncs do nothing: work on thousands of logs at once (creating a topic's
// partitions, closing them all at shutdown) then makes everything durable
// with one SyncFS of the whole file system instead of several syncs per
// log. Outside such a phase every call goes straight through.
//
// The caller owns the ordering: nothing written while deferring may be
// relied on (acknowledged, or vouched for by a later write) before the
// SyncFS that ends the phase.
type DeferredFS struct {
	FS
	deferring atomic.Int32
}

// NewDeferredFS wraps fsys.
func NewDeferredFS(fsys FS) *DeferredFS { return &DeferredFS{FS: fsys} }

// Defer starts a phase; phases nest. It returns the function that ends it.
func (d *DeferredFS) Defer() (end func()) {
	d.deferring.Add(1)
	return func() { d.deferring.Add(-1) }
}

func (d *DeferredFS) on() bool { return d.deferring.Load() > 0 }

// OpenFile opens a file whose Sync honours the phase.
func (d *DeferredFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := d.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &deferredFile{File: f, d: d}, nil
}

// SyncDir does nothing while deferring.
func (d *DeferredFS) SyncDir(name string) error {
	if d.on() {
		return nil
	}
	return d.FS.SyncDir(name)
}

func (d *DeferredFS) canSyncFS() bool { return SupportsSyncFS(d.FS) }

func (d *DeferredFS) fileSystemID(name string) (uint64, error) {
	if id, ok := d.FS.(fileSystemIdentifier); ok {
		return id.fileSystemID(name)
	}
	return 0, nil
}

// SyncFS always syncs: it is what ends a phase.
func (d *DeferredFS) SyncFS(dir string) error {
	s, ok := d.FS.(FileSystemSyncer)
	if !ok {
		return errUnsupportedSyncFS
	}
	return s.SyncFS(dir)
}

type deferredFile struct {
	File
	d *DeferredFS
}

func (f *deferredFile) Sync() error {
	if f.d.on() {
		return nil
	}
	return f.File.Sync()
}

// SyscallConn passes the descriptor through, for sendfile.
func (f *deferredFile) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := f.File.(interface {
		SyscallConn() (syscall.RawConn, error)
	}); ok {
		return sc.SyscallConn()
	}
	return nil, errUnsupportedSyncFS
}

// dropUnsynced passes FaultFS's power-loss simulation through.
func (f *deferredFile) dropUnsynced() {
	if d, ok := f.File.(interface{ dropUnsynced() }); ok {
		d.dropUnsynced()
	}
}

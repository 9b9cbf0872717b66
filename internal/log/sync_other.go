//go:build !linux

package log

import "errors"

// Sync falls back to fsync where fdatasync is not available.
func (f osFile) Sync() error { return f.File.Sync() }

func (osFS) canSyncFS() bool { return false }

// SyncFS is unavailable here; callers check SupportsSyncFS and sync files
// one by one instead.
func (osFS) SyncFS(dir string) error { return errors.ErrUnsupported }

// PrepareSyncFS has nothing to prepare where SyncFS is unavailable.
func PrepareSyncFS(fsys FS, dir string) error { return nil }

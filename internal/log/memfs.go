package log

import (
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// MemFS is an in-memory FS that remembers what was made durable, so that a
// test can simulate a power loss with CrashClone.
//
// Its durability model is the one POSIX promises and no more: a file's data
// (and size) is durable as of its last Sync; a directory's entries (files
// created, renamed, removed; subdirectories made) are durable as of the last
// SyncDir of that directory. Relative and absolute paths name the same tree.
// Removed or renamed files stay readable through handles already open, as on
// Unix.
type MemFS struct {
	mu     sync.Mutex
	root   *memNode
	now    func() time.Time
	mounts int // file systems mounted so far (their ids)
}

type memNode struct {
	// Files: data is the current content, synced the content as of the last
	// Sync (nil slice and clean=false when never synced).
	data   []byte
	synced []byte
	dirty  bool
	mtime  time.Time

	// Directories: entries now, and as of the last SyncDir.
	dir        bool
	entries    map[string]*memNode
	durEntries map[string]*memNode
	// mount, when not zero, makes the directory the root of another file
	// system (see Mount): a SyncFS of the one above stops here.
	mount int
}

// NewMemFS returns an empty in-memory FS.
func NewMemFS() *MemFS {
	return &MemFS{root: newMemDir(), now: time.Now}
}

// SetClock sets the clock that stamps modification times.
func (m *MemFS) SetClock(now func() time.Time) {
	m.mu.Lock()
	m.now = now
	m.mu.Unlock()
}

func newMemDir() *memNode {
	return &memNode{dir: true, entries: map[string]*memNode{}, durEntries: map[string]*memNode{}}
}

func splitPath(name string) []string {
	name = path.Clean("/" + strings.ReplaceAll(name, `\`, "/"))
	if name == "/" {
		return nil
	}
	return strings.Split(name[1:], "/")
}

// lookupParent returns the directory holding the last element of name.
func (m *MemFS) lookupParent(op, name string) (*memNode, string, error) {
	parts := splitPath(name)
	if len(parts) == 0 {
		return nil, "", &os.PathError{Op: op, Path: name, Err: syscall.EINVAL}
	}
	d := m.root
	for _, p := range parts[:len(parts)-1] {
		n := d.entries[p]
		if n == nil {
			return nil, "", &os.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		if !n.dir {
			return nil, "", &os.PathError{Op: op, Path: name, Err: syscall.ENOTDIR}
		}
		d = n
	}
	return d, parts[len(parts)-1], nil
}

func (m *MemFS) lookup(op, name string) (*memNode, error) {
	if len(splitPath(name)) == 0 {
		return m.root, nil
	}
	d, base, err := m.lookupParent(op, name)
	if err != nil {
		return nil, err
	}
	n := d.entries[base]
	if n == nil {
		return nil, &os.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return n, nil
}

// lookupDir is lookup for a name that must be a directory.
func (m *MemFS) lookupDir(op, name string) (*memNode, error) {
	n, err := m.lookup(op, name)
	if err == nil && !n.dir {
		err = &os.PathError{Op: op, Path: name, Err: syscall.ENOTDIR}
	}
	return n, err
}

// OpenFile opens or creates a file. O_RDONLY, O_WRONLY, O_RDWR, O_CREATE,
// O_EXCL, O_TRUNC and O_APPEND behave as with os.OpenFile.
func (m *MemFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, base, err := m.lookupParent("open", name)
	if err != nil {
		return nil, err
	}
	n := d.entries[base]
	switch {
	case n == nil && flag&os.O_CREATE == 0:
		return nil, &os.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	case n != nil && flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL:
		return nil, &os.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	case n != nil && n.dir && flag&(os.O_WRONLY|os.O_RDWR) != 0:
		return nil, &os.PathError{Op: "open", Path: name, Err: syscall.EISDIR}
	case n == nil:
		n = &memNode{mtime: m.now()}
		d.entries[base] = n
	}
	if flag&os.O_TRUNC != 0 && !n.dir {
		n.data = n.data[:0]
		n.dirty = true
		n.mtime = m.now()
	}
	return &memFile{fs: m, n: n, name: name, flag: flag}, nil
}

// Remove removes a file or an empty directory.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, base, err := m.lookupParent("remove", name)
	if err != nil {
		return err
	}
	n := d.entries[base]
	if n == nil {
		return &os.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	if n.dir && len(n.entries) > 0 {
		return &os.PathError{Op: "remove", Path: name, Err: syscall.ENOTEMPTY}
	}
	delete(d.entries, base)
	return nil
}

// RemoveAll removes name and everything below it; a missing name is not an
// error.
func (m *MemFS) RemoveAll(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(splitPath(name)) == 0 {
		m.root.entries = map[string]*memNode{}
		return nil
	}
	d, base, err := m.lookupParent("removeall", name)
	if err != nil {
		if isNotExist(err) {
			return nil
		}
		return err
	}
	delete(d.entries, base)
	return nil
}

// Rename moves oldpath to newpath, replacing a file at newpath.
func (m *MemFS) Rename(oldpath, newpath string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	od, obase, err := m.lookupParent("rename", oldpath)
	if err != nil {
		return err
	}
	n := od.entries[obase]
	if n == nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrNotExist}
	}
	nd, nbase, err := m.lookupParent("rename", newpath)
	if err != nil {
		return err
	}
	if t := nd.entries[nbase]; t != nil && t.dir && (!n.dir || len(t.entries) > 0) {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: syscall.EEXIST}
	}
	delete(od.entries, obase)
	nd.entries[nbase] = n
	return nil
}

// MkdirAll creates a directory and any missing parents.
func (m *MemFS) MkdirAll(name string, perm os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.root
	for _, p := range splitPath(name) {
		n := d.entries[p]
		if n == nil {
			n = newMemDir()
			n.mtime = m.now()
			d.entries[p] = n
		} else if !n.dir {
			return &os.PathError{Op: "mkdir", Path: name, Err: syscall.ENOTDIR}
		}
		d = n
	}
	return nil
}

// ReadDir returns the sorted entry names of a directory.
func (m *MemFS) ReadDir(name string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupDir("readdir", name)
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(n.entries)), nil
}

// Stat describes a file or directory.
func (m *MemFS) Stat(name string) (os.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup("stat", name)
	if err != nil {
		return nil, err
	}
	parts := splitPath(name)
	base := "/"
	if len(parts) > 0 {
		base = parts[len(parts)-1]
	}
	return memInfo{name: base, size: int64(len(n.data)), dir: n.dir, mtime: n.mtime}, nil
}

// SyncDir makes the current entries of a directory durable.
func (m *MemFS) SyncDir(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupDir("syncdir", name)
	if err != nil {
		return err
	}
	n.durEntries = maps.Clone(n.entries)
	return nil
}

// CrashClone returns a new MemFS holding what would survive a power loss
// now: the durable entries of each durable directory, each file with its
// data as of its last Sync. The receiver is unchanged.
func (m *MemFS) CrashClone() *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := &MemFS{now: m.now, mounts: m.mounts}
	c.root = crashCopy(m.root, map[*memNode]*memNode{})
	return c
}

func crashCopy(n *memNode, seen map[*memNode]*memNode) *memNode {
	if c, ok := seen[n]; ok {
		return c
	}
	if !n.dir {
		c := &memNode{data: slices.Clone(n.synced), mtime: n.mtime}
		c.synced = slices.Clone(c.data)
		seen[n] = c
		return c
	}
	c := newMemDir()
	c.mtime, c.mount = n.mtime, n.mount
	seen[n] = c
	for name, e := range n.durEntries {
		c.entries[name] = crashCopy(e, seen)
	}
	c.durEntries = maps.Clone(c.entries)
	return c
}

// Clone returns a copy of the current state as a killed process (kill -9)
// leaves it: everything written is there, and what was not yet synced is
// still not durable, so a CrashClone of the copy loses it.
func (m *MemFS) Clone() *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	return &MemFS{now: m.now, mounts: m.mounts, root: fullCopy(m.root, map[*memNode]*memNode{})}
}

func fullCopy(n *memNode, seen map[*memNode]*memNode) *memNode {
	if c, ok := seen[n]; ok {
		return c
	}
	if !n.dir {
		c := &memNode{data: slices.Clone(n.data), dirty: n.dirty, mtime: n.mtime}
		if n.synced != nil {
			c.synced = slices.Clone(n.synced)
		}
		seen[n] = c
		return c
	}
	c := newMemDir()
	c.mtime, c.mount = n.mtime, n.mount
	seen[n] = c
	for name, e := range n.entries {
		c.entries[name] = fullCopy(e, seen)
	}
	for name, e := range n.durEntries {
		c.durEntries[name] = fullCopy(e, seen)
	}
	return c
}

type memInfo struct {
	name  string
	size  int64
	dir   bool
	mtime time.Time
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) ModTime() time.Time { return i.mtime }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }
func (i memInfo) Mode() os.FileMode {
	if i.dir {
		return os.ModeDir | 0o755
	}
	return 0o644
}

// memFile is an open handle. It shares the MemFS lock: tests do not need
// more concurrency than that, and it keeps the race detector meaningful.
type memFile struct {
	fs     *MemFS
	n      *memNode
	name   string
	flag   int
	off    int64
	closed bool
}

func (f *memFile) check(op string, write bool) error {
	if f.closed {
		return &os.PathError{Op: op, Path: f.name, Err: os.ErrClosed}
	}
	if f.n.dir {
		return &os.PathError{Op: op, Path: f.name, Err: syscall.EISDIR}
	}
	acc := f.flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
	if write && acc == os.O_RDONLY || !write && acc == os.O_WRONLY {
		return &os.PathError{Op: op, Path: f.name, Err: syscall.EBADF}
	}
	return nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("read", false); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &os.PathError{Op: "read", Path: f.name, Err: syscall.EINVAL}
	}
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.n.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) writeAt(p []byte, off int64) {
	end := off + int64(len(p))
	if end > int64(len(f.n.data)) {
		if end > int64(cap(f.n.data)) {
			grown := make([]byte, end, max(end, 2*int64(cap(f.n.data))))
			copy(grown, f.n.data)
			f.n.data = grown
		} else {
			old := int64(len(f.n.data))
			f.n.data = f.n.data[:end]
			if off > old {
				clear(f.n.data[old:off])
			}
		}
	}
	copy(f.n.data[off:], p)
	f.n.dirty = true
	f.n.mtime = f.fs.now()
}

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("write", true); err != nil {
		return 0, err
	}
	if f.flag&os.O_APPEND != 0 {
		f.off = int64(len(f.n.data))
	}
	f.writeAt(p, f.off)
	f.off += int64(len(p))
	return len(p), nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("write", true); err != nil {
		return 0, err
	}
	if f.flag&os.O_APPEND != 0 {
		return 0, &os.PathError{Op: "write", Path: f.name, Err: syscall.EINVAL}
	}
	if off < 0 {
		return 0, &os.PathError{Op: "write", Path: f.name, Err: syscall.EINVAL}
	}
	f.writeAt(p, off)
	return len(p), nil
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return &os.PathError{Op: "sync", Path: f.name, Err: os.ErrClosed}
	}
	if f.n.dirty || f.n.synced == nil {
		f.n.synced = append(f.n.synced[:0:0], f.n.data...)
		f.n.dirty = false
	}
	return nil
}

// dropUnsynced makes the file lose what was written since its last Sync, as
// a kernel does when writeback fails and it drops the dirty pages. FaultFS
// uses it to make a failed sync really lose data.
func (f *memFile) dropUnsynced() {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	f.n.data = append(f.n.data[:0:0], f.n.synced...)
	f.n.dirty = false
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("truncate", true); err != nil {
		return err
	}
	if size < 0 {
		return &os.PathError{Op: "truncate", Path: f.name, Err: syscall.EINVAL}
	}
	if size <= int64(len(f.n.data)) {
		f.n.data = f.n.data[:size]
	} else {
		f.writeAt(nil, size)
		f.n.data = f.n.data[:size]
	}
	f.n.dirty = true
	f.n.mtime = f.fs.now()
	return nil
}

func (f *memFile) Size() (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return 0, &os.PathError{Op: "stat", Path: f.name, Err: os.ErrClosed}
	}
	return int64(len(f.n.data)), nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return &os.PathError{Op: "close", Path: f.name, Err: os.ErrClosed}
	}
	f.closed = true
	return nil
}

func (m *MemFS) canSyncFS() bool { return true }

// SyncFS makes every file's data and every directory's entries durable on
// the file system holding dir, as syncfs does: the whole MemFS, less any
// directory mounted in it (see Mount), or the mounted one dir is in.
func (m *MemFS) SyncFS(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.lookup("syncfs", dir); err != nil {
		return err
	}
	var walk func(n *memNode)
	walk = func(n *memNode) {
		if !n.dir {
			if n.dirty || n.synced == nil {
				n.synced = append(n.synced[:0:0], n.data...)
				n.dirty = false
			}
			return
		}
		n.durEntries = maps.Clone(n.entries)
		for _, e := range n.entries {
			if e.mount == 0 {
				walk(e)
			}
		}
	}
	walk(m.fsRoot(dir))
	return nil
}

// Mount makes the existing directory dir the root of a file system of its
// own, as a mount point or a symbolic link to another disk would: a SyncFS
// of the file system above no longer covers what is under it.
func (m *MemFS) Mount(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupDir("mount", dir)
	if err != nil {
		return err
	}
	m.mounts++
	n.mount = m.mounts
	return nil
}

// fsRoot is the root of the file system holding name: the deepest mounted
// directory on its path, or the MemFS's root.
func (m *MemFS) fsRoot(name string) *memNode {
	root, d := m.root, m.root
	for _, p := range splitPath(name) {
		n := d.entries[p]
		if n == nil || !n.dir {
			break
		}
		if n.mount != 0 {
			root = n
		}
		d = n
	}
	return root
}

// fileSystemID identifies the file system holding name, which must exist.
func (m *MemFS) fileSystemID(name string) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.lookup("stat", name); err != nil {
		return 0, err
	}
	return uint64(m.fsRoot(name).mount), nil
}

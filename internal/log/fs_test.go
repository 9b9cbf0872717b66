package log

import (
	"errors"
	"io"
	"os"
	"slices"
	"syscall"
	"testing"
)

func fileContent(t *testing.T, fsys FS, name string) (string, bool) {
	t.Helper()
	b, err := readFile(fsys, name, 1<<20)
	if errors.Is(err, os.ErrNotExist) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b), true
}

// TestMemFSCrash pins down the durability model the log's crash tests rely
// on.
func TestMemFSCrash(t *testing.T) {
	m := NewMemFS()
	if err := m.MkdirAll("/d", 0o755); err != nil {
		t.Fatal(err)
	}
	m.SyncDir("/")
	write := func(name, data string, sync bool) File {
		f, err := m.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := f.Size()
		f.WriteAt([]byte(data), n)
		if sync {
			f.Sync()
		}
		return f
	}
	write("/d/synced", "abc", true)
	write("/d/unsynced", "abc", false)
	m.SyncDir("/d")
	f := write("/d/synced", "def", false) // synced "abc", then "def" not
	write("/d/late", "xyz", true)         // data synced, entry not
	m.Rename("/d/unsynced", "/d/renamed") // rename not synced

	c := m.CrashClone()
	cases := []struct {
		name   string
		want   string
		exists bool
	}{
		{"/d/synced", "abc", true},
		{"/d/unsynced", "", true}, // entry durable, data never synced
		{"/d/renamed", "", false},
		{"/d/late", "", false},
	}
	for _, tc := range cases {
		got, ok := fileContent(t, c, tc.name)
		if ok != tc.exists || got != tc.want {
			t.Errorf("%s after crash: %q, exists %v; want %q, %v", tc.name, got, ok, tc.want, tc.exists)
		}
	}
	// The live FS is untouched and a removed file stays readable through
	// an open handle.
	if got, _ := fileContent(t, m, "/d/synced"); got != "abcdef" {
		t.Fatalf("live content %q", got)
	}
	m.Remove("/d/synced")
	buf := make([]byte, 6)
	if n, err := f.ReadAt(buf, 0); n != 6 || err != nil || string(buf) != "abcdef" {
		t.Fatalf("read after remove: %d %v %q", n, err, buf)
	}
	if n, err := f.ReadAt(buf, 4); n != 2 || err != io.EOF {
		t.Fatalf("short read: %d %v", n, err)
	}
	f.Close()
	if _, err := f.ReadAt(buf, 0); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
	names, _ := m.ReadDir("/d")
	if !slices.Equal(names, []string{"late", "renamed"}) {
		t.Fatalf("ReadDir: %v", names)
	}
	// A killed process keeps the page cache but not durability.
	k := m.Clone()
	if got, _ := fileContent(t, k, "/d/late"); got != "xyz" {
		t.Fatalf("clone lost data: %q", got)
	}
	if _, ok := fileContent(t, k.CrashClone(), "/d/late"); ok {
		t.Fatal("clone made an unsynced entry durable")
	}
}

func TestFaultFS(t *testing.T) {
	m := NewMemFS()
	f := NewFaultFS(m)
	f.Inject(Fault{Ops: OpWrite, Path: "a", Err: syscall.ENOSPC, After: 1, Times: 1, Partial: true})
	file, err := f.OpenFile("/a", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := file.WriteAt([]byte("1234"), 0); err != nil {
		t.Fatalf("first write (After 1): %v", err)
	}
	if n, err := file.WriteAt([]byte("5678"), 4); n != 2 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("second write: %d %v", n, err)
	}
	if _, err := file.WriteAt([]byte("9"), 6); err != nil {
		t.Fatalf("third write (Times 1): %v", err)
	}
	if got, _ := fileContent(t, m, "/a"); got != "1234569" {
		t.Fatalf("content %q", got)
	}
	f.Inject(Fault{Ops: OpSync, Err: syscall.EIO, DropUnsynced: true})
	if err := file.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("sync: %v", err)
	}
	if got, _ := fileContent(t, m, "/a"); got != "" {
		t.Fatalf("failed sync kept unsynced data: %q", got)
	}
	f.Inject(Fault{Ops: OpRename, Path: "b", Err: syscall.EIO})
	if err := f.Rename("/a", "/b"); !errors.Is(err, syscall.EIO) {
		t.Fatalf("rename: %v", err)
	}
	if f.Hits() != 3 {
		t.Fatalf("hits %d", f.Hits())
	}
	f.Clear()
	if err := file.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Rename("/a", "/b"); err != nil {
		t.Fatal(err)
	}
}

// TestOSFS runs a log on the real file system.
func TestOSFS(t *testing.T) {
	c := smallConfig()
	dir := t.TempDir() + "/a/b/p0"
	l, err := Open(Options{Dir: dir, Config: c, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	want := appendN(t, l, 50, batchSpec{records: 2, valueSz: 40, ts: 1})
	if d := mustFlush(t, l); d != 100 {
		t.Fatalf("durable %d", d)
	}
	if err := l.SetStartOffset(10); err != nil {
		t.Fatal(err)
	}
	mustClose(t, l)
	names, err := OS.ReadDir(dir)
	if err != nil || !slices.Contains(names, cleanShutdownFile) || !slices.Contains(names, segmentName(0, indexExt)) && !slices.Contains(names, segmentName(10, indexExt)) {
		t.Fatalf("directory after close: %v %v", names, err)
	}
	l, err = Open(Options{Dir: dir, Config: c, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	sameBatches(t, readAll(t, l, 10), want[5:])
	if err := l.TruncateTo(50); err != nil {
		t.Fatal(err)
	}
	sameBatches(t, readAll(t, l, 10), want[5:25])
	if err := l.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("directory still there after Delete: %v", err)
	}
}

func TestSegmentNames(t *testing.T) {
	cases := []struct {
		name string
		base int64
		ok   bool
	}{
		{"00000000000000000000.log", 0, true},
		{"00000000000000004810.log", 4810, true},
		{"09223372036854775807.log", 9223372036854775807, true},
		{"09223372036854775808.log", 0, false},
		{"20000000000000000000.log", 0, false},
		{"0000000000000000481.log", 0, false},
		{"0000000000000000481x.log", 0, false},
		{"00000000000000004810.index", 0, false},
	}
	for _, tc := range cases {
		base, ok := parseSegmentName(tc.name, logExt)
		if base != tc.base || ok != tc.ok {
			t.Errorf("parseSegmentName(%q) = %d, %v", tc.name, base, ok)
		}
		if ok && segmentName(base, logExt) != tc.name {
			t.Errorf("segmentName(%d) = %q", base, segmentName(base, logExt))
		}
	}
}

// TestDeferredFS: inside a phase, Sync and SyncDir promise nothing (a
// crash loses what they covered); the SyncFS that ends the phase makes it
// all durable; outside a phase they sync again.
func TestDeferredFS(t *testing.T) {
	m := NewMemFS()
	d := NewDeferredFS(m)
	if !SupportsSyncFS(d) {
		t.Fatal("DeferredFS over MemFS cannot SyncFS")
	}
	end := d.Defer()
	if err := d.MkdirAll("/p", 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := d.OpenFile("/p/seg", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("abc"), 0)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := d.SyncDir("/p"); err != nil {
		t.Fatal(err)
	}
	d.SyncDir("/")
	if _, ok := fileContent(t, m.CrashClone(), "/p/seg"); ok {
		t.Fatal("a deferred sync made the file durable")
	}
	if err := d.SyncFS("/"); err != nil {
		t.Fatal(err)
	}
	end()
	if got, ok := fileContent(t, m.CrashClone(), "/p/seg"); !ok || got != "abc" {
		t.Fatalf("after SyncFS: %q, exists %v", got, ok)
	}
	// Phase over: Sync is real again.
	f.WriteAt([]byte("def"), 3)
	f.Sync()
	if got, _ := fileContent(t, m.CrashClone(), "/p/seg"); got != "abcdef" {
		t.Fatalf("sync after the phase: %q", got)
	}
}

// sameFileSystem reports whether FileSystemOf puts a and b on one file
// system, both examinable.
func sameFileSystem(fsys FS, a, b string) bool {
	x, okA := FileSystemOf(fsys, a)
	y, okB := FileSystemOf(fsys, b)
	return okA && okB && x == y
}

// A directory mounted in a MemFS is a file system of its own: a SyncFS of
// the one above does not make its files durable, a SyncFS of its own does,
// and FileSystemOf tells them apart, judging paths that do not exist yet
// by where they would be created.
func TestMemFSMount(t *testing.T) {
	mem := NewMemFS()
	for _, d := range []string{"/data/a", "/data/b"} {
		if err := mem.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := mem.Mount("/data/b"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		dir  string
		same bool
	}{
		{"/data", true}, {"/data/a", true}, {"/data/new", true},
		{"/data/b", false}, {"/data/b/new", false}, {"/data/b/x/y", false},
	} {
		if got := sameFileSystem(mem, "/data", c.dir); got != c.same {
			t.Errorf("sameFileSystem(/data, %s) = %v, want %v", c.dir, got, c.same)
		}
	}
	if !sameFileSystem(NewDeferredFS(mem), "/data/b", "/data/b/new") || sameFileSystem(NewFaultFS(mem), "/data", "/data/b") {
		t.Error("DeferredFS and FaultFS do not pass the file system through")
	}
	write := func(name string) {
		f, err := mem.OpenFile(name, os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	write("/data/a/f")
	write("/data/b/f")
	if err := mem.SyncFS("/data"); err != nil {
		t.Fatal(err)
	}
	exists := func(m *MemFS, name string) bool {
		_, err := m.Stat(name)
		return err == nil
	}
	crashed := mem.CrashClone()
	if !exists(crashed, "/data/a/f") || exists(crashed, "/data/b/f") {
		t.Fatalf("after SyncFS(/data): a/f %v, b/f %v; want only a/f durable", exists(crashed, "/data/a/f"), exists(crashed, "/data/b/f"))
	}
	if err := mem.SyncFS("/data/b"); err != nil {
		t.Fatal(err)
	}
	if crashed = mem.CrashClone(); !exists(crashed, "/data/b/f") {
		t.Fatal("b/f not durable after SyncFS of its own file system")
	}
	if !sameFileSystem(crashed, "/data/b", "/data/b/f") || sameFileSystem(crashed, "/data", "/data/b/f") {
		t.Error("a crash clone forgot the mount")
	}
	if killed := mem.Clone(); !sameFileSystem(killed, "/data/b", "/data/b/f") || sameFileSystem(killed, "/data", "/data/b/f") {
		t.Error("a clone forgot the mount")
	}
}

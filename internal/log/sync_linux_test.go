package log

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// syncfs is trusted only from 5.17, where it reports writeback errors and
// the file system's own sync errors; the release string's shape varies by
// distribution.
func TestKernelAtLeast(t *testing.T) {
	for _, c := range []struct {
		release string
		want    bool
	}{
		{"5.17.0", true},
		{"5.17.0-rc1", true},
		{"5.17-rc1", true},
		{"5.18.3-arch1-1", true},
		{"6.8.0-49-generic", true},
		{"6.18.44-fc-v669", true},
		{"10.0.0", true},
		{"5.16.20", false},
		{"5.15.0-125-generic", false}, // Ubuntu 22.04
		{"5.8.0", false},              // writeback errors, but not the file system's
		{"4.18.0-553.el8_10.x86_64", false},
		{"5.4.0", false},
		{"5", false},
		{"", false},
		{"x.y.z", false},
		{"5.x", false},
	} {
		if got := kernelAtLeast(c.release, 5, 17); got != c.want {
			t.Errorf("kernelAtLeast(%q, 5, 17) = %v, want %v", c.release, got, c.want)
		}
	}
}

// On a kernel whose syncfs may drop errors, the OS file system (and a
// DeferredFS over it) reports that it cannot sync a whole file system, so
// the flusher and the broker's phases sync file by file.
func TestOSFSRefusesSyncFSOnOldKernels(t *testing.T) {
	saved := syncfsReportsErrors
	t.Cleanup(func() { syncfsReportsErrors = saved })
	syncfsReportsErrors = func() bool { return false }
	if SupportsSyncFS(OS) || SupportsSyncFS(NewDeferredFS(OS)) {
		t.Fatal("syncfs used on a kernel where it may drop errors")
	}
	syncfsReportsErrors = func() bool { return true }
	if !SupportsSyncFS(OS) || !SupportsSyncFS(NewDeferredFS(OS)) {
		t.Fatal("syncfs not used on a kernel where it reports errors")
	}
}

// FileSystemOf compares devices after symbolic links, so a partition
// directory linked to another disk is told apart from the data directory.
func TestOSsameFileSystem(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{root, filepath.Join(root, "sub"), filepath.Join(root, "not", "yet")} {
		if !sameFileSystem(OS, root, dir) {
			t.Errorf("sameFileSystem(%s, %s) = false", root, dir)
		}
	}
	// Another file system to link to: /dev/shm is a tmpfs on most Linux
	// systems.
	other, err := os.MkdirTemp("/dev/shm", "plexus-fs-")
	if err != nil {
		t.Skipf("no /dev/shm: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(other) })
	var a, b unix.Stat_t
	if unix.Stat(root, &a) != nil || unix.Stat(other, &b) != nil || a.Dev == b.Dev {
		t.Skip("/dev/shm is on the temporary directory's file system")
	}
	link := filepath.Join(root, "linked")
	if err := os.Symlink(other, link); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{other, link, filepath.Join(link, "not-yet")} {
		if sameFileSystem(OS, root, dir) {
			t.Errorf("sameFileSystem(%s, %s) = true across file systems", root, dir)
		}
	}
}

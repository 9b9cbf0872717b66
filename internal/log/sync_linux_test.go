package log

import "testing"

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

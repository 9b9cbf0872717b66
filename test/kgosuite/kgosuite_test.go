// Package kgosuite runs franz-go's own kgo integration suite against a
// Plexus broker (test/kgo-suite), as part of go test ./...: compatibility
// measured by tests nobody on the team wrote.
package kgosuite

import (
	"os/exec"
	"regexp"
	"strconv"
	"testing"
)

// What the suite may skip, and why (docs/compatibility.md): share groups
// (KIP-932) and SASL are not implemented.
const expectedSkips = 8

func TestKgoSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs franz-go's integration suite (about a minute and a half)")
	}
	out, err := exec.Command("../kgo-suite").CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("kgo suite: %v", err)
	}
	m := regexp.MustCompile(`kgo-suite: (\d+) passed, (\d+) failed, (\d+) skipped`).FindSubmatch(out)
	if m == nil {
		t.Fatal("no summary line from test/kgo-suite")
	}
	passed, _ := strconv.Atoi(string(m[1]))
	failed, _ := strconv.Atoi(string(m[2]))
	skipped, _ := strconv.Atoi(string(m[3]))
	if failed != 0 || passed == 0 {
		t.Fatalf("%d passed, %d failed", passed, failed)
	}
	if skipped > expectedSkips {
		t.Fatalf("%d tests skipped, %d expected: a test that used to run no longer does", skipped, expectedSkips)
	}
}

// Package proctest runs the plexus binary as a process for tests that kill
// it: Binary builds cmd/plexus once per test process, StartProc runs
// `plexus serve` on a data directory and waits until it accepts
// connections, and Kill sends SIGKILL. The broker's stderr goes to
// broker.log beside the data directory.
package proctest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds cmd/plexus once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "plexus-proctest-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "plexus")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/plexus/plexus/cmd/plexus").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// FreePort returns a loopback address nothing listens on now.
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Proc is a broker process.
type Proc struct {
	cmd  *exec.Cmd
	Addr string
	done chan struct{}
}

// StartProc runs the binary on dataDir, listening on addr (extra are more
// `plexus serve` flags), and waits until it accepts connections.
func StartProc(t testing.TB, bin, dataDir, addr string, extra ...string) *Proc {
	t.Helper()
	args := append([]string{"serve", "--listen", addr, "--data-dir", dataDir, "--admin-listen", ""}, extra...)
	cmd := exec.Command(bin, args...)
	logf, err := os.OpenFile(filepath.Join(filepath.Dir(dataDir), "broker.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Proc{cmd: cmd, Addr: addr, done: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Kafka API on") {
				ready <- sc.Text()
			}
		}
	}()
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.Kill() })
	select {
	case <-ready:
	case <-p.done:
		t.Fatalf("broker exited during startup; see %s", filepath.Join(filepath.Dir(dataDir), "broker.log"))
	case <-time.After(60 * time.Second):
		t.Fatal("broker did not start within a minute")
	}
	return p
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Proc) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop sends SIGTERM and waits for a clean exit.
func (p *Proc) Stop(t testing.TB) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatal("broker did not stop within a minute of SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("broker exited with %d after SIGTERM", code)
	}
}

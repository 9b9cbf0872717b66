package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// profile is what perf found in one step of a profiled run.
type profile struct {
	Name     string      `json:"name"`
	File     string      `json:"file"`
	Self     []perfEntry `json:"self"`     // by CPU spent in the function itself
	User     []perfEntry `json:"user"`     // the same, without kernel functions
	Children []perfEntry `json:"children"` // by CPU spent in it and what it calls
	Error    string      `json:"error,omitempty"`
}

type perfEntry struct {
	Percent float64 `json:"percent"`
	Self    float64 `json:"self_percent,omitempty"`
	Kernel  bool    `json:"kernel"`
	Symbol  string  `json:"symbol"`
}

type perfRecorder struct {
	name, file string
	cmd        *exec.Cmd
}

// startPerf samples pid's stacks with perf until stop; nil if perf is
// missing or cannot attach.
func startPerf(ctx context.Context, r *runner, pid int, name string) *perfRecorder {
	if _, err := exec.LookPath("perf"); err != nil {
		logf("  perf is not installed: no profile (apt-get install linux-perf)")
		return nil
	}
	p := &perfRecorder{name: name, file: filepath.Join(r.cfg.out, "perf-"+name+".data")}
	p.cmd = exec.Command("perf", "record", "-F", "999", "-g", "-p", strconv.Itoa(pid), "-o", p.file)
	if l, err := os.OpenFile(filepath.Join(r.cfg.out, "logs", "perf-"+name+".log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644); err == nil {
		p.cmd.Stdout, p.cmd.Stderr = l, l
	}
	if err := p.cmd.Start(); err != nil {
		logf("  perf: %v", err)
		return nil
	}
	time.Sleep(300 * time.Millisecond) // let it attach before the load starts
	return p
}

func (p *perfRecorder) stop() profile {
	res := profile{Name: p.name, File: p.file}
	_ = p.cmd.Process.Signal(os.Interrupt)
	if err := p.cmd.Wait(); err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() > 0 && ee.ExitCode() != 130 {
			res.Error = "perf record: " + err.Error()
		}
	}
	self, err := perfReport(p.file, "--no-children")
	if err != nil {
		res.Error = err.Error()
		return res
	}
	res.Self = top(self, 15)
	for _, e := range self {
		if !e.Kernel && len(res.User) < 15 {
			res.User = append(res.User, e)
		}
	}
	children, err := perfReport(p.file, "--children")
	if err == nil {
		res.Children = top(children, 30)
	}
	return res
}

// perfLine is a row: overhead, self overhead with --children, [k] or
// [.], the symbol, then the IPC columns perf prints as "-  -" when the
// CPU has no branch records.
var perfLine = regexp.MustCompile(`^\s*([\d.]+)%\s+(?:([\d.]+)%\s+)?\[([.k])\]\s+(.+?)(?:\s+-\s+-)?\s*$`)

func perfReport(file, mode string) ([]perfEntry, error) {
	out, err := exec.Command("perf", "report", "-i", file, mode, "--sort", "symbol", "--stdio", "-g", "none", "--percent-limit", "0.2").Output()
	if err != nil {
		return nil, err
	}
	return parsePerf(string(out)), nil
}

// parsePerf reads the rows of `perf report --stdio -g none --sort symbol`.
func parsePerf(s string) []perfEntry {
	var es []perfEntry
	for _, l := range strings.Split(s, "\n") {
		m := perfLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		e := perfEntry{Kernel: m[3] == "k", Symbol: m[4]}
		e.Percent, _ = strconv.ParseFloat(m[1], 64)
		if m[2] != "" {
			e.Self, _ = strconv.ParseFloat(m[2], 64)
		}
		es = append(es, e)
	}
	return es
}

func top(es []perfEntry, n int) []perfEntry {
	if len(es) > n {
		return es[:n]
	}
	return es
}

// profileW1 runs W1 once more against Plexus under perf; the run is not
// part of the pairs (perf's sampling slows it down).
func (r *runner) profileW1(ctx context.Context) {
	w := findWorkload("W1")
	logf("profiling Plexus under W1 with perf")
	res := r.runOne(ctx, w, Plexus, 0, true)
	if res.Error != "" {
		logf("  profile run failed: %s", res.Error)
	}
}

// Command run is the benchmark suite: it builds plexus and bench/kfake,
// measures the machine's limits, then runs each workload against a fresh
// Plexus broker and fresh kfake peers (in memory, and on disk with an
// fsync per batch), alternating between them for several pairs of runs,
// and prints medians and the medians of the per-pair ratios as Markdown.
//
//	go run ./bench/run                       # the full suite, 5 pairs
//	PLEXUS_BENCH_SCALE=0.1 go run ./bench/run -pairs 3 -w W1,W2
//	go run ./bench/run -w W1 -pairs 0 -profile   # only a perf profile of Plexus under W1
//
// Everything it writes goes under -out (bench/results/DATE by default,
// ignored by git): report.md, results.json, the servers' logs, perf data.
// It needs only Go (and, for -profile, perf).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/plexus/plexus/internal/cli/bench"
)

// Targets: the broker under test and its peers.
const (
	Plexus    = "plexus"
	KfakeMem  = "kfake-mem"
	KfakeDisk = "kfake-disk"
	KfakeSync = "kfake-sync"
)

type config struct {
	pairs     int
	scale     float64
	workloads []string
	targets   []string
	out       string
	plexusBin string
	profile   bool
	keep      bool
	w7Parts   int
	quiet     float64
	quietWait time.Duration
}

func main() {
	var c config
	var wl, tg string
	flag.IntVar(&c.pairs, "pairs", envInt("PLEXUS_BENCH_PAIRS", 5), "interleaved runs of every target per workload (env PLEXUS_BENCH_PAIRS)")
	flag.Float64Var(&c.scale, "scale", envFloat("PLEXUS_BENCH_SCALE", 1), "multiply record counts and durations by this, for quick runs (env PLEXUS_BENCH_SCALE)")
	flag.StringVar(&wl, "w", envStr("PLEXUS_BENCH_WORKLOADS", strings.Join(workloadNames(), ",")), "comma-separated workloads to run (env PLEXUS_BENCH_WORKLOADS)")
	flag.StringVar(&tg, "targets", envStr("PLEXUS_BENCH_TARGETS", Plexus+","+KfakeMem+","+KfakeSync), "comma-separated targets: plexus, kfake-mem, kfake-disk, kfake-sync (env PLEXUS_BENCH_TARGETS)")
	flag.StringVar(&c.out, "out", "", "directory for results (default bench/results/YYYYMMDD-HHMMSS)")
	flag.StringVar(&c.plexusBin, "plexus", "", "use this plexus binary instead of building ./cmd/plexus")
	flag.BoolVar(&c.profile, "profile", false, "after the pairs, profile Plexus with perf under W1 (produce and consume separately)")
	flag.BoolVar(&c.keep, "keep", false, "keep the brokers' data directories")
	flag.Float64Var(&c.quiet, "quiet", 0.3, "before each run, wait until other processes use less than this share of the machine's CPU (measured over 2s; 0: do not wait)")
	flag.DurationVar(&c.quietWait, "quiet-wait", 5*time.Minute, "longest to wait for -quiet before running anyway")
	flag.IntVar(&c.w7Parts, "w7-partitions", envInt("PLEXUS_BENCH_W7_PARTITIONS", 10000), "partitions of W7 (env PLEXUS_BENCH_W7_PARTITIONS)")
	flag.Parse()
	c.workloads = split(wl)
	c.targets = split(tg)
	for _, w := range c.workloads {
		if findWorkload(w) == nil {
			fatalf("unknown workload %q: use %s", w, strings.Join(workloadNames(), ", "))
		}
	}
	for _, t := range c.targets {
		if !slices.Contains([]string{Plexus, KfakeMem, KfakeDisk, KfakeSync}, t) {
			fatalf("unknown target %q", t)
		}
	}
	if c.out == "" {
		c.out = filepath.Join("bench", "results", time.Now().UTC().Format("20060102-150405"))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, &c); err != nil {
		fatalf("%v", err)
	}
}

func run(ctx context.Context, c *config) error {
	for _, d := range []string{"bin", "data", "logs"} {
		if err := os.MkdirAll(filepath.Join(c.out, d), 0o755); err != nil {
			return err
		}
	}
	r := &runner{cfg: c, started: time.Now().UTC()}
	raiseFileLimit()
	if err := r.build(ctx); err != nil {
		return err
	}
	logf("results in %s", c.out)
	var err error
	if r.limitsBefore, err = r.limits(ctx); err != nil {
		return fmt.Errorf("limits: %w", err)
	}
	logf("limits: loopback TCP %.0f MB/s, 64 KiB append+fdatasync p50 %.2f ms p99 %.2f ms, load %s",
		r.limitsBefore.TCPMBPerSec, r.limitsBefore.Fdatasync.P50, r.limitsBefore.Fdatasync.P99, r.limitsBefore.Machine.LoadAvg)
	for _, name := range c.workloads {
		w := findWorkload(name)
		for pair := range c.pairs {
			order := slices.Clone(c.targets)
			if pair%2 == 1 {
				slices.Reverse(order) // ABBA: neither side always runs first
			}
			for _, target := range order {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				res := r.runOne(ctx, w, target, pair, false)
				r.runs = append(r.runs, res)
				r.save()
			}
		}
	}
	if c.profile && slices.Contains(c.workloads, "W1") {
		r.profileW1(ctx)
	}
	if r.limitsAfter, err = r.limits(ctx); err != nil {
		return fmt.Errorf("limits: %w", err)
	}
	r.finished = time.Now().UTC()
	r.save()
	report := r.report()
	if err := os.WriteFile(filepath.Join(c.out, "report.md"), []byte(report), 0o644); err != nil {
		return err
	}
	fmt.Print(report)
	return nil
}

type runner struct {
	cfg          *config
	plexus       string // binary
	kfake        string // binary
	started      time.Time
	finished     time.Time
	limitsBefore *bench.Limits
	limitsAfter  *bench.Limits
	runs         []*runResult
	profiles     []profile
}

// runResult is one target's run of one workload.
type runResult struct {
	Workload string                   `json:"workload"`
	Target   string                   `json:"target"`
	Pair     int                      `json:"pair"`
	Steps    map[string]*bench.Result `json:"steps"`
	// Metrics is what the report shows, by metric name.
	Metrics map[string]float64 `json:"metrics"`
	Error   string             `json:"error,omitempty"`
	Skipped string             `json:"skipped,omitempty"`
	// Background is the share of the machine's CPU other processes used
	// in the 2 seconds before the run.
	Background float64       `json:"background_cpu"`
	LoadAvg    bench.LoadAvg `json:"load_avg_at_start"`
	Seconds    float64       `json:"seconds"`
}

func (r *runner) build(ctx context.Context) error {
	bin := filepath.Join(r.cfg.out, "bin")
	r.plexus = r.cfg.plexusBin
	if r.plexus == "" {
		r.plexus = filepath.Join(bin, "plexus")
		logf("building plexus")
		if err := command(ctx, "go", "build", "-o", r.plexus, "./cmd/plexus").Run(); err != nil {
			return fmt.Errorf("go build ./cmd/plexus (run from the repository root): %w", err)
		}
	}
	r.kfake = filepath.Join(bin, "kfake")
	logf("building bench/kfake")
	if err := command(ctx, "go", "build", "-o", r.kfake, "./bench/kfake").Run(); err != nil {
		return fmt.Errorf("go build ./bench/kfake: %w", err)
	}
	var err error
	if r.plexus, err = filepath.Abs(r.plexus); err != nil {
		return err
	}
	r.kfake, err = filepath.Abs(r.kfake)
	return err
}

func command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd
}

func (r *runner) limits(ctx context.Context) (*bench.Limits, error) {
	var l bench.Limits
	cmd := exec.CommandContext(ctx, r.plexus, "bench", "limits", "--dir", filepath.Join(r.cfg.out, "data"), "--format", "json")
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		return nil, err
	}
	return &l, json.Unmarshal(b, &l)
}

// server is a broker process under test.
type server struct {
	target  string
	addr    string
	dataDir string
	cmd     *exec.Cmd
	log     *os.File
	started time.Time
	exited  chan error

	stopOnce sync.Once
	stopTook time.Duration
	stopErr  error
}

func (r *runner) startServer(ctx context.Context, target, dataDir, logName string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &server{target: target, addr: "127.0.0.1:" + strconv.Itoa(port), dataDir: dataDir, exited: make(chan error, 1)}
	switch target {
	case Plexus:
		s.cmd = exec.Command(r.plexus, "serve", "--listen", s.addr, "--data-dir", dataDir, "--admin-listen", "", "--log-level", "warn")
	default:
		mode := strings.TrimPrefix(target, "kfake-")
		s.cmd = exec.Command(r.kfake, "--port", strconv.Itoa(port), "--mode", mode, "--data-dir", dataDir)
	}
	if s.log, err = os.OpenFile(filepath.Join(r.cfg.out, "logs", logName+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
		return nil, err
	}
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.started = time.Now()
	if err := s.cmd.Start(); err != nil {
		s.log.Close()
		return nil, err
	}
	go func() { s.exited <- s.cmd.Wait() }()
	return s, nil
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// waitAccepting polls until a TCP connection to the server succeeds and
// returns how long after the process start that was.
func (s *server) waitAccepting(ctx context.Context, limit time.Duration) (time.Duration, error) {
	deadline := s.started.Add(limit)
	for {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err == nil {
			c.Close()
			return time.Since(s.started), nil
		}
		select {
		case err := <-s.exited:
			s.exited <- err
			return 0, fmt.Errorf("%s exited before accepting connections: %v (see its log)", s.target, err)
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s not accepting connections after %s", s.target, limit)
		}
	}
}

// waitReady polls until the broker answers Metadata for topic (any
// topic if empty) with want partitions, each with a leader, and returns
// how long after the process start that was.
func (s *server) waitReady(ctx context.Context, topic string, want int, limit time.Duration) (time.Duration, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.DialTimeout(time.Second), kgo.RetryTimeout(time.Second))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	deadline := s.started.Add(limit)
	for {
		var topics []string
		if topic != "" {
			topics = []string{topic}
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		md, err := adm.Metadata(rctx, topics...)
		cancel()
		if err == nil {
			if topic == "" {
				return time.Since(s.started), nil
			}
			if td, ok := md.Topics[topic]; ok && td.Err == nil && len(td.Partitions) == want {
				ready := true
				for _, p := range td.Partitions {
					if p.Err != nil || p.Leader < 0 {
						ready = false
						break
					}
				}
				if ready {
					return time.Since(s.started), nil
				}
			}
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s: topic %q not ready after %s (last error: %v)", s.target, topic, limit, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for the process, killing it after a
// minute; it returns how long the shutdown took. Calls after the first
// return the first one's result.
func (s *server) stop() (time.Duration, error) {
	s.stopOnce.Do(func() { s.stopTook, s.stopErr = s.doStop() })
	return s.stopTook, s.stopErr
}

func (s *server) doStop() (time.Duration, error) {
	defer s.log.Close()
	start := time.Now()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.exited:
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == -1 {
			err = nil // killed by our signal: a kfake without a handler for it
		}
		return time.Since(start), err
	case <-time.After(time.Minute):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return time.Since(start), fmt.Errorf("%s did not stop within a minute of SIGTERM; killed", s.target)
	}
}

// bench runs `plexus bench VERB ARGS` against s and decodes its JSON.
func (r *runner) bench(ctx context.Context, s *server, logName, verb string, args ...string) (*bench.Result, error) {
	full := append([]string{"bench", verb, "--brokers", s.addr, "--broker-pid", strconv.Itoa(s.pid()), "--format", "json"}, args...)
	cmd := exec.CommandContext(ctx, r.plexus, full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	if l, lerr := os.OpenFile(filepath.Join(r.cfg.out, "logs", logName+".bench.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); lerr == nil {
		fmt.Fprintf(l, "$ plexus %s\n%s%s\n", strings.Join(full, " "), stdout.String(), stderr.String())
		l.Close()
	}
	var res bench.Result
	if jerr := json.Unmarshal(stdout.Bytes(), &res); jerr != nil {
		if err == nil {
			err = jerr
		}
		return nil, fmt.Errorf("plexus bench %s: %v: %s", verb, err, strings.TrimSpace(stderr.String()))
	}
	if err != nil {
		return &res, fmt.Errorf("plexus bench %s: %v: %s", verb, err, strings.TrimSpace(stderr.String()))
	}
	return &res, nil
}

func (r *runner) runOne(ctx context.Context, w *workload, target string, pair int, profile bool) *runResult {
	res := &runResult{Workload: w.name, Target: target, Pair: pair, Steps: map[string]*bench.Result{}, Metrics: map[string]float64{}}
	res.Background = r.waitQuiet(ctx)
	res.LoadAvg, _ = bench.ReadLoadAvg()
	name := fmt.Sprintf("%s-%s-%d", w.name, target, pair)
	if profile {
		name = fmt.Sprintf("%s-%s-profile", w.name, target)
	}
	logf("%s pair %d/%d: %s", w.name, pair+1, r.cfg.pairs, target)
	start := time.Now()
	dataDir, _ := filepath.Abs(filepath.Join(r.cfg.out, "data", name))
	if err := w.run(ctx, r, target, dataDir, name, res, profile); err != nil {
		var skip skipped
		if errors.As(err, &skip) {
			res.Skipped = string(skip)
			logf("  %v", skip)
		} else {
			res.Error = err.Error()
			logf("  FAILED: %v", err)
		}
	}
	res.Seconds = time.Since(start).Seconds()
	if !r.cfg.keep {
		os.RemoveAll(dataDir)
	}
	var parts []string
	for _, m := range w.metrics {
		if v, ok := res.Metrics[m.name]; ok {
			parts = append(parts, fmt.Sprintf("%s %s", m.name, m.format(v)))
		}
	}
	logf("  %s (%.0fs)", strings.Join(parts, ", "), res.Seconds)
	return res
}

func (r *runner) save() {
	b, err := json.MarshalIndent(map[string]any{
		"started": r.started, "finished": r.finished, "pairs": r.cfg.pairs, "scale": r.cfg.scale,
		"limits_before": r.limitsBefore, "limits_after": r.limitsAfter, "runs": r.runs, "profiles": r.profiles,
	}, "", "  ")
	if err == nil {
		_ = os.WriteFile(filepath.Join(r.cfg.out, "results.json"), b, 0o644)
	}
}

// raiseFileLimit lifts the open-file limit the brokers inherit as far as
// this process may (W7 has 10,000 partitions; kfake's disk modes keep
// two files open per partition), and says where it ends up.
func raiseFileLimit() {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return
	}
	want := syscall.Rlimit{Cur: 1 << 20, Max: max(l.Max, 1<<20)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		want = syscall.Rlimit{Cur: l.Max, Max: l.Max}
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want)
	}
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
	logf("open-file limit for the brokers: %d", l.Cur)
}

// waitQuiet measures how busy the machine is without our brokers and,
// with -quiet, waits (up to -quiet-wait) for other processes to calm
// down. It returns the last busy share measured.
func (r *runner) waitQuiet(ctx context.Context) float64 {
	deadline := time.Now().Add(r.cfg.quietWait)
	warned := false
	for {
		a, err := bench.ReadCPUStat()
		if err != nil {
			return 0
		}
		select {
		case <-ctx.Done():
			return 0
		case <-time.After(2 * time.Second):
		}
		b, err := bench.ReadCPUStat()
		if err != nil {
			return 0
		}
		busy := bench.BusyFraction(a, b)
		if r.cfg.quiet <= 0 || busy < r.cfg.quiet {
			return busy
		}
		if time.Now().After(deadline) {
			logf("  the machine is still %.0f%% busy with other work; running anyway", 100*busy)
			return busy
		}
		if !warned {
			logf("  waiting for other work to calm down: machine %.0f%% busy (-quiet %.0f%%)", 100*busy, 100*r.cfg.quiet)
			warned = true
		}
		time.Sleep(3 * time.Second)
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench/run: "+format+"\n", args...)
	os.Exit(1)
}

func split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func envStr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return v
	}
	return def
}

func envFloat(k string, def float64) float64 {
	if v, err := strconv.ParseFloat(os.Getenv(k), 64); err == nil {
		return v
	}
	return def
}

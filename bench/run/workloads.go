package main

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"syscall"
	"time"

	"github.com/plexus/plexus/internal/cli/bench"
)

// metric is one figure a workload reports.
type metric struct {
	name   string
	higher bool // higher is better
	digits int
}

func (m metric) format(v float64) string { return strconv.FormatFloat(v, 'f', m.digits, 64) }

// workload is one entry of the suite: how to run it against one target,
// and the metrics it fills in.
type workload struct {
	name, title string
	metrics     []metric
	run         func(ctx context.Context, r *runner, target, dataDir, logName string, res *runResult, profile bool) error
}

// The metric names shared by the throughput workloads.
const (
	mProduceMBps    = "produce MB/s"
	mProduceRecs    = "produce records/s"
	mProduceP50     = "produce p50 ms (saturated)"
	mProduceP99     = "produce p99 ms (saturated)"
	mCPUProduce     = "broker CPU s/GB produced"
	mConsumeMBps    = "consume MB/s"
	mCPUConsume     = "broker CPU s/GB consumed"
	mPeakRSS        = "broker peak RSS MB"
	mClientCPU      = "bench client CPU s/GB produced"
	mOtherCPU       = "other CPU s/GB produced (kernel threads, other processes)"
	mRate           = "achieved records/s"
	mP50            = "produce p50 ms"
	mP99            = "produce p99 ms"
	mP999           = "produce p99.9 ms"
	mPMax           = "produce max ms"
	mE50            = "e2e p50 ms"
	mE99            = "e2e p99 ms"
	mE999           = "e2e p99.9 ms"
	mEMax           = "e2e max ms"
	mLag99          = "client send lag p99 ms"
	mCreate         = "create topic + leaders s"
	mRSSCreated     = "RSS after create+produce MB"
	mStop           = "shutdown s"
	mAccept         = "restart: process start to TCP accept s"
	mReady          = "restart: process start to all partitions in metadata s"
	mRSSRestarted   = "RSS after restart MB"
	mPeakRestarted  = "peak RSS after restart MB"
	mCPURestartSecs = "broker CPU s to restart"
)

// noRatio lists metrics whose ratio to a peer means nothing: the peers'
// values are zero or a tick above it.
var noRatio = map[string]bool{mOtherCPU: true}

var throughputMetrics = []metric{
	{mProduceMBps, true, 1}, {mProduceRecs, true, 0}, {mProduceP50, false, 2}, {mProduceP99, false, 2},
	{mCPUProduce, false, 3}, {mConsumeMBps, true, 1}, {mCPUConsume, false, 3}, {mPeakRSS, false, 0},
	{mClientCPU, false, 3}, {mOtherCPU, false, 3},
}

func workloads() []*workload {
	return []*workload{
		throughput("W1", "1 KiB records, 100 partitions, 1M records, acks=all, then read all back", 1000000, "-p", "100", "-s", "1024"),
		latency("W2", "1 KiB records, 100 partitions, fixed 50,000 records/s for 30s (5s warm-up), tailing consumer", 50000, 30*time.Second, 5*time.Second, "-p", "100", "-s", "1024", "--linger", "1ms"),
		throughput("W3", "100-byte records, 100 partitions, 5M records, acks=all, then read all back", 5000000, "-p", "100", "-s", "100"),
		throughput("W4", "1 KiB records, 1 partition, 1M records, acks=all, then read all back", 1000000, "-p", "1", "-s", "1024"),
		throughput("W5", "1 KiB records with random keys from 10,000, 100 partitions, 1M records, acks=all, then read all back", 1000000, "-p", "100", "-s", "1024", "--keys", "10000"),
		throughput("W6-zstd", "1 KiB half-random records, zstd, 100 partitions, 1M records, acks=all, then read all back", 1000000, "-p", "100", "-s", "1024", "-z", "zstd", "--payload", "half-random"),
		throughput("W6-lz4", "1 KiB half-random records, lz4, 100 partitions, 1M records, acks=all, then read all back", 1000000, "-p", "100", "-s", "1024", "-z", "lz4", "--payload", "half-random"),
		manyPartitions(),
	}
}

func workloadNames() []string {
	var n []string
	for _, w := range workloads() {
		n = append(n, w.name)
	}
	return n
}

func findWorkload(name string) *workload {
	for _, w := range workloads() {
		if w.name == name {
			return w
		}
	}
	return nil
}

func scaled(r *runner, n int) string {
	return strconv.Itoa(max(1000, int(math.Round(float64(n)*r.cfg.scale))))
}

func scaledDur(r *runner, d time.Duration) string {
	return max(time.Second, time.Duration(float64(d)*r.cfg.scale)).Round(time.Millisecond).String()
}

// boot starts a fresh broker and waits until it answers.
func boot(ctx context.Context, r *runner, target, dataDir, logName string) (*server, error) {
	s, err := r.startServer(ctx, target, dataDir, logName)
	if err != nil {
		return nil, err
	}
	if _, err := s.waitAccepting(ctx, time.Minute); err != nil {
		s.stop()
		return nil, err
	}
	if _, err := s.waitReady(ctx, "", 0, time.Minute); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// throughput produces count records as fast as possible, then reads them
// all back.
func throughput(name, title string, count int, args ...string) *workload {
	w := &workload{name: name, title: title, metrics: throughputMetrics}
	w.run = func(ctx context.Context, r *runner, target, dataDir, logName string, res *runResult, profile bool) error {
		s, err := boot(ctx, r, target, dataDir, logName)
		if err != nil {
			return err
		}
		defer s.stop()
		topic := "bench-" + name
		var perf *perfRecorder
		if profile {
			perf = startPerf(ctx, r, s.pid(), name+"-produce")
		}
		p, err := r.bench(ctx, s, logName, "produce", append([]string{"-t", topic, "-n", scaled(r, count)}, args...)...)
		if perf != nil {
			r.profiles = append(r.profiles, perf.stop())
		}
		res.Steps["produce"] = p
		if err != nil {
			return err
		}
		m := res.Metrics
		m[mProduceMBps] = p.Produced.MBPerSec
		m[mProduceRecs] = p.Produced.RecordsPerSec
		if p.ProduceLatency != nil {
			m[mProduceP50] = p.ProduceLatency.P50
			m[mProduceP99] = p.ProduceLatency.P99
		}
		if p.Broker != nil {
			m[mCPUProduce] = p.Broker.CPUSecondsPerGB
			m[mPeakRSS] = float64(p.Broker.PeakRSSBytes) / 1e6
		}
		if p.Client != nil {
			m[mClientCPU] = p.Client.CPUSecondsPerGB
		}
		if p.Machine != nil {
			m[mOtherCPU] = p.Machine.OtherCPUSecondsPerGB
		}
		if profile {
			perf = startPerf(ctx, r, s.pid(), name+"-consume")
		}
		c, err := r.bench(ctx, s, logName, "consume", "-t", topic)
		if perf != nil {
			r.profiles = append(r.profiles, perf.stop())
		}
		res.Steps["consume"] = c
		if err != nil {
			return err
		}
		m[mConsumeMBps] = c.Consumed.MBPerSec
		if c.Broker != nil {
			m[mCPUConsume] = c.Broker.CPUSecondsPerGB
			m[mPeakRSS] = float64(c.Broker.PeakRSSBytes) / 1e6
		}
		_, err = s.stop()
		return err
	}
	return w
}

// latency produces at a fixed rate with a tailing consumer.
func latency(name, title string, rate int, d, warmup time.Duration, args ...string) *workload {
	w := &workload{name: name, title: title, metrics: []metric{
		{mRate, true, 0}, {mP50, false, 2}, {mP99, false, 2}, {mP999, false, 2}, {mPMax, false, 1},
		{mE50, false, 2}, {mE99, false, 2}, {mE999, false, 2}, {mEMax, false, 1},
		{mLag99, false, 2}, {mCPUProduce, false, 3}, {mPeakRSS, false, 0},
	}}
	w.run = func(ctx context.Context, r *runner, target, dataDir, logName string, res *runResult, profile bool) error {
		s, err := boot(ctx, r, target, dataDir, logName)
		if err != nil {
			return err
		}
		defer s.stop()
		e, err := r.bench(ctx, s, logName, "e2e", append([]string{"-t", "bench-" + name, "--rate", strconv.Itoa(rate),
			"-d", scaledDur(r, d), "--warmup", scaledDur(r, warmup)}, args...)...)
		res.Steps["e2e"] = e
		if err != nil {
			return err
		}
		m := res.Metrics
		m[mRate] = e.Produced.RecordsPerSec
		if l := e.ProduceLatency; l != nil {
			m[mP50], m[mP99], m[mP999], m[mPMax] = l.P50, l.P99, l.P999, l.Max
		}
		if l := e.E2ELatency; l != nil {
			m[mE50], m[mE99], m[mE999], m[mEMax] = l.P50, l.P99, l.P999, l.Max
		}
		if e.SendLag != nil {
			m[mLag99] = e.SendLag.P99
		}
		if e.Broker != nil {
			m[mCPUProduce] = e.Broker.CPUSecondsPerGB
			m[mPeakRSS] = float64(e.Broker.PeakRSSBytes) / 1e6
		}
		_, err = s.stop()
		return err
	}
	return w
}

// manyPartitions is W7: a topic of 10,000 partitions (with a few records
// in most of them), its memory, and how fast the broker restarts with it.
func manyPartitions() *workload {
	w := &workload{name: "W7", title: "10,000 partitions: create, produce 200k 100-byte keyed records, RSS; restart: time to accept and to serve all partitions, RSS", metrics: []metric{
		{mCreate, false, 2}, {mRSSCreated, false, 0}, {mStop, false, 2}, {mAccept, false, 3}, {mReady, false, 3},
		{mRSSRestarted, false, 0}, {mPeakRestarted, false, 0}, {mCPURestartSecs, false, 2},
	}}
	w.run = func(ctx context.Context, r *runner, target, dataDir, logName string, res *runResult, profile bool) error {
		parts := r.cfg.w7Parts
		if target == KfakeDisk || target == KfakeSync {
			// kfake keeps a segment and an index file open per partition.
			var l syscall.Rlimit
			if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Max < uint64(2*parts+1000) {
				return skipped(fmt.Sprintf("kfake's disk modes keep 2 files open per partition and the open-file limit here is %d (it fails with UNKNOWN_SERVER_ERROR once it runs out)", l.Max))
			}
		}
		s, err := boot(ctx, r, target, dataDir, logName)
		if err != nil {
			return err
		}
		defer s.stop()
		topic := "bench-W7"
		p, err := r.bench(ctx, s, logName, "produce", "-t", topic, "-p", strconv.Itoa(parts), "--create-timeout", "15m", "-s", "100", "-n", scaled(r, 200000), "--keys", "1000000")
		res.Steps["produce"] = p
		if err != nil {
			return err
		}
		m := res.Metrics
		m[mCreate] = p.TopicSetupSeconds
		if mem, err := bench.ReadProcMem(s.pid()); err == nil {
			m[mRSSCreated] = float64(mem.RSS) / 1e6
		}
		stopped, err := s.stop()
		if err != nil {
			return fmt.Errorf("stop: %w", err)
		}
		m[mStop] = stopped.Seconds()
		if target == KfakeMem {
			return nil // nothing survives a restart in memory
		}
		s, err = r.startServer(ctx, target, dataDir, logName)
		if err != nil {
			return err
		}
		defer s.stop()
		acc, err := s.waitAccepting(ctx, 5*time.Minute)
		if err != nil {
			return err
		}
		m[mAccept] = acc.Seconds()
		ready, err := s.waitReady(ctx, topic, parts, 5*time.Minute)
		if err != nil {
			return err
		}
		m[mReady] = ready.Seconds()
		if mem, err := bench.ReadProcMem(s.pid()); err == nil {
			m[mRSSRestarted] = float64(mem.RSS) / 1e6
			m[mPeakRestarted] = float64(mem.PeakRSS) / 1e6
		}
		if cpu, err := bench.ReadProcCPU(s.pid()); err == nil {
			m[mCPURestartSecs] = cpu.Total().Seconds()
		}
		_, err = s.stop()
		return err
	}
	return w
}

// skipped is the error of a run that was not attempted, and why.
type skipped string

func (s skipped) Error() string { return "skipped: " + string(s) }

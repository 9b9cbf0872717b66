package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// median of vs (the mean of the middle two for an even count); NaN if
// there are none.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// values returns a metric's values for a workload and target, by pair.
func (r *runner) values(workload, target, metric string) map[int]float64 {
	m := map[int]float64{}
	for _, run := range r.runs {
		if run.Workload == workload && run.Target == target {
			if v, ok := run.Metrics[metric]; ok {
				m[run.Pair] = v
			}
		}
	}
	return m
}

func mapValues(m map[int]float64) []float64 {
	var vs []float64
	for _, v := range m {
		vs = append(vs, v)
	}
	return vs
}

// ratio is the median over pairs of plexus/peer, and how many pairs had
// both.
func (r *runner) ratio(workload, peer, metric string) (float64, int) {
	p := r.values(workload, Plexus, metric)
	q := r.values(workload, peer, metric)
	var rs []float64
	for pair, pv := range p {
		if qv, ok := q[pair]; ok && qv != 0 {
			rs = append(rs, pv/qv)
		}
	}
	return median(rs), len(rs)
}

func (r *runner) med(workload, target, metric string) float64 {
	return median(mapValues(r.values(workload, target, metric)))
}

func fmtv(v float64, digits int) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.*f", digits, v)
}

func fmtRatio(v float64, n int) string {
	if math.IsNaN(v) {
		return "–"
	}
	s := fmt.Sprintf("%.2f×", v)
	if n < 3 {
		s += fmt.Sprintf(" (%d pairs)", n)
	}
	return s
}

func (r *runner) report() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	c := r.cfg
	m := r.limitsBefore.Machine
	p("# bench/run results\n\n")
	p("Run %s to %s UTC, scale %g, %d pairs per workload, targets %s.\n\n",
		r.started.Format("2006-01-02 15:04"), r.finished.Format("15:04"), c.scale, c.pairs, strings.Join(c.targets, ", "))
	p("Machine: %d CPUs (%s), kernel %s, %.1f GB RAM, data on %s.\n\n", m.CPUs, m.CPUModel, m.Kernel, float64(m.MemTotal)/1e9, m.Disk)
	p("## Machine limits (measured at the start and the end of the run)\n\n")
	p("| limit | start | end |\n| --- | --- | --- |\n")
	la, lb := r.limitsBefore, r.limitsAfter
	if lb == nil {
		lb = la
	}
	p("| loopback TCP, one stream, MB/s | %.0f | %.0f |\n", la.TCPMBPerSec, lb.TCPMBPerSec)
	p("| append %d KiB + fdatasync p50 ms | %.3f | %.3f |\n", la.FdatasyncBlock>>10, la.Fdatasync.P50, lb.Fdatasync.P50)
	p("| append %d KiB + fdatasync p99 ms | %.3f | %.3f |\n", la.FdatasyncBlock>>10, la.Fdatasync.P99, lb.Fdatasync.P99)
	p("| fdatasyncs/s (one writer) | %.0f | %.0f |\n", la.FdatasyncPerSec, lb.FdatasyncPerSec)
	p("| load average (1, 5, 15 min) | %s | %s |\n\n", la.Machine.LoadAvg, lb.Machine.LoadAvg)
	peers := slices.DeleteFunc(slices.Clone(c.targets), func(t string) bool { return t == Plexus })
	hasPlexus := slices.Contains(c.targets, Plexus)
	for _, name := range c.workloads {
		w := findWorkload(name)
		p("## %s: %s\n\n", w.name, w.title)
		p("| metric |")
		for _, t := range c.targets {
			p(" %s |", t)
		}
		if hasPlexus {
			p(" plexus min–max |")
			for _, peer := range peers {
				p(" plexus / %s |", peer)
			}
		}
		p("\n|---|")
		for range c.targets {
			p("---:|")
		}
		if hasPlexus {
			p("---:|")
			for range peers {
				p("---:|")
			}
		}
		p("\n")
		for _, mt := range w.metrics {
			dir := "↓"
			if mt.higher {
				dir = "↑"
			}
			p("| %s %s |", mt.name, dir)
			for _, t := range c.targets {
				p(" %s |", fmtv(r.med(w.name, t, mt.name), mt.digits))
			}
			if hasPlexus {
				vs := mapValues(r.values(w.name, Plexus, mt.name))
				if len(vs) > 0 {
					p(" %s–%s |", fmtv(slices.Min(vs), mt.digits), fmtv(slices.Max(vs), mt.digits))
				} else {
					p(" – |")
				}
				for _, peer := range peers {
					if noRatio[mt.name] {
						p(" – |")
						continue
					}
					p(" %s |", fmtRatio(r.ratio(w.name, peer, mt.name)))
				}
			}
			p("\n")
		}
		var loads, bg []float64
		var failed []string
		for _, run := range r.runs {
			if run.Workload == w.name {
				loads = append(loads, run.LoadAvg[0])
				bg = append(bg, 100*run.Background)
				if run.Error != "" {
					failed = append(failed, fmt.Sprintf("FAILED %s pair %d: %s", run.Target, run.Pair+1, run.Error))
				}
				if run.Skipped != "" && run.Pair == 0 {
					failed = append(failed, fmt.Sprintf("%s skipped: %s", run.Target, run.Skipped))
				}
			}
		}
		if len(loads) > 0 {
			p("\nMedians over pairs; ratios are medians of the per-pair ratios (↑ higher is better, ↓ lower is better). At the runs' starts: 1-minute load average %.2f–%.2f, CPU used by other processes %.0f–%.0f%%.\n", slices.Min(loads), slices.Max(loads), slices.Min(bg), slices.Max(bg))
		}
		for _, f := range failed {
			p("\n- %s", f)
		}
		p("\n\n")
	}
	if hasPlexus {
		r.reportMachine(&b)
		r.reportTargets(&b)
	}
	r.reportProfiles(&b)
	return b.String()
}

// reportMachine sets the Plexus figures against the machine's limits.
func (r *runner) reportMachine(b *strings.Builder) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	tcp := r.limitsBefore.TCPMBPerSec
	cpus := float64(r.limitsBefore.Machine.CPUs)
	p("## Plexus against the machine\n\n")
	p("CPU ceiling: the throughput if the broker had all %d CPUs to itself at its measured CPU cost (%g CPUs / CPU s per GB).\n\n", int(cpus), cpus)
	p("| workload | produce MB/s | of loopback TCP | CPU ceiling, produce MB/s | consume MB/s | of loopback TCP | CPU ceiling, consume MB/s |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, name := range r.cfg.workloads {
		w := findWorkload(name)
		if len(w.metrics) == 0 || w.metrics[0].name != mProduceMBps {
			continue
		}
		pm, cm := r.med(name, Plexus, mProduceMBps), r.med(name, Plexus, mConsumeMBps)
		pc, cc := r.med(name, Plexus, mCPUProduce), r.med(name, Plexus, mCPUConsume)
		p("| %s | %s | %s | %s | %s | %s | %s |\n", name, fmtv(pm, 1), pct(pm, tcp), fmtv(cpus/pc*1000, 0), fmtv(cm, 1), pct(cm, tcp), fmtv(cpus/cc*1000, 0))
	}
	if slices.Contains(r.cfg.workloads, "W2") {
		p("\nW2 produce p99 %s ms against a 64 KiB append+fdatasync p99 of %.2f ms (p50 %s ms against %.2f ms).\n",
			fmtv(r.med("W2", Plexus, mP99), 2), r.limitsBefore.Fdatasync.P99, fmtv(r.med("W2", Plexus, mP50), 2), r.limitsBefore.Fdatasync.P50)
	}
	p("\n")
}

func pct(v, of float64) string {
	if math.IsNaN(v) || of == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f%%", 100*v/of)
}

// reportTargets checks the targets against the medians.
func (r *runner) reportTargets(b *strings.Builder) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	type target struct {
		what     string
		got      float64
		unit     string
		ok       func(float64) bool
		workload string
	}
	rmem, _ := r.ratio("W1", KfakeMem, mProduceMBps)
	rsync, _ := r.ratio("W1", KfakeSync, mProduceMBps)
	ts := []target{
		{"W1 produce throughput ≥ 1.5× kfake in memory", rmem, "×", func(v float64) bool { return v >= 1.5 }, "W1"},
		{"W1 produce throughput ≥ 3× kfake with SyncWrites", rsync, "×", func(v float64) bool { return v >= 3 }, "W1"},
		{"W1 broker CPU ≤ 0.4 s/GB produced", r.med("W1", Plexus, mCPUProduce), " s/GB", func(v float64) bool { return v <= 0.4 }, "W1"},
		{"W1 broker CPU ≤ 0.3 s/GB consumed", r.med("W1", Plexus, mCPUConsume), " s/GB", func(v float64) bool { return v <= 0.3 }, "W1"},
		{"W1 broker peak RSS ≤ 300 MB", r.med("W1", Plexus, mPeakRSS), " MB", func(v float64) bool { return v <= 300 }, "W1"},
		{"W2 produce p99 ≤ 3 ms", r.med("W2", Plexus, mP99), " ms", func(v float64) bool { return v <= 3 }, "W2"},
		{"W2 end-to-end p99 ≤ 5 ms", r.med("W2", Plexus, mE99), " ms", func(v float64) bool { return v <= 5 }, "W2"},
		{"W7 restart with 10,000 partitions < 5 s (to all partitions served)", r.med("W7", Plexus, mReady), " s", func(v float64) bool { return v < 5 }, "W7"},
	}
	p("## Targets\n\n| target | Plexus (median) | met |\n|---|---:|---|\n")
	for _, t := range ts {
		if !slices.Contains(r.cfg.workloads, t.workload) || math.IsNaN(t.got) {
			continue
		}
		met := "no"
		if t.ok(t.got) {
			met = "yes"
		}
		p("| %s | %.3g%s | %s |\n", t.what, t.got, t.unit, met)
	}
	p("\n")
}

func (r *runner) reportProfiles(b *strings.Builder) {
	if len(r.profiles) == 0 {
		return
	}
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("## Profiles (perf, Plexus under W1)\n\n")
	for _, pr := range r.profiles {
		p("### %s\n\n", pr.Name)
		if pr.Error != "" {
			p("perf failed: %s\n\n", pr.Error)
			continue
		}
		p("Top functions by CPU spent in the function itself (`perf report --no-children`, %s):\n\n| self %% | function |\n|---:|---|\n", pr.File)
		for _, e := range top(pr.Self, 10) {
			p("| %.2f | %s%s |\n", e.Percent, kernelMark(e), e.Symbol)
		}
		p("\nThe same without kernel functions (the broker's own code and the Go runtime):\n\n| self %% | function |\n|---:|---|\n")
		for _, e := range top(pr.User, 10) {
			p("| %.2f | %s |\n", e.Percent, e.Symbol)
		}
		p("\nTop by CPU including callees (`--children`):\n\n| total %% | self %% | function |\n|---:|---:|---|\n")
		for _, e := range top(pr.Children, 20) {
			p("| %.2f | %.2f | %s%s |\n", e.Percent, e.Self, kernelMark(e), e.Symbol)
		}
		p("\n")
	}
}

func kernelMark(e perfEntry) string {
	if e.Kernel {
		return "[kernel] "
	}
	return ""
}

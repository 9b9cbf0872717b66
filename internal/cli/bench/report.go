package bench

import (
	"fmt"
	"io"
	"time"

	"github.com/plexus/plexus/internal/cli/out"
)

// Result is what produce, consume and e2e print; with --format json it
// is printed as is, for scripts such as bench/run.
type Result struct {
	Mode     string   `json:"mode"`
	Settings Settings `json:"settings"`
	// TopicSetupSeconds is how long creating the topic and waiting for
	// its leaders took (0 if the topic was not created).
	TopicSetupSeconds float64 `json:"topic_setup_s,omitempty"`
	Produced          *Flow   `json:"produced,omitempty"`
	Consumed          *Flow   `json:"consumed,omitempty"`
	// ProduceLatency is ack time minus intended send time (or actual send
	// time without --rate).
	ProduceLatency *Latency `json:"produce_latency,omitempty"`
	// SendLag is actual minus intended send time: how late the client
	// itself was in handing records over (only with --rate).
	SendLag *Latency `json:"send_lag,omitempty"`
	// E2ELatency is the time the tailing consumer got a record minus its
	// intended send time.
	E2ELatency *Latency `json:"e2e_latency,omitempty"`
	Broker     *Usage   `json:"broker,omitempty"`
	Client     *Usage   `json:"client,omitempty"`
	// Machine is the whole machine's busy CPU over the run (given a
	// broker pid): what neither process's own times show, such as the
	// kernel's writeback threads flushing the broker's page cache.
	Machine *MachineUsage `json:"machine,omitempty"`
}

// MachineUsage is the machine's busy CPU time over a run, from /proc/stat:
// every process and kernel thread, not idle or iowait.
type MachineUsage struct {
	CPUSeconds      float64 `json:"cpu_s"`
	CPUSecondsPerGB float64 `json:"cpu_s_per_gb"`
	// OtherCPUSecondsPerGB is the machine's minus the broker's and the
	// bench client's: kernel threads working for them (writeback, block
	// completions), and anything else running.
	OtherCPUSecondsPerGB float64 `json:"other_cpu_s_per_gb"`
}

// Settings echo the flags that shape a run.
type Settings struct {
	Topic       string  `json:"topic"`
	Partitions  int32   `json:"partitions,omitempty"`
	RecordSize  int     `json:"record_size,omitempty"`
	Acks        string  `json:"acks,omitempty"`
	Idempotent  bool    `json:"idempotent,omitempty"`
	Linger      string  `json:"linger,omitempty"`
	Compression string  `json:"compression,omitempty"`
	Payload     string  `json:"payload,omitempty"`
	Keys        int64   `json:"keys,omitempty"`
	Rate        int64   `json:"rate,omitempty"`
	Producers   int     `json:"producers,omitempty"`
	MaxInflight int     `json:"max_inflight,omitempty"`
	Warmup      string  `json:"warmup,omitempty"`
	Count       int64   `json:"count,omitempty"`
	Duration    string  `json:"duration,omitempty"`
	LoadAvg     LoadAvg `json:"load_avg"`
}

// Flow is how much went one way and how fast.
type Flow struct {
	Records       int64   `json:"records"`
	Bytes         int64   `json:"bytes"`
	Seconds       float64 `json:"seconds"`
	MBPerSec      float64 `json:"mb_per_s"`
	RecordsPerSec float64 `json:"records_per_s"`
	Errors        int64   `json:"errors,omitempty"`
	FirstError    string  `json:"first_error,omitempty"`
}

func newFlow(records, bytes int64, d time.Duration) *Flow {
	f := &Flow{Records: records, Bytes: bytes, Seconds: d.Seconds()}
	if d > 0 {
		f.MBPerSec = float64(bytes) / 1e6 / d.Seconds()
		f.RecordsPerSec = float64(records) / d.Seconds()
	}
	return f
}

// Latency summarises a histogram, in milliseconds.
type Latency struct {
	Count        uint64  `json:"count"`
	Mean         float64 `json:"mean_ms"`
	P50          float64 `json:"p50_ms"`
	P90          float64 `json:"p90_ms"`
	P99          float64 `json:"p99_ms"`
	P999         float64 `json:"p999_ms"`
	Max          float64 `json:"max_ms"`
	FromIntended bool    `json:"from_intended_send_time"`
}

func summarize(h *Histogram, fromIntended bool) *Latency {
	if h == nil || h.Count() == 0 {
		return nil
	}
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	return &Latency{
		Count:        h.Count(),
		Mean:         ms(h.Mean()),
		P50:          ms(h.Percentile(50)),
		P90:          ms(h.Percentile(90)),
		P99:          ms(h.Percentile(99)),
		P999:         ms(h.Percentile(99.9)),
		Max:          ms(h.Max()),
		FromIntended: fromIntended,
	}
}

// Usage is a process's CPU time over a run and its memory at the end.
type Usage struct {
	PID             int     `json:"pid,omitempty"`
	CPUSeconds      float64 `json:"cpu_s"`
	UserSeconds     float64 `json:"user_s"`
	SysSeconds      float64 `json:"sys_s"`
	CPUSecondsPerGB float64 `json:"cpu_s_per_gb"`
	RSSBytes        int64   `json:"rss_bytes"`
	PeakRSSBytes    int64   `json:"peak_rss_bytes"`
}

// writeText prints a result for people.
func (r *Result) writeText(w io.Writer) error {
	s := r.Settings
	out.Section(w, "bench "+r.Mode)
	kv := []any{"topic", fmt.Sprintf("%s (%d partitions)", s.Topic, s.Partitions)}
	if r.Mode != "consume" {
		kv = append(kv,
			"records", fmt.Sprintf("%d bytes, acks=%s, idempotent=%v, linger=%s, compression=%s, payload=%s", s.RecordSize, s.Acks, s.Idempotent, s.Linger, s.Compression, s.Payload),
			"producers", fmt.Sprintf("%d, %d request(s) in flight per broker each", s.Producers, max(s.MaxInflight, 1)))
		if s.Keys > 0 {
			kv = append(kv, "keys", fmt.Sprintf("random from %d", s.Keys))
		}
		if s.Rate > 0 {
			kv = append(kv, "rate", fmt.Sprintf("%d records/s (warm-up %s excluded from latency)", s.Rate, s.Warmup))
		}
	}
	if r.TopicSetupSeconds > 0 {
		kv = append(kv, "topic setup", fmt.Sprintf("%.3fs", r.TopicSetupSeconds))
	}
	kv = append(kv, "load average", s.LoadAvg.String())
	if err := out.KV(w, kv...); err != nil {
		return err
	}
	fmt.Fprintln(w)
	t := out.NewTable(w, "", "records", "MB/s", "records/s", "seconds", "errors")
	for _, f := range []struct {
		name string
		f    *Flow
	}{{"produced", r.Produced}, {"consumed", r.Consumed}} {
		if f.f != nil {
			t.Row(f.name, f.f.Records, fmt.Sprintf("%.1f", f.f.MBPerSec), fmt.Sprintf("%.0f", f.f.RecordsPerSec), fmt.Sprintf("%.2f", f.f.Seconds), f.f.Errors)
		}
	}
	if err := t.Flush(); err != nil {
		return err
	}
	for _, f := range []*Flow{r.Produced, r.Consumed} {
		if f != nil && f.FirstError != "" {
			fmt.Fprintf(w, "first error: %s\n", f.FirstError)
		}
	}
	if r.ProduceLatency != nil || r.E2ELatency != nil {
		fmt.Fprintln(w)
		t := out.NewTable(w, "latency (ms)", "count", "p50", "p90", "p99", "p99.9", "max", "mean")
		for _, l := range []struct {
			name string
			l    *Latency
		}{{"produce (to ack)", r.ProduceLatency}, {"end to end", r.E2ELatency}, {"send lag (client)", r.SendLag}} {
			if l.l != nil {
				t.Row(l.name, l.l.Count, f3(l.l.P50), f3(l.l.P90), f3(l.l.P99), f3(l.l.P999), f3(l.l.Max), f3(l.l.Mean))
			}
		}
		if err := t.Flush(); err != nil {
			return err
		}
		if s.Rate > 0 {
			fmt.Fprintln(w, "(measured from each record's intended send time)")
		}
	}
	if r.Broker != nil || r.Client != nil {
		fmt.Fprintln(w)
		t := out.NewTable(w, "process", "pid", "cpu s", "user s", "sys s", "cpu s/GB", "rss MB", "peak rss MB")
		for _, u := range []struct {
			name string
			u    *Usage
		}{{"broker", r.Broker}, {"bench client", r.Client}} {
			if u.u != nil {
				t.Row(u.name, u.u.PID, f3(u.u.CPUSeconds), f3(u.u.UserSeconds), f3(u.u.SysSeconds), f3(u.u.CPUSecondsPerGB), fmt.Sprintf("%.1f", float64(u.u.RSSBytes)/1e6), fmt.Sprintf("%.1f", float64(u.u.PeakRSSBytes)/1e6))
			}
		}
		if m := r.Machine; m != nil {
			t.Row("machine, all busy CPU", "-", f3(m.CPUSeconds), "-", "-", f3(m.CPUSecondsPerGB), "-", "-")
			t.Row("  of it other work", "-", "-", "-", "-", f3(m.OtherCPUSecondsPerGB), "-", "-")
		}
		if err := t.Flush(); err != nil {
			return err
		}
		if r.Machine != nil {
			fmt.Fprintln(w, "(other work: kernel threads such as page-cache writeback, and other processes)")
		}
	}
	return nil
}

func f3(v float64) string { return fmt.Sprintf("%.3f", v) }

func (r *Result) write(w io.Writer, format string) error {
	if format == out.JSON {
		return out.WriteJSON(w, r)
	}
	return r.writeText(w)
}

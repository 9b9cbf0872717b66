package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/plexus/plexus/internal/cli/out"
)

// Limits is what `plexus bench limits` measures: the ceilings a broker
// on this machine works under.
type Limits struct {
	Machine Machine `json:"machine"`
	// TCPMBPerSec is one loopback TCP stream's throughput (writer and
	// reader in this process, 1 MiB writes).
	TCPMBPerSec float64 `json:"tcp_loopback_mb_per_s"`
	// Fdatasync is the latency of appending a block to a file and
	// calling fdatasync, as a log does for an acks=all write.
	Fdatasync       *Latency `json:"fdatasync_latency"`
	FdatasyncBlock  int      `json:"fdatasync_block_bytes"`
	FdatasyncPerSec float64  `json:"fdatasyncs_per_s"`
	FdatasyncMBps   float64  `json:"fdatasync_mb_per_s"`
	Dir             string   `json:"dir"`
}

func limitsCommand() *cobra.Command {
	var (
		format   *string
		dir      string
		tcpFor   time.Duration
		syncFor  time.Duration
		block    int
		maxSyncs int
	)
	cmd := &cobra.Command{
		Use:   "limits",
		Short: "Measure this machine: loopback TCP throughput and fdatasync latency",
		Long: `Measure the ceilings a broker on this machine works under, so benchmark
figures can be read against them: the throughput of one loopback TCP stream,
and the latency of appending a block (64 KiB by default) to a file in --dir
and calling fdatasync, as a log does for every acks=all group commit. It
also prints the CPU, kernel, memory, the disk holding --dir, and the load
average, since shared machines are noisy.`,
		Example: `  plexus bench limits
  plexus bench limits --dir /var/lib/plexus --format json
  plexus bench limits --tcp-duration 5s --sync-duration 5s --block-size 4096`,
		Args: cobra.NoArgs,
	}
	format = out.FormatFlag(cmd)
	f := cmd.Flags()
	f.StringVar(&dir, "dir", ".", "directory on the disk to measure (a temporary file is written and removed)")
	f.DurationVar(&tcpFor, "tcp-duration", 3*time.Second, "how long to stream over loopback TCP")
	f.DurationVar(&syncFor, "sync-duration", 3*time.Second, "how long to append and fdatasync")
	f.IntVar(&block, "block-size", 64<<10, "bytes appended before each fdatasync")
	f.IntVar(&maxSyncs, "max-syncs", 2000, "stop the fdatasync test after this many syncs")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := out.CheckFormat(*format); err != nil {
			return err
		}
		if block < 1 || maxSyncs < 1 {
			return errors.New("--block-size and --max-syncs must be at least 1")
		}
		ctx := cmd.Context()
		l := &Limits{Machine: ReadMachine(dir), Dir: dir, FdatasyncBlock: block}
		var err error
		if l.TCPMBPerSec, err = measureTCP(ctx, tcpFor); err != nil {
			return fmt.Errorf("loopback TCP: %w", err)
		}
		h, n, elapsed, err := measureFdatasync(ctx, dir, block, syncFor, maxSyncs)
		if err != nil {
			return fmt.Errorf("fdatasync: %w", err)
		}
		l.Fdatasync = summarize(h, false)
		l.FdatasyncPerSec = float64(n) / elapsed.Seconds()
		l.FdatasyncMBps = float64(n) * float64(block) / 1e6 / elapsed.Seconds()
		l.Machine.LoadAvg, _ = ReadLoadAvg()
		w := cmd.OutOrStdout()
		if *format == out.JSON {
			return out.WriteJSON(w, l)
		}
		m := l.Machine
		out.Section(w, "machine")
		if err := out.KV(w,
			"cpus", m.CPUs, "cpu model", m.CPUModel, "kernel", m.Kernel,
			"memory", fmt.Sprintf("%.1f GB", float64(m.MemTotal)/1e9),
			"disk of "+dir, m.Disk, "load average", m.LoadAvg.String()); err != nil {
			return err
		}
		fmt.Fprintln(w)
		out.Section(w, "limits")
		return out.KV(w,
			"loopback TCP, one stream", fmt.Sprintf("%.0f MB/s", l.TCPMBPerSec),
			fmt.Sprintf("append %d B + fdatasync", block), fmt.Sprintf("p50 %.3f ms, p99 %.3f ms, max %.3f ms (%d syncs)", l.Fdatasync.P50, l.Fdatasync.P99, l.Fdatasync.Max, l.Fdatasync.Count),
			"fdatasync rate", fmt.Sprintf("%.0f/s, %.1f MB/s", l.FdatasyncPerSec, l.FdatasyncMBps))
	}
	return cmd
}

// measureTCP streams over one loopback connection for d and returns the
// receiver's MB/s.
func measureTCP(ctx context.Context, d time.Duration) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	type result struct {
		n   int64
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		n, err := io.CopyBuffer(io.Discard, c, make([]byte, 1<<20))
		got <- result{n, err}
	}()
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 1<<20)
	start := time.Now()
	end := start.Add(d)
	for time.Now().Before(end) && ctx.Err() == nil {
		if _, err := c.Write(buf); err != nil {
			c.Close()
			return 0, err
		}
	}
	c.Close()
	r := <-got
	elapsed := time.Since(start)
	if r.err != nil {
		return 0, r.err
	}
	return float64(r.n) / 1e6 / elapsed.Seconds(), nil
}

// measureFdatasync appends block-byte writes to a new file in dir, each
// followed by fdatasync, for d or max syncs, and returns their latencies.
func measureFdatasync(ctx context.Context, dir string, block int, d time.Duration, maxSyncs int) (*Histogram, int, time.Duration, error) {
	f, err := os.CreateTemp(dir, ".plexus-bench-fsync-*")
	if err != nil {
		return nil, 0, 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, block)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	h := NewHistogram()
	start := time.Now()
	n := 0
	for n < maxSyncs && time.Since(start) < d && ctx.Err() == nil {
		t := time.Now()
		if _, err := f.Write(buf); err != nil {
			return nil, 0, 0, err
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return nil, 0, 0, err
		}
		h.Record(time.Since(t))
		n++
	}
	return h, n, time.Since(start), ctx.Err()
}

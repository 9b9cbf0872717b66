package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/plexus/plexus/internal/cli/kafka"
	"github.com/plexus/plexus/internal/cli/out"
)

func consumeCommand() *cobra.Command {
	var (
		c             commonFlags
		t             topicOptions
		count         int64
		idle          time.Duration
		fetchMaxBytes int32
		partMaxBytes  int32
	)
	cmd := &cobra.Command{
		Use:   "consume",
		Short: "Read a topic from the start and measure the throughput",
		Long: `Read every partition of a topic from its start to the end it had when the
command started (or --count records), without a consumer group, and print
the throughput. With --broker-pid the broker's CPU seconds per GB read are
included.`,
		Example: `  plexus bench consume -t bench
  plexus bench consume -t bench -n 100000 --format json
  plexus bench consume -t bench --broker-pid 4242`,
		Args: cobra.NoArgs,
	}
	c.add(cmd)
	t.addFlags(cmd.Flags(), false)
	f := cmd.Flags()
	f.Int64VarP(&count, "count", "n", 0, "records to read, waiting for more if needed (0: up to the end offsets at the start)")
	f.DurationVar(&idle, "idle-timeout", 30*time.Second, "fail if no record arrives for this long")
	f.Int32Var(&fetchMaxBytes, "fetch-max-bytes", 50<<20, "most bytes one fetch response may carry (franz-go's FetchMaxBytes)")
	f.Int32Var(&partMaxBytes, "fetch-max-partition-bytes", 1<<20, "most bytes one partition may contribute to a fetch response (franz-go's FetchMaxPartitionBytes)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := c.check(); err != nil {
			return err
		}
		if count < 0 {
			return fmt.Errorf("--count %d: want 0 or more", count)
		}
		ctx := cmd.Context()
		adm, err := c.k.Admin(ctx)
		if err != nil {
			return err
		}
		defer adm.Close()
		starts, err := listOffsets(ctx, adm.ListStartOffsets, t.topic)
		if err != nil {
			return err
		}
		ends, err := listOffsets(ctx, adm.ListEndOffsets, t.topic)
		if err != nil {
			return err
		}
		target := count
		if target == 0 {
			for p, e := range ends {
				target += e - starts[p]
			}
			if target == 0 {
				return fmt.Errorf("topic %s is empty: produce to it first (plexus bench produce -t %s)", t.topic, t.topic)
			}
		}
		cl, err := c.k.Client(ctx,
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{t.topic: at(starts)}),
			kgo.FetchMaxBytes(fetchMaxBytes), kgo.FetchMaxPartitionBytes(partMaxBytes))
		if err != nil {
			return err
		}
		defer cl.Close()
		cons := newConsumer(cl, idle, false)
		cons.target.Store(target)
		progress := out.StartProgress(cmd.ErrOrStderr(), func() string {
			return fmt.Sprintf("consumed %d of %d", cons.records.Load(), target)
		})
		broker := startUsage(c.brokerPID)
		client := startUsage(os.Getpid())
		machine := startMachineUsage()
		cons.run(ctx)
		progress.Stop()
		res := &Result{
			Mode:     "consume",
			Settings: Settings{Topic: t.topic, Partitions: int32(len(ends)), Count: count},
			Consumed: cons.flow(),
		}
		res.Settings.LoadAvg, _ = ReadLoadAvg()
		if c.brokerPID != 0 {
			if res.Broker, err = broker.finish(cons.bytes.Load()); err != nil {
				return fmt.Errorf("broker usage: %w", err)
			}
		}
		res.Client, _ = client.finish(cons.bytes.Load())
		res.Machine = machine.finish(cons.bytes.Load(), res.Broker, res.Client)
		if err := res.write(cmd.OutOrStdout(), *c.format); err != nil {
			return err
		}
		return cons.err()
	}
	return cmd
}

// listOffsets returns partition → offset from ListStartOffsets or
// ListEndOffsets, failing on any partition's error.
func listOffsets(ctx context.Context, list func(context.Context, ...string) (kadm.ListedOffsets, error), topic string) (map[int32]int64, error) {
	lo, err := list(ctx, topic)
	if err != nil {
		return nil, kafka.Explain(err)
	}
	if err := lo.Error(); err != nil {
		return nil, kafka.Explain(fmt.Errorf("topic %s: %w", topic, err))
	}
	m := map[int32]int64{}
	lo.Each(func(o kadm.ListedOffset) { m[o.Partition] = o.Offset })
	if len(m) == 0 {
		return nil, fmt.Errorf("topic %s has no partitions (does it exist? plexus topic list)", topic)
	}
	return m, nil
}

func at(offsets map[int32]int64) map[int32]kgo.Offset {
	m := make(map[int32]kgo.Offset, len(offsets))
	for p, o := range offsets {
		m[p] = kgo.NewOffset().At(o)
	}
	return m
}

// consumer reads until it has target records, counting them and, for
// e2e, recording each record's latency from the time in its value.
type consumer struct {
	cl     *kgo.Client
	idle   time.Duration
	target atomic.Int64 // stop once this many records are read; -1: not known yet

	records, bytes atomic.Int64
	warmEnd        atomic.Int64 // unix ns: latencies of records due earlier are left out
	e2e            *Histogram   // nil: no latency; owned by run until it returns

	started, last time.Time

	mu       sync.Mutex
	errs     int64
	firstErr error
}

func newConsumer(cl *kgo.Client, idle time.Duration, latency bool) *consumer {
	c := &consumer{cl: cl, idle: idle}
	c.target.Store(-1)
	if latency {
		c.e2e = NewHistogram()
	}
	return c
}

func (c *consumer) setWarmupEnd(t time.Time) { c.warmEnd.Store(t.UnixNano()) }

func (c *consumer) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs++
	if c.firstErr == nil {
		c.firstErr = err
	}
}

func (c *consumer) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.firstErr
}

// run polls until target records are read, the context ends, or no
// record arrives for the idle timeout.
func (c *consumer) run(ctx context.Context) {
	c.started = time.Now()
	c.last = c.started
	lastProgress := c.started
	for {
		if t := c.target.Load(); t >= 0 && c.records.Load() >= t {
			return
		}
		if ctx.Err() != nil {
			c.fail(ctx.Err())
			return
		}
		if time.Since(lastProgress) > c.idle {
			want := "more"
			if t := c.target.Load(); t >= 0 {
				want = fmt.Sprint(t)
			}
			c.fail(fmt.Errorf("consumer: no records for %s after reading %d of %s", c.idle, c.records.Load(), want))
			return
		}
		// Poll in short slices so a target set meanwhile is noticed.
		pctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		fs := c.cl.PollFetches(pctx)
		cancel()
		now := time.Now()
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				c.fail(fmt.Errorf("fetch %s/%d: %w", topic, p, err))
			}
		})
		var n, b int64
		warm := time.Unix(0, c.warmEnd.Load())
		fs.EachRecord(func(r *kgo.Record) {
			n++
			b += int64(len(r.Key) + len(r.Value))
			if c.e2e != nil {
				if t, ok := Stamp(r.Value); ok && !t.Before(warm) {
					c.e2e.Record(now.Sub(t))
				}
			}
		})
		if n > 0 {
			lastProgress, c.last = now, now
			c.records.Add(n)
			c.bytes.Add(b)
		}
	}
}

func (c *consumer) flow() *Flow {
	f := newFlow(c.records.Load(), c.bytes.Load(), c.last.Sub(c.started))
	c.mu.Lock()
	defer c.mu.Unlock()
	f.Errors = c.errs
	if c.firstErr != nil {
		f.FirstError = c.firstErr.Error()
	}
	return f
}

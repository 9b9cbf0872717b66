package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/plexus/plexus/internal/cli/out"
)

// produceOptions are the flags of produce and e2e.
type produceOptions struct {
	topicOptions
	recordSize  int
	count       int64
	duration    time.Duration
	rate        int64
	acks        string
	idempotent  bool
	linger      time.Duration
	compression string
	payload     string
	keys        int64
	producers   int
	maxInflight int
	maxBuffered int
	batchMax    int32
	warmup      time.Duration

	idempotentSet bool
}

func (o *produceOptions) addFlags(f *pflag.FlagSet) {
	o.topicOptions.addFlags(f, true)
	f.IntVarP(&o.recordSize, "record-size", "s", 1024, "bytes in each record's value (at least 8 to measure latency)")
	f.Int64VarP(&o.count, "count", "n", 0, "records to produce (0: 1000000 for produce, unlimited for e2e; with --duration, whichever ends first)")
	f.DurationVarP(&o.duration, "duration", "d", 0, "produce for this long instead of --count records (e2e default: 30s)")
	f.Int64Var(&o.rate, "rate", 0, "records per second, spread evenly over the run (0: as fast as possible)")
	f.StringVar(&o.acks, "acks", "all", "acknowledgements to wait for: all (-1), 1 or 0")
	f.BoolVar(&o.idempotent, "idempotent", true, "idempotent producer (needs --acks all; false disables it)")
	f.DurationVar(&o.linger, "linger", 10*time.Millisecond, "how long a partition's batch waits for more records before it is sent (franz-go's default 10ms)")
	f.StringVarP(&o.compression, "compression", "z", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	f.StringVar(&o.payload, "payload", PayloadRandom, "value contents: random (incompressible), half-random (compresses to about half) or zeros")
	f.Int64Var(&o.keys, "keys", 0, "give each record a random key from a keyspace of this many keys, partitioned by key hash (0: no keys, spread by franz-go's sticky partitioner)")
	f.IntVar(&o.producers, "producers", 1, "producer clients, each with its own connections and sending goroutine")
	f.IntVar(&o.maxInflight, "max-inflight", 1, "with --idempotent=false: produce requests each producer client keeps in flight per broker (franz-go's MaxProduceRequestsInflightPerBroker). An idempotent producer keeps up to 5 once the broker has answered Produce v4 or later, and franz-go refuses the option with it")
	f.IntVar(&o.maxBuffered, "max-buffered", 50000, "records each producer client may hold unacknowledged (franz-go's MaxBufferedRecords)")
	f.Int32Var(&o.batchMax, "batch-max-bytes", 1000012, "largest record batch the producer builds (franz-go's ProducerBatchMaxBytes)")
	f.DurationVar(&o.warmup, "warmup", 0, "leave records intended for the first part of the run out of the latency figures")
}

func (o *produceOptions) validate(cmd *cobra.Command, e2e bool) error {
	o.idempotentSet = cmd.Flags().Changed("idempotent")
	if o.recordSize < 0 {
		return fmt.Errorf("--record-size %d: want 0 or more", o.recordSize)
	}
	if e2e && o.recordSize < stampLen {
		return fmt.Errorf("--record-size %d: e2e needs at least %d bytes to carry the send time", o.recordSize, stampLen)
	}
	if o.count < 0 || o.duration < 0 || o.rate < 0 || o.keys < 0 || o.warmup < 0 {
		return errors.New("--count, --duration, --rate, --keys and --warmup cannot be negative")
	}
	if o.count == 0 && o.duration == 0 {
		if e2e {
			o.duration = 30 * time.Second
		} else {
			o.count = 1000000
		}
	}
	if o.producers < 1 {
		return fmt.Errorf("--producers %d: want at least 1", o.producers)
	}
	if o.maxInflight < 1 {
		return fmt.Errorf("--max-inflight %d: want at least 1", o.maxInflight)
	}
	if o.maxBuffered < 1 {
		return fmt.Errorf("--max-buffered %d: want at least 1", o.maxBuffered)
	}
	if _, err := parseCompression(o.compression); err != nil {
		return err
	}
	if err := checkPayload(o.payload); err != nil {
		return err
	}
	acks, err := parseAcks(o.acks)
	if err != nil {
		return err
	}
	if acks != kgo.AllISRAcks() {
		if o.idempotent && o.idempotentSet {
			return errors.New("--idempotent needs --acks all")
		}
		o.idempotent = false
	}
	if o.maxInflight > 1 && o.idempotent {
		// franz-go sets an idempotent producer's limit itself (1 until
		// the first answer, then 5) and refuses the option.
		return errors.New("--max-inflight above 1 needs --idempotent=false")
	}
	return nil
}

// clientOpts are the producer's franz-go options.
func (o *produceOptions) clientOpts() []kgo.Opt {
	codec, _ := parseCompression(o.compression)
	acks, _ := parseAcks(o.acks)
	opts := []kgo.Opt{
		kgo.RequiredAcks(acks),
		kgo.ProducerLinger(o.linger),
		kgo.ProducerBatchCompression(codec),
		kgo.MaxBufferedRecords(o.maxBuffered),
		kgo.ProducerBatchMaxBytes(o.batchMax),
	}
	if !o.idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite(), kgo.MaxProduceRequestsInflightPerBroker(o.maxInflight))
	}
	return opts
}

func (o *produceOptions) settings(partitions int32) Settings {
	s := Settings{
		Topic: o.topic, Partitions: partitions, RecordSize: o.recordSize, Acks: o.acks,
		Idempotent: o.idempotent, Linger: o.linger.String(), Compression: o.compression,
		Payload: o.payload, Keys: o.keys, Rate: o.rate, Producers: o.producers, MaxInflight: o.maxInflight,
		Count: o.count,
	}
	if o.duration > 0 {
		s.Duration = o.duration.String()
	}
	if o.warmup > 0 {
		s.Warmup = o.warmup.String()
	}
	s.LoadAvg, _ = ReadLoadAvg()
	return s
}

func produceCommand() *cobra.Command {
	var (
		c commonFlags
		o produceOptions
	)
	cmd := &cobra.Command{
		Use:   "produce",
		Short: "Produce records as fast as possible or at a fixed rate",
		Long: `Produce --count records (or for --duration) of --record-size bytes to a
topic, then print the throughput and the produce latency (from the intended
send time to the acknowledgement) percentiles.

With -p or --recreate the topic is created first (and deleted first with
--recreate); the time that took is reported. With --rate the records are
spread evenly: record i is due at start + i/rate, and latency counts from
then, so a stall delays every record due during it rather than only the one
in flight. Several --producers share one sequence of records.`,
		Example: `  plexus bench produce -t bench -p 100 --recreate -n 1000000 -s 1024
  plexus bench produce -t bench -s 100 -n 5000000 --acks 1
  plexus bench produce -t bench --rate 50000 -d 60s --warmup 10s
  plexus bench produce -t keyed --keys 100000 -z lz4 --payload half-random
  plexus bench produce -t bench --broker-pid 4242 --format json`,
		Args: cobra.NoArgs,
	}
	c.add(cmd)
	o.addFlags(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := c.check(); err != nil {
			return err
		}
		if err := o.validate(cmd, false); err != nil {
			return err
		}
		ctx := cmd.Context()
		res, err := runProduce(ctx, cmd, &c, &o, nil)
		if res != nil {
			if werr := res.write(cmd.OutOrStdout(), *c.format); werr != nil {
				return werr
			}
		}
		return err
	}
	return cmd
}

// runProduce sets up the topic and runs the producers; e2e passes a
// consumer to start, at the end offsets, before the first record is sent.
func runProduce(ctx context.Context, cmd *cobra.Command, c *commonFlags, o *produceOptions, e2e *tailer) (*Result, error) {
	adm, err := c.k.Admin(ctx)
	if err != nil {
		return nil, err
	}
	defer adm.Close()
	partitions, setup, err := setupTopic(ctx, adm, &o.topicOptions)
	if err != nil {
		return nil, err
	}
	res := &Result{Mode: "produce", Settings: o.settings(partitions), TopicSetupSeconds: setup.Seconds()}

	clients := make([]*kgo.Client, o.producers)
	for i := range clients {
		cl, err := c.k.Client(ctx, o.clientOpts()...)
		if err != nil {
			return nil, err
		}
		defer cl.Close()
		clients[i] = cl
		// Connect and load the topic's metadata now, not on the clock.
		if err := cl.Ping(ctx); err != nil {
			return nil, fmt.Errorf("producer: %w", err)
		}
		cl.ForceMetadataRefresh()
	}
	if e2e != nil {
		res.Mode = "e2e"
		if err := e2e.start(ctx, adm, o.topic); err != nil {
			return nil, err
		}
		defer e2e.close()
	}

	p := newProducer(o)
	progress := out.StartProgress(cmd.ErrOrStderr(), func() string {
		s := fmt.Sprintf("produced %d", p.acked.Load())
		if e2e != nil {
			s += fmt.Sprintf(", consumed %d", e2e.c.records.Load())
		}
		return s
	})
	defer progress.Stop()

	broker := startUsage(c.brokerPID)
	client := startUsage(os.Getpid())
	machine := startMachineUsage()
	if e2e != nil {
		e2e.c.setWarmupEnd(time.Now().Add(o.warmup))
	}
	elapsed := p.run(ctx, clients)
	if e2e != nil {
		// Wait for the consumer to see every acknowledged record.
		e2e.c.target.Store(p.acked.Load())
		<-e2e.done
	}
	res.Produced = newFlow(p.acked.Load(), p.bytes.Load(), elapsed)
	res.Produced.Errors = p.failed.Load()
	if e := p.firstErr.Load(); e != nil {
		res.Produced.FirstError = *e
	}
	res.ProduceLatency = summarize(p.lat, o.rate > 0)
	if o.rate > 0 {
		res.SendLag = summarize(p.lag, true)
	}
	if e2e != nil {
		res.Consumed = e2e.c.flow()
		res.E2ELatency = summarize(e2e.c.e2e, o.rate > 0)
	}
	if c.brokerPID != 0 {
		if res.Broker, err = broker.finish(p.bytes.Load()); err != nil {
			return res, fmt.Errorf("broker usage: %w", err)
		}
	}
	res.Client, _ = client.finish(p.bytes.Load())
	res.Machine = machine.finish(p.bytes.Load(), res.Broker, res.Client)
	progress.Stop()
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	if n := p.failed.Load(); n > 0 {
		return res, fmt.Errorf("%d records failed: %s", n, res.Produced.FirstError)
	}
	if e2e != nil {
		if err := e2e.c.err(); err != nil {
			return res, err
		}
	}
	return res, nil
}

// producer drives one run: goroutines (one per client) take record
// numbers from a shared counter, wait for each record's intended time
// with --rate, and hand the record to their client; promises count the
// acknowledgements and record the latencies.
type producer struct {
	o       *produceOptions
	pool    *recordPool
	sched   Schedule
	limit   int64     // records to send; < 0: no limit
	end     time.Time // no record is due at or after end; zero: no end
	warmEnd time.Time // latencies of records due before this are left out

	next                 atomic.Int64
	acked, bytes, failed atomic.Int64
	lastAck              atomic.Int64
	firstErr             atomic.Pointer[string]

	mu  sync.Mutex
	lat *Histogram // produce latency, under mu
	lag *Histogram // send lag, merged from the goroutines at the end
}

func newProducer(o *produceOptions) *producer {
	p := &producer{
		o:     o,
		pool:  newRecordPool(o.topic, o.recordSize, o.payload, o.keys > 0),
		limit: -1,
		lat:   NewHistogram(),
		lag:   NewHistogram(),
	}
	if o.count > 0 {
		p.limit = o.count
	}
	return p
}

// run sends every record and waits for all their promises; it returns the
// time from the start to the last acknowledgement.
func (p *producer) run(ctx context.Context, clients []*kgo.Client) time.Duration {
	start := time.Now()
	p.sched = Schedule{Start: start, Rate: p.o.rate}
	p.warmEnd = start.Add(p.o.warmup)
	if p.o.duration > 0 {
		p.end = start.Add(p.o.duration)
	}
	p.lastAck.Store(start.UnixNano())
	lags := make([]*Histogram, len(clients))
	var wg sync.WaitGroup
	for i, cl := range clients {
		wg.Go(func() { lags[i] = p.send(ctx, cl) })
	}
	wg.Wait()
	for _, h := range lags {
		p.lag.Merge(h)
	}
	return time.Unix(0, p.lastAck.Load()).Sub(start)
}

// send is one client's sending loop; it returns the send-lag histogram.
func (p *producer) send(ctx context.Context, cl *kgo.Client) *Histogram {
	lag := NewHistogram()
	rated := p.sched.Rate > 0
	for ctx.Err() == nil {
		i := p.next.Add(1) - 1
		if p.limit >= 0 && i >= p.limit {
			break
		}
		now := time.Now()
		due := now
		if rated {
			due = p.sched.Intended(i)
			if !p.end.IsZero() && !due.Before(p.end) {
				break
			}
			if d := due.Sub(now); d > 0 {
				if d < 100*time.Millisecond {
					time.Sleep(d) // no timer to allocate for the usual short wait
				} else if sleepCtx(ctx, d) != nil {
					break
				}
				now = time.Now()
			}
			if !due.Before(p.warmEnd) {
				lag.Record(now.Sub(due))
			}
		} else if !p.end.IsZero() && !now.Before(p.end) {
			break
		}
		r := p.pool.get()
		if p.o.keys > 0 {
			r.Key = AppendKey(r.Key, rand.Int64N(p.o.keys))
		}
		PutStamp(r.Value, due)
		cl.Produce(ctx, r, p.promise)
	}
	_ = cl.Flush(ctx)
	return lag
}

func (p *producer) promise(r *kgo.Record, err error) {
	now := time.Now()
	if err != nil {
		if p.failed.Add(1) == 1 {
			s := err.Error()
			p.firstErr.Store(&s)
		}
	} else {
		p.acked.Add(1)
		p.bytes.Add(int64(len(r.Key) + len(r.Value)))
		if t, ok := Stamp(r.Value); ok && !t.Before(p.warmEnd) {
			p.mu.Lock()
			p.lat.Record(now.Sub(t))
			p.mu.Unlock()
		}
	}
	for {
		last := p.lastAck.Load()
		if now.UnixNano() <= last || p.lastAck.CompareAndSwap(last, now.UnixNano()) {
			break
		}
	}
	p.pool.put(r)
}

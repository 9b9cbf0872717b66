package txn

// The Coordinator runs the Machine on a coordlog.Driver (one lock around
// every event, timers, appends completed in log order; its lock comes
// before a partition's) and adds what is particular to transactions:
// __transaction_state, its loading, and the markers, which one goroutine
// per marker job writes and waits for, without the lock.

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/plexus/plexus/internal/cluster"
	"github.com/plexus/plexus/internal/coordlog"
	"github.com/plexus/plexus/internal/partition"
	"github.com/plexus/plexus/internal/records"
)

// StateTopic is the transaction coordinator's internal topic.
const StateTopic = "__transaction_state"

// Errors of the coordinator's Go API; the broker maps them to Kafka codes.
var (
	// ErrNotAvailable: __transaction_state could not be created
	// (COORDINATOR_NOT_AVAILABLE).
	ErrNotAvailable = errors.New("txn: coordinator not available")
	// ErrStopped: the coordinator is stopped (NOT_COORDINATOR).
	ErrStopped = errors.New("txn: coordinator stopped")
)

// Host is what the coordinator needs from the broker.
type Host interface {
	Image() *cluster.Image
	PartitionByName(topic string, idx int32) *partition.Partition
	CreateTopic(name string, partitions int32, configs map[string]string, internal bool) (*cluster.Topic, error)
	// NextProducerID hands out a producer id never handed out before.
	NextProducerID() (int64, error)
}

// Options start a coordinator.
type Options struct {
	Config       Config
	Partitions   int32 // transaction.state.log.num.partitions, used when creating the topic
	SegmentBytes int64 // transaction.state.log.segment.bytes
	Host         Host
	Logger       *slog.Logger
	Now          func() time.Time
	// ErrorCode maps an append error to a Kafka code.
	ErrorCode func(error) int16
	// OffsetsCompleted is told when a marker is durable in a
	// __consumer_offsets partition, so the group coordinator makes the
	// producer's transactional offsets visible (commit) or drops them.
	OffsetsCompleted func(partition int32, producerID int64, commit bool)
}

// Coordinator runs the Machine for a broker.
type Coordinator struct {
	opts     Options
	log      *slog.Logger
	m        *Machine // used under d's lock only
	d        *coordlog.Driver[*Machine, Output, Reply]
	createMu sync.Mutex
}

// Start starts the coordinator. When __transaction_state exists its
// partitions load in the background; until one is loaded, requests for
// its transactional ids get COORDINATOR_LOAD_IN_PROGRESS.
func Start(opts Options) (*Coordinator, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ErrorCode == nil {
		opts.ErrorCode = func(error) int16 { return kerr.UnknownServerError.Code }
	}
	if opts.Partitions <= 0 {
		opts.Partitions = 50
	}
	cfg := opts.Config
	if cfg.AbortInterval <= 0 {
		cfg.AbortInterval = 10 * time.Second
	}
	if cfg.ExpireInterval <= 0 {
		cfg.ExpireInterval = time.Hour
	}
	if cfg.MaxTimeout <= 0 {
		cfg.MaxTimeout = 15 * time.Minute
	}
	if cfg.IDExpiration <= 0 {
		cfg.IDExpiration = 7 * 24 * time.Hour
	}
	opts.Config = cfg
	c := &Coordinator{opts: opts, log: opts.Logger.With("component", "txn-coordinator")}
	c.m = NewMachine(cfg, c.log)
	c.m.NewProducerID = opts.Host.NextProducerID
	c.m.Exists = func(topic string, p int32) bool {
		t := opts.Host.Image().Topics[topic]
		return t != nil && p >= 0 && p < t.Partitions
	}
	c.d = coordlog.NewDriver[*Machine, Output, Reply](c.m, opts.Now, coordlog.Hooks[*Machine, Output]{
		Execute:   c.execute,
		Appended:  (*Machine).Appended,
		ErrorCode: opts.ErrorCode,
		Tick:      (*Machine).Tick,
		Next:      func(m *Machine) (time.Time, bool) { return m.NextDeadline(), true },
		MinWait:   time.Millisecond,
	})
	if t := opts.Host.Image().Topics[StateTopic]; t != nil {
		c.d.Locked(func(m *Machine, _ bool) { m.SetTopic(c.now(), t.Partitions, true) })
		c.d.Go(func() { c.load(t.Partitions) })
	}
	return c, nil
}

func (c *Coordinator) now() time.Time { return c.opts.Now() }

// Close stops the coordinator: waiting requests get no answer (the broker
// answers NOT_COORDINATOR) and background work ends. The state is in
// __transaction_state; the next start resumes unfinished markers.
func (c *Coordinator) Close() error {
	c.d.Close((*Machine).Shutdown)
	return nil
}

// Do runs one request through the Machine: fn gets the time and the
// request's id. The returned function waits for the reply; ok is false if
// the coordinator stopped first.
func (c *Coordinator) Do(fn func(m *Machine, now time.Time, id uint64) Output) func() (Reply, bool) {
	_, ch := c.d.Start(fn)
	return func() (Reply, bool) { return c.d.Wait(ch, nil) }
}

// Admit asks whether a transactional write may go ahead (see
// Machine.Admit). On code 0 the caller must call release once the write
// reached the log or failed.
func (c *Coordinator) Admit(w Write) (release func(), code int16) {
	id, ch := c.d.Start(func(m *Machine, now time.Time, id uint64) Output { return m.Admit(now, id, w) })
	r, ok := c.d.Wait(ch, nil)
	if !ok {
		return func() {}, kerr.NotCoordinator.Code
	}
	if r.Code != 0 {
		return func() {}, r.Code
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			c.Event(func(m *Machine, now time.Time) Output { return m.Release(now, id) })
		})
	}, 0
}

// Event runs fn (an event without a reply) through the Machine.
func (c *Coordinator) Event(fn func(m *Machine, now time.Time) Output) { c.d.Event(fn) }

// execute carries out an Output; the driver's lock is held.
func (c *Coordinator) execute(out Output) {
	for _, r := range out.Replies {
		c.d.Reply(r.ID, r)
	}
	for _, a := range out.Appends {
		c.append(a)
	}
	for _, mk := range out.Markers {
		c.d.Go(func() { c.writeMarkers(mk) })
	}
}

func (c *Coordinator) append(a Append) {
	fail := func(code int16) { c.execute(c.m.Appended(c.now(), a.Token, code)) }
	p := c.opts.Host.PartitionByName(StateTopic, a.Partition)
	if p == nil {
		fail(kerr.NotCoordinator.Code)
		return
	}
	h := records.NewHeader()
	h.BaseTimestamp = c.now().UnixMilli()
	var b records.Builder
	b.Reset(h)
	for i, r := range a.Records {
		b.Add(int32(i), h.BaseTimestamp, r.Key, r.Value, nil)
	}
	batch, err := b.AppendTo(nil)
	if err != nil {
		fail(kerr.UnknownServerError.Code)
		return
	}
	_, ack, err := p.Append(records.Batch(batch), -1)
	if err != nil {
		c.log.Warn("append to __transaction_state failed", "partition", a.Partition, "err", err)
		fail(c.opts.ErrorCode(err))
		return
	}
	c.d.Appending(a.Partition, a.Token, ack)
}

// markerBackoff spaces retries of a marker that could not be written.
const markerBackoff = 100 * time.Millisecond

// writeMarkers writes one transaction's markers to all its partitions,
// retrying until each is durable, and reports them written. A partition
// that no longer exists needs no marker.
func (c *Coordinator) writeMarkers(mk Markers) {
	type pending struct {
		tp  TP
		ack *partition.Ack
	}
	left := append([]TP(nil), mk.Partitions...)
	for len(left) > 0 {
		var waiting []pending
		var retry []TP
		for _, tp := range left {
			p := c.opts.Host.PartitionByName(tp.Topic, tp.Partition)
			if p == nil {
				if t := c.opts.Host.Image().Topics[tp.Topic]; t == nil || tp.Partition >= t.Partitions {
					c.log.Info("skipping the marker of a partition that no longer exists", "transactional_id", mk.TransactionalID, "topic", tp.Topic, "partition", tp.Partition)
					continue
				}
				retry = append(retry, tp)
				continue
			}
			_, ack, err := p.WriteMarker(partition.Marker{
				ProducerID: mk.ProducerID, ProducerEpoch: mk.ProducerEpoch, Commit: mk.Commit,
				CoordinatorEpoch: mk.CoordinatorEpoch, Strict: mk.Strict,
			})
			switch {
			case errors.Is(err, partition.ErrInvalidProducerEpoch), errors.Is(err, partition.ErrCoordinatorFenced):
				// The partition has moved past this transaction (a newer
				// epoch or coordinator wrote there): nothing to end.
				c.log.Warn("a partition refused a transaction marker; skipping it", "transactional_id", mk.TransactionalID, "topic", tp.Topic, "partition", tp.Partition, "err", err)
			case err != nil:
				c.log.Warn("writing a transaction marker failed; retrying", "transactional_id", mk.TransactionalID, "topic", tp.Topic, "partition", tp.Partition, "err", err)
				retry = append(retry, tp)
			default:
				waiting = append(waiting, pending{tp, ack})
			}
		}
		for _, w := range waiting {
			select {
			case <-w.ack.Done():
			case <-c.d.Stop():
				return
			}
			if err := w.ack.Err(); err != nil {
				retry = append(retry, w.tp)
				continue
			}
			if w.tp.Topic == OffsetsTopic && c.opts.OffsetsCompleted != nil {
				c.opts.OffsetsCompleted(w.tp.Partition, mk.ProducerID, mk.Commit)
			}
		}
		left = retry
		if len(left) > 0 {
			t := time.NewTimer(markerBackoff)
			select {
			case <-c.d.Stop():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
	c.Event(func(m *Machine, now time.Time) Output { return m.MarkersWritten(now, mk.Token) })
}

// load replays every partition of __transaction_state.
func (c *Coordinator) load(n int32) {
	start := time.Now()
	for p := int32(0); p < n; p++ {
		if err := c.loadPartition(p); err != nil {
			c.log.Error("loading __transaction_state failed; its transactional ids stay unavailable", "partition", p, "err", err)
			continue
		}
		var epoch int32
		if part := c.opts.Host.PartitionByName(StateTopic, p); part != nil {
			epoch = part.LeaderEpoch()
		}
		c.d.Event(func(m *Machine, now time.Time) Output { return m.LoadDone(now, p, epoch) })
		select {
		case <-c.d.Stop():
			return
		default:
		}
	}
	c.log.Info("loaded transaction state", "partitions", n, "took", time.Since(start))
}

func (c *Coordinator) loadPartition(p int32) error {
	part := c.opts.Host.PartitionByName(StateTopic, p)
	if part == nil {
		return nil
	}
	return coordlog.Replay(part, c.d.Stop(), ErrStopped, c.replayBatch)
}

func (c *Coordinator) replayBatch(b records.Batch, from int64) error {
	if b.IsControl() {
		return nil
	}
	it, _, err := b.Records(nil, 64<<20)
	if err != nil {
		return fmt.Errorf("batch at %d: %w", b.BaseOffset(), err)
	}
	c.d.Locked(func(m *Machine, _ bool) {
		var rec records.Record
		for it.Next(&rec) {
			if b.BaseOffset()+int64(rec.OffsetDelta) < from {
				continue
			}
			var value []byte
			if rec.Value != nil {
				value = append([]byte{}, rec.Value...)
			}
			if err := m.Replay(append([]byte{}, rec.Key...), value); err != nil {
				c.log.Warn("skipping a __transaction_state record that cannot be read", "offset", b.BaseOffset()+int64(rec.OffsetDelta), "err", err)
			}
		}
	})
	if err := it.Err(); err != nil {
		return fmt.Errorf("batch at %d: %w", b.BaseOffset(), err)
	}
	return nil
}

// EnsureTopic creates __transaction_state on first use, as Kafka does when
// the first FindCoordinator for a transactional id arrives.
func (c *Coordinator) EnsureTopic() error {
	var have, stopped bool
	c.d.Locked(func(m *Machine, s bool) { have, stopped = m.Partitions() > 0, s })
	if stopped {
		return ErrStopped
	}
	if have {
		return nil
	}
	c.createMu.Lock()
	defer c.createMu.Unlock()
	cfg := map[string]string{"cleanup.policy": "compact"}
	if c.opts.SegmentBytes > 0 {
		cfg["segment.bytes"] = strconv.FormatInt(c.opts.SegmentBytes, 10)
	}
	t, err := c.opts.Host.CreateTopic(StateTopic, c.opts.Partitions, cfg, true)
	if err != nil || t == nil {
		c.log.Warn("could not create __transaction_state", "err", err)
		return fmt.Errorf("%w: creating %s: %v", ErrNotAvailable, StateTopic, err)
	}
	c.Event(func(m *Machine, now time.Time) Output { return m.SetTopic(now, t.Partitions, false) })
	return nil
}

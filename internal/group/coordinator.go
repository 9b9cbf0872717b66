package group

// The Coordinator runs the Machine on a coordlog.Driver (one lock around
// every event, timers, appends completed in log order) and adds what is
// particular to groups: __consumer_offsets, its loading, and how requests
// wait.

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/plexus/plexus/internal/cluster"
	"github.com/plexus/plexus/internal/coordlog"
	"github.com/plexus/plexus/internal/partition"
	"github.com/plexus/plexus/internal/records"
)

// Errors of the coordinator's Go API; the broker maps them to Kafka codes.
var (
	// ErrCoordinatorNotAvailable: __consumer_offsets could not be created
	// (COORDINATOR_NOT_AVAILABLE).
	ErrCoordinatorNotAvailable = errors.New("group: coordinator not available")
	// ErrNotCoordinator: the coordinator is stopped (NOT_COORDINATOR).
	ErrNotCoordinator = errors.New("group: not the coordinator")
)

// Host is what the coordinator needs from the broker.
type Host interface {
	Image() *cluster.Image
	PartitionByName(topic string, idx int32) *partition.Partition
	CreateTopic(name string, partitions int32, configs map[string]string, internal bool) (*cluster.Topic, error)
}

// Options start a coordinator.
type Options struct {
	Config       Config
	Partitions   int32 // offsets.topic.num.partitions, used when creating the topic
	SegmentBytes int64 // offsets.topic.segment.bytes
	Host         Host
	Logger       *slog.Logger
	Now          func() time.Time
	// ErrorCode maps an append error to a Kafka code (the broker's
	// errors.go).
	ErrorCode func(error) int16
}

// Coordinator runs the Machine for a broker.
type Coordinator struct {
	opts     Options
	log      *slog.Logger
	m        *Machine // used under d's lock only
	d        *coordlog.Driver[*Machine, Output, kmsg.Response]
	createMu sync.Mutex
}

// Start starts the coordinator. When __consumer_offsets exists its
// partitions load in the background; until one is loaded, requests for its
// groups get COORDINATOR_LOAD_IN_PROGRESS.
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
	c := &Coordinator{opts: opts, log: opts.Logger.With("component", "group-coordinator")}
	c.m = NewMachine(opts.Config, c.log)
	img := opts.Host.Image()
	c.m.SetImage(img)
	c.d = coordlog.NewDriver[*Machine, Output, kmsg.Response](c.m, opts.Now, coordlog.Hooks[*Machine, Output]{
		Execute:   c.execute,
		Appended:  (*Machine).Appended,
		ErrorCode: opts.ErrorCode,
		Tick:      (*Machine).Tick,
		Next:      (*Machine).NextDeadline,
	})
	if t := img.Topics[OffsetsTopic]; t != nil {
		c.d.Locked(func(m *Machine, _ bool) { m.SetOffsetsTopic(c.now(), t.Partitions, true) })
		c.d.Go(func() { c.load(t.Partitions) })
	}
	return c, nil
}

func (c *Coordinator) now() time.Time { return c.opts.Now() }

// Close stops the coordinator: waiting requests are answered with
// NOT_COORDINATOR and background work ends.
func (c *Coordinator) Close() error {
	c.d.Close((*Machine).Shutdown)
	return nil
}

// Do runs one request through the Machine: fn gets the request's id and
// the time. The returned function waits for the reply. It returns nil if
// the coordinator stops first, or if gone (the client connection stopped
// reading: the client left, or the server is shutting down) closes first;
// a parked JoinGroup must not hold a shutdown for a whole rebalance.
func (c *Coordinator) Do(fn func(m *Machine, now time.Time, id uint64) Output, gone <-chan struct{}) func() kmsg.Response {
	_, ch := c.d.Start(fn)
	return func() kmsg.Response {
		r, _ := c.d.Wait(ch, gone)
		return r
	}
}

// Event runs fn (a timer-free, reply-free event) through the Machine.
func (c *Coordinator) Event(fn func(m *Machine, now time.Time) Output) { c.d.Event(fn) }

// execute carries out an Output; the driver's lock is held.
func (c *Coordinator) execute(out Output) {
	for _, r := range out.Replies {
		c.d.Reply(r.ID, r.Response)
	}
	for _, a := range out.Appends {
		c.append(a)
	}
}

func (c *Coordinator) append(a Append) {
	fail := func(code int16) { c.execute(c.m.Appended(c.now(), a.Token, code)) }
	p := c.opts.Host.PartitionByName(OffsetsTopic, a.Partition)
	if p == nil {
		fail(kerr.NotCoordinator.Code)
		return
	}
	batch, err := buildBatch(a, c.now())
	if err != nil {
		fail(kerr.UnknownServerError.Code)
		return
	}
	_, ack, err := p.Append(records.Batch(batch), -1)
	if err != nil {
		c.log.Warn("append to __consumer_offsets failed", "partition", a.Partition, "err", err)
		fail(c.opts.ErrorCode(err))
		return
	}
	c.d.Appending(a.Partition, a.Token, ack)
}

// buildBatch encodes an Append as one uncompressed batch.
func buildBatch(a Append, now time.Time) ([]byte, error) {
	h := records.NewHeader()
	h.BaseTimestamp = now.UnixMilli()
	if a.ProducerID >= 0 {
		h.ProducerID, h.ProducerEpoch, h.Transactional = a.ProducerID, a.ProducerEpoch, true
	}
	var b records.Builder
	b.Reset(h)
	for i, r := range a.Records {
		b.Add(int32(i), h.BaseTimestamp, r.Key, r.Value, nil)
	}
	return b.AppendTo(nil)
}

// load replays every partition of __consumer_offsets.
func (c *Coordinator) load(n int32) {
	start := time.Now()
	for p := int32(0); p < n; p++ {
		if err := c.loadPartition(p); err != nil {
			c.log.Error("loading __consumer_offsets failed; its groups stay unavailable", "partition", p, "err", err)
			continue
		}
		c.d.Event(func(m *Machine, now time.Time) Output { return m.LoadDone(now, p) })
		select {
		case <-c.d.Stop():
			return
		default:
		}
	}
	c.log.Info("loaded group state", "partitions", n, "took", time.Since(start))
}

func (c *Coordinator) loadPartition(p int32) error {
	part := c.opts.Host.PartitionByName(OffsetsTopic, p)
	if part == nil {
		return nil
	}
	var scratch []byte
	return coordlog.Replay(part, c.d.Stop(), ErrNotCoordinator, func(b records.Batch, from int64) (err error) {
		scratch, err = c.replayBatch(p, b, from, scratch)
		return err
	})
}

func (c *Coordinator) replayBatch(p int32, b records.Batch, from int64, scratch []byte) ([]byte, error) {
	it, scratch, err := b.Records(scratch, 256<<20)
	if err != nil {
		return scratch, fmt.Errorf("batch at %d: %w", b.BaseOffset(), err)
	}
	pid := int64(-1)
	if b.IsTransactional() {
		pid = b.ProducerID()
	}
	c.d.Locked(func(m *Machine, _ bool) {
		var rec records.Record
		for it.Next(&rec) {
			off := b.BaseOffset() + int64(rec.OffsetDelta)
			if off < from {
				continue
			}
			if b.IsControl() {
				// Control record key: int16 version, int16 type (0
				// abort, 1 commit).
				if len(rec.Key) >= 4 && b.IsTransactional() {
					typ := int16(rec.Key[2])<<8 | int16(rec.Key[3])
					m.ReplayTxnMarker(p, b.ProducerID(), typ == 1)
				}
				continue
			}
			var value []byte
			if rec.Value != nil {
				value = append([]byte{}, rec.Value...)
			}
			if err := m.Replay(p, off, pid, Record{Key: append([]byte{}, rec.Key...), Value: value}); err != nil {
				c.log.Warn("skipping a __consumer_offsets record that cannot be read", "partition", p, "offset", off, "err", err)
			}
		}
	})
	if err := it.Err(); err != nil {
		return scratch, fmt.Errorf("batch at %d: %w", b.BaseOffset(), err)
	}
	return scratch, nil
}

// EnsureTopic creates __consumer_offsets on first use, as Kafka does when
// the first FindCoordinator for a group arrives.
func (c *Coordinator) EnsureTopic() error {
	var have, stopped bool
	c.d.Locked(func(m *Machine, s bool) { have, stopped = m.Partitions() > 0, s })
	if stopped {
		return ErrNotCoordinator
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
	t, err := c.opts.Host.CreateTopic(OffsetsTopic, c.opts.Partitions, cfg, true)
	if err != nil || t == nil {
		c.log.Warn("could not create __consumer_offsets", "err", err)
		return fmt.Errorf("%w: creating %s: %v", ErrCoordinatorNotAvailable, OffsetsTopic, err)
	}
	c.Event(func(m *Machine, now time.Time) Output { return m.SetOffsetsTopic(now, t.Partitions, false) })
	return nil
}

// OnMetadata is the broker's metadata hook.
func (c *Coordinator) OnMetadata(_, img *cluster.Image) {
	c.Event(func(m *Machine, now time.Time) Output {
		if t := img.Topics[OffsetsTopic]; t != nil && m.Partitions() == 0 {
			// Created just now, by EnsureTopic: empty, so loaded.
			m.SetOffsetsTopic(now, t.Partitions, false)
		}
		return m.MetadataChanged(now, img)
	})
}

// PartitionFor is the __consumer_offsets partition of a group, -1 before
// the topic exists.
func (c *Coordinator) PartitionFor(groupID string) int32 {
	part := int32(-1)
	c.d.Locked(func(m *Machine, _ bool) {
		if n := m.Partitions(); n > 0 {
			part = PartitionFor(groupID, n)
		}
	})
	return part
}

// CompleteTxn tells the coordinator that the transaction coordinator wrote
// a commit (or abort) marker for producer pid to __consumer_offsets
// partition part: the producer's pending offsets there become visible (or
// vanish).
func (c *Coordinator) CompleteTxn(part int32, pid int64, commit bool) {
	c.Event(func(m *Machine, now time.Time) Output { return m.CompleteTxn(now, part, pid, commit) })
}

package group

// The driver: the Machine's clock, timers, appends and waiting requests.
// Every event (a request, a timer, a durable append, a metadata change)
// takes mu, goes to the Machine, and the Output is carried out before mu is
// released, so that records reach each partition in the Machine's order.
// Waiting for an append to be durable happens off the lock, on one
// goroutine per partition, so completions come back in offset order.

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
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	m        *Machine
	waiters  map[uint64]chan kmsg.Response
	nextID   uint64
	acks     *coordlog.Queues
	stopped  bool
	createMu sync.Mutex

	kick chan struct{}
	stop chan struct{}
	wg   sync.WaitGroup
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
	c := &Coordinator{
		opts: opts, log: opts.Logger.With("component", "group-coordinator"),
		waiters: map[uint64]chan kmsg.Response{},
		kick:    make(chan struct{}, 1), stop: make(chan struct{}),
	}
	c.acks = coordlog.New(c.stop, &c.wg, c.appended, c.poke)
	c.m = NewMachine(opts.Config, c.log)
	img := opts.Host.Image()
	c.m.SetImage(img)
	if t := img.Topics[OffsetsTopic]; t != nil {
		c.m.SetOffsetsTopic(c.now(), t.Partitions, true)
		c.wg.Add(1)
		go c.load(t.Partitions)
	}
	c.wg.Add(1)
	go c.timerLoop()
	return c, nil
}

func (c *Coordinator) now() time.Time { return c.opts.Now() }

// Close stops the coordinator: waiting requests are answered with
// NOT_COORDINATOR and background work ends.
func (c *Coordinator) Close() error {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return nil
	}
	c.stopped = true
	close(c.stop)
	c.execute(c.m.Shutdown(c.now()))
	c.mu.Unlock()
	c.wg.Wait()
	return nil
}

// Do runs one request through the Machine: fn gets the request's id and
// the time. The returned function waits for the reply. It returns nil if
// the coordinator stops first, or if gone (the client connection stopped
// reading: the client left, or the server is shutting down) closes first;
// a parked JoinGroup must not hold a shutdown for a whole rebalance.
func (c *Coordinator) Do(fn func(m *Machine, now time.Time, id uint64) Output, gone <-chan struct{}) func() kmsg.Response {
	ch := make(chan kmsg.Response, 1)
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return func() kmsg.Response { return nil }
	}
	c.nextID++
	id := c.nextID
	c.waiters[id] = ch
	c.execute(fn(c.m, c.now(), id))
	c.mu.Unlock()
	c.poke()
	return func() kmsg.Response {
		select {
		case r := <-ch:
			return r
		default:
		}
		select {
		case r := <-ch:
			return r
		case <-gone:
		case <-c.stop:
		}
		select {
		case r := <-ch:
			return r
		default:
			return nil
		}
	}
}

// Event runs fn (a timer-free, reply-free event) through the Machine.
func (c *Coordinator) Event(fn func(m *Machine, now time.Time) Output) {
	c.mu.Lock()
	if !c.stopped {
		c.execute(fn(c.m, c.now()))
	}
	c.mu.Unlock()
	c.poke()
}

func (c *Coordinator) poke() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// execute carries out an Output; c.mu is held.
func (c *Coordinator) execute(out Output) {
	for _, r := range out.Replies {
		if ch := c.waiters[r.ID]; ch != nil {
			ch <- r.Response
			delete(c.waiters, r.ID)
		}
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
	c.acks.Add(a.Partition, a.Token, ack)
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

// appended reports to the state machine that an append completed; the
// ack queues call it in each partition's append order.
func (c *Coordinator) appended(token uint64, err error) {
	var code int16
	if err != nil {
		code = c.opts.ErrorCode(err)
	}
	c.mu.Lock()
	if !c.stopped {
		c.execute(c.m.Appended(c.now(), token, code))
	}
	c.mu.Unlock()
}

func (c *Coordinator) timerLoop() {
	defer c.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		c.mu.Lock()
		next, ok := c.m.NextDeadline()
		c.mu.Unlock()
		wait := time.Hour
		if ok {
			wait = max(next.Sub(c.now()), 0)
		}
		t.Reset(wait)
		select {
		case <-c.stop:
			return
		case <-c.kick:
			if !t.Stop() {
				select {
				case <-t.C:
				default:
				}
			}
		case <-t.C:
			c.mu.Lock()
			if !c.stopped {
				c.execute(c.m.Tick(c.now()))
			}
			c.mu.Unlock()
		}
	}
}

// load replays every partition of __consumer_offsets.
func (c *Coordinator) load(n int32) {
	defer c.wg.Done()
	start := time.Now()
	for p := int32(0); p < n; p++ {
		if err := c.loadPartition(p); err != nil {
			c.log.Error("loading __consumer_offsets failed; its groups stay unavailable", "partition", p, "err", err)
			continue
		}
		c.mu.Lock()
		if !c.stopped {
			c.execute(c.m.LoadDone(c.now(), p))
		}
		c.mu.Unlock()
		c.poke()
		select {
		case <-c.stop:
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
	return coordlog.Replay(part, c.stop, ErrNotCoordinator, func(b records.Batch, from int64) (err error) {
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
	c.mu.Lock()
	defer c.mu.Unlock()
	var rec records.Record
	for it.Next(&rec) {
		off := b.BaseOffset() + int64(rec.OffsetDelta)
		if off < from {
			continue
		}
		if b.IsControl() {
			// Control record key: int16 version, int16 type (0 abort,
			// 1 commit).
			if len(rec.Key) >= 4 && b.IsTransactional() {
				typ := int16(rec.Key[2])<<8 | int16(rec.Key[3])
				c.m.ReplayTxnMarker(p, b.ProducerID(), typ == 1)
			}
			continue
		}
		var value []byte
		if rec.Value != nil {
			value = append([]byte{}, rec.Value...)
		}
		if err := c.m.Replay(p, off, pid, Record{Key: append([]byte{}, rec.Key...), Value: value}); err != nil {
			c.log.Warn("skipping a __consumer_offsets record that cannot be read", "partition", p, "offset", off, "err", err)
		}
	}
	if err := it.Err(); err != nil {
		return scratch, fmt.Errorf("batch at %d: %w", b.BaseOffset(), err)
	}
	return scratch, nil
}

// EnsureTopic creates __consumer_offsets on first use, as Kafka does when
// the first FindCoordinator for a group arrives.
func (c *Coordinator) EnsureTopic() error {
	c.mu.Lock()
	have, stopped := c.m.Partitions() > 0, c.stopped
	c.mu.Unlock()
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
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m.Partitions() == 0 {
		return -1
	}
	return PartitionFor(groupID, c.m.Partitions())
}

// CompleteTxn tells the coordinator that the transaction coordinator wrote
// a commit (or abort) marker for producer pid to __consumer_offsets
// partition part: the producer's pending offsets there become visible (or
// vanish).
func (c *Coordinator) CompleteTxn(part int32, pid int64, commit bool) {
	c.Event(func(m *Machine, now time.Time) Output { return m.CompleteTxn(now, part, pid, commit) })
}

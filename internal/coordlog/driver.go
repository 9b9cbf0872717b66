package coordlog

import (
	"sync"
	"time"

	"github.com/plexus/plexus/internal/partition"
)

// Driver runs a coordinator's state machine M, whose events return an
// output O and whose requests are answered with an R. Every event (a
// request, a timer, a durable append, a metadata change) takes the
// driver's lock, goes to the machine, and its output is carried out before
// the lock is released, so that records reach the internal topic in the
// machine's order. Waiting for durability happens off the lock, in the
// Queues, which report appends in log order.
//
// Lock order: the driver's lock, then a partition's locks (appends are
// made with it held). Partitions never call back into the coordinator.
type Driver[M, O, R any] struct {
	m    M
	now  func() time.Time
	h    Hooks[M, O]
	acks *Queues

	mu      sync.Mutex
	waiters map[uint64]chan R
	nextID  uint64
	stopped bool

	kick chan struct{}
	stop chan struct{}
	wg   sync.WaitGroup
}

// Hooks are what a Driver needs to know of its machine.
type Hooks[M, O any] struct {
	// Execute carries out an output with the lock held: it answers
	// requests with Reply and appends records, registering each with
	// Appending.
	Execute func(O)
	// Appended tells the machine that an append completed: code is 0
	// when it is durable, else ErrorCode's Kafka code for its error.
	Appended  func(m M, now time.Time, token uint64, code int16) O
	ErrorCode func(error) int16
	// Tick runs the machine's due timers; Next says when the next is due.
	Tick func(m M, now time.Time) O
	Next func(m M) (time.Time, bool)
	// MinWait is the least time between two ticks.
	MinWait time.Duration
}

// NewDriver starts a driver for m, and its timer loop.
func NewDriver[M, O, R any](m M, now func() time.Time, h Hooks[M, O]) *Driver[M, O, R] {
	d := &Driver[M, O, R]{
		m: m, now: now, h: h, waiters: map[uint64]chan R{},
		kick: make(chan struct{}, 1), stop: make(chan struct{}),
	}
	d.acks = New(d.stop, &d.wg, d.appended, d.poke)
	d.Go(d.timerLoop)
	return d
}

// Stop is closed when the driver stops.
func (d *Driver[M, O, R]) Stop() <-chan struct{} { return d.stop }

// Go runs f on a goroutine that Close waits for.
func (d *Driver[M, O, R]) Go(f func()) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		f()
	}()
}

// Close stops the driver: shutdown's output is carried out, requests
// still waiting get no answer, and Close returns once the driver's
// goroutines have ended.
func (d *Driver[M, O, R]) Close(shutdown func(m M, now time.Time) O) {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return
	}
	d.stopped = true
	close(d.stop)
	d.h.Execute(shutdown(d.m, d.now()))
	d.mu.Unlock()
	d.wg.Wait()
}

// Start runs a request through the machine: fn gets the time and the
// request's id. The reply comes on the returned channel (see Wait); a nil
// channel means the driver has stopped.
func (d *Driver[M, O, R]) Start(fn func(m M, now time.Time, id uint64) O) (uint64, chan R) {
	ch := make(chan R, 1)
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return 0, nil
	}
	d.nextID++
	id := d.nextID
	d.waiters[id] = ch
	d.h.Execute(fn(d.m, d.now(), id))
	d.mu.Unlock()
	d.poke()
	return id, ch
}

// Wait waits for the reply on ch. ok is false when the driver stops first,
// or gone (nil: never) closes first: a request parked in the machine must
// not hold up a client that left, or a shutdown.
func (d *Driver[M, O, R]) Wait(ch chan R, gone <-chan struct{}) (r R, ok bool) {
	if ch == nil {
		return r, false
	}
	select {
	case r = <-ch:
		return r, true
	case <-gone:
	case <-d.stop:
	}
	select {
	case r = <-ch:
		return r, true
	default:
		return r, false
	}
}

// Reply answers request id; Execute calls it, with the lock held.
func (d *Driver[M, O, R]) Reply(id uint64, r R) {
	if ch := d.waiters[id]; ch != nil {
		ch <- r
		delete(d.waiters, id)
	}
}

// Appending registers an append made on partition part for the machine's
// token: Appended reports it, in the partition's append order. Execute
// calls it, with the lock held.
func (d *Driver[M, O, R]) Appending(part int32, token uint64, ack *partition.Ack) {
	d.acks.Add(part, token, ack)
}

// Event runs fn, an event without a reply, through the machine; nothing
// runs once the driver has stopped.
func (d *Driver[M, O, R]) Event(fn func(m M, now time.Time) O) {
	d.mu.Lock()
	if !d.stopped {
		d.h.Execute(fn(d.m, d.now()))
	}
	d.mu.Unlock()
	d.poke()
}

// Locked runs fn with the lock held, whether or not the driver has
// stopped: for reading the machine, and for replaying records into it.
func (d *Driver[M, O, R]) Locked(fn func(m M, stopped bool)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fn(d.m, d.stopped)
}

func (d *Driver[M, O, R]) appended(token uint64, err error) {
	d.mu.Lock()
	if !d.stopped {
		var code int16
		if err != nil {
			code = d.h.ErrorCode(err)
		}
		d.h.Execute(d.h.Appended(d.m, d.now(), token, code))
	}
	d.mu.Unlock()
}

// poke makes the timer loop look at the next deadline again.
func (d *Driver[M, O, R]) poke() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

func (d *Driver[M, O, R]) timerLoop() {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		d.mu.Lock()
		next, ok := d.h.Next(d.m)
		d.mu.Unlock()
		wait := time.Hour
		if ok {
			wait = max(next.Sub(d.now()), d.h.MinWait)
		}
		t.Reset(wait)
		select {
		case <-d.stop:
			return
		case <-d.kick:
			if !t.Stop() {
				select {
				case <-t.C:
				default:
				}
			}
		case <-t.C:
			d.mu.Lock()
			if !d.stopped {
				d.h.Execute(d.h.Tick(d.m, d.now()))
			}
			d.mu.Unlock()
		}
	}
}

package partition

import (
	"fmt"
	"time"
)

// Ack completes when the batch it was made for is durable, or fails.
type Ack struct {
	next int64 // the batch is durable once the high watermark reaches this
	gen  uint64
	done chan struct{}
	err  error
}

// Done is closed when the ack completes.
func (a *Ack) Done() <-chan struct{} { return a.done }

// Err is the outcome once Done is closed: nil when durable.
func (a *Ack) Err() error { return a.err }

// Wait blocks until the ack completes or timeout passes.
func (a *Ack) Wait(timeout time.Duration) error {
	select {
	case <-a.done:
		return a.err
	default:
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-a.done:
		return a.err
	case <-t.C:
		return ErrTimeout
	}
}

var closedCh = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// completed is a ready ack, shared.
var completed = &Ack{done: closedCh}

// registerAck queues an ack for offsets below next, made while the log was
// at generation gen. If the log lost unsynced data since (gen moved on),
// the batch may be gone and the ack fails at once.
func (p *Partition) registerAck(next int64, gen uint64) *Ack {
	p.ackMu.Lock()
	defer p.ackMu.Unlock()
	if gen != p.gen {
		return &Ack{done: closedCh, err: fmt.Errorf("%w: the log lost unsynced data", ErrNotDurable)}
	}
	if p.hwm.Load() >= next {
		return completed
	}
	a := &Ack{next: next, gen: gen, done: make(chan struct{})}
	p.acks = append(p.acks, a)
	return a
}

// ackFor is the ack of a duplicate batch: it is durable once the original
// is. Called with the append lock held.
func (p *Partition) ackFor(next int64, acks int16, cfg *Config) *Ack {
	if acks != -1 || cfg.WriteCaching {
		return nil
	}
	p.ackMu.Lock()
	gen := p.gen
	p.ackMu.Unlock()
	a := p.registerAck(next, gen)
	if a != completed && a.err == nil {
		// Acks are kept in offset order; a duplicate's may belong
		// before the newest. Re-sort the short tail.
		p.ackMu.Lock()
		for i := len(p.acks) - 1; i > 0 && p.acks[i-1].next > p.acks[i].next; i-- {
			p.acks[i-1], p.acks[i] = p.acks[i], p.acks[i-1]
		}
		p.ackMu.Unlock()
	}
	return a
}

// advance publishes a new high watermark and completes the acks and
// watchers it satisfies.
func (p *Partition) advance(hwm int64) {
	p.ackMu.Lock()
	if hwm <= p.hwm.Load() {
		p.ackMu.Unlock()
		return
	}
	p.hwm.Store(hwm)
	p.txnDurable(hwm)
	n := 0
	for n < len(p.acks) && p.acks[n].next <= hwm {
		close(p.acks[n].done)
		p.acks[n] = nil
		n++
	}
	if n > 0 {
		rest := copy(p.acks, p.acks[n:])
		clear(p.acks[rest:])
		p.acks = p.acks[:rest]
	}
	p.wakeLocked()
	p.ackMu.Unlock()
}

func (p *Partition) failAcks(err error) {
	p.ackMu.Lock()
	for _, a := range p.acks {
		a.err = err
		close(a.done)
	}
	clear(p.acks)
	p.acks = p.acks[:0]
	p.ackMu.Unlock()
}

// scheduleFlush queues the partition with the flusher unless it is queued.
func (p *Partition) scheduleFlush() {
	if p.flusher == nil {
		p.flushNow()
		return
	}
	if p.queued.CompareAndSwap(false, true) {
		p.flusher.enqueue(p)
	}
}

// flushNow syncs the log and publishes what became durable. On failure the
// log has dropped everything after its durable point, so the append lock
// is taken to cut the producer state back to match, and every waiting ack
// fails: none of those batches may be reported written.
func (p *Partition) flushNow() {
	p.flushMu.Lock()
	defer p.flushMu.Unlock()
	p.queued.Store(false)
	p.flushLocked()
}

// flushLocked flushes the log on its own and publishes the outcome. Caller
// holds flushMu.
func (p *Partition) flushLocked() {
	start := time.Now()
	durable, err := p.log.Flush()
	p.flusher.observed(time.Since(start))
	p.flushed(durable, err)
}

// flushed publishes a flush's outcome: the new high watermark, or after a
// failure the state cut back to what the log still holds. Caller holds
// flushMu.
func (p *Partition) flushed(durable int64, err error) {
	if err == nil {
		if !p.cfg.Load().WriteCaching {
			p.advance(durable)
		}
		return
	}
	p.logger.Error("flush failed; unsynced batches are dropped and their producers get an error", "topic", p.Topic, "partition", p.Index, "err", err)
	p.mu.Lock()
	p.ackMu.Lock()
	p.gen++
	p.ackMu.Unlock()
	// Appends that landed after the failed sync are dropped too, so that
	// nothing whose ack failed stays in the log.
	if terr := p.log.TruncateTo(p.hwm.Load()); terr != nil {
		p.logger.Error("truncating after a failed flush failed", "topic", p.Topic, "partition", p.Index, "err", terr)
	}
	end := p.log.EndOffset()
	p.ackMu.Lock()
	if p.hwm.Load() > end {
		// Only with write.caching: consumers may have seen what the
		// failed sync lost; the high watermark cannot point past the log.
		p.hwm.Store(end)
	}
	p.ackMu.Unlock()
	// The producer and transaction state of the lost batches (sequences,
	// transactions they opened, markers that closed transactions) is
	// rebuilt from what the log still holds.
	p.rebuildState()
	p.mu.Unlock()
	p.failAcks(fmt.Errorf("%w: %v", ErrNotDurable, err))
}

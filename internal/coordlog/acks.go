// Package coordlog is what the group and transaction coordinators share
// about the internal topic they keep their state in (__consumer_offsets,
// __transaction_state): running their state machine with one lock around
// every event (Driver), completing their appends in log order (Queues),
// and replaying a partition when they load it (Replay).
package coordlog

import (
	"sync"

	"github.com/plexus/plexus/internal/partition"
)

// Queues holds one queue of pending appends per partition. Per partition
// one goroutine waits for each append to become durable and reports it, so
// a coordinator's state machine learns of its writes in their log order
// without blocking on any of them.
type Queues struct {
	stop  <-chan struct{}
	wg    *sync.WaitGroup
	done  func(token uint64, err error)
	after func()

	mu sync.Mutex
	qs map[int32]*queue
}

type item struct {
	token uint64
	ack   *partition.Ack
}

type queue struct {
	mu     sync.Mutex
	items  []item
	signal chan struct{}
}

// New returns queues whose goroutines call done for every append, in the
// order of Add on its partition (err nil: durable), and after once a run
// of completions is reported. They stop when stop closes; wg counts them.
func New(stop <-chan struct{}, wg *sync.WaitGroup, done func(token uint64, err error), after func()) *Queues {
	return &Queues{stop: stop, wg: wg, done: done, after: after, qs: map[int32]*queue{}}
}

// Add queues an append made on partition part, identified by token; a nil
// ack completes as soon as the appends before it have.
func (q *Queues) Add(part int32, token uint64, ack *partition.Ack) {
	q.mu.Lock()
	pq := q.qs[part]
	if pq == nil {
		pq = &queue{signal: make(chan struct{}, 1)}
		q.qs[part] = pq
		q.wg.Add(1)
		go q.wait(pq)
	}
	q.mu.Unlock()
	pq.mu.Lock()
	pq.items = append(pq.items, item{token, ack})
	pq.mu.Unlock()
	select {
	case pq.signal <- struct{}{}:
	default:
	}
}

// wait completes one partition's appends in order.
func (q *Queues) wait(pq *queue) {
	defer q.wg.Done()
	for {
		select {
		case <-q.stop:
			return
		case <-pq.signal:
		}
		for {
			pq.mu.Lock()
			items := pq.items
			pq.items = nil
			pq.mu.Unlock()
			if len(items) == 0 {
				break
			}
			for _, it := range items {
				var err error
				if it.ack != nil {
					select {
					case <-it.ack.Done():
					case <-q.stop:
						return
					}
					err = it.ack.Err()
				}
				q.done(it.token, err)
			}
			q.after()
		}
	}
}

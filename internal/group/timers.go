package group

import (
	"container/heap"
	"time"
)

// timers is the machine's timer wheel: deadlines by key, each with the
// action to run when it passes. Scheduling a key again replaces its
// deadline and action. The machine never reads a clock; the driver calls
// Tick with the time.
type timers struct {
	byKey map[string]*timer
	h     timerHeap
	seq   uint64
}

type timer struct {
	key string
	at  time.Time
	seq uint64 // ties fire in scheduling order
	fn  func()
	idx int
}

type timerHeap []*timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i]; h[i].idx = i; h[j].idx = j }
func (h *timerHeap) Push(x any)   { t := x.(*timer); t.idx = len(*h); *h = append(*h, t) }
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.idx = -1
	return t
}

func (ts *timers) schedule(key string, at time.Time, fn func()) {
	if ts.byKey == nil {
		ts.byKey = map[string]*timer{}
	}
	ts.seq++
	if t := ts.byKey[key]; t != nil {
		t.at, t.fn, t.seq = at, fn, ts.seq
		heap.Fix(&ts.h, t.idx)
		return
	}
	t := &timer{key: key, at: at, fn: fn, seq: ts.seq}
	ts.byKey[key] = t
	heap.Push(&ts.h, t)
}

func (ts *timers) cancel(key string) {
	if t := ts.byKey[key]; t != nil {
		heap.Remove(&ts.h, t.idx)
		delete(ts.byKey, key)
	}
}

// next returns the earliest deadline.
func (ts *timers) next() (time.Time, bool) {
	if len(ts.h) == 0 {
		return time.Time{}, false
	}
	return ts.h[0].at, true
}

// popDue removes and returns the earliest timer due at now, or nil.
func (ts *timers) popDue(now time.Time) *timer {
	if len(ts.h) == 0 || ts.h[0].at.After(now) {
		return nil
	}
	t := heap.Pop(&ts.h).(*timer)
	delete(ts.byKey, t.key)
	return t
}

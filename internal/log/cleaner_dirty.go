package log

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/plexus/plexus/internal/records"
)

// Dirtiness describes how much of a log awaits cleaning, for the cleaner
// to choose the dirtiest log (Kafka's LogToClean).
type Dirtiness struct {
	// FirstDirty is the cleaner checkpoint: offsets below it are clean.
	FirstDirty int64
	// FirstUncleanable is where the cleanable part ends: the base offset of
	// the first segment that holds an offset at or beyond the bound given,
	// the durable offset or the active segment, or that is younger than
	// min.compaction.lag.ms.
	FirstUncleanable int64
	// CleanBytes is the size of the segments below FirstDirty; DirtyBytes
	// that of the cleanable segments from FirstDirty on.
	CleanBytes, DirtyBytes int64
	// Ratio is DirtyBytes / (CleanBytes + DirtyBytes), 0 for an empty log:
	// what min.cleanable.dirty.ratio is compared with.
	Ratio float64
	// EarliestDirtyTimestamp is the smallest first-batch timestamp of the
	// closed segments from FirstDirty on (-1: none), which
	// max.compaction.lag.ms is compared with.
	EarliestDirtyTimestamp int64
	// CleanableSegments counts the segments a pass would rewrite.
	CleanableSegments int
}

// Dirtiness measures the log for the cleaner. upTo is the last stable
// offset; minLagMs is min.compaction.lag.ms and now the time to measure it
// against. Only the indexes of the segments the lag must look at are read.
func (l *Log) Dirtiness(upTo, minLagMs int64, now time.Time) (Dirtiness, error) {
	d := Dirtiness{EarliestDirtyTimestamp: -1}
	segs, start, err := l.snapshot()
	if err != nil {
		return d, err
	}
	defer releaseAll(segs)
	l.mu.RLock()
	end, durable, activeBase := l.end, l.durable, l.active.base
	sizes := make([]int64, len(segs))
	for i, s := range segs {
		sizes[i] = s.size
	}
	l.mu.RUnlock()
	bound := min(upTo, end, durable, activeBase)
	if rp := l.lastRP.Load(); rp >= 0 {
		bound = min(bound, rp)
	} else {
		bound = start
	}
	fd := l.firstDirty.Load()
	if fd < start || fd > end {
		fd = start
	}
	d.FirstDirty = fd
	last := len(segs) - 1
	lagBound := int64(math.MaxInt64)
	for i, s := range segs[:last] {
		if segs[i+1].base <= fd {
			continue
		}
		if ts := l.firstTimestamp(s); ts > 0 && (d.EarliestDirtyTimestamp < 0 || ts < d.EarliestDirtyTimestamp) {
			d.EarliestDirtyTimestamp = ts
		}
		if minLagMs > 0 && lagBound == math.MaxInt64 && s.base < bound {
			ts, err := l.largestTimestamp(s)
			if err != nil {
				return d, err
			}
			if ts > now.UnixMilli()-minLagMs {
				lagBound = s.base
			}
		}
	}
	bound = min(bound, lagBound)
	k := 0
	for k < last && segs[k+1].base <= bound {
		k++
	}
	d.FirstUncleanable = segs[k].base
	for i := range segs[:k] {
		if segs[i].base < fd {
			d.CleanBytes += sizes[i]
		}
		if segs[i+1].base > fd {
			d.DirtyBytes += sizes[i]
		}
	}
	d.CleanableSegments = k
	if total := d.CleanBytes + d.DirtyBytes; total > 0 {
		d.Ratio = float64(d.DirtyBytes) / float64(total)
	}
	return d, nil
}

// firstTimestamp is the max timestamp of a closed segment's first batch,
// -1 when it has none or it cannot be read.
func (l *Log) firstTimestamp(s *segment) int64 {
	l.mu.RLock()
	known, ts, size := s.firstKnown, s.firstTs, s.size
	l.mu.RUnlock()
	if known {
		return ts
	}
	ts = -1
	if size > 0 {
		var hdr [records.HeaderSize]byte
		b, err := headerAt(s.log, 0, &hdr)
		if err != nil {
			return -1
		}
		ts = b.MaxTimestamp()
	}
	l.mu.Lock()
	if !s.firstKnown {
		s.firstTs, s.firstKnown = ts, true
	}
	l.mu.Unlock()
	return ts
}

// Throttler keeps the cleaner's I/O, summed over every pass that shares
// it, under a rate in bytes per second (log.cleaner.io.max.bytes.per.second).
// It is a pacing limiter: each call reserves its bytes on a timeline that
// advances at the rate, and sleeps until its reservation comes due, with at
// most Burst of unused time carried over.
type Throttler struct {
	// Rate returns the current limit in bytes per second; zero, negative,
	// infinite or math.MaxFloat64 means unlimited. Read on every call, so
	// a dynamic config change takes effect at once.
	Rate func() float64
	// Burst is how far behind now the timeline may lag (a quiet period
	// earns at most this much unthrottled I/O); zero means 100ms.
	Burst time.Duration
	// Now and Sleep are the clock; nil means the real one.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error

	mu   sync.Mutex
	next time.Time
}

// Wait accounts n bytes and sleeps as the rate requires.
func (t *Throttler) Wait(ctx context.Context, n int) error {
	rate := math.Inf(1)
	if t.Rate != nil {
		rate = t.Rate()
	}
	if rate <= 0 || math.IsInf(rate, 1) || rate >= math.MaxFloat64 || n <= 0 {
		return nil
	}
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	burst := t.Burst
	if burst <= 0 {
		burst = 100 * time.Millisecond
	}
	t.mu.Lock()
	cur := now()
	if t.next.Before(cur.Add(-burst)) {
		t.next = cur.Add(-burst)
	}
	t.next = t.next.Add(time.Duration(min(float64(n)/rate*float64(time.Second), 1<<62)))
	wait := t.next.Sub(cur)
	t.mu.Unlock()
	if wait <= 0 {
		return nil
	}
	if t.Sleep != nil {
		return t.Sleep(ctx, wait)
	}
	tm := time.NewTimer(wait)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

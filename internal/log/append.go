package log

import (
	"fmt"
	"math"

	"github.com/plexus/plexus/internal/records"
)

// Append writes buf, one or more concatenated batches that the caller has
// validated (Check), at the end of the log. It assigns offsets from the log
// end offset by patching each batch's base offset in buf; leader epochs and
// LogAppendTime are the caller's to set before. It returns the base offset
// of the first batch and the new log end offset.
//
// All of buf goes into one segment with one write, rolling first when the
// configuration says so. On a write error nothing of buf stays in the log
// and the log remains usable.
//
// Only one goroutine may call Append at a time.
func (l *Log) Append(buf []byte) (first, next int64, err error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return 0, 0, ErrClosed
	}
	end := l.end
	if len(buf) == 0 {
		return end, end, nil
	}
	if len(buf) > math.MaxInt32 {
		return 0, 0, fmt.Errorf("log: append of %d bytes: %w", len(buf), records.ErrTooLarge)
	}
	if err := l.removeMarker(); err != nil {
		return 0, 0, err
	}
	if p := l.pendingTrunc.Load(); p >= 0 {
		return 0, 0, fmt.Errorf("log: append: a failed flush left data beyond offset %d to truncate; the next flush retries", p)
	}
	if err := l.fixTail(); err != nil {
		return 0, 0, err
	}
	s := l.active
	c := l.cfg.Load()

	// First pass: framing, the offsets the batches take, their timestamps.
	var delta int64
	maxTs := int64(-1)
	for rest := buf; len(rest) > 0; {
		b, r, err := records.Next(rest)
		if err != nil {
			return 0, 0, fmt.Errorf("log: append: %w", err)
		}
		if b.LastOffsetDelta() < 0 {
			return 0, 0, fmt.Errorf("log: append: %w: negative last offset delta", records.ErrCorrupt)
		}
		delta += int64(b.LastOffsetDelta()) + 1
		maxTs = max(maxTs, b.MaxTimestamp())
		rest = r
	}
	if delta-1 > math.MaxInt32 {
		// Offsets are stored relative to the segment in 32 bits.
		return 0, 0, fmt.Errorf("log: append: %w: batches span %d offsets, more than a segment can hold", records.ErrCorrupt, delta)
	}
	if s.size > 0 && l.shouldRoll(s, c, int64(len(buf)), end+delta-1, maxTs) {
		if err := l.roll(); err != nil {
			return 0, 0, err
		}
		s = l.active
	}

	off := end
	for rest := buf; len(rest) > 0; {
		b, r, _ := records.Next(rest)
		b.SetBaseOffset(off)
		off += int64(b.LastOffsetDelta()) + 1
		rest = r
	}
	pos := s.size
	if _, err := s.log.WriteAt(buf, pos); err != nil {
		// A short write may have left part of buf in the file: cut it off so
		// that neither a reader nor recovery ever sees it.
		if terr := s.log.Truncate(pos); terr != nil {
			l.needTrunc = true
		}
		return 0, 0, fmt.Errorf("log: append to %s: %w", s.file(logExt), err)
	}

	// Publish: readers see the batches from here on.
	l.mu.Lock()
	p := pos
	for rest := buf; len(rest) > 0; {
		b, r, _ := records.Next(rest)
		if p == 0 {
			s.firstTs, s.firstKnown = b.MaxTimestamp(), true
		}
		s.add(s.base, b.BaseOffset(), p, len(b), b.MaxTimestamp(), c)
		l.epochs.assign(b.PartitionLeaderEpoch(), b.BaseOffset())
		p += int64(len(b))
		rest = r
	}
	s.size = p
	s.next = off
	l.end = off
	l.size += int64(len(buf))
	l.checkInvariants()
	l.mu.Unlock()
	return end, off, nil
}

// fixTail cuts the active segment's file back to the log's idea of its
// size after a failed write or truncation left it longer. Caller holds
// appendMu.
func (l *Log) fixTail() error {
	if !l.needTrunc {
		return nil
	}
	s := l.active
	if err := s.log.Truncate(s.size); err != nil {
		return fmt.Errorf("log: %s: %w", s.file(logExt), err)
	}
	l.needTrunc = false
	return nil
}

// shouldRoll says whether an append of n bytes whose last offset is last
// and largest timestamp maxTs must go to a new segment.
func (l *Log) shouldRoll(s *segment, c *Config, n, last, maxTs int64) bool {
	switch {
	case s.size+n > c.SegmentBytes:
		return true
	case last-s.base > math.MaxInt32:
		return true
	case len(s.idx) >= c.maxIndexEntries() || len(s.tidx) >= c.maxTimeEntries():
		return true
	case c.SegmentMs <= 0:
		return false
	}
	if !s.firstKnown {
		var hdr [records.HeaderSize]byte
		if b, err := headerAt(s.log, 0, &hdr); err == nil {
			s.firstTs, s.firstKnown = b.MaxTimestamp(), true
		} else {
			s.firstTs, s.firstKnown = -1, true
		}
	}
	span := c.SegmentMs - l.rollJitter(c)
	if s.firstTs >= 0 && maxTs >= 0 {
		return maxTs-s.firstTs > span
	}
	return l.now().Sub(s.created).Milliseconds() > span
}

// rollJitter is how much earlier than segment.ms this log rolls: its own
// fraction of segment.jitter.ms, bounded by segment.ms as in Kafka.
func (l *Log) rollJitter(c *Config) int64 {
	if c.SegmentJitterMs <= 0 {
		return 0
	}
	return int64(l.jitter * float64(min(c.SegmentJitterMs, c.SegmentMs)))
}

// roll starts a new, empty active segment at the log end offset. Caller
// holds appendMu.
func (l *Log) roll() error {
	if l.rpLow >= 0 {
		if err := l.lowerRecoveryPoint(l.rpLow); err != nil {
			return fmt.Errorf("log: roll: %w", err)
		}
		l.rpLow = -1
	}
	old := l.active
	s, err := l.openSegment(l.end, true)
	if err != nil {
		return fmt.Errorf("log: roll: %w", err)
	}
	l.mu.Lock()
	old.appendTime(old.base)
	l.segs = append(l.segs, s)
	l.active = s
	l.dirGen++
	l.checkInvariants()
	l.mu.Unlock()
	return nil
}

package log

import (
	"fmt"
	"io"
	"math"
	"slices"
)

// EnforceRetention deletes the oldest segments that retention.ms or
// retention.bytes condemn, whole segments only, and advances the log start
// offset past them. The active segment goes only when it is itself expired
// and not empty: it is rolled first, as Kafka does.
func (l *Log) EnforceRetention() (deletedSegments int, err error) {
	return l.EnforceRetentionUpTo(math.MaxInt64)
}

// EnforceRetentionUpTo is EnforceRetention that keeps every segment holding
// offsets at or beyond limit. Kafka passes the high watermark, so that the
// log start offset never passes it; a replicated partition should too.
func (l *Log) EnforceRetentionUpTo(limit int64) (deletedSegments int, err error) {
	l.metaMu.Lock()
	defer l.metaMu.Unlock()
	c := l.config()
	if c.RetentionMs < 0 && c.RetentionBytes < 0 {
		return 0, nil
	}
	segs, _, err := l.snapshot()
	if err != nil {
		return 0, err
	}
	defer releaseAll(segs)
	type segState struct {
		size, upper int64
	}
	st := make([]segState, len(segs))
	l.mu.RLock()
	total := l.size
	for i, s := range segs {
		st[i] = segState{size: s.size, upper: l.end}
		if i+1 < len(segs) {
			st[i].upper = segs[i+1].base
		}
	}
	l.mu.RUnlock()
	deletable := func(i int) bool {
		return st[i].upper <= limit && !(i == len(segs)-1 && st[i].size == 0)
	}

	k := 0
	if c.RetentionMs >= 0 {
		now := l.now().UnixMilli()
		for ; k < len(segs) && deletable(k); k++ {
			ts, err := l.largestTimestamp(segs[k])
			if err != nil {
				return 0, err
			}
			if now-ts <= c.RetentionMs {
				break
			}
		}
	}
	if c.RetentionBytes >= 0 {
		diff := total - c.RetentionBytes
		for _, x := range st[:k] {
			diff -= x.size
		}
		for ; k < len(segs) && deletable(k) && diff-st[k].size >= 0; k++ {
			diff -= st[k].size
		}
	}
	if k == len(segs) {
		// Deleting the active segment: roll so that the log keeps a
		// segment, unless appends changed it since it was judged.
		l.appendMu.Lock()
		if l.active == segs[k-1] && l.active.size == st[k-1].size && !l.closed {
			err = l.roll()
		} else {
			k--
		}
		l.appendMu.Unlock()
		if err != nil {
			return 0, err
		}
	}
	if k == 0 {
		return 0, nil
	}
	for _, s := range segs[:k] {
		l.logger.Info("deleting segment by retention", "segment", s.file(logExt))
	}
	return k, l.deleteFront(segs[:k], 0)
}

// largestTimestamp is what retention.ms compares with the clock: the
// segment's largest timestamp, or its file's modification time when no
// batch carried one (as Kafka does).
func (l *Log) largestTimestamp(s *segment) (int64, error) {
	if err := l.ensureMaxTs(s); err != nil {
		return 0, err
	}
	l.mu.RLock()
	has, ts := s.hasTs, s.maxTs
	l.mu.RUnlock()
	if has && ts >= 0 {
		return ts, nil
	}
	fi, err := l.fs.Stat(s.file(logExt))
	if err != nil {
		return 0, fmt.Errorf("log: %w", err)
	}
	return fi.ModTime().UnixMilli(), nil
}

// deleteFront removes victims, the oldest segments, and advances the log
// start offset to the first remaining segment or to start if larger.
// Caller holds metaMu; no lock is held during the file deletions.
func (l *Log) deleteFront(victims []*segment, start int64) error {
	l.mu.Lock()
	k := 0
	for k < len(victims) && k < len(l.segs)-1 && l.segs[k] == victims[k] {
		k++
	}
	victims = victims[:k]
	l.segs = slices.Delete(l.segs, 0, k)
	for _, s := range victims {
		l.size -= s.size
		s.deleted = true
	}
	if k > 0 {
		l.dirGen++
	}
	if ns := max(start, l.segs[0].base); ns > l.start {
		l.start = ns
		l.epochs.truncateFromStart(ns)
		// As after a restart: no epoch starts at the end of the log.
		l.epochs.truncateFromEnd(l.end)
	}
	l.checkInvariants()
	l.mu.Unlock()
	var first error
	for _, s := range victims {
		if err := l.removeSegmentFiles(s); err != nil && first == nil {
			first = err
		}
		s.release()
	}
	if k > 0 {
		if err := l.fs.SyncDir(l.dir); err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return fmt.Errorf("log: delete segments: %w", first)
	}
	return nil
}

// SetStartOffset advances the log start offset to o (DeleteRecords): o
// must lie in [StartOffset, EndOffset]; below the start it is a no-op,
// above the end ErrOffsetOutOfRange. The new start offset is durable when
// it returns, and segments wholly below it are deleted.
func (l *Log) SetStartOffset(o int64) error {
	l.metaMu.Lock()
	defer l.metaMu.Unlock()
	l.mu.RLock()
	closed, start, end := l.closed, l.start, l.end
	l.mu.RUnlock()
	switch {
	case closed:
		return ErrClosed
	case o <= start:
		return nil
	case o > end:
		return ErrOffsetOutOfRange
	}
	if err := writeAtomic(l.fs, l.dir, startCheckpointFile, encodeOffset(o)); err != nil {
		return err
	}
	segs, _, err := l.snapshot()
	if err != nil {
		return err
	}
	defer releaseAll(segs)
	k := 0
	for k+1 < len(segs) && segs[k+1].base <= o {
		k++
	}
	for _, s := range segs[:k] {
		l.logger.Info("deleting segment below the log start offset", "segment", s.file(logExt), "start", o)
	}
	return l.deleteFront(segs[:k], o)
}

// TruncateTo removes every batch at or after offset o, as a follower does
// before it catches up with a new leader. A batch that contains o goes
// whole, so the log end offset may end up below o. Truncating below the log
// start offset empties the log and restarts it at o.
func (l *Log) TruncateTo(o int64) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.metaMu.Lock()
	defer l.metaMu.Unlock()
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if o >= l.end {
		return nil
	}
	l.mu.RLock()
	start := l.start
	l.mu.RUnlock()
	if o < start {
		return l.resetLocked(o, false)
	}
	return l.truncateLocked(o)
}

// TruncateFullyAndStartAt empties the log and restarts it at offset o, as
// a follower does when the leader's log starts past its end.
func (l *Log) TruncateFullyAndStartAt(o int64) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.metaMu.Lock()
	defer l.metaMu.Unlock()
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if o < 0 {
		return ErrOffsetOutOfRange
	}
	return l.resetLocked(o, false)
}

// resetLocked replaces the log by an empty one starting at o. The start
// offset checkpoint goes first: if a crash interrupts the rest, recovery
// sees a start offset past the end and finishes the job. With force (after
// a failed flush, when the log must shrink whatever happens) a checkpoint
// that cannot be written does not stop it. Caller holds flushMu, metaMu and
// appendMu.
func (l *Log) resetLocked(o int64, force bool) error {
	// A cleaned segment's unfinished swap must not outlive the segments it
	// covers: recovery would bring them back.
	l.finishPendingSwaps()
	if err := l.removeMarker(); err != nil && !force {
		return err
	}
	if err := writeAtomic(l.fs, l.dir, startCheckpointFile, encodeOffset(o)); err != nil {
		if !force {
			return err
		}
		l.logger.Warn("could not checkpoint the log start offset", "start", o, "reason", err.Error())
	}
	if err := l.lowerRecoveryPoint(o); err != nil {
		if !force {
			return err
		}
		l.logger.Warn("could not lower the recovery point; the next roll will", "reason", err.Error())
	}
	l.mu.Lock()
	old := slices.Clone(l.segs)
	for _, s := range old {
		s.deleted = true
	}
	l.mu.Unlock()
	var first error
	for _, s := range old {
		if err := l.removeSegmentFiles(s); err != nil && first == nil {
			first = err
		}
	}
	// The old segments stay in the list (their files unlinked but open)
	// until the new one exists, so readers always find a segment.
	s, err := l.openSegment(o, true)
	if err != nil {
		return fmt.Errorf("log: reset to %d: %w", o, err)
	}
	l.mu.Lock()
	l.truncGen.Add(1) // with the sizes, under mu: see Read
	l.segs = []*segment{s}
	l.active = s
	l.start, l.end, l.size = o, o, 0
	// Nothing below o remains, but a crash may still bring back segments
	// whose removal was not synced: only a flush vouches for o.
	l.durable = min(l.durable, o)
	l.epochs.es = nil
	l.dirGen++
	l.checkInvariants()
	l.mu.Unlock()
	l.needTrunc = false
	for _, s := range old {
		s.release()
	}
	if err := l.fs.SyncDir(l.dir); err != nil && first == nil {
		first = err
	}
	if first != nil {
		return appliedErr{fmt.Errorf("log: reset to %d: %w", o, first)}
	}
	return nil
}

// truncateLocked cuts the log before the batch holding o (start <= o <
// end). Caller holds flushMu, metaMu and appendMu.
func (l *Log) truncateLocked(o int64) error {
	l.finishPendingSwaps()
	if err := l.removeMarker(); err != nil {
		return err
	}
	l.mu.RLock()
	i := l.findSegment(o)
	s := l.segs[i]
	l.mu.RUnlock()
	if err := l.ensureLoaded(s); err != nil {
		return err
	}
	c := l.config()

	// Find the batch holding o (or the first after it), starting from the
	// index entry before it.
	l.mu.RLock()
	size := s.size
	var from int64
	cut, newEnd, found := size, s.next, false
	if o <= s.base {
		cut, newEnd, found = 0, s.base, true
	} else if e, ok := lookupOffset(s.idx, uint32(min(o-s.base, math.MaxUint32))); ok {
		from = int64(e.pos)
		if s.base+int64(e.rel) == o {
			// o starts an indexed batch, which need not be read.
			cut, newEnd, found = from, o, true
		}
	}
	l.mu.RUnlock()
	sc := newScanner(s.log, from, size, make([]byte, 0, 8192))
	for !found {
		b, pos, _, err := sc.next(false)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("log: truncate %s: %w", s.file(logExt), asCorrupt(err))
		}
		if b.LastOffset() >= o {
			cut, newEnd, found = pos, b.BaseOffset(), true
		} else if b.LastOffset()+1 == o {
			// o starts the next batch, which is not read: after a failed
			// sync it may be gone from the file.
			cut, newEnd, found = sc.pos, o, true
		}
	}

	l.mu.RLock()
	start := l.start
	l.mu.RUnlock()
	if newEnd < start {
		// Only bytes below the log start offset would remain (the cut batch
		// straddles it): what is left is an empty log at the start offset.
		return l.resetLocked(start, true)
	}

	// What the indexes say of the bytes kept: entries before the cut, and
	// the timestamps of the batches after the last kept entry.
	l.mu.RLock()
	var x indexState
	x.idx = slices.Clone(s.idx[:cutOffsets(s.idx, cut)])
	x.tidx = slices.Clone(s.tidx[:cutTimes(s.tidx, uint32(newEnd-s.base))])
	l.mu.RUnlock()
	if n := len(x.tidx); n > 0 {
		x.hasTs, x.maxTs, x.maxTsOff = true, x.tidx[n-1].ts, s.base+int64(x.tidx[n-1].rel)
	}
	walkFrom, expect := int64(0), s.base
	if n := len(x.idx); n > 0 {
		walkFrom, expect = int64(x.idx[n-1].pos), s.base+int64(x.idx[n-1].rel)
		x.sinceIdx = 0
	}
	// The kept entries stand; a walk of the batches after the last one,
	// adding no entries, gives their timestamps.
	var tail indexState
	noIdx := c
	noIdx.IndexIntervalBytes = math.MaxInt
	if _, _, err := walkBatches(s.log, s.base, &tail, walkFrom, cut, expect, &noIdx, false, make([]byte, 0, 8192), nil); err != nil {
		return fmt.Errorf("log: truncate %s: %w", s.file(logExt), asCorrupt(err))
	}
	if tail.hasTs && (!x.hasTs || tail.maxTs > x.maxTs) {
		x.hasTs, x.maxTs, x.maxTsOff = true, tail.maxTs, tail.maxTsOff
	}
	x.sinceIdx = cut - walkFrom

	if err := l.lowerRecoveryPoint(newEnd); err != nil {
		l.logger.Warn("could not lower the recovery point; the next roll will", "reason", err.Error())
	}
	l.mu.Lock()
	// The generation moves with the sizes, under mu, and before the file
	// changes: a reader that took its committed size before it sees the
	// change when it checks after reading.
	l.truncGen.Add(1)
	dropped := slices.Clone(l.segs[i+1:])
	l.segs = l.segs[:i+1]
	for _, d := range dropped {
		l.size -= d.size
		d.deleted = true
	}
	l.size -= s.size - cut
	s.size, s.next = cut, newEnd
	s.synced = min(s.synced, cut)
	s.indexState = x
	s.idxStale = true
	if cut == 0 {
		s.firstTs, s.firstKnown = -1, true
	}
	l.active = s
	l.end = newEnd
	l.durable = min(l.durable, newEnd)
	l.epochs.truncateFromEnd(newEnd)
	if len(dropped) > 0 {
		l.dirGen++
	}
	l.checkInvariants()
	l.mu.Unlock()

	// Until the cut is known durable the appender redoes it before writing:
	// a failed sync may have left the file longer than the log.
	l.needTrunc = true
	err := s.log.Truncate(cut)
	if err == nil {
		if err = s.log.Sync(); err == nil {
			l.needTrunc = false
		}
	}
	for _, d := range dropped {
		if derr := l.removeSegmentFiles(d); derr != nil && err == nil {
			err = derr
		}
		d.release()
	}
	if len(dropped) > 0 {
		if derr := l.fs.SyncDir(l.dir); derr != nil && err == nil {
			err = derr
		}
	}
	if err != nil {
		return appliedErr{fmt.Errorf("log: truncate to %d: %w", o, err)}
	}
	return nil
}

// appliedErr is an error from the file work after a truncation or reset
// already changed the log in memory: the log is consistent, the files
// catch up later (the appender redoes the cut, recovery the rest).
type appliedErr struct{ error }

func (e appliedErr) Unwrap() error { return e.error }

// cutOffsets is how many offset entries point before byte cut.
func cutOffsets(es []offsetEntry, cut int64) int {
	n := 0
	for n < len(es) && int64(es[n].pos) < cut {
		n++
	}
	return n
}

// cutTimes is how many time entries name batches before relative offset
// rel.
func cutTimes(es []timeEntry, rel uint32) int {
	n := 0
	for n < len(es) && es[n].rel < rel {
		n++
	}
	return n
}

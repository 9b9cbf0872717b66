package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/plexus/plexus/internal/records"
)

// probeSize is how much a read takes at once while it looks for the batch
// holding the requested offset: about what lies between two index entries.
const probeSize = 4096

// errReadRace means a read kept meeting truncations.
var errReadRace = errors.New("log: read kept racing with truncations")

// errIndexMismatch means an index entry named a batch that is not where it
// said; the segment's index is rebuilt and the read retried.
var errIndexMismatch = errors.New("log: index entry does not match the segment")

// Read appends to dst stored batches, byte for byte, starting with the
// batch that contains offset (or, when offset falls in a gap, the first
// batch after it). It stops before a batch that would take the returned
// bytes past maxBytes, except that the first batch is returned whole
// however large (KIP-74), and before any batch whose base offset is at or
// beyond limit (the high watermark or last stable offset).
//
// An offset below StartOffset or above EndOffset is ErrOffsetOutOfRange;
// offset == limit returns no bytes. Read never blocks the appender on I/O
// and never returns bytes past what an append finished writing. The
// returned slice is dst, grown as needed; the caller owns it.
func (l *Log) Read(dst []byte, offset int64, maxBytes int, limit int64) ([]byte, error) {
	rebuilt := false
	for attempt := 0; attempt < 16; attempt++ {
		gen := l.truncGen.Load()
		out, err := l.read(dst, offset, maxBytes, limit)
		if l.truncGen.Load() != gen {
			// A truncation ran meanwhile: the bytes may mix old and new data.
			continue
		}
		if err == errIndexMismatch {
			if rebuilt {
				return dst, fmt.Errorf("log: read %d: %w: index and segment disagree", offset, records.ErrCorrupt)
			}
			if err = l.rebuildIndexOf(offset); err == nil {
				rebuilt = true
				continue
			}
		}
		return out, err
	}
	return dst, errReadRace
}

// findSegment returns the index of the last segment whose base offset is
// at most offset (0 when there is none). Caller holds mu.
func (l *Log) findSegment(offset int64) int {
	lo, hi := 0, len(l.segs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if l.segs[m].base <= offset {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return max(lo-1, 0)
}

// locate finds the segment holding offset and where to start reading it,
// with a reference on the segment. It loads the segment's indexes first if
// needed. ok=false with a nil error means there is nothing to read.
func (l *Log) locate(offset, limit int64) (s *segment, pos, expect, committed, segNext int64, ok bool, err error) {
	for {
		l.mu.RLock()
		if l.closed {
			l.mu.RUnlock()
			return nil, 0, 0, 0, 0, false, ErrClosed
		}
		if offset < l.start || offset > l.end {
			l.mu.RUnlock()
			return nil, 0, 0, 0, 0, false, ErrOffsetOutOfRange
		}
		if offset >= limit || offset == l.end {
			l.mu.RUnlock()
			return nil, 0, 0, 0, 0, false, nil
		}
		s = l.segs[l.findSegment(offset)]
		s.acquire()
		if !s.loaded {
			l.mu.RUnlock()
			err := l.ensureLoaded(s)
			s.release()
			if err != nil {
				return nil, 0, 0, 0, 0, false, err
			}
			continue
		}
		expect = -1
		rel := offset - s.base
		if rel > math.MaxUint32 {
			rel = math.MaxUint32
		}
		if e, found := lookupOffset(s.idx, uint32(rel)); found {
			pos, expect = int64(e.pos), s.base+int64(e.rel)
		}
		committed, segNext = s.size, s.next
		l.mu.RUnlock()
		return s, pos, expect, committed, segNext, true, nil
	}
}

// errRelocate tells read that the segment it finished was replaced by a
// cleaned one while it read: the read must find where it goes on afresh.
var errRelocate = errors.New("log: segment replaced")

// nextSegment moves a read on to the segment after s, dropping the
// reference on s. It returns nil when the read must stop there: no later
// segment, or (after some batches were returned) one that does not follow
// on from s because retention or the cleaner replaced segments meanwhile.
// When nothing was returned yet and s is no longer in the log, it returns
// errRelocate: a cleaned segment may now hold the offsets after s.
func (l *Log) nextSegment(s *segment, segNext, offset int64, returned bool) (*segment, int64, int64, error) {
	defer s.release()
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, 0, 0, ErrClosed
	}
	if !returned && s.deleted {
		if offset < l.start {
			return nil, 0, 0, ErrOffsetOutOfRange
		}
		return nil, 0, 0, errRelocate
	}
	i := l.findSegment(s.base) + 1
	for i > 0 && l.segs[i-1].base > s.base {
		i-- // s itself was removed: the first segment after it
	}
	if i >= len(l.segs) {
		if !returned && offset < l.start {
			return nil, 0, 0, ErrOffsetOutOfRange
		}
		return nil, 0, 0, nil
	}
	n := l.segs[i]
	switch {
	case returned && n.base != segNext:
		return nil, 0, 0, nil
	case !returned && offset < l.start:
		return nil, 0, 0, ErrOffsetOutOfRange
	}
	n.acquire()
	return n, n.size, n.next, nil
}

func (l *Log) read(dst []byte, offset int64, maxBytes int, limit int64) ([]byte, error) {
	s, pos, expect, committed, segNext, ok, err := l.locate(offset, limit)
	if !ok {
		return dst, err
	}
	start := len(dst)
	buf := dst[:cap(dst)]
	out := start      // end of the bytes accepted so far
	w, have := out, 0 // buf[w:w+have] holds the file's bytes [pos, pos+have)
	returned := false
	fail := func(err error) ([]byte, error) {
		if s != nil {
			s.release()
		}
		return dst[:start], err
	}
	// fill reads n more bytes into the window, growing buf as needed.
	fill := func(n int) error {
		if w+have+n > len(buf) {
			nb := make([]byte, max(w+have+n, 2*len(buf)))
			copy(nb, buf[:w+have])
			buf = nb
		}
		m, err := s.log.ReadAt(buf[w+have:w+have+n], pos+int64(have))
		if m < n {
			if err == nil || err == io.EOF {
				err = corrupt(s, pos+int64(have), "segment ends before its committed size")
			}
			return err
		}
		have += n
		return nil
	}
	for {
		if pos >= committed {
			prevNext := segNext
			if s, committed, segNext, err = l.nextSegment(s, segNext, offset, returned); err == errRelocate {
				// Nothing at or after offset was in the old segment: go on
				// from where it ended, in whatever holds that offset now.
				offset = max(offset, prevNext)
				var found bool
				if s, pos, expect, committed, segNext, found, err = l.locate(offset, limit); !found {
					return dst[:start], err
				}
				w, have = out, 0
				continue
			}
			if s == nil {
				if err != nil {
					return dst[:start], err
				}
				break
			}
			pos, expect, w, have = 0, -1, out, 0
			continue
		}
		if have < records.HeaderSize {
			if committed-pos < records.HeaderSize {
				return fail(corrupt(s, pos, "%d bytes left, less than a batch header", committed-pos))
			}
			copy(buf[out:], buf[w:w+have])
			w = out
			want := probeSize
			if returned {
				want = maxBytes - (out - start)
			}
			want = int(min(int64(max(want, records.HeaderSize)), committed-pos) - int64(have))
			if err := fill(want); err != nil {
				return fail(err)
			}
		}
		h := records.Batch(buf[w : w+have])
		base, size, err := records.Peek(h)
		if err != nil && !errors.Is(err, records.ErrTruncated) {
			return fail(corrupt(s, pos, "%v", err))
		}
		if expect >= 0 {
			if base != expect {
				return fail(errIndexMismatch)
			}
			expect = -1
		}
		if pos+int64(size) > committed {
			return fail(corrupt(s, pos, "batch of %d bytes runs past the committed size", size))
		}
		last := base + int64(int32(binary.BigEndian.Uint32(h[23:])))
		if last < offset {
			if size <= have {
				w += size
				have -= size
			} else {
				w, have = out, 0
			}
			pos += int64(size)
			continue
		}
		if base >= limit || returned && out-start+size > maxBytes {
			break
		}
		if w != out {
			copy(buf[out:], buf[w:w+have])
			w = out
		}
		if have < size {
			want := size
			if !returned {
				want = max(size, maxBytes)
			}
			want = int(min(int64(want), committed-pos)) - have
			if err := fill(want); err != nil {
				return fail(err)
			}
		}
		out += size
		w = out
		have -= size
		pos += int64(size)
		returned = true
		if out-start+records.HeaderSize > maxBytes {
			break
		}
	}
	if s != nil {
		s.release()
	}
	return buf[:out], nil
}

// rebuildIndexOf rebuilds, from the segment file, the index of the segment
// holding offset after a read found it wrong. It holds appendMu so that
// the appender does not extend the index meanwhile.
func (l *Log) rebuildIndexOf(offset int64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	s := l.segs[l.findSegment(offset)]
	s.acquire()
	size := s.size
	l.mu.RUnlock()
	defer s.release()
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	c := l.config()
	x, err := rebuildIndex(s.log, s.base, size, &c)
	if err != nil {
		return fmt.Errorf("log: rebuild index of %s: %w", s.file(logExt), asCorrupt(err))
	}
	l.logger.Warn("rebuilt segment index that disagreed with the segment", "segment", s.file(logExt))
	l.mu.Lock()
	s.indexState = x
	s.loaded, s.maxKnown, s.idxStale = true, true, true
	s.idxWritten, s.tidxWritten = 0, 0
	l.mu.Unlock()
	return nil
}

// FindTimestamp appends to dst the first batch, at or after the log start
// offset, whose max timestamp is at least ts (ListOffsets by timestamp); no
// bytes when there is none. The caller finds the record inside the batch.
func (l *Log) FindTimestamp(dst []byte, ts int64) ([]byte, error) {
	return l.retryTruncations(dst, func(dst []byte) ([]byte, error) { return l.findTimestamp(dst, ts) })
}

// MaxTimestampBatch appends to dst the batch holding the largest max
// timestamp in the log (the earliest such batch); no bytes when the log is
// empty.
func (l *Log) MaxTimestampBatch(dst []byte) ([]byte, error) {
	return l.retryTruncations(dst, l.maxTimestampBatch)
}

// retryTruncations runs a read again when a truncation ran during it.
func (l *Log) retryTruncations(dst []byte, f func([]byte) ([]byte, error)) ([]byte, error) {
	for attempt := 0; attempt < 16; attempt++ {
		gen := l.truncGen.Load()
		out, err := f(dst)
		if l.truncGen.Load() == gen {
			return out, err
		}
	}
	return dst, errReadRace
}

func (l *Log) findTimestamp(dst []byte, ts int64) ([]byte, error) {
	segs, start, err := l.snapshot()
	if err != nil {
		return dst, err
	}
	defer releaseAll(segs)
	for _, s := range segs {
		if err := l.ensureMaxTs(s); err != nil {
			return dst, err
		}
		l.mu.RLock()
		skip := !s.hasTs || s.maxTs < ts || s.next <= start
		l.mu.RUnlock()
		if skip {
			continue
		}
		if err := l.ensureLoaded(s); err != nil {
			return dst, err
		}
		l.mu.RLock()
		from := max(start, s.base)
		if e, ok := lookupTime(s.tidx, ts); ok {
			from = max(from, s.base+int64(e.rel))
		}
		var pos int64
		if e, ok := lookupOffset(s.idx, uint32(from-s.base)); ok {
			pos = int64(e.pos)
		}
		size := s.size
		l.mu.RUnlock()
		sc := newScanner(s.log, pos, size, nil)
		for {
			b, pos, n, err := sc.next(false)
			if err == io.EOF {
				break
			}
			if err != nil {
				return dst, fmt.Errorf("log: %s: %w", s.file(logExt), asCorrupt(err))
			}
			if b.LastOffset() >= start && b.MaxTimestamp() >= ts {
				return readBatch(dst, s, pos, n)
			}
		}
	}
	return dst, nil
}

func (l *Log) maxTimestampBatch(dst []byte) ([]byte, error) {
	segs, start, err := l.snapshot()
	if err != nil {
		return dst, err
	}
	defer releaseAll(segs)
	var best *segment
	var bestTs, bestOff int64
	for i, s := range segs {
		if err := l.ensureMaxTs(s); err != nil {
			return dst, err
		}
		l.mu.RLock()
		has, ts, off, size, next := s.hasTs, s.maxTs, s.maxTsOff, s.size, s.next
		l.mu.RUnlock()
		if !has || size == 0 || next <= start {
			continue
		}
		if i == 0 && off < start {
			// The segment's max may sit below the start offset: look at what
			// is left of it.
			if has, ts, off, err = maxFrom(s, size, start); err != nil {
				return dst, err
			}
			if !has {
				continue
			}
		}
		if best == nil || ts > bestTs {
			best, bestTs, bestOff = s, ts, off
		}
	}
	if best == nil {
		return dst, nil
	}
	if err := l.ensureLoaded(best); err != nil {
		return dst, err
	}
	l.mu.RLock()
	var pos int64
	if e, ok := lookupOffset(best.idx, uint32(bestOff-best.base)); ok {
		pos = int64(e.pos)
	}
	size := best.size
	l.mu.RUnlock()
	sc := newScanner(best.log, pos, size, nil)
	for {
		b, pos, n, err := sc.next(false)
		if err != nil {
			if err == io.EOF {
				err = corrupt(best, size, "batch at offset %d not found", bestOff)
			}
			return dst, err
		}
		if b.LastOffset() >= bestOff {
			return readBatch(dst, best, pos, n)
		}
	}
}

// readBatch appends the n bytes at pos of s to dst.
func readBatch(dst []byte, s *segment, pos int64, n int) ([]byte, error) {
	dst = slices.Grow(dst, n)
	m, err := s.log.ReadAt(dst[len(dst):len(dst)+n], pos)
	if m < n {
		if err == nil || err == io.EOF {
			err = corrupt(s, pos, "short batch")
		}
		return dst, err
	}
	return dst[:len(dst)+n], nil
}

// maxFrom finds the largest max timestamp among the batches of s that end
// at or after start, and the base offset of the first batch with it.
func maxFrom(s *segment, size, start int64) (has bool, ts, off int64, err error) {
	sc := newScanner(s.log, 0, size, nil)
	for {
		b, _, _, err := sc.next(false)
		if err == io.EOF {
			return has, ts, off, nil
		}
		if err != nil {
			return false, 0, 0, fmt.Errorf("log: %s: %w", s.file(logExt), asCorrupt(err))
		}
		if b.LastOffset() >= start && (!has || b.MaxTimestamp() > ts) {
			has, ts, off = true, b.MaxTimestamp(), b.BaseOffset()
		}
	}
}

// snapshot returns the segments, each with a reference, and the start
// offset.
func (l *Log) snapshot() ([]*segment, int64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, 0, ErrClosed
	}
	segs := append([]*segment(nil), l.segs...)
	for _, s := range segs {
		s.acquire()
	}
	return segs, l.start, nil
}

func releaseAll(segs []*segment) {
	for _, s := range segs {
		s.release()
	}
}

package log

import (
	"encoding/binary"
	"errors"
	"io"
	"math"
	"sort"
	"syscall"

	"github.com/plexus/plexus/internal/records"
)

// Region is a run of whole stored batches in one segment file, to be sent
// to a client straight from the page cache (sendfile) instead of being
// copied through user space. It holds a reference on its segment, so the
// file stays readable even if retention or the cleaner retire the segment
// meanwhile; Release it once sent.
type Region struct {
	s   *segment
	Pos int64 // where the first batch starts in the segment file
	Len int   // bytes: whole batches
	// BaseOffset is the first batch's base offset; NextOffset bounds the
	// offsets inside from above (the base offset of the batch after the
	// region, or the limit it stopped at).
	BaseOffset, NextOffset int64
}

// Empty reports whether the region holds no bytes.
func (r *Region) Empty() bool { return r.Len == 0 }

// ReadAt reads the region's bytes at off (relative to the region), for
// when they cannot be sent from the file directly.
func (r *Region) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(r.Len) {
		return 0, io.EOF
	}
	if rest := int64(r.Len) - off; int64(len(p)) > rest {
		p = p[:rest]
	}
	return r.s.log.ReadAt(p, r.Pos+off)
}

// Size is the region's length in bytes.
func (r *Region) Size() int { return r.Len }

// RawFile returns the segment file's descriptor access and the region's
// start in it, when the file is an operating-system file (for sendfile).
func (r *Region) RawFile() (syscall.RawConn, int64, bool) {
	sc, ok := r.s.log.(interface {
		SyscallConn() (syscall.RawConn, error)
	})
	if !ok {
		return nil, 0, false
	}
	rc, err := sc.SyscallConn()
	return rc, r.Pos, err == nil
}

// Release drops the region's reference on its segment.
func (r *Region) Release() {
	if r.s != nil {
		r.s.release()
		r.s = nil
	}
}

// errNoRegion means the read is not the simple case ReadRegion serves.
var errNoRegion = errors.New("log: no region")

// ReadRegion finds the stored batches that Read would return, as a region
// of one segment file, without reading them: the batch holding offset
// (found through the sparse index and one small read), then whole batches
// up to maxBytes (the first one whole whatever its size, KIP-74), not at or
// beyond limit, ending at a batch boundary the index knows. It may end up
// to an index interval short of maxBytes, and it never crosses into the
// next segment; the next fetch goes on from there.
//
// ok is false when the read is not that simple (the offset lies in a gap at
// the end of a segment, an index disagrees, a truncation raced): call Read
// instead. Errors are Read's (ErrOffsetOutOfRange, ErrClosed, I/O).
func (l *Log) ReadRegion(offset int64, maxBytes int, limit int64) (r Region, ok bool, err error) {
	gen := l.truncGen.Load()
	r, err = l.region(offset, maxBytes, limit)
	if err == errNoRegion || err == errIndexMismatch || l.truncGen.Load() != gen {
		r.Release()
		return Region{}, false, nil
	}
	if err != nil {
		r.Release()
		return Region{}, false, err
	}
	return r, true, nil
}

func (l *Log) region(offset int64, maxBytes int, limit int64) (Region, error) {
	s, pos, expect, committed, segNext, ok, err := l.locate(offset, limit)
	if !ok {
		return Region{}, err
	}
	r := Region{s: s}
	// Walk from the index entry to the batch holding offset.
	var probe [probeSize]byte
	start, size, base, err := walkTo(s, pos, expect, committed, offset, probe[:])
	if err != nil {
		return r, err
	}
	firstLast := base + int64(int32(binary.BigEndian.Uint32(probe[23:27])))
	if base >= limit {
		return r, nil // nothing below the limit: an empty region
	}
	r.Pos, r.BaseOffset = start, base
	end, next := committed, segNext
	if limit < segNext {
		// The limit falls in this segment: end at the batch it starts.
		lp, lb, err := l.positionOf(s, limit, committed, segNext, probe[:])
		if err != nil {
			return r, err
		}
		end, next = lp, lb
	}
	if end-start > int64(maxBytes) {
		// Too much: end at the last batch boundary the index knows within
		// maxBytes, but never before the end of the first batch.
		end, next = start+int64(size), -1
		l.mu.RLock()
		idx := s.idx
		i := sort.Search(len(idx), func(i int) bool { return int64(idx[i].pos) > start+int64(maxBytes) })
		if i > 0 && int64(idx[i-1].pos) > end {
			end, next = int64(idx[i-1].pos), s.base+int64(idx[i-1].rel)
		}
		l.mu.RUnlock()
		if next < 0 {
			next = firstLast + 1 // only the first batch
		}
	}
	if end < start+int64(size) || end > committed {
		return r, errNoRegion
	}
	r.Len, r.NextOffset = int(end-start), next
	if int64(r.Len) > math.MaxInt32 {
		return r, errNoRegion
	}
	return r, nil
}

// walkTo reads batch headers from pos (where a batch starts, base offset
// expect if known) to the batch holding offset, and returns its position,
// size and base offset. The first bytes of that batch are left at the
// start of probe.
func walkTo(s *segment, pos, expect, committed, offset int64, probe []byte) (int64, int, int64, error) {
	for {
		if pos >= committed {
			return 0, 0, 0, errNoRegion // offset is past this segment's batches
		}
		n := int(min(int64(records.HeaderSize), committed-pos))
		if n < records.HeaderSize {
			return 0, 0, 0, corrupt(s, pos, "%d bytes left, less than a batch header", n)
		}
		if m, err := s.log.ReadAt(probe[:n], pos); m < n {
			if err == nil || err == io.EOF {
				err = corrupt(s, pos, "segment ends before its committed size")
			}
			return 0, 0, 0, err
		}
		base, size, err := records.Peek(probe[:n])
		if err != nil && !errors.Is(err, records.ErrTruncated) {
			return 0, 0, 0, corrupt(s, pos, "%v", err)
		}
		if expect >= 0 {
			if base != expect {
				return 0, 0, 0, errIndexMismatch
			}
			expect = -1
		}
		if pos+int64(size) > committed {
			return 0, 0, 0, corrupt(s, pos, "batch of %d bytes runs past the committed size", size)
		}
		last := base + int64(int32(binary.BigEndian.Uint32(probe[23:27])))
		if last >= offset {
			return pos, size, base, nil
		}
		pos += int64(size)
	}
}

// positionOf returns where the first batch with base offset >= offset
// starts in s, and that base offset (committed and segNext when there is
// none).
func (l *Log) positionOf(s *segment, offset, committed, segNext int64, probe []byte) (int64, int64, error) {
	l.mu.RLock()
	pos, expect := int64(0), int64(-1)
	if rel := offset - s.base; rel >= 0 && rel <= math.MaxUint32 {
		if e, found := lookupOffset(s.idx, uint32(rel)); found {
			pos, expect = int64(e.pos), s.base+int64(e.rel)
		}
	}
	l.mu.RUnlock()
	for pos < committed {
		if committed-pos < records.HeaderSize {
			return 0, 0, corrupt(s, pos, "%d bytes left, less than a batch header", committed-pos)
		}
		if m, err := s.log.ReadAt(probe[:records.HeaderSize], pos); m < records.HeaderSize {
			if err == nil || err == io.EOF {
				err = corrupt(s, pos, "segment ends before its committed size")
			}
			return 0, 0, err
		}
		base, size, err := records.Peek(probe[:records.HeaderSize])
		if err != nil && !errors.Is(err, records.ErrTruncated) {
			return 0, 0, corrupt(s, pos, "%v", err)
		}
		if expect >= 0 && base != expect {
			return 0, 0, errIndexMismatch
		}
		expect = -1
		if base >= offset {
			return pos, base, nil
		}
		pos += int64(size)
	}
	return committed, segNext, nil
}

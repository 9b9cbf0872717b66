package log

import (
	"encoding/binary"
	"fmt"
	"sort"
)

const (
	offsetEntrySize = 8  // relative offset uint32, position uint32
	timeEntrySize   = 12 // timestamp int64, relative offset uint32
)

// offsetEntry says that the batch at byte pos of the segment's .log has base
// offset segment base + rel.
type offsetEntry struct {
	rel uint32
	pos uint32
}

// timeEntry says that the largest timestamp of the segment's batches up to
// and including the batch with base offset segment base + rel is ts, and
// that this batch is the first to reach it.
type timeEntry struct {
	ts  int64
	rel uint32
}

func appendOffsetEntries(dst []byte, es []offsetEntry) []byte {
	for _, e := range es {
		dst = binary.BigEndian.AppendUint32(dst, e.rel)
		dst = binary.BigEndian.AppendUint32(dst, e.pos)
	}
	return dst
}

func appendTimeEntries(dst []byte, es []timeEntry) []byte {
	for _, e := range es {
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.ts))
		dst = binary.BigEndian.AppendUint32(dst, e.rel)
	}
	return dst
}

// decodeOffsetIndex parses and checks an .index file against the segment it
// belongs to: entries strictly increasing in offset and position, positions
// inside the log file, offsets below the segment's end.
func decodeOffsetIndex(b []byte, logSize int64, span int64) ([]offsetEntry, error) {
	if len(b)%offsetEntrySize != 0 {
		return nil, fmt.Errorf("offset index size %d is not a multiple of %d", len(b), offsetEntrySize)
	}
	es := make([]offsetEntry, len(b)/offsetEntrySize)
	for i := range es {
		e := offsetEntry{rel: binary.BigEndian.Uint32(b[i*8:]), pos: binary.BigEndian.Uint32(b[i*8+4:])}
		if int64(e.pos) >= logSize || int64(e.rel) >= span {
			return nil, fmt.Errorf("offset index entry %d (+%d at %d) is outside the segment", i, e.rel, e.pos)
		}
		if i > 0 && (e.rel <= es[i-1].rel || e.pos <= es[i-1].pos) {
			return nil, fmt.Errorf("offset index entry %d (+%d at %d) is out of order", i, e.rel, e.pos)
		}
		es[i] = e
	}
	return es, nil
}

// decodeTimeIndex parses and checks a .timeindex file: timestamps strictly
// increasing, offsets non-decreasing and below the segment's end.
func decodeTimeIndex(b []byte, span int64) ([]timeEntry, error) {
	if len(b)%timeEntrySize != 0 {
		return nil, fmt.Errorf("time index size %d is not a multiple of %d", len(b), timeEntrySize)
	}
	es := make([]timeEntry, len(b)/timeEntrySize)
	for i := range es {
		e := timeEntry{ts: int64(binary.BigEndian.Uint64(b[i*12:])), rel: binary.BigEndian.Uint32(b[i*12+8:])}
		if int64(e.rel) >= span {
			return nil, fmt.Errorf("time index entry %d (%d at +%d) is outside the segment", i, e.ts, e.rel)
		}
		if i > 0 && (e.ts <= es[i-1].ts || e.rel < es[i-1].rel) {
			return nil, fmt.Errorf("time index entry %d (%d at +%d) is out of order", i, e.ts, e.rel)
		}
		es[i] = e
	}
	return es, nil
}

// lookupOffset returns the entry of the last indexed batch at or before
// rel, or ok=false when rel precedes every entry (read from position 0).
func lookupOffset(es []offsetEntry, rel uint32) (offsetEntry, bool) {
	i := sort.Search(len(es), func(i int) bool { return es[i].rel > rel })
	if i == 0 {
		return offsetEntry{}, false
	}
	return es[i-1], true
}

// lookupTime returns the last entry whose timestamp is below ts: every batch
// up to and including its batch has a max timestamp below ts, so a search
// for the first batch reaching ts can start there.
func lookupTime(es []timeEntry, ts int64) (timeEntry, bool) {
	i := sort.Search(len(es), func(i int) bool { return es[i].ts >= ts })
	if i == 0 {
		return timeEntry{}, false
	}
	return es[i-1], true
}

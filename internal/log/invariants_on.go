//go:build invariants

package log

import "fmt"

// checkInvariants panics when the in-memory log breaks an invariant of
// doc.go. Caller holds mu. It is O(segments + index entries), so it runs
// only in builds with the invariants tag.
func (l *Log) checkInvariants() {
	fail := func(format string, args ...any) {
		panic(fmt.Sprintf("log invariant: "+format, args...))
	}
	if len(l.segs) == 0 || l.segs[len(l.segs)-1] != l.active {
		fail("the active segment is not the last")
	}
	var size int64
	for i, s := range l.segs {
		size += s.size
		if i+1 < len(l.segs) {
			if n := l.segs[i+1]; n.base <= s.base || s.next != n.base {
				fail("segment %d ends at %d, next starts at %d", s.base, s.next, n.base)
			}
		}
		if s.next < s.base {
			fail("segment %d: next %d", s.base, s.next)
		}
		if !s.loaded {
			continue
		}
		for j, e := range s.idx {
			if int64(e.pos) >= s.size || s.base+int64(e.rel) >= s.next ||
				j > 0 && (e.pos <= s.idx[j-1].pos || e.rel <= s.idx[j-1].rel) {
				fail("segment %d: offset index entry %d (+%d at %d) of size %d", s.base, j, e.rel, e.pos, s.size)
			}
		}
		for j, e := range s.tidx {
			if s.base+int64(e.rel) >= s.next || j > 0 && (e.ts <= s.tidx[j-1].ts || e.rel < s.tidx[j-1].rel) {
				fail("segment %d: time index entry %d (%d at +%d)", s.base, j, e.ts, e.rel)
			}
		}
	}
	if size != l.size {
		fail("size %d, segments add up to %d", l.size, size)
	}
	if l.durable > l.end {
		fail("durable %d beyond end %d", l.durable, l.end)
	}
	if l.end != l.active.next || l.start > l.end || l.start < l.segs[0].base {
		fail("start %d end %d, segments %d..%d", l.start, l.end, l.segs[0].base, l.active.next)
	}
	for i, e := range l.epochs.es {
		if i > 0 && (e.epoch <= l.epochs.es[i-1].epoch || e.start < l.epochs.es[i-1].start) {
			fail("epoch entries out of order at %d", i)
		}
	}
}

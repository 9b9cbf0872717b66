package group

import (
	"bytes"
	"iter"
	"maps"
	"slices"
)

// assignment is a set of partitions by topic id.
type assignment map[[16]byte]map[int32]struct{}

// tidp is one partition of a topic, by topic id.
type tidp struct {
	id [16]byte
	p  int32
}

func keysOf[K comparable, V any](m map[K]V) iter.Seq[K] { return maps.Keys(m) }

func compareID(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) }

func (a assignment) add(id [16]byte, p int32) {
	s := a[id]
	if s == nil {
		s = map[int32]struct{}{}
		a[id] = s
	}
	s[p] = struct{}{}
}

func (a assignment) remove(id [16]byte, p int32) {
	if s := a[id]; s != nil {
		delete(s, p)
		if len(s) == 0 {
			delete(a, id)
		}
	}
}

func (a assignment) has(id [16]byte, p int32) bool {
	_, ok := a[id][p]
	return ok
}

func (a assignment) size() int {
	n := 0
	for _, s := range a {
		n += len(s)
	}
	return n
}

func (a assignment) clone() assignment {
	c := make(assignment, len(a))
	for id, s := range a {
		c[id] = maps.Clone(s)
	}
	return c
}

func (a assignment) equal(b assignment) bool {
	if a.size() != b.size() {
		return false
	}
	for id, s := range a {
		for p := range s {
			if !b.has(id, p) {
				return false
			}
		}
	}
	return true
}

// list returns the partitions in (topic id, partition) order.
func (a assignment) list() []tidp {
	out := make([]tidp, 0, a.size())
	for id, s := range a {
		for p := range s {
			out = append(out, tidp{id, p})
		}
	}
	slices.SortFunc(out, compareTIDP)
	return out
}

func compareTIDP(x, y tidp) int {
	if c := compareID(x.id, y.id); c != 0 {
		return c
	}
	return int(x.p) - int(y.p)
}

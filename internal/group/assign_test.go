package group

import (
	"fmt"
	"testing"
)

func tid(b byte) [16]byte { return [16]byte{b} }

func fromList(l []tidp) assignment {
	a := assignment{}
	for _, tp := range l {
		a.add(tp.id, tp.p)
	}
	return a
}

func spec(topics map[byte]int32, members ...assignMember) assignSpec {
	s := assignSpec{topics: map[[16]byte]int32{}, members: members}
	for id, n := range topics {
		s.topics[tid(id)] = n
	}
	return s
}

func member(id string, prev assignment, subs ...byte) assignMember {
	m := assignMember{id: id, prev: prev}
	for _, s := range subs {
		m.subs = append(m.subs, tid(s))
	}
	return m
}

// checkAssignment verifies that every subscribed partition has exactly
// one owner, who subscribes to its topic.
func checkAssignment(t *testing.T, s assignSpec, out map[string]assignment) {
	t.Helper()
	owner := map[tidp]string{}
	for _, m := range s.members {
		subs := map[[16]byte]bool{}
		for _, id := range m.subs {
			subs[id] = true
		}
		for _, p := range out[m.id].list() {
			if !subs[p.id] {
				t.Fatalf("%s got %v without subscribing", m.id, p)
			}
			if o, dup := owner[p]; dup {
				t.Fatalf("%v assigned to %s and %s", p, o, m.id)
			}
			owner[p] = m.id
		}
	}
	for id, n := range s.topics {
		subscribed := false
		for _, m := range s.members {
			for _, x := range m.subs {
				subscribed = subscribed || x == id
			}
		}
		for p := int32(0); subscribed && p < n; p++ {
			if _, ok := owner[tidp{id, p}]; !ok {
				t.Fatalf("%v unassigned", tidp{id, p})
			}
		}
	}
}

func sizes(s assignSpec, out map[string]assignment) string {
	r := ""
	for _, m := range s.members {
		r += fmt.Sprintf("%s=%d ", m.id, out[m.id].size())
	}
	return r
}

func TestUniformBalancedAndSticky(t *testing.T) {
	s := spec(map[byte]int32{1: 12}, member("a", nil, 1), member("b", nil, 1), member("c", nil, 1))
	out := uniformAssign(s)
	checkAssignment(t, s, out)
	if got := sizes(s, out); got != "a=4 b=4 c=4 " {
		t.Fatalf("sizes %s", got)
	}
	// d joins: each old member gives up exactly one partition, nothing else
	// moves.
	s2 := spec(map[byte]int32{1: 12}, member("a", out["a"], 1), member("b", out["b"], 1), member("c", out["c"], 1), member("d", nil, 1))
	out2 := uniformAssign(s2)
	checkAssignment(t, s2, out2)
	for _, id := range []string{"a", "b", "c"} {
		for _, p := range out2[id].list() {
			if !out[id].has(p.id, p.p) {
				t.Fatalf("%s gained %v", id, p)
			}
		}
		if out2[id].size() != 3 {
			t.Fatalf("%s has %d", id, out2[id].size())
		}
	}
	// b leaves: its partitions are spread, the others keep theirs.
	s3 := spec(map[byte]int32{1: 12}, member("a", out2["a"], 1), member("c", out2["c"], 1), member("d", out2["d"], 1))
	out3 := uniformAssign(s3)
	checkAssignment(t, s3, out3)
	for _, id := range []string{"a", "c", "d"} {
		for _, p := range out2[id].list() {
			if !out3[id].has(p.id, p.p) {
				t.Fatalf("%s lost %v", id, p)
			}
		}
	}
}

func TestUniformHeterogeneous(t *testing.T) {
	// a and b share topic 1; only b reads topic 2; c reads 1 and 3.
	s := spec(map[byte]int32{1: 6, 2: 4, 3: 2}, member("a", nil, 1), member("b", nil, 1, 2), member("c", nil, 1, 3))
	out := uniformAssign(s)
	checkAssignment(t, s, out)
	if got := sizes(s, out); got != "a=4 b=4 c=4 " {
		t.Fatalf("sizes %s", got)
	}
	// Partitions of a topic nobody reads are not assigned; a topic that
	// went away is dropped from the previous assignment.
	s2 := spec(map[byte]int32{1: 2}, member("a", out["a"], 1, 9), member("b", out["b"], 1))
	out2 := uniformAssign(s2)
	checkAssignment(t, s2, out2)
	if got := sizes(s2, out2); got != "a=1 b=1 " {
		t.Fatalf("sizes %s", got)
	}
}

func TestRangeAssign(t *testing.T) {
	s := spec(map[byte]int32{1: 7, 2: 2}, member("a", nil, 1, 2), member("b", nil, 1), member("c", nil, 1, 2))
	out := rangeAssign(s)
	checkAssignment(t, s, out)
	want := map[string][]tidp{
		"a": {{tid(1), 0}, {tid(1), 1}, {tid(1), 2}, {tid(2), 0}},
		"b": {{tid(1), 3}, {tid(1), 4}},
		"c": {{tid(1), 5}, {tid(1), 6}, {tid(2), 1}},
	}
	for id, w := range want {
		if !out[id].equal(fromList(w)) {
			t.Fatalf("%s got %v, want %v", id, out[id].list(), w)
		}
	}
}

func TestAssignEmpty(t *testing.T) {
	for _, fn := range []func(assignSpec) map[string]assignment{uniformAssign, rangeAssign} {
		out := fn(spec(map[byte]int32{1: 3}))
		if len(out) != 0 {
			t.Fatalf("no members: %v", out)
		}
		s := spec(map[byte]int32{}, member("a", nil))
		if out := fn(s); out["a"].size() != 0 {
			t.Fatalf("no topics: %v", out)
		}
	}
}

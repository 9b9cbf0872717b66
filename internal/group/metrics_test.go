package group

import "testing"

// A partition still loading reports none of its groups' offsets: a scrape
// mid-load would otherwise show a lag computed from a partial replay.
func TestCommittedOffsetsWhileLoading(t *testing.T) {
	h := newHarness(t)
	h.exec("topic t 1")
	h.exec("commit app as=c offsets=t:0=4")
	h.exec("commit app as=c offsets=t:0=9")

	m := quietMachine()
	m.SetImage(h.img)
	m.SetOffsetsTopic(h.now, 1, true)
	for _, l := range h.log[0] {
		if err := m.Replay(0, l.off, l.pid, l.rec); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.CommittedOffsets(nil); len(got) != 0 {
		t.Fatalf("while loading: %+v, want none", got)
	}
	m.LoadDone(h.now, 0)
	want := CommittedOffset{Group: "app", Topic: "t", Partition: 0, Offset: 9}
	if got := m.CommittedOffsets(nil); len(got) != 1 || got[0] != want {
		t.Fatalf("loaded: %+v, want %+v", got, want)
	}
}

package group

// Committed offsets for monitoring: the metrics endpoint reads them at
// each scrape to report consumer group lag.

import (
	"cmp"
	"slices"
)

// CommittedOffset is one offset a consumer group committed for a
// partition.
type CommittedOffset struct {
	Group     string
	Topic     string
	Partition int32
	Offset    int64
}

// CommittedOffsets lists the committed offsets of every group whose
// __consumer_offsets partition is loaded, sorted by group, topic and
// partition. Transactional offsets not yet committed are left out, as
// OffsetFetch leaves them out. It reads memory only: the coordinator's
// mutex is held just long enough to copy, so a metrics scrape never waits
// on I/O. The slice is the caller's.
func (c *Coordinator) CommittedOffsets() []CommittedOffset {
	var out []CommittedOffset
	c.d.Locked(func(m *Machine, _ bool) { out = m.CommittedOffsets(nil) })
	slices.SortFunc(out, func(a, b CommittedOffset) int {
		return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out
}

// CommittedOffsets appends to dst the committed offsets of every group of
// a loaded partition (a group still loading would report a partial view),
// unsorted, and returns it.
func (m *Machine) CommittedOffsets(dst []CommittedOffset) []CommittedOffset {
	for gid, offs := range m.offsets {
		if m.coordinatorError(gid) != 0 {
			continue
		}
		if gr := m.groups[gid]; gr != nil && gr.classic != nil && gr.classic.state == stDead {
			continue
		}
		for t, o := range offs {
			dst = append(dst, CommittedOffset{Group: gid, Topic: t.topic, Partition: t.partition, Offset: o.offset})
		}
	}
	return dst
}

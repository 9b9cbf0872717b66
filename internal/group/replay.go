package group

// Loading: the records of a __consumer_offsets partition are replayed in
// log order. After compaction the records of one group are no longer in
// the order they were written (only the newest value of each key is left),
// so every record stands on its own: whichever record of a group or member
// comes first creates it, and tombstones remove exactly their key.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Replay applies one record read at log offset off of partition part. pid
// is the producer id of a transactional batch, -1 otherwise. A record that
// cannot be decoded is returned as an error and changes nothing.
func (m *Machine) Replay(part int32, off int64, pid int64, rec Record) error {
	k, ok, err := decodeKey(rec.Key)
	if err != nil || !ok {
		return err
	}
	if off >= m.seq {
		m.seq = off + 1
	}
	switch k.Type {
	case typeOffsetCommitV0, typeOffsetCommit:
		t := tp{k.Topic, k.Partition}
		if rec.Value == nil {
			m.deleteOffset(k.Group, t)
			return nil
		}
		o, err := decodeOffsetValue(rec.Value)
		if err != nil {
			return err
		}
		o.recordOffset = off
		if m.groups[k.Group] == nil {
			m.groups[k.Group] = &group{id: k.Group, part: part, classic: newClassicGroup(k.Group, part)}
		}
		if pid >= 0 {
			m.stageTxnOffset(part, pid, k.Group, t, o)
		} else {
			m.putOffset(k.Group, t, o)
		}
	case typeGroupMetadata:
		if rec.Value == nil {
			if gr := m.groups[k.Group]; gr != nil && gr.classic != nil {
				delete(m.groups, k.Group)
			}
			return nil
		}
		var v kmsg.GroupMetadataValue
		if err := v.ReadFrom(rec.Value); err != nil {
			return err
		}
		m.groups[k.Group] = &group{id: k.Group, part: part, classic: classicFromRecord(k.Group, part, &v)}
	case typeConsumerGroupMetadata:
		if rec.Value == nil {
			if gr := m.groups[k.Group]; gr != nil && gr.consumer != nil {
				delete(m.groups, k.Group)
			}
			return nil
		}
		v, err := decodeCGMetadata(rec.Value)
		if err != nil {
			return err
		}
		g := m.replayConsumerGroup(k.Group, part)
		g.epoch, g.metadataHash = v.Epoch, v.MetadataHash
	case typeConsumerGroupMember:
		if rec.Value == nil {
			if g := m.consumerGroupOf(k.Group); g != nil {
				delete(g.members, k.Member)
			}
			return nil
		}
		v, err := decodeCGMember(rec.Value)
		if err != nil {
			return err
		}
		mem := m.replayMember(m.replayConsumerGroup(k.Group, part), k.Member)
		mem.instanceID, mem.rackID, mem.clientID, mem.clientHost = v.InstanceID, v.RackID, v.ClientID, v.ClientHost
		mem.topics, mem.regex, mem.rebalanceTimeout, mem.assignor = v.SubscribedTopics, v.SubscribedRegex, v.RebalanceTimeoutMs, v.ServerAssignor
	case typeTargetAssignmentMeta:
		if rec.Value == nil {
			return nil
		}
		v, err := decodeCGTargetMeta(rec.Value)
		if err != nil {
			return err
		}
		m.replayConsumerGroup(k.Group, part).assignmentEpoch = v.AssignmentEpoch
	case typeTargetAssignmentMember:
		if rec.Value == nil {
			if g := m.consumerGroupOf(k.Group); g != nil {
				delete(g.target, k.Member)
			}
			return nil
		}
		v, err := decodeCGTargetMember(rec.Value)
		if err != nil {
			return err
		}
		a, _ := fromTopicPartitions(v.Partitions)
		m.replayConsumerGroup(k.Group, part).target[k.Member] = a
	case typeCurrentAssignment:
		if rec.Value == nil {
			if g := m.consumerGroupOf(k.Group); g != nil {
				if mem := g.members[k.Member]; mem != nil {
					mem.assigned, mem.pending, mem.epochs = assignment{}, assignment{}, nil
				}
			}
			return nil
		}
		v, err := decodeCGCurrent(rec.Value)
		if err != nil {
			return err
		}
		mem := m.replayMember(m.replayConsumerGroup(k.Group, part), k.Member)
		mem.epoch, mem.prevEpoch, mem.state = v.MemberEpoch, v.PreviousMemberEpoch, memberState(v.State)
		var e1, e2 map[tidp]int32
		mem.assigned, e1 = fromTopicPartitions(v.Assigned)
		mem.pending, e2 = fromTopicPartitions(v.PendingRevocation)
		mem.epochs = nil
		if e1 != nil || e2 != nil {
			mem.epochs = map[tidp]int32{}
			for p, e := range e1 {
				mem.epochs[p] = e
			}
			for p, e := range e2 {
				mem.epochs[p] = e
			}
		}
	case typeRegularExpression:
		if rec.Value == nil {
			if g := m.consumerGroupOf(k.Group); g != nil {
				delete(g.regexes, k.Regex)
			}
			return nil
		}
		v, err := decodeCGRegex(rec.Value)
		if err != nil {
			return err
		}
		m.replayConsumerGroup(k.Group, part).regexes[k.Regex] = &regexState{topics: v.Topics, version: v.Version, timestamp: v.Timestamp}
	}
	return nil
}

// ReplayTxnMarker applies a transaction marker (control record) read from
// partition part.
func (m *Machine) ReplayTxnMarker(part int32, pid int64, commit bool) {
	m.completeTxn(part, pid, commit)
}

// replayConsumerGroup returns the consumer group, creating it; a simple
// classic group (one that only held offsets) gives way to it.
func (m *Machine) replayConsumerGroup(id string, part int32) *consumerGroup {
	gr := m.groups[id]
	if gr == nil || gr.consumer == nil {
		gr = &group{id: id, part: part, consumer: newConsumerGroup(id, part)}
		m.groups[id] = gr
	}
	return gr.consumer
}

func (m *Machine) replayMember(g *consumerGroup, id string) *cgMember {
	mem := g.members[id]
	if mem == nil {
		mem = &cgMember{id: id, assigned: assignment{}, pending: assignment{}, topics: []string{}, rebalanceTimeout: -1}
		g.members[id] = mem
	}
	return mem
}

func classicFromRecord(id string, part int32, v *kmsg.GroupMetadataValue) *classicGroup {
	g := newClassicGroup(id, part)
	if v.ProtocolType != "" {
		pt := v.ProtocolType
		g.protocolType = &pt
	}
	g.generation, g.protocol, g.stateTime = v.Generation, v.Protocol, v.CurrentStateTimestamp
	for _, vm := range v.Members {
		mem := &classicMember{
			id: vm.MemberID, instanceID: vm.InstanceID, clientID: vm.ClientID, clientHost: vm.ClientHost,
			rebalanceTimeout: time.Duration(vm.RebalanceTimeoutMillis) * time.Millisecond,
			sessionTimeout:   time.Duration(vm.SessionTimeoutMillis) * time.Millisecond,
			protocolType:     v.ProtocolType, assignment: vm.Assignment,
		}
		if v.Version == 0 {
			mem.rebalanceTimeout = mem.sessionTimeout
		}
		if g.protocol != nil {
			mem.protocols = []protocol{{name: *g.protocol, metadata: vm.Subscription}}
		}
		pt := g.protocolType
		g.add(mem)
		g.protocolType = pt
	}
	if v.Leader != nil && g.members[*v.Leader] != nil {
		g.leader = *v.Leader
	}
	if len(g.members) > 0 {
		g.state = stStable
	}
	g.computeSubscribed()
	return g
}

// LoadDone ends the loading of partition part: its groups start serving,
// and every member's session starts now (a member that does not come back
// is removed when it ends).
func (m *Machine) LoadDone(now time.Time, part int32) Output {
	m.begin(now)
	if part < 0 || int(part) >= len(m.parts) {
		return m.end()
	}
	m.parts[part] = partLoaded
	for _, gr := range m.groups {
		if gr.part != part {
			continue
		}
		if g := gr.classic; g != nil {
			for _, mem := range g.members {
				m.rescheduleHeartbeat(g, mem, mem.sessionTimeout)
			}
			continue
		}
		g := gr.consumer
		g.static, g.owners = map[string]string{}, map[tidp]string{}
		for _, mem := range g.members {
			if mem.instanceID != nil {
				g.static[*mem.instanceID] = mem.id
			}
			g.setOwned(mem, nil)
			m.scheduleSession(g, mem.id)
			if mem.state == msUnrevoked {
				m.scheduleRebalanceTimeout(g, mem)
			}
		}
		for id := range g.target {
			if g.members[id] == nil {
				delete(g.target, id)
			}
		}
	}
	return m.end()
}

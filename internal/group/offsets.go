package group

// Committed offsets: OffsetCommit, OffsetFetch, OffsetDelete, expiration,
// and the transactional offsets the transaction coordinator drives.

import (
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/plexus/plexus/internal/cluster"
)

// offsetValue is one committed offset.
type offsetValue struct {
	offset          int64
	leaderEpoch     int32
	metadata        string
	commitTimestamp int64
	expireTimestamp int64 // -1: none (OffsetCommit v2-v4 can set one)
	recordOffset    int64 // where the record sits in its partition; orders transactional commits
}

// pendingTxn is a producer's transactional offsets in one
// __consumer_offsets partition, invisible until the transaction's marker
// in that partition commits them. A transaction that commits offsets of
// groups in several partitions has one per partition, each completed by
// its own marker, as Kafka completes them.
type pendingTxn struct {
	offsets map[string]map[tp]offsetValue
}

// txnKey names a pendingTxn: the partition its records went to and the
// producer.
type txnKey struct {
	part int32
	pid  int64
}

// nextSeq orders offset values by when they were written: above every
// record offset replayed, so that a value written now wins over a loaded
// one in CompleteTxn.
func (m *Machine) nextSeq() int64 {
	m.seq++
	return m.seq
}

func (m *Machine) hasPendingTxn(group string, t tp) bool {
	for _, tx := range m.txns {
		if _, ok := tx.offsets[group][t]; ok {
			return true
		}
	}
	return false
}

func (m *Machine) openTxns(group string) bool {
	for _, tx := range m.txns {
		if len(tx.offsets[group]) > 0 {
			return true
		}
	}
	return false
}

func (m *Machine) putOffset(group string, t tp, o offsetValue) {
	gm := m.offsets[group]
	if gm == nil {
		gm = map[tp]offsetValue{}
		m.offsets[group] = gm
	}
	gm[t] = o
}

func (m *Machine) deleteOffset(group string, t tp) {
	if gm := m.offsets[group]; gm != nil {
		delete(gm, t)
		if len(gm) == 0 {
			delete(m.offsets, group)
		}
	}
	for _, tx := range m.txns {
		if gm := tx.offsets[group]; gm != nil {
			delete(gm, t)
		}
	}
}

// simpleGroup returns the group that holds id's offsets, creating an empty
// classic group with no protocol (a "simple" group, as Kafka does) when
// none exists.
func (m *Machine) simpleGroup(id string) *group {
	gr := m.groups[id]
	if gr == nil {
		gr = &group{id: id, part: m.partOf(id), classic: newClassicGroup(id, m.partOf(id))}
		m.groups[id] = gr
	}
	return gr
}

// topicPartitionExists reports whether the image has the partition.
func topicPartitionExists(img *cluster.Image, topic string, p int32) bool {
	t := img.Topics[topic]
	return t != nil && p >= 0 && p < t.Partitions
}

// ---- OffsetCommit ----

// OffsetCommit handles an OffsetCommit request; the reply comes once the
// offsets are durable.
func (m *Machine) OffsetCommit(now time.Time, id uint64, req *kmsg.OffsetCommitRequest) Output {
	m.begin(now)
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	setAll := func(code int16) {
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				resp.Topics[i].Partitions[j].ErrorCode = code
			}
		}
	}
	code := int16(0)
	if req.Group == "" {
		code = kerr.InvalidGroupID.Code
	} else if code = m.coordinatorError(req.Group); code == 0 {
		code = m.validateOffsetCommit(req.Group, req.MemberID, req.InstanceID, req.Generation, false, req.Version, req.Topics)
	}
	if code != 0 {
		setAll(code)
		m.reply(id, resp)
		return m.end()
	}
	expire := int64(-1)
	if req.Version <= 4 && req.RetentionTimeMillis != -1 {
		expire = m.now.UnixMilli() + req.RetentionTimeMillis
	}
	type staged struct {
		t    tp
		o    offsetValue
		i, j int
	}
	var recs []Record
	var stage []staged
	for i, rt := range req.Topics {
		name := rt.Topic
		if req.Version >= 10 {
			t := m.img.ByID[cluster.TopicID(rt.TopicID)]
			if t == nil {
				for j := range rt.Partitions {
					resp.Topics[i].Partitions[j].ErrorCode = kerr.UnknownTopicID.Code
				}
				continue
			}
			name = t.Name
		}
		for j, rp := range rt.Partitions {
			sp := &resp.Topics[i].Partitions[j]
			if !topicPartitionExists(m.img, name, rp.Partition) {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				continue
			}
			md := derefOr(rp.Metadata, "")
			if len(md) > m.cfg.OffsetMetadataMaxBytes {
				sp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
				continue
			}
			o := offsetValue{offset: rp.Offset, leaderEpoch: rp.LeaderEpoch, metadata: md, commitTimestamp: m.now.UnixMilli(), expireTimestamp: expire, recordOffset: m.nextSeq()}
			if req.Version < 6 {
				o.leaderEpoch = -1
			}
			recs = append(recs, offsetCommitRecord(req.Group, name, rp.Partition, o))
			stage = append(stage, staged{tp{name, rp.Partition}, o, i, j})
		}
	}
	if gr := m.groups[req.Group]; gr != nil && gr.classic != nil {
		// A commit counts as a heartbeat for a classic member.
		if g := gr.classic; g.state == stStable || g.state == stPreparing {
			if mem := g.members[req.MemberID]; mem != nil {
				m.rescheduleHeartbeat(g, mem, mem.sessionTimeout)
			}
		}
	}
	if len(recs) == 0 {
		m.reply(id, resp)
		return m.end()
	}
	groupID := req.Group
	m.write(m.partOf(groupID), recs, func(code int16) {
		if code == kerr.UnknownServerError.Code {
			code = kerr.InvalidCommitOffsetSize.Code
		}
		for _, s := range stage {
			resp.Topics[s.i].Partitions[s.j].ErrorCode = code
		}
		if code == 0 {
			m.simpleGroup(groupID)
			for _, s := range stage {
				m.putOffset(groupID, s.t, s.o)
			}
		}
		m.reply(id, resp)
	})
	return m.end()
}

// validateOffsetCommit checks who may commit: members of the current
// generation (classic) or epoch (consumer groups), or anyone when the
// group has no members and the request has no member and a negative
// generation (simple consumers and admin tools).
func (m *Machine) validateOffsetCommit(groupID, memberID string, instanceID *string, gen int32, txn bool, version int16, topics []kmsg.OffsetCommitRequestTopic) int16 {
	gr := m.groups[groupID]
	if gr == nil {
		if gen < 0 {
			return 0
		}
		if version >= 9 && !txn {
			return kerr.GroupIDNotFound.Code
		}
		return kerr.IllegalGeneration.Code
	}
	if g := gr.classic; g != nil {
		if g.state == stDead {
			return kerr.CoordinatorNotAvailable.Code
		}
		if gen < 0 && g.state == stEmpty {
			return 0
		}
		if gen >= 0 || memberID != "" || instanceID != nil {
			if code := g.validateMember(memberID, instanceID); code != 0 {
				return code
			}
			if gen != g.generation {
				return kerr.IllegalGeneration.Code
			}
		} else if !txn && g.state != stEmpty {
			return kerr.UnknownMemberID.Code
		}
		if !txn && g.state == stCompleting {
			return kerr.RebalanceInProgress.Code
		}
		return 0
	}
	cg := gr.consumer
	if gen < 0 && len(cg.members) == 0 {
		return 0
	}
	mem := cg.members[memberID]
	if mem == nil {
		return kerr.UnknownMemberID.Code
	}
	if !txn && version < 9 {
		return kerr.UnsupportedVersion.Code
	}
	code := kerr.StaleMemberEpoch.Code
	if txn {
		code = kerr.IllegalGeneration.Code
	}
	if gen == mem.epoch {
		return 0
	}
	if gen > mem.epoch || gen < 0 {
		return code
	}
	// KIP-1251: an older epoch is fine for partitions the member was
	// already assigned at that epoch; a commit racing a heartbeat that
	// bumped the epoch would otherwise fail for no reason.
	for _, rt := range topics {
		var tid [16]byte
		if version >= 10 {
			tid = rt.TopicID
		} else if t := m.img.Topics[rt.Topic]; t != nil {
			tid = t.ID
		} else {
			return code
		}
		for _, rp := range rt.Partitions {
			e, ok := mem.epochOf(tidp{tid, rp.Partition})
			if !ok || e > gen {
				return code
			}
		}
	}
	return 0
}

// ---- OffsetFetch ----

// OffsetFetch handles an OffsetFetch request (one group before v8, a
// batch from v8).
func (m *Machine) OffsetFetch(now time.Time, id uint64, req *kmsg.OffsetFetchRequest) Output {
	m.begin(now)
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			var topics []fetchTopic
			if rg.Topics != nil {
				topics = []fetchTopic{}
				for _, t := range rg.Topics {
					topics = append(topics, fetchTopic{name: t.Topic, id: t.TopicID, partitions: t.Partitions})
				}
			}
			out, code := m.fetchGroup(rg.Group, rg.MemberID, rg.MemberEpoch, topics, req.RequireStable, req.Version)
			sg := kmsg.NewOffsetFetchResponseGroup()
			sg.Group, sg.ErrorCode = rg.Group, code
			for _, ft := range out {
				st := kmsg.NewOffsetFetchResponseGroupTopic()
				st.Topic, st.TopicID = ft.name, ft.id
				for _, fp := range ft.parts {
					sp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					sp.Partition, sp.Offset, sp.LeaderEpoch, sp.Metadata, sp.ErrorCode = fp.partition, fp.offset, fp.epoch, fp.metadata, fp.code
					st.Partitions = append(st.Partitions, sp)
				}
				sg.Topics = append(sg.Topics, st)
			}
			resp.Groups = append(resp.Groups, sg)
		}
		m.reply(id, resp)
		return m.end()
	}
	var topics []fetchTopic
	if req.Topics != nil || req.Version < 2 {
		topics = []fetchTopic{}
		for _, t := range req.Topics {
			topics = append(topics, fetchTopic{name: t.Topic, partitions: t.Partitions})
		}
	}
	out, code := m.fetchGroup(req.Group, nil, -1, topics, req.RequireStable, req.Version)
	if code != 0 && req.Version < 2 {
		// v1 has no group error: every partition carries it.
		out = nil
		for _, t := range topics {
			ft := fetchTopic{name: t.name}
			for _, p := range t.partitions {
				ft.parts = append(ft.parts, fetchedPartition{partition: p, offset: -1, epoch: -1, metadata: strp(""), code: code})
			}
			out = append(out, ft)
		}
	}
	resp.ErrorCode = code
	for _, ft := range out {
		st := kmsg.NewOffsetFetchResponseTopic()
		st.Topic = ft.name
		for _, fp := range ft.parts {
			sp := kmsg.NewOffsetFetchResponseTopicPartition()
			sp.Partition, sp.Offset, sp.LeaderEpoch, sp.Metadata, sp.ErrorCode = fp.partition, fp.offset, fp.epoch, fp.metadata, fp.code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	m.reply(id, resp)
	return m.end()
}

type fetchTopic struct {
	name       string
	id         [16]byte
	partitions []int32
	parts      []fetchedPartition
}

type fetchedPartition struct {
	partition int32
	offset    int64
	epoch     int32
	metadata  *string
	code      int16
}

// fetchGroup answers one group of an OffsetFetch. topics nil asks for
// every committed offset.
func (m *Machine) fetchGroup(groupID string, memberID *string, memberEpoch int32, topics []fetchTopic, requireStable bool, version int16) ([]fetchTopic, int16) {
	if groupID == "" {
		return nil, kerr.InvalidGroupID.Code
	}
	if code := m.coordinatorError(groupID); code != 0 {
		return nil, code
	}
	known := true
	if gr := m.groups[groupID]; gr == nil {
		known = false
	} else if gr.classic != nil && gr.classic.state == stDead {
		known = false
	} else if cg := gr.consumer; cg != nil && (memberID != nil || memberEpoch >= 0) {
		mem := cg.members[derefOr(memberID, "")]
		if mem == nil {
			return nil, kerr.UnknownMemberID.Code
		}
		if memberEpoch != mem.epoch {
			return nil, kerr.StaleMemberEpoch.Code
		}
	}
	offsets := m.offsets[groupID]
	if !known {
		offsets = nil
	}
	lookup := func(t tp) fetchedPartition {
		fp := fetchedPartition{partition: t.partition, offset: -1, epoch: -1, metadata: strp("")}
		if requireStable && m.hasPendingTxn(groupID, t) {
			fp.code = kerr.UnstableOffsetCommit.Code
			return fp
		}
		if o, ok := offsets[t]; ok {
			fp.offset, fp.epoch, fp.metadata = o.offset, o.leaderEpoch, strp(o.metadata)
		}
		return fp
	}
	var out []fetchTopic
	if topics == nil {
		byTopic := map[string][]int32{}
		for t := range offsets {
			byTopic[t.topic] = append(byTopic[t.topic], t.partition)
		}
		for _, name := range slices.Sorted(keysOf(byTopic)) {
			ft := fetchTopic{name: name}
			if version >= 10 {
				t := m.img.Topics[name]
				if t == nil {
					continue
				}
				ft.id = t.ID
			}
			ps := byTopic[name]
			slices.Sort(ps)
			for _, p := range ps {
				ft.parts = append(ft.parts, lookup(tp{name, p}))
			}
			out = append(out, ft)
		}
		return out, 0
	}
	for _, rt := range topics {
		ft := fetchTopic{name: rt.name, id: rt.id}
		name := rt.name
		unknownID := false
		if version >= 10 {
			if t := m.img.ByID[cluster.TopicID(rt.id)]; t != nil {
				name = t.Name
			} else {
				unknownID = true
			}
		}
		for _, p := range rt.partitions {
			if unknownID {
				ft.parts = append(ft.parts, fetchedPartition{partition: p, offset: -1, epoch: -1, metadata: strp(""), code: kerr.UnknownTopicID.Code})
				continue
			}
			ft.parts = append(ft.parts, lookup(tp{name, p}))
		}
		out = append(out, ft)
	}
	return out, 0
}

// ---- OffsetDelete ----

// OffsetDelete handles an OffsetDelete request.
func (m *Machine) OffsetDelete(now time.Time, id uint64, req *kmsg.OffsetDeleteRequest) Output {
	m.begin(now)
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	fail := func(code int16) Output {
		resp.ErrorCode = code
		m.reply(id, resp)
		return m.end()
	}
	if req.Group == "" {
		return fail(kerr.InvalidGroupID.Code)
	}
	if code := m.coordinatorError(req.Group); code != 0 {
		return fail(code)
	}
	gr := m.groups[req.Group]
	if gr == nil || (gr.classic != nil && gr.classic.state == stDead) {
		return fail(kerr.GroupIDNotFound.Code)
	}
	subscribed := func(topic string) bool { return gr.consumer.isSubscribedTo(topic) }
	if g := gr.classic; g != nil {
		if g.state != stEmpty && !g.usesConsumerProtocol() {
			return fail(kerr.NonEmptyGroup.Code)
		}
		subscribed = g.isSubscribedTo
	}
	var recs []Record
	var dels []tp
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetDeleteResponseTopic()
		st.Topic = rt.Topic
		sub := subscribed(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetDeleteResponseTopicPartition()
			sp.Partition = rp.Partition
			switch {
			case !topicPartitionExists(m.img, rt.Topic, rp.Partition):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case sub:
				sp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			default:
				t := tp{rt.Topic, rp.Partition}
				if _, ok := m.offsets[req.Group][t]; ok || m.hasPendingTxn(req.Group, t) {
					recs = append(recs, offsetTombstone(req.Group, t.topic, t.partition))
					dels = append(dels, t)
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	for _, t := range dels {
		m.deleteOffset(req.Group, t)
	}
	if len(recs) == 0 {
		m.reply(id, resp)
		return m.end()
	}
	m.write(gr.part, recs, func(code int16) {
		if code != 0 {
			resp.ErrorCode = code
		}
		m.reply(id, resp)
	})
	return m.end()
}

// ---- expiration ----

const expiryKey = "expire-offsets"

func (m *Machine) scheduleExpiry() {
	if m.cfg.OffsetsRetentionCheck <= 0 {
		return
	}
	m.timers.schedule(expiryKey, m.now.Add(m.cfg.OffsetsRetentionCheck), func() {
		m.expireOffsets()
		m.scheduleExpiry()
	})
}

// ExpireOffsets runs one offsets.retention pass now (tests and admin).
func (m *Machine) ExpireOffsets(now time.Time) Output {
	m.begin(now)
	m.expireOffsets()
	return m.end()
}

// expireOffsets deletes offsets past offsets.retention.minutes, as Kafka
// does: a classic group's offsets expire once it has been empty that long
// (counted from when it became empty), offsets of topics its consumers no
// longer subscribe to expire by their commit time, and so do those of
// simple groups and consumer groups. A group left with no offsets and no
// members is deleted.
func (m *Machine) expireOffsets() {
	nowMs := m.now.UnixMilli()
	retention := m.cfg.OffsetsRetention.Milliseconds()
	recs := map[int32][]Record{}
	for _, gid := range slices.Sorted(keysOf(m.groups)) {
		gr := m.groups[gid]
		if !m.Loaded(gr.part) {
			continue
		}
		base, subscribed, ok := m.expiryCondition(gr)
		allExpired := ok
		if ok {
			for _, t := range sortedTPs(m.offsets[gid]) {
				o := m.offsets[gid][t]
				expired := false
				if !subscribed(t.topic) {
					if o.expireTimestamp >= 0 {
						expired = nowMs >= o.expireTimestamp
					} else {
						expired = nowMs-base(o) >= retention
					}
				}
				if expired && !m.hasPendingTxn(gid, t) {
					recs[gr.part] = append(recs[gr.part], offsetTombstone(gid, t.topic, t.partition))
					m.deleteOffset(gid, t)
				} else {
					allExpired = false
				}
			}
		}
		if allExpired && m.groupEmpty(gr) && !m.openTxns(gid) {
			m.logger.Info("deleting group with no members and no offsets", "group", gid)
			recs[gr.part] = append(recs[gr.part], m.deleteGroup(gr)...)
		}
	}
	for _, p := range slices.Sorted(keysOf(recs)) {
		m.write(p, recs[p], nil)
	}
}

func sortedTPs(offs map[tp]offsetValue) []tp {
	out := slices.Collect(keysOf(offs))
	slices.SortFunc(out, func(a, b tp) int {
		if a.topic != b.topic {
			if a.topic < b.topic {
				return -1
			}
			return 1
		}
		return int(a.partition) - int(b.partition)
	})
	return out
}

// expiryCondition is Kafka's OffsetExpirationCondition for the group: the
// timestamp an offset's age counts from, which topics are exempt, and
// whether offsets expire at all.
func (m *Machine) expiryCondition(gr *group) (func(offsetValue) int64, func(string) bool, bool) {
	byCommit := func(o offsetValue) int64 { return o.commitTimestamp }
	if cg := gr.consumer; cg != nil {
		return byCommit, cg.isSubscribedTo, true
	}
	g := gr.classic
	if g.protocolType == nil {
		return byCommit, func(string) bool { return false }, true
	}
	if g.state == stEmpty {
		if g.stateTime >= 0 {
			st := g.stateTime
			return func(offsetValue) int64 { return st }, func(string) bool { return false }, true
		}
		return byCommit, func(string) bool { return false }, true
	}
	if g.usesConsumerProtocol() && g.subscribedKnown && g.state == stStable {
		return byCommit, g.isSubscribedTo, true
	}
	return nil, nil, false
}

func (m *Machine) groupEmpty(gr *group) bool {
	if gr.classic != nil {
		return gr.classic.state == stEmpty
	}
	return len(gr.consumer.members) == 0
}

// deleteGroup removes a group and its offsets from memory and returns the
// tombstones that delete them from the log.
func (m *Machine) deleteGroup(gr *group) []Record {
	var recs []Record
	for _, t := range sortedTPs(m.offsets[gr.id]) {
		recs = append(recs, offsetTombstone(gr.id, t.topic, t.partition))
	}
	for _, tx := range m.txns {
		for t := range tx.offsets[gr.id] {
			if _, ok := m.offsets[gr.id][t]; !ok {
				recs = append(recs, offsetTombstone(gr.id, t.topic, t.partition))
			}
		}
		delete(tx.offsets, gr.id)
	}
	delete(m.offsets, gr.id)
	if g := gr.classic; g != nil {
		recs = append(recs, Record{Key: groupMetadataKey(gr.id)})
		g.transition(stDead, m.now)
		m.timers.cancel(joinKey(gr.id))
		m.timers.cancel(syncKey(gr.id))
	} else {
		recs = append(recs, m.consumerGroupTombstones(gr.consumer)...)
	}
	delete(m.groups, gr.id)
	return recs
}

// ---- transactional offsets ----

// TxnOffsetCommit stages offsets of a transactional producer: they are
// written as a transactional batch and stay invisible to OffsetFetch until
// CompleteTxn commits them. The reply comes once the batch is durable.
func (m *Machine) TxnOffsetCommit(now time.Time, id uint64, req *kmsg.TxnOffsetCommitRequest) Output {
	m.begin(now)
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewTxnOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	setAll := func(code int16) {
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				resp.Topics[i].Partitions[j].ErrorCode = code
			}
		}
	}
	code := int16(0)
	if req.Group == "" {
		code = kerr.InvalidGroupID.Code
	} else if code = m.coordinatorError(req.Group); code == 0 {
		var topics []kmsg.OffsetCommitRequestTopic
		for _, rt := range req.Topics {
			ot := kmsg.OffsetCommitRequestTopic{Topic: rt.Topic}
			for _, rp := range rt.Partitions {
				ot.Partitions = append(ot.Partitions, kmsg.OffsetCommitRequestTopicPartition{Partition: rp.Partition})
			}
			topics = append(topics, ot)
		}
		code = m.validateOffsetCommit(req.Group, req.MemberID, req.InstanceID, req.Generation, true, req.Version, topics)
	}
	if code != 0 {
		setAll(code)
		m.reply(id, resp)
		return m.end()
	}
	type staged struct {
		t    tp
		o    offsetValue
		i, j int
	}
	var recs []Record
	var stage []staged
	for i, rt := range req.Topics {
		for j, rp := range rt.Partitions {
			md := derefOr(rp.Metadata, "")
			if len(md) > m.cfg.OffsetMetadataMaxBytes {
				resp.Topics[i].Partitions[j].ErrorCode = kerr.OffsetMetadataTooLarge.Code
				continue
			}
			o := offsetValue{offset: rp.Offset, leaderEpoch: rp.LeaderEpoch, metadata: md, commitTimestamp: m.now.UnixMilli(), expireTimestamp: -1, recordOffset: m.nextSeq()}
			recs = append(recs, offsetCommitRecord(req.Group, rt.Topic, rp.Partition, o))
			stage = append(stage, staged{tp{rt.Topic, rp.Partition}, o, i, j})
		}
	}
	if len(recs) == 0 {
		m.reply(id, resp)
		return m.end()
	}
	groupID, pid := req.Group, req.ProducerID
	part := m.partOf(groupID)
	m.writeTxn(part, recs, pid, req.ProducerEpoch, func(code int16) {
		for _, s := range stage {
			resp.Topics[s.i].Partitions[s.j].ErrorCode = code
		}
		if code == 0 {
			m.simpleGroup(groupID)
			for _, s := range stage {
				m.stageTxnOffset(part, pid, groupID, s.t, s.o)
			}
		}
		m.reply(id, resp)
	})
	return m.end()
}

func (m *Machine) stageTxnOffset(part int32, pid int64, group string, t tp, o offsetValue) {
	key := txnKey{part, pid}
	tx := m.txns[key]
	if tx == nil {
		tx = &pendingTxn{offsets: map[string]map[tp]offsetValue{}}
		m.txns[key] = tx
	}
	gm := tx.offsets[group]
	if gm == nil {
		gm = map[tp]offsetValue{}
		tx.offsets[group] = gm
	}
	gm[t] = o
}

// CompleteTxn applies a transaction marker that the transaction
// coordinator wrote to __consumer_offsets partition part for producer pid:
// on commit the producer's staged offsets become the committed ones (unless
// a later plain commit superseded them), on abort they vanish.
func (m *Machine) CompleteTxn(now time.Time, part int32, pid int64, commit bool) Output {
	m.begin(now)
	m.completeTxn(part, pid, commit)
	return m.end()
}

func (m *Machine) completeTxn(part int32, pid int64, commit bool) {
	key := txnKey{part, pid}
	tx := m.txns[key]
	if tx == nil {
		return
	}
	delete(m.txns, key)
	if !commit {
		return
	}
	for gid, offs := range tx.offsets {
		for t, o := range offs {
			if cur, ok := m.offsets[gid][t]; ok && cur.recordOffset > o.recordOffset {
				continue
			}
			m.simpleGroup(gid)
			m.putOffset(gid, t, o)
		}
	}
}

package group

// The consumer group protocol of KIP-848: members heartbeat with
// ConsumerGroupHeartbeat, the coordinator computes a target assignment with
// a server-side assignor whenever the group epoch moves (a member joins,
// leaves or changes its subscription, or a subscribed topic changes), and
// every member is reconciled towards its target one step at a time:
//
//   - a member keeps the partitions it has that its target keeps;
//   - partitions it must give up are revoked first; the member stays at its
//     epoch (UNREVOKED_PARTITIONS) until a heartbeat shows it no longer
//     owns them, or its rebalance timeout fences it;
//   - partitions it must take are given only once no other member owns them
//     (UNRELEASED_PARTITIONS until then), so a partition never has two
//     owners;
//   - once nothing is left to revoke the member moves to the target epoch.

import (
	"hash/fnv"
	"regexp"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/plexus/plexus/internal/cluster"
)

type memberState int8

// Kafka's MemberState values, as stored in CurrentMemberAssignment.
const (
	msStable     memberState = 0
	msUnrevoked  memberState = 1
	msUnreleased memberState = 2
)

const (
	leaveEpoch       = -1
	staticLeaveEpoch = -2
)

type cgMember struct {
	id               string
	instanceID       *string
	rackID           *string
	clientID         string
	clientHost       string
	topics           []string // subscribed topic names, sorted
	regex            *string
	rebalanceTimeout int32 // ms
	assignor         *string

	epoch, prevEpoch int32
	state            memberState
	assigned         assignment
	pending          assignment     // partitions pending revocation
	epochs           map[tidp]int32 // the epoch each owned partition was assigned at (KIP-1251)
}

func (mem *cgMember) epochOf(p tidp) (int32, bool) {
	if !mem.assigned.has(p.id, p.p) && !mem.pending.has(p.id, p.p) {
		return 0, false
	}
	e, ok := mem.epochs[p]
	if !ok {
		return mem.epoch, true
	}
	return e, true
}

func (mem *cgMember) sameMetadata(o *cgMember) bool {
	return eqStrPtr(mem.instanceID, o.instanceID) && eqStrPtr(mem.rackID, o.rackID) &&
		mem.clientID == o.clientID && mem.clientHost == o.clientHost &&
		slices.Equal(mem.topics, o.topics) && eqStrPtr(mem.regex, o.regex) &&
		mem.rebalanceTimeout == o.rebalanceTimeout && eqStrPtr(mem.assignor, o.assignor)
}

func eqStrPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

type regexState struct {
	topics    []string
	version   int64
	timestamp int64
}

type consumerGroup struct {
	id              string
	part            int32
	epoch           int32
	assignmentEpoch int32
	metadataHash    int64
	hashedAt        int64 // the image offset metadataHash was computed at; -1 unknown
	members         map[string]*cgMember
	static          map[string]string // instance id -> member id
	target          map[string]assignment
	owners          map[tidp]string // who owns (assigned or revoking) each partition
	regexes         map[string]*regexState
}

func newConsumerGroup(id string, part int32) *consumerGroup {
	return &consumerGroup{
		id: id, part: part, hashedAt: -1,
		members: map[string]*cgMember{}, static: map[string]string{},
		target: map[string]assignment{}, owners: map[tidp]string{}, regexes: map[string]*regexState{},
	}
}

// stateName is Kafka's ConsumerGroupState.
func (g *consumerGroup) stateName() string {
	if len(g.members) == 0 {
		return "Empty"
	}
	if g.epoch > g.assignmentEpoch {
		return "Assigning"
	}
	for _, mem := range g.members {
		if mem.epoch != g.assignmentEpoch || mem.state != msStable {
			return "Reconciling"
		}
	}
	return "Stable"
}

// subscribedTopics is the member's subscription: its names and what its
// regular expression resolved to.
func (g *consumerGroup) subscribedTopics(mem *cgMember) map[string]bool {
	out := map[string]bool{}
	for _, t := range mem.topics {
		out[t] = true
	}
	if mem.regex != nil {
		if rs := g.regexes[*mem.regex]; rs != nil {
			for _, t := range rs.topics {
				out[t] = true
			}
		}
	}
	return out
}

func (g *consumerGroup) allSubscribed() map[string]bool {
	out := map[string]bool{}
	for _, mem := range g.members {
		for t := range g.subscribedTopics(mem) {
			out[t] = true
		}
	}
	return out
}

func (g *consumerGroup) isSubscribedTo(topic string) bool {
	for _, mem := range g.members {
		if g.subscribedTopics(mem)[topic] {
			return true
		}
	}
	return false
}

// setOwned records mem as the owner of its assigned and revoking partitions,
// dropping what it owned before.
func (g *consumerGroup) setOwned(mem *cgMember, before *cgMember) {
	if before != nil {
		for _, p := range before.assigned.list() {
			if g.owners[p] == before.id {
				delete(g.owners, p)
			}
		}
		for _, p := range before.pending.list() {
			if g.owners[p] == before.id {
				delete(g.owners, p)
			}
		}
	}
	if mem != nil {
		for _, p := range mem.assigned.list() {
			g.owners[p] = mem.id
		}
		for _, p := range mem.pending.list() {
			g.owners[p] = mem.id
		}
	}
}

// metadataHash summarises the subscribed topics as they exist (name, id,
// partition count); a change means the target assignment is stale.
func metadataHash(img *cluster.Image, topics map[string]bool) int64 {
	h := fnv.New64a()
	for _, name := range slices.Sorted(keysOf(topics)) {
		t := img.Topics[name]
		if t == nil {
			continue
		}
		h.Write([]byte(name))
		h.Write([]byte{0})
		h.Write(t.ID[:])
		var n [4]byte
		n[0], n[1], n[2], n[3] = byte(t.Partitions>>24), byte(t.Partitions>>16), byte(t.Partitions>>8), byte(t.Partitions)
		h.Write(n[:])
	}
	return int64(h.Sum64())
}

// compileRegex turns a Java (RE2/J) regular expression into a Go one that
// must match the whole topic name, as Java's Matcher.matches does.
func compileRegex(re string) (*regexp.Regexp, error) {
	return regexp.Compile(`^(?:` + re + `)$`)
}

func resolveRegex(img *cluster.Image, re string) []string {
	rx, err := compileRegex(re)
	if err != nil {
		return nil
	}
	var out []string
	for _, name := range img.TopicNames() {
		if rx.MatchString(name) {
			out = append(out, name)
		}
	}
	return out
}

// ---- records ----

func cgKey(typ int16, group, member string) []byte {
	return encodeKey(RecordKey{Type: typ, Group: group, Member: member})
}

func (m *Machine) cgEpochRecord(g *consumerGroup) Record {
	return Record{Key: cgKey(typeConsumerGroupMetadata, g.id, ""), Value: cgMetadataValue{Epoch: g.epoch, MetadataHash: g.metadataHash}.encode()}
}

func cgMemberRecord(g *consumerGroup, mem *cgMember) Record {
	return Record{Key: cgKey(typeConsumerGroupMember, g.id, mem.id), Value: cgMemberValue{
		InstanceID: mem.instanceID, RackID: mem.rackID, ClientID: mem.clientID, ClientHost: mem.clientHost,
		SubscribedTopics: mem.topics, SubscribedRegex: mem.regex, RebalanceTimeoutMs: mem.rebalanceTimeout, ServerAssignor: mem.assignor,
	}.encode()}
}

func cgCurrentRecord(g *consumerGroup, mem *cgMember) Record {
	return Record{Key: cgKey(typeCurrentAssignment, g.id, mem.id), Value: cgCurrentValue{
		MemberEpoch: mem.epoch, PreviousMemberEpoch: mem.prevEpoch, State: int8(mem.state),
		Assigned: toTopicPartitions(mem.assigned, orEmpty(mem.epochs)), PendingRevocation: toTopicPartitions(mem.pending, orEmpty(mem.epochs)),
	}.encode()}
}

func orEmpty(m map[tidp]int32) map[tidp]int32 {
	if m == nil {
		return map[tidp]int32{}
	}
	return m
}

func cgTargetRecord(g *consumerGroup, memberID string, a assignment) Record {
	return Record{Key: cgKey(typeTargetAssignmentMember, g.id, memberID), Value: cgTargetMemberValue{Partitions: toTopicPartitions(a, nil)}.encode()}
}

func cgTargetMetaRecord(g *consumerGroup) Record {
	return Record{Key: cgKey(typeTargetAssignmentMeta, g.id, ""), Value: cgTargetMetaValue{AssignmentEpoch: g.assignmentEpoch}.encode()}
}

func cgRegexRecord(g *consumerGroup, re string, rs *regexState) Record {
	key := encodeKey(RecordKey{Type: typeRegularExpression, Group: g.id, Regex: re})
	if rs == nil {
		return Record{Key: key}
	}
	return Record{Key: key, Value: cgRegexValue{Topics: rs.topics, Version: rs.version, Timestamp: rs.timestamp}.encode()}
}

func cgMemberTombstones(g *consumerGroup, memberID string) []Record {
	return []Record{
		{Key: cgKey(typeCurrentAssignment, g.id, memberID)},
		{Key: cgKey(typeTargetAssignmentMember, g.id, memberID)},
		{Key: cgKey(typeConsumerGroupMember, g.id, memberID)},
	}
}

// consumerGroupTombstones deletes every record of the group.
func (m *Machine) consumerGroupTombstones(g *consumerGroup) []Record {
	var recs []Record
	for _, id := range slices.Sorted(keysOf(g.members)) {
		recs = append(recs, cgMemberTombstones(g, id)...)
		m.cancelMemberTimers(g.id, id)
	}
	recs = append(recs, Record{Key: cgKey(typeTargetAssignmentMeta, g.id, "")})
	for _, re := range slices.Sorted(keysOf(g.regexes)) {
		recs = append(recs, cgRegexRecord(g, re, nil))
	}
	recs = append(recs, Record{Key: cgKey(typeConsumerGroupMetadata, g.id, "")})
	return recs
}

// deleteConsumerGroupRecords writes the tombstones of an empty consumer
// group that is being replaced by a classic one.
func (m *Machine) deleteConsumerGroupRecords(g *consumerGroup) {
	m.write(g.part, m.consumerGroupTombstones(g), nil)
}

// ---- timers ----

func cgSessionKey(g, mem string) string   { return "cgs\x00" + g + "\x00" + mem }
func cgRebalanceKey(g, mem string) string { return "cgr\x00" + g + "\x00" + mem }

func (m *Machine) cancelMemberTimers(g, mem string) {
	m.timers.cancel(cgSessionKey(g, mem))
	m.timers.cancel(cgRebalanceKey(g, mem))
}

func (m *Machine) scheduleSession(g *consumerGroup, memberID string) {
	gid := g.id
	m.timers.schedule(cgSessionKey(gid, memberID), m.now.Add(m.cfg.ConsumerSessionTimeout), func() {
		cg := m.consumerGroupOf(gid)
		if cg == nil || cg.members[memberID] == nil {
			return
		}
		m.logger.Info("consumer group member's session expired; fencing it", "group", gid, "member", memberID)
		m.write(cg.part, m.fenceMember(cg, cg.members[memberID]), nil)
	})
}

func (m *Machine) scheduleRebalanceTimeout(g *consumerGroup, mem *cgMember) {
	gid, mid, epoch := g.id, mem.id, mem.epoch
	m.timers.schedule(cgRebalanceKey(gid, mid), m.now.Add(time.Duration(mem.rebalanceTimeout)*time.Millisecond), func() {
		cg := m.consumerGroupOf(gid)
		if cg == nil {
			return
		}
		cur := cg.members[mid]
		if cur == nil || cur.state != msUnrevoked || cur.epoch != epoch {
			return
		}
		m.logger.Info("consumer group member did not revoke its partitions in time; fencing it", "group", gid, "member", mid)
		m.write(cg.part, m.fenceMember(cg, cur), nil)
	})
}

func (m *Machine) consumerGroupOf(id string) *consumerGroup {
	if g := m.groups[id]; g != nil {
		return g.consumer
	}
	return nil
}

// ---- membership changes ----

// fenceMember removes a member, bumps the group epoch and computes the new
// target; it returns the records.
func (m *Machine) fenceMember(g *consumerGroup, mem *cgMember) []Record {
	recs := cgMemberTombstones(g, mem.id)
	m.cancelMemberTimers(g.id, mem.id)
	g.setOwned(nil, mem)
	delete(g.members, mem.id)
	delete(g.target, mem.id)
	if mem.instanceID != nil && g.static[*mem.instanceID] == mem.id {
		delete(g.static, *mem.instanceID)
	}
	recs = append(recs, m.dropUnusedRegexes(g)...)
	recs = append(recs, m.bumpAndAssign(g)...)
	return recs
}

// bumpAndAssign moves the group to the next epoch and computes the target
// assignment for it.
func (m *Machine) bumpAndAssign(g *consumerGroup) []Record {
	g.epoch++
	g.metadataHash, g.hashedAt = metadataHash(m.img, g.allSubscribed()), m.img.Offset
	recs := []Record{m.cgEpochRecord(g)}
	return append(recs, m.updateTarget(g)...)
}

// updateTarget computes the target assignment of the group epoch.
func (m *Machine) updateTarget(g *consumerGroup) []Record {
	next := m.computeAssignment(g)
	var recs []Record
	for _, id := range slices.Sorted(keysOf(g.members)) {
		a := next[id]
		if a == nil {
			a = assignment{}
			next[id] = a
		}
		if old, ok := g.target[id]; !ok || !old.equal(a) {
			recs = append(recs, cgTargetRecord(g, id, a))
		}
	}
	g.target = next
	g.assignmentEpoch = g.epoch
	return append(recs, cgTargetMetaRecord(g))
}

// preferredAssignor is the assignor most members ask for, else the
// default.
func (m *Machine) preferredAssignor(g *consumerGroup) string {
	votes := map[string]int{}
	for _, mem := range g.members {
		if mem.assignor != nil {
			votes[*mem.assignor]++
		}
	}
	best, bestN := m.cfg.ConsumerAssignors[0], 0
	for _, name := range m.cfg.ConsumerAssignors {
		if votes[name] > bestN {
			best, bestN = name, votes[name]
		}
	}
	return best
}

func (m *Machine) computeAssignment(g *consumerGroup) map[string]assignment {
	spec := assignSpec{topics: map[[16]byte]int32{}}
	for _, id := range slices.Sorted(keysOf(g.members)) {
		mem := g.members[id]
		am := assignMember{id: id, prev: g.target[id]}
		for name := range g.subscribedTopics(mem) {
			if t := m.img.Topics[name]; t != nil && t.Partitions > 0 {
				am.subs = append(am.subs, t.ID)
				spec.topics[t.ID] = t.Partitions
			}
		}
		slices.SortFunc(am.subs, compareID)
		spec.members = append(spec.members, am)
	}
	if m.preferredAssignor(g) == "range" {
		return rangeAssign(spec)
	}
	return uniformAssign(spec)
}

// dropUnusedRegexes forgets resolved regular expressions no member uses.
func (m *Machine) dropUnusedRegexes(g *consumerGroup) []Record {
	used := map[string]bool{}
	for _, mem := range g.members {
		if mem.regex != nil {
			used[*mem.regex] = true
		}
	}
	var recs []Record
	for _, re := range slices.Sorted(keysOf(g.regexes)) {
		if !used[re] {
			delete(g.regexes, re)
			recs = append(recs, cgRegexRecord(g, re, nil))
		}
	}
	return recs
}

// ---- reconciliation ----

// ownsAny reports whether the member, by what it says it owns, still holds
// any of ps. Not knowing (owned == nil) counts as holding.
func ownsAny(owned assignment, ps assignment) bool {
	if owned == nil {
		return true
	}
	for id, s := range owned {
		for p := range s {
			if ps.has(id, p) {
				return true
			}
		}
	}
	return false
}

// reconcile moves mem one step towards its target; it returns the updated
// member, or mem itself when nothing changed.
func (m *Machine) reconcile(g *consumerGroup, mem *cgMember, owned assignment) *cgMember {
	if mem.state == msStable && mem.epoch == g.assignmentEpoch {
		return mem
	}
	switch mem.state {
	case msUnrevoked:
		if ownsAny(owned, mem.pending) {
			return mem
		}
		return m.nextAssignment(g, mem, mem.epoch+1, owned)
	default:
		return m.nextAssignment(g, mem, mem.epoch, owned)
	}
}

func (m *Machine) nextAssignment(g *consumerGroup, mem *cgMember, epoch int32, owned assignment) *cgMember {
	target := g.target[mem.id]
	if target == nil {
		target = assignment{}
	}
	keep, revoke, give := assignment{}, assignment{}, assignment{}
	unreleased := false
	for _, p := range mem.assigned.list() {
		if target.has(p.id, p.p) {
			keep.add(p.id, p.p)
		} else {
			revoke.add(p.id, p.p)
		}
	}
	for _, p := range target.list() {
		if keep.has(p.id, p.p) {
			continue
		}
		if owner, ok := g.owners[p]; ok && owner != mem.id {
			unreleased = true
			continue
		}
		give.add(p.id, p.p)
	}
	next := *mem
	next.prevEpoch = mem.epoch
	next.epochs = map[tidp]int32{}
	for _, p := range mem.assigned.list() {
		if e, ok := mem.epochOf(p); ok {
			next.epochs[p] = e
		}
	}
	switch {
	case revoke.size() > 0 && ownsAny(owned, revoke):
		next.state, next.epoch = msUnrevoked, epoch
		next.assigned, next.pending = keep, revoke
	default:
		next.epoch = g.assignmentEpoch
		for _, p := range give.list() {
			keep.add(p.id, p.p)
			next.epochs[p] = g.assignmentEpoch
		}
		for p := range next.epochs {
			if !keep.has(p.id, p.p) {
				delete(next.epochs, p)
			}
		}
		next.assigned, next.pending = keep, assignment{}
		next.state = msStable
		if unreleased {
			next.state = msUnreleased
		}
	}
	return &next
}

// ---- ConsumerGroupHeartbeat ----

// ConsumerGroupHeartbeat handles a KIP-848 heartbeat: join (epoch 0),
// heartbeat, or leave (epoch -1, or -2 for a static member that will come
// back).
func (m *Machine) ConsumerGroupHeartbeat(now time.Time, id uint64, c Client, req *kmsg.ConsumerGroupHeartbeatRequest) Output {
	m.begin(now)
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	resp.HeartbeatIntervalMillis = int32(m.cfg.ConsumerHeartbeatInterval / time.Millisecond)
	fail := func(code int16, msg string) Output {
		resp.ErrorCode = code
		if msg != "" {
			resp.ErrorMessage = &msg
		}
		resp.HeartbeatIntervalMillis = 0
		m.reply(id, resp)
		return m.end()
	}
	if code, msg := m.validateHeartbeat(req); code != 0 {
		return fail(code, msg)
	}
	if code := m.coordinatorError(req.Group); code != 0 {
		return fail(code, "")
	}
	var recs []Record
	var code int16
	var msg string
	if req.MemberEpoch < 0 {
		recs, code, msg = m.cgLeave(req, resp)
	} else {
		recs, code, msg = m.cgHeartbeat(c, req, resp)
	}
	if code != 0 {
		if len(recs) > 0 {
			m.write(m.partOf(req.Group), recs, nil)
		}
		return fail(code, msg)
	}
	if len(recs) == 0 {
		m.reply(id, resp)
		return m.end()
	}
	m.write(m.partOf(req.Group), recs, func(code int16) {
		if code != 0 {
			resp.ErrorCode, resp.Assignment = code, nil
		}
		m.reply(id, resp)
	})
	return m.end()
}

func (m *Machine) validateHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest) (int16, string) {
	bad := func(msg string) (int16, string) { return kerr.InvalidRequest.Code, msg }
	switch {
	case isBlank(req.Group):
		return bad("GroupId can't be empty.")
	case req.InstanceID != nil && isBlank(*req.InstanceID):
		return bad("InstanceId can't be empty.")
	case req.RackID != nil && isBlank(*req.RackID):
		return bad("RackId can't be empty.")
	}
	switch e := req.MemberEpoch; {
	case e > 0 || e == leaveEpoch:
		if isBlank(req.MemberID) {
			return bad("MemberId can't be empty.")
		}
	case e == 0:
		if req.Version >= 1 && isBlank(req.MemberID) {
			return bad("MemberId can't be empty.")
		}
		if req.RebalanceTimeoutMillis == -1 {
			return bad("RebalanceTimeoutMs must be provided in first request.")
		}
		if req.Topics == nil || len(req.Topics) != 0 {
			return bad("TopicPartitions must be empty when (re-)joining.")
		}
		if req.Version == 0 && len(req.SubscribedTopicNames) == 0 {
			return bad("SubscribedTopicNames must be set in first request.")
		}
		if req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil {
			return bad("Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining.")
		}
	case e == staticLeaveEpoch:
		if isBlank(req.MemberID) {
			return bad("MemberId can't be empty.")
		}
		if req.InstanceID == nil {
			return bad("InstanceId can't be null.")
		}
	default:
		return bad("MemberEpoch is invalid.")
	}
	if req.ServerAssignor != nil && !slices.Contains(m.cfg.ConsumerAssignors, *req.ServerAssignor) {
		return kerr.UnsupportedAssignor.Code, "ServerAssignor " + *req.ServerAssignor + " is not supported."
	}
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != "" {
		if _, err := compileRegex(*req.SubscribedTopicRegex); err != nil {
			return kerr.InvalidRegularExpression.Code, "SubscribedTopicRegex " + *req.SubscribedTopicRegex + " is not a valid regular expression: " + err.Error()
		}
	}
	return 0, ""
}

func isBlank(s string) bool {
	for _, c := range s {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

func (m *Machine) cgLeave(req *kmsg.ConsumerGroupHeartbeatRequest, resp *kmsg.ConsumerGroupHeartbeatResponse) ([]Record, int16, string) {
	g := m.consumerGroupOf(req.Group)
	if g == nil {
		return nil, kerr.GroupIDNotFound.Code, "Group " + req.Group + " not found."
	}
	resp.MemberID, resp.MemberEpoch = &req.MemberID, req.MemberEpoch
	var mem *cgMember
	if req.InstanceID == nil {
		if mem = g.members[req.MemberID]; mem == nil {
			return nil, kerr.UnknownMemberID.Code, "Member " + req.MemberID + " is not a member of group " + req.Group + "."
		}
	} else {
		mid, ok := g.static[*req.InstanceID]
		if !ok {
			return nil, kerr.UnknownMemberID.Code, "Instance id " + *req.InstanceID + " is unknown."
		}
		if mid != req.MemberID {
			return nil, kerr.FencedInstanceID.Code, "Static member " + req.MemberID + " with instance id " + *req.InstanceID + " was fenced by member " + mid + "."
		}
		mem = g.members[mid]
		if req.MemberEpoch == staticLeaveEpoch {
			// The static member will come back: it keeps its
			// assignment until its session times out.
			left := *mem
			left.prevEpoch, left.epoch = mem.epoch, staticLeaveEpoch
			left.pending = assignment{}
			g.setOwned(&left, mem)
			g.members[mem.id] = &left
			m.timers.cancel(cgRebalanceKey(g.id, mem.id))
			return []Record{cgCurrentRecord(g, &left)}, 0, ""
		}
	}
	return m.fenceMember(g, mem), 0, ""
}

func (m *Machine) cgHeartbeat(c Client, req *kmsg.ConsumerGroupHeartbeatRequest, resp *kmsg.ConsumerGroupHeartbeatResponse) ([]Record, int16, string) {
	var recs []Record
	gr := m.groups[req.Group]
	if gr != nil && gr.classic != nil {
		if req.MemberEpoch != 0 || gr.classic.state != stEmpty {
			// Kafka 4 can upgrade a live classic group in place
			// (online migration); Plexus does not.
			return nil, kerr.GroupIDNotFound.Code, "Group " + req.Group + " is not a consumer group."
		}
		// An empty classic group (or one that only holds offsets) gives
		// way to the consumer group; its offsets stay.
		recs = append(recs, Record{Key: groupMetadataKey(req.Group)})
		m.timers.cancel(joinKey(req.Group))
		m.timers.cancel(syncKey(req.Group))
		delete(m.groups, req.Group)
		gr = nil
	}
	created := false
	if gr == nil {
		if req.MemberEpoch != 0 {
			return recs, kerr.GroupIDNotFound.Code, "Consumer group " + req.Group + " not found."
		}
		gr = &group{id: req.Group, part: m.partOf(req.Group), consumer: newConsumerGroup(req.Group, m.partOf(req.Group))}
		m.groups[req.Group] = gr
		created = true
	}
	g := gr.consumer
	memberID := req.MemberID
	if len(g.members) >= m.cfg.ConsumerMaxSize && (memberID == "" || g.members[memberID] == nil) {
		return recs, kerr.GroupMaxSizeReached.Code, "The consumer group has reached its maximum capacity."
	}
	if memberID == "" {
		memberID = m.NewUUID() // v0: the coordinator names the member
	}
	var owned assignment
	if req.Topics != nil {
		owned = assignment{}
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				owned.add(t.TopicID, p)
			}
		}
	}

	// Find the member, creating, re-admitting or replacing it.
	var mem *cgMember
	fail := func(code int16, msg string) ([]Record, int16, string) {
		if created && len(g.members) == 0 {
			delete(m.groups, req.Group)
		}
		return recs, code, msg
	}
	if req.InstanceID != nil {
		inst := *req.InstanceID
		oldID, exists := g.static[inst]
		if req.MemberEpoch == 0 {
			switch {
			case !exists:
				mem = &cgMember{id: memberID, assigned: assignment{}, pending: assignment{}}
			case oldID == memberID:
				// The same member rejoining in place (a lost response,
				// or after leaving with -2).
				cur := *g.members[oldID]
				if cur.epoch == staticLeaveEpoch {
					cur.epoch, cur.prevEpoch = 0, 0
				}
				mem = &cur
			case g.members[oldID].epoch != staticLeaveEpoch:
				return fail(kerr.UnreleasedInstanceID.Code, "Static member "+memberID+" with instance id "+inst+" cannot join the group because the instance id is owned by "+oldID+" member.")
			default:
				recs = append(recs, m.replaceStaticConsumer(g, g.members[oldID], memberID)...)
				mem = g.members[memberID]
			}
		} else {
			if !exists {
				return fail(kerr.UnknownMemberID.Code, "Instance id "+inst+" is unknown.")
			}
			if oldID != memberID {
				return fail(kerr.FencedInstanceID.Code, "Static member "+memberID+" with instance id "+inst+" was fenced by member "+oldID+".")
			}
			mem = g.members[oldID]
			if code, msg := validateEpoch(mem, req.MemberEpoch, owned); code != 0 {
				return fail(code, msg)
			}
		}
	} else {
		mem = g.members[memberID]
		switch {
		case mem == nil && req.MemberEpoch != 0:
			return fail(kerr.UnknownMemberID.Code, "Member "+memberID+" is not a member of group "+req.Group+".")
		case mem == nil:
			mem = &cgMember{id: memberID, assigned: assignment{}, pending: assignment{}}
		case req.MemberEpoch != 0:
			if code, msg := validateEpoch(mem, req.MemberEpoch, owned); code != 0 {
				return fail(code, msg)
			}
		}
		// Epoch 0 from a known member is a rejoin in place (KAFKA-19233):
		// it keeps its state and gets its assignment again.
	}
	before := g.members[mem.id]

	// 1. Update the member's metadata and subscription.
	upd := *mem
	if req.InstanceID != nil {
		upd.instanceID = req.InstanceID
	}
	if req.RackID != nil {
		upd.rackID = req.RackID
	}
	if req.RebalanceTimeoutMillis != -1 {
		upd.rebalanceTimeout = req.RebalanceTimeoutMillis
	}
	if req.ServerAssignor != nil {
		upd.assignor = req.ServerAssignor
	}
	if req.SubscribedTopicNames != nil {
		upd.topics = slices.Sorted(slices.Values(slices.Compact(slices.Sorted(slices.Values(req.SubscribedTopicNames)))))
		if upd.topics == nil {
			upd.topics = []string{}
		}
	}
	if req.SubscribedTopicRegex != nil {
		if *req.SubscribedTopicRegex == "" {
			upd.regex = nil
		} else {
			upd.regex = req.SubscribedTopicRegex
		}
	}
	upd.clientID, upd.clientHost = c.ID, c.Host
	subChanged := before == nil || !slices.Equal(upd.topics, mem.topics) || !eqStrPtr(upd.regex, mem.regex)
	if before == nil || !upd.sameMetadata(before) {
		recs = append(recs, cgMemberRecord(g, &upd))
	}
	if upd.instanceID != nil {
		g.static[*upd.instanceID] = upd.id
	}
	g.members[upd.id] = &upd
	if upd.regex != nil && g.regexes[*upd.regex] == nil {
		rs := &regexState{topics: resolveRegex(m.img, *upd.regex), version: m.img.Offset, timestamp: m.now.UnixMilli()}
		g.regexes[*upd.regex] = rs
		recs = append(recs, cgRegexRecord(g, *upd.regex, rs))
	}
	if subChanged {
		recs = append(recs, m.dropUnusedRegexes(g)...)
	}

	// 2. A new epoch and target when the subscriptions or the topics they
	// name changed.
	// (The hash is recomputed only when the image moved on without the
	// group being looked at, e.g. while its partition was loading.)
	if g.epoch == 0 || subChanged || (g.hashedAt != m.img.Offset && metadataHash(m.img, g.allSubscribed()) != g.metadataHash) {
		recs = append(recs, m.bumpAndAssign(g)...)
	}
	g.hashedAt = m.img.Offset

	// 3. Reconcile the member towards its target.
	cur := g.members[upd.id]
	next := m.reconcile(g, cur, owned)
	if next != cur || before == nil || before.epoch != next.epoch {
		g.setOwned(next, before)
		g.members[next.id] = next
		recs = append(recs, cgCurrentRecord(g, next))
		if next.state == msUnrevoked {
			if before == nil || before.state != msUnrevoked || before.epoch != next.epoch {
				m.scheduleRebalanceTimeout(g, next)
			}
		} else {
			m.timers.cancel(cgRebalanceKey(g.id, next.id))
		}
	}
	m.scheduleSession(g, next.id)

	resp.MemberID, resp.MemberEpoch = &next.id, next.epoch
	full := req.RebalanceTimeoutMillis != -1 && (req.SubscribedTopicNames != nil || req.SubscribedTopicRegex != nil) && req.Topics != nil
	if req.MemberEpoch == 0 || full || before == nil || !before.assigned.equal(next.assigned) {
		a := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
		for _, tp := range toTopicPartitions(next.assigned, nil) {
			at := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
			at.TopicID, at.Partitions = tp.TopicID, tp.Partitions
			a.Topics = append(a.Topics, at)
		}
		resp.Assignment = &a
	}
	return recs, 0, ""
}

// validateEpoch is Kafka's fencing of a heartbeat's member epoch: a larger
// epoch is fenced, and so is a smaller one unless it is the previous epoch
// and the member owns only partitions it still has (the response that
// bumped its epoch was lost).
func validateEpoch(mem *cgMember, epoch int32, owned assignment) (int16, string) {
	if epoch > mem.epoch {
		return kerr.FencedMemberEpoch.Code, "The consumer group member has a greater member epoch than the one known by the group coordinator. The member must abandon all its partitions and rejoin."
	}
	if epoch < mem.epoch {
		if epoch != mem.prevEpoch || owned == nil || !subsetOf(owned, mem.assigned) {
			return kerr.FencedMemberEpoch.Code, "The consumer group member has a smaller member epoch than the one known by the group coordinator. The member must abandon all its partitions and rejoin."
		}
	}
	return 0, ""
}

func subsetOf(a, b assignment) bool {
	for id, s := range a {
		for p := range s {
			if !b.has(id, p) {
				return false
			}
		}
	}
	return true
}

// replaceStaticConsumer hands a static member's place (assignment, target)
// to a new member id, as when a static consumer restarts.
func (m *Machine) replaceStaticConsumer(g *consumerGroup, old *cgMember, newID string) []Record {
	recs := cgMemberTombstones(g, old.id)
	m.cancelMemberTimers(g.id, old.id)
	nm := *old
	nm.id, nm.epoch, nm.prevEpoch = newID, 0, 0
	g.setOwned(nil, old)
	delete(g.members, old.id)
	g.members[newID] = &nm
	g.setOwned(&nm, nil)
	if t, ok := g.target[old.id]; ok {
		g.target[newID] = t
		delete(g.target, old.id)
		recs = append(recs, cgTargetRecord(g, newID, t))
	}
	g.static[*nm.instanceID] = newID
	recs = append(recs, cgMemberRecord(g, &nm), cgCurrentRecord(g, &nm))
	return recs
}

// ---- metadata changes ----

// MetadataChanged reacts to a new cluster image: consumer groups whose
// subscribed topics changed (created, deleted, more partitions, a regex
// matching differently) move to a new epoch and target, and offsets of
// deleted topics are deleted.
func (m *Machine) MetadataChanged(now time.Time, img *cluster.Image) Output {
	m.begin(now)
	old := m.img
	m.img = img
	recs := map[int32][]Record{}
	for _, gid := range slices.Sorted(keysOf(m.groups)) {
		gr := m.groups[gid]
		if !m.Loaded(gr.part) {
			continue
		}
		// Offsets of topics that were deleted go with them.
		for _, t := range sortedTPs(m.offsets[gid]) {
			ot, nt := old.Topics[t.topic], img.Topics[t.topic]
			if ot != nil && (nt == nil || nt.ID != ot.ID) {
				recs[gr.part] = append(recs[gr.part], offsetTombstone(gid, t.topic, t.partition))
				m.deleteOffset(gid, t)
			}
		}
		g := gr.consumer
		if g == nil || len(g.members) == 0 {
			continue
		}
		changed := false
		for _, re := range slices.Sorted(keysOf(g.regexes)) {
			rs := g.regexes[re]
			topics := resolveRegex(img, re)
			if !slices.Equal(topics, rs.topics) {
				ns := &regexState{topics: topics, version: img.Offset, timestamp: m.now.UnixMilli()}
				g.regexes[re] = ns
				recs[g.part] = append(recs[g.part], cgRegexRecord(g, re, ns))
				changed = true
			}
		}
		if changed || metadataHash(img, g.allSubscribed()) != g.metadataHash {
			recs[g.part] = append(recs[g.part], m.bumpAndAssign(g)...)
		}
		g.hashedAt = img.Offset
	}
	for _, p := range slices.Sorted(keysOf(recs)) {
		m.write(p, recs[p], nil)
	}
	return m.end()
}

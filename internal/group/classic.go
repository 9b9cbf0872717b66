package group

// The classic group protocol: JoinGroup, SyncGroup, Heartbeat and
// LeaveGroup, with client-side assignment. The rebalance is Kafka's:
//
//	             join                  all joined, or rebalance timeout
//	  Empty ------------> PreparingRebalance ---------------------> CompletingRebalance
//	    ^                   ^    |                                        |
//	    |                   |    | nobody left: next generation, empty    | leader's SyncGroup,
//	    +-------------------)----+                                        | durable
//	                        |                                             v
//	                        +--- join, leave, expiry, sync timeout --- Stable
//
// Members that do not rejoin within the rebalance timeout are removed
// (static members are kept until their session ends), members that do not
// heartbeat within their session timeout are removed, and members that do
// not send SyncGroup within the rebalance timeout after the join phase are
// removed.

import (
	"bytes"
	"encoding/binary"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type classicState int8

const (
	stEmpty classicState = iota
	stPreparing
	stCompleting
	stStable
	stDead
)

var classicStateNames = [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}

func (s classicState) String() string { return classicStateNames[s] }

type protocol struct {
	name     string
	metadata []byte
}

type classicMember struct {
	id               string
	instanceID       *string
	clientID         string
	clientHost       string
	rebalanceTimeout time.Duration
	sessionTimeout   time.Duration
	protocolType     string
	protocols        []protocol
	assignment       []byte
	join             *waiter // a JoinGroup awaiting the end of the join phase
	sync             *waiter // a SyncGroup awaiting the leader's assignment
	isNew            bool
}

func (mem *classicMember) metadata(name string) []byte {
	for _, p := range mem.protocols {
		if p.name == name {
			return p.metadata
		}
	}
	return nil
}

// matches reports whether protos are exactly the member's protocols.
func (mem *classicMember) matches(protos []protocol) bool {
	if len(protos) != len(mem.protocols) {
		return false
	}
	for i := range protos {
		if protos[i].name != mem.protocols[i].name || !bytes.Equal(protos[i].metadata, mem.protocols[i].metadata) {
			return false
		}
	}
	return true
}

// vote is the member's most preferred protocol among candidates.
func (mem *classicMember) vote(candidates map[string]bool) string {
	for _, p := range mem.protocols {
		if candidates[p.name] {
			return p.name
		}
	}
	return ""
}

type classicGroup struct {
	id           string
	part         int32
	state, prev  classicState
	stateTime    int64 // ms since the epoch of the last transition; -1 unknown
	protocolType *string
	protocol     *string
	generation   int32
	leader       string
	members      map[string]*classicMember
	order        []string // member ids in join order: the next leader is the oldest
	pendingJoin  map[string]bool
	pendingSync  map[string]bool
	static       map[string]string // instance id -> member id
	supported    map[string]int    // protocol -> members supporting it
	awaitingJoin int
	newAdded     bool // a member joined during the initial rebalance delay

	// subscribed is the union of the members' subscriptions when the
	// group uses the consumer protocol and they could be parsed.
	subscribed      map[string]bool
	subscribedKnown bool
}

func newClassicGroup(id string, part int32) *classicGroup {
	return &classicGroup{
		id: id, part: part, stateTime: -1,
		members: map[string]*classicMember{}, pendingJoin: map[string]bool{}, pendingSync: map[string]bool{},
		static: map[string]string{}, supported: map[string]int{},
	}
}

func (g *classicGroup) transition(st classicState, now time.Time) {
	g.prev, g.state = g.state, st
	g.stateTime = now.UnixMilli()
}

func (g *classicGroup) canRebalance() bool {
	return g.state == stStable || g.state == stCompleting || g.state == stEmpty
}

func (g *classicGroup) add(mem *classicMember) {
	if len(g.members) == 0 {
		pt := mem.protocolType
		g.protocolType = &pt
	}
	g.members[mem.id] = mem
	g.order = append(g.order, mem.id)
	for _, p := range mem.protocols {
		g.supported[p.name]++
	}
	if mem.join != nil {
		g.awaitingJoin++
	}
	if mem.instanceID != nil {
		g.static[*mem.instanceID] = mem.id
	}
	if g.leader == "" {
		g.leader = mem.id
	}
}

func (g *classicGroup) remove(id string) {
	if mem := g.members[id]; mem != nil {
		delete(g.members, id)
		if i := slices.Index(g.order, id); i >= 0 {
			g.order = slices.Delete(g.order, i, i+1)
		}
		for _, p := range mem.protocols {
			if g.supported[p.name]--; g.supported[p.name] <= 0 {
				delete(g.supported, p.name)
			}
		}
		if mem.join != nil {
			g.awaitingJoin--
		}
		if mem.instanceID != nil && g.static[*mem.instanceID] == id {
			delete(g.static, *mem.instanceID)
		}
	}
	if g.leader == id {
		g.leader = ""
		if len(g.order) > 0 {
			g.leader = g.order[0]
		}
	}
	delete(g.pendingJoin, id)
	delete(g.pendingSync, id)
}

func (g *classicGroup) hasAllMembersJoined() bool {
	return len(g.members) == g.awaitingJoin && len(g.pendingJoin) == 0
}

// rebalanceTimeout is the largest of the members' rebalance timeouts.
func (g *classicGroup) rebalanceTimeout() time.Duration {
	var d time.Duration
	for _, mem := range g.members {
		d = max(d, mem.rebalanceTimeout)
	}
	return d
}

func (g *classicGroup) candidates() map[string]bool {
	c := map[string]bool{}
	for name, n := range g.supported {
		if n == len(g.members) {
			c[name] = true
		}
	}
	return c
}

// selectProtocol lets every member vote for its preferred protocol among
// those all support; the most votes win, ties going to the protocol the
// oldest member prefers.
func (g *classicGroup) selectProtocol() string {
	cands := g.candidates()
	votes := map[string]int{}
	for _, id := range g.order {
		votes[g.members[id].vote(cands)]++
	}
	best, bestN := "", -1
	for _, id := range g.order {
		for _, p := range g.members[id].protocols {
			if n, ok := votes[p.name]; ok && cands[p.name] && n > bestN {
				best, bestN = p.name, n
			}
		}
	}
	return best
}

func (g *classicGroup) supportsProtocols(ptype string, protos []protocol) bool {
	if g.state == stEmpty || len(g.members) == 0 {
		return ptype != "" && len(protos) > 0
	}
	if g.protocolType == nil || *g.protocolType != ptype {
		return false
	}
	for _, p := range protos {
		if g.supported[p.name] == len(g.members) {
			return true
		}
	}
	return false
}

// validateMember applies Kafka's member checks: a static member must be
// the current owner of its instance id, and the member must exist.
func (g *classicGroup) validateMember(memberID string, instanceID *string) int16 {
	if instanceID != nil {
		owner, ok := g.static[*instanceID]
		if !ok {
			return kerr.UnknownMemberID.Code
		}
		if owner != memberID {
			return kerr.FencedInstanceID.Code
		}
	}
	if g.members[memberID] == nil {
		return kerr.UnknownMemberID.Code
	}
	return 0
}

func (g *classicGroup) updateMember(mem *classicMember, protos []protocol, rebalance, session time.Duration, w *waiter) {
	for _, p := range mem.protocols {
		if g.supported[p.name]--; g.supported[p.name] <= 0 {
			delete(g.supported, p.name)
		}
	}
	for _, p := range protos {
		g.supported[p.name]++
	}
	mem.protocols, mem.rebalanceTimeout, mem.sessionTimeout = protos, rebalance, session
	if w != nil && mem.join == nil {
		g.awaitingJoin++
	} else if w == nil && mem.join != nil {
		g.awaitingJoin--
	}
	mem.join = w
}

// computeSubscribed parses the members' consumer-protocol subscriptions
// (the version-0 prefix every version shares) for offset expiration and
// OffsetDelete.
func (g *classicGroup) computeSubscribed() {
	g.subscribed, g.subscribedKnown = nil, false
	if g.protocolType == nil || *g.protocolType != "consumer" {
		return
	}
	if len(g.members) == 0 {
		g.subscribed, g.subscribedKnown = map[string]bool{}, true
		return
	}
	if g.protocol == nil {
		return
	}
	subs := map[string]bool{}
	for _, mem := range g.members {
		topics, ok := parseSubscriptionTopics(mem.metadata(*g.protocol))
		if !ok {
			return
		}
		for _, t := range topics {
			subs[t] = true
		}
	}
	g.subscribed, g.subscribedKnown = subs, true
}

// usesConsumerProtocol reports whether the group's protocol type is
// "consumer".
func (g *classicGroup) usesConsumerProtocol() bool {
	return g.protocolType != nil && *g.protocolType == "consumer"
}

// isSubscribedTo reports whether the group consumes topic.
func (g *classicGroup) isSubscribedTo(topic string) bool {
	if g.subscribedKnown {
		return g.subscribed[topic]
	}
	return g.usesConsumerProtocol()
}

// parseSubscriptionTopics reads the topics of a ConsumerProtocolSubscription:
// int16 version, then an int32-counted array of int16-length strings.
func parseSubscriptionTopics(b []byte) ([]string, bool) {
	if len(b) < 6 {
		return nil, false
	}
	n := int32(binary.BigEndian.Uint32(b[2:]))
	b = b[6:]
	if n < 0 || int(n) > len(b)/2 {
		return nil, false
	}
	topics := make([]string, 0, n)
	for i := int32(0); i < n; i++ {
		if len(b) < 2 {
			return nil, false
		}
		l := int(int16(binary.BigEndian.Uint16(b)))
		if l < 0 || len(b) < 2+l {
			return nil, false
		}
		topics = append(topics, string(b[2:2+l]))
		b = b[2+l:]
	}
	return topics, true
}

// ---- responses ----

func newJoinResp(w *waiter) *kmsg.JoinGroupResponse {
	r := kmsg.NewPtrJoinGroupResponse()
	if w != nil {
		r.Version = w.version
	}
	r.Generation = -1
	return r
}

func (m *Machine) joinError(w *waiter, memberID string, code int16) *kmsg.JoinGroupResponse {
	r := newJoinResp(w)
	r.MemberID, r.ErrorCode = memberID, code
	return r
}

func (g *classicGroup) leaderMembers() []kmsg.JoinGroupResponseMember {
	out := make([]kmsg.JoinGroupResponseMember, 0, len(g.members))
	for _, id := range g.order {
		mem := g.members[id]
		jm := kmsg.NewJoinGroupResponseMember()
		jm.MemberID, jm.InstanceID = mem.id, mem.instanceID
		if g.protocol != nil {
			jm.ProtocolMetadata = mem.metadata(*g.protocol)
		}
		out = append(out, jm)
	}
	return out
}

// generationResp is a successful JoinGroup response for the current
// generation; withMembers gives the member list (for the leader).
func (g *classicGroup) generationResp(w *waiter, memberID string, withMembers bool, leader string) *kmsg.JoinGroupResponse {
	r := newJoinResp(w)
	r.MemberID, r.Generation, r.LeaderID = memberID, g.generation, leader
	r.Protocol, r.ProtocolType = g.protocol, g.protocolType
	if withMembers {
		r.Members = g.leaderMembers()
	}
	return r
}

func (m *Machine) completeJoin(g *classicGroup, mem *classicMember, resp *kmsg.JoinGroupResponse) {
	if mem.join == nil {
		return
	}
	resp.Version = mem.join.version
	m.reply(mem.join.id, resp)
	mem.join = nil
	g.awaitingJoin--
}

func newSyncResp(w *waiter) *kmsg.SyncGroupResponse {
	r := kmsg.NewPtrSyncGroupResponse()
	if w != nil {
		r.Version = w.version
	}
	return r
}

func (m *Machine) syncError(w *waiter, code int16) *kmsg.SyncGroupResponse {
	r := newSyncResp(w)
	r.ErrorCode = code
	return r
}

func (m *Machine) completeSync(mem *classicMember, resp *kmsg.SyncGroupResponse) bool {
	if mem.sync == nil {
		return false
	}
	resp.Version = mem.sync.version
	m.reply(mem.sync.id, resp)
	mem.sync = nil
	return true
}

// ---- timers ----

func hbKey(g, mem string) string { return "hb\x00" + g + "\x00" + mem }
func joinKey(g string) string    { return "join\x00" + g }
func syncKey(g string) string    { return "sync\x00" + g }

func (m *Machine) classicGroupOf(id string) *classicGroup {
	if g := m.groups[id]; g != nil {
		return g.classic
	}
	return nil
}

func (m *Machine) rescheduleHeartbeat(g *classicGroup, mem *classicMember, d time.Duration) {
	gid, mid := g.id, mem.id
	m.timers.schedule(hbKey(gid, mid), m.now.Add(d), func() { m.expireHeartbeat(gid, mid) })
}

func (m *Machine) expireHeartbeat(gid, mid string) {
	g := m.classicGroupOf(gid)
	if g == nil || g.state == stDead {
		return
	}
	if g.pendingJoin[mid] {
		m.logger.Info("pending member expired", "group", gid, "member", mid)
		g.remove(mid)
		if g.state == stPreparing && g.hasAllMembersJoined() {
			m.completeJoinPhase(g)
		}
		return
	}
	mem := g.members[mid]
	if mem == nil {
		return
	}
	// A member waiting in JoinGroup or SyncGroup is alive, unless it is
	// new: new members get the long join timeout and then go.
	if !mem.isNew && (mem.join != nil || mem.sync != nil) {
		return
	}
	m.logger.Info("member's session expired; removing it", "group", gid, "member", mid)
	m.removeMemberAndUpdate(g, mem)
}

func (m *Machine) removeMemberAndUpdate(g *classicGroup, mem *classicMember) {
	m.completeJoin(g, mem, m.joinError(mem.join, "", kerr.UnknownMemberID.Code))
	m.completeSync(mem, m.syncError(mem.sync, kerr.UnknownMemberID.Code))
	m.timers.cancel(hbKey(g.id, mem.id))
	g.remove(mem.id)
	switch {
	case g.state == stStable || g.state == stCompleting:
		m.maybePrepareRebalanceOrCompleteJoin(g)
	case g.state == stPreparing && g.hasAllMembersJoined():
		m.completeJoinPhase(g)
	}
}

// ---- JoinGroup ----

// JoinGroup handles a JoinGroup request; its reply may come in a later
// Output, when the join phase completes.
func (m *Machine) JoinGroup(now time.Time, id uint64, c Client, req *kmsg.JoinGroupRequest) Output {
	m.begin(now)
	w := &waiter{id: id, version: req.Version}
	fail := func(memberID string, code int16) Output {
		m.reply(id, m.joinError(w, memberID, code))
		return m.end()
	}
	if req.Group == "" {
		return fail(req.MemberID, kerr.InvalidGroupID.Code)
	}
	if code := m.coordinatorError(req.Group); code != 0 {
		return fail(req.MemberID, code)
	}
	session := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	if session < m.cfg.MinSessionTimeout || session > m.cfg.MaxSessionTimeout {
		return fail(req.MemberID, kerr.InvalidSessionTimeout.Code)
	}
	rebalance := time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	if req.Version == 0 {
		rebalance = session // v0 has one timeout for both
	}
	protos := make([]protocol, 0, len(req.Protocols))
	for _, p := range req.Protocols {
		protos = append(protos, protocol{name: p.Name, metadata: cloneBytes(p.Metadata)})
	}
	gr := m.groups[req.Group]
	if gr != nil && gr.consumer != nil {
		if len(gr.consumer.members) > 0 {
			// Kafka 4 can run classic members inside a consumer group
			// (online migration); Plexus does not.
			return fail(req.MemberID, kerr.InconsistentGroupProtocol.Code)
		}
		m.deleteConsumerGroupRecords(gr.consumer)
		delete(m.groups, req.Group)
		gr = nil
	}
	isNew := false
	if gr == nil {
		if req.MemberID != "" {
			return fail(req.MemberID, kerr.UnknownMemberID.Code)
		}
		gr = &group{id: req.Group, part: m.partOf(req.Group), classic: newClassicGroup(req.Group, m.partOf(req.Group))}
		m.groups[req.Group] = gr
		isNew = true
	}
	g := gr.classic
	jr := joinReq{w: w, c: c, req: req, protos: protos, session: session, rebalance: rebalance}
	switch {
	case !m.acceptJoiningMember(g, req.MemberID):
		if mem := g.members[req.MemberID]; mem != nil {
			m.completeJoin(g, mem, m.joinError(mem.join, "", kerr.GroupMaxSizeReached.Code))
			m.timers.cancel(hbKey(g.id, mem.id))
		}
		g.remove(req.MemberID)
		m.reply(id, m.joinError(w, "", kerr.GroupMaxSizeReached.Code))
	case req.MemberID == "":
		m.joinNewMember(g, jr)
	default:
		m.joinExistingMember(g, jr)
	}
	if isNew && len(g.members) == 0 && len(g.pendingJoin) == 0 && m.offsets[g.id] == nil {
		delete(m.groups, g.id)
	}
	return m.end()
}

type joinReq struct {
	w                  *waiter
	c                  Client
	req                *kmsg.JoinGroupRequest
	protos             []protocol
	session, rebalance time.Duration
}

func (m *Machine) acceptJoiningMember(g *classicGroup, memberID string) bool {
	switch g.state {
	case stEmpty, stDead:
		return true
	case stPreparing:
		mem := g.members[memberID]
		return (mem != nil && mem.join != nil) || g.awaitingJoin < m.cfg.MaxSize
	default:
		return g.members[memberID] != nil || len(g.members) < m.cfg.MaxSize
	}
}

func (m *Machine) joinNewMember(g *classicGroup, jr joinReq) {
	req := jr.req
	if g.state == stDead {
		m.reply(jr.w.id, m.joinError(jr.w, "", kerr.CoordinatorNotAvailable.Code))
		return
	}
	if !g.supportsProtocols(req.ProtocolType, jr.protos) {
		m.reply(jr.w.id, m.joinError(jr.w, "", kerr.InconsistentGroupProtocol.Code))
		return
	}
	prefix := jr.c.ID
	if req.InstanceID != nil {
		prefix = *req.InstanceID
	}
	newID := prefix + "-" + m.NewUUID()
	if req.InstanceID != nil {
		if old, ok := g.static[*req.InstanceID]; ok {
			m.updateStaticMember(g, jr, old, newID)
			return
		}
		m.addMemberAndRebalance(g, jr, newID)
		return
	}
	if req.Version >= 4 {
		// KIP-394: the member must come back with the id it is given,
		// so that a client that times out does not leave a ghost.
		g.pendingJoin[newID] = true
		gid := g.id
		m.timers.schedule(hbKey(gid, newID), m.now.Add(jr.session), func() { m.expireHeartbeat(gid, newID) })
		m.reply(jr.w.id, m.joinError(jr.w, newID, kerr.MemberIDRequired.Code))
		return
	}
	m.addMemberAndRebalance(g, jr, newID)
}

func (m *Machine) joinExistingMember(g *classicGroup, jr joinReq) {
	req, memberID := jr.req, jr.req.MemberID
	switch {
	case g.state == stDead:
		m.reply(jr.w.id, m.joinError(jr.w, memberID, kerr.CoordinatorNotAvailable.Code))
		return
	case !g.supportsProtocols(req.ProtocolType, jr.protos):
		m.reply(jr.w.id, m.joinError(jr.w, memberID, kerr.InconsistentGroupProtocol.Code))
		return
	case g.pendingJoin[memberID]:
		if req.InstanceID != nil {
			m.reply(jr.w.id, m.joinError(jr.w, memberID, kerr.InvalidRequest.Code))
			return
		}
		m.addMemberAndRebalance(g, jr, memberID)
		return
	}
	if code := g.validateMember(memberID, req.InstanceID); code != 0 {
		m.reply(jr.w.id, m.joinError(jr.w, memberID, code))
		return
	}
	mem := g.members[memberID]
	switch g.state {
	case stPreparing:
		m.updateMemberAndRebalance(g, mem, jr)
	case stCompleting:
		if mem.matches(jr.protos) {
			// The member lost the first response: give it the current
			// generation again.
			m.reply(jr.w.id, g.generationResp(jr.w, memberID, g.leader == memberID, g.leader))
			return
		}
		m.updateMemberAndRebalance(g, mem, jr)
	case stStable:
		if g.leader == memberID || !mem.matches(jr.protos) {
			// A leader's JoinGroup forces a rebalance: it is how a
			// client reacts to metadata changes the members do not
			// see in their own subscriptions.
			m.updateMemberAndRebalance(g, mem, jr)
			return
		}
		m.reply(jr.w.id, g.generationResp(jr.w, memberID, false, g.leader))
	default:
		m.reply(jr.w.id, m.joinError(jr.w, memberID, kerr.UnknownMemberID.Code))
	}
}

func (m *Machine) updateMemberAndRebalance(g *classicGroup, mem *classicMember, jr joinReq) {
	if mem.join != nil && mem.join.id != jr.w.id {
		// A second JoinGroup replaces the first, which gets a
		// rebalance error so the client is not left hanging.
		m.completeJoin(g, mem, m.joinError(mem.join, mem.id, kerr.RebalanceInProgress.Code))
	}
	g.updateMember(mem, jr.protos, jr.rebalance, jr.session, jr.w)
	m.maybePrepareRebalanceOrCompleteJoin(g)
}

func (m *Machine) addMemberAndRebalance(g *classicGroup, jr joinReq, memberID string) {
	mem := &classicMember{
		id: memberID, instanceID: jr.req.InstanceID, clientID: jr.c.ID, clientHost: jr.c.Host,
		rebalanceTimeout: jr.rebalance, sessionTimeout: jr.session,
		protocolType: jr.req.ProtocolType, protocols: jr.protos, join: jr.w, isNew: true,
	}
	if g.state == stPreparing && g.prev == stEmpty {
		g.newAdded = true
	}
	delete(g.pendingJoin, memberID)
	g.add(mem)
	// A new member's JoinGroup may wait a whole rebalance and it cannot
	// heartbeat meanwhile; if its client went away it would stay forever,
	// so new members time out after the long join timeout instead.
	m.rescheduleHeartbeat(g, mem, m.cfg.NewMemberJoinTimeout)
	m.maybePrepareRebalanceOrCompleteJoin(g)
}

func (m *Machine) updateStaticMember(g *classicGroup, jr joinReq, oldID, newID string) {
	currentLeader := g.leader
	newMem := m.replaceStaticMember(g, *jr.req.InstanceID, oldID, newID)
	m.rescheduleHeartbeat(g, newMem, newMem.sessionTimeout)
	oldProtos, oldRebalance, oldSession := newMem.protocols, newMem.rebalanceTimeout, newMem.sessionTimeout
	g.updateMember(newMem, jr.protos, jr.rebalance, jr.session, jr.w)
	switch g.state {
	case stStable:
		if derefOr(g.protocol, "") != g.selectProtocol() {
			m.maybePrepareRebalanceOrCompleteJoin(g)
			return
		}
		// The group keeps its assignment; only the member id of the
		// instance changes, which is persisted before the member hears.
		gen, instance := g.generation, *jr.req.InstanceID
		w := jr.w
		m.write(g.part, []Record{m.groupMetadataRecord(g, nil)}, func(code int16) {
			cur := m.classicGroupOf(g.id)
			if cur != g {
				return
			}
			if code != 0 {
				if newMem.join == w {
					g.updateMember(newMem, oldProtos, oldRebalance, oldSession, nil)
				}
				if g.members[newID] != nil {
					old := m.replaceStaticMember(g, instance, newID, oldID)
					m.rescheduleHeartbeat(g, old, old.sessionTimeout)
				}
				r := newJoinResp(w)
				r.ErrorCode, r.Generation, r.LeaderID = code, gen, currentLeader
				r.Protocol, r.ProtocolType = g.protocol, g.protocolType
				m.reply(w.id, r)
				return
			}
			if newMem.join != w {
				return
			}
			if w.version >= 9 {
				isLeader := g.leader == newID
				r := g.generationResp(w, newID, isLeader, g.leader)
				r.SkipAssignment = isLeader
				m.completeJoin(g, newMem, r)
				return
			}
			m.completeJoin(g, newMem, g.generationResp(w, newID, false, currentLeader))
		})
	case stCompleting:
		m.prepareRebalance(g)
	case stPreparing:
		m.maybeCompleteJoinPhase(g)
	default:
		m.maybePrepareRebalanceOrCompleteJoin(g)
	}
}

// replaceStaticMember gives the instance's membership a new member id; the
// old id's waiting requests are fenced.
func (m *Machine) replaceStaticMember(g *classicGroup, instance, oldID, newID string) *classicMember {
	old := g.members[oldID]
	if old.join != nil {
		r := newJoinResp(old.join)
		r.MemberID, r.ErrorCode = oldID, kerr.FencedInstanceID.Code
		m.completeJoin(g, old, r)
	}
	if old.sync != nil {
		m.completeSync(old, m.syncError(old.sync, kerr.FencedInstanceID.Code))
	}
	m.timers.cancel(hbKey(g.id, oldID))
	wasLeader := g.leader == oldID
	idx := slices.Index(g.order, oldID)
	g.remove(oldID)
	nm := &classicMember{
		id: newID, instanceID: old.instanceID, clientID: old.clientID, clientHost: old.clientHost,
		rebalanceTimeout: old.rebalanceTimeout, sessionTimeout: old.sessionTimeout,
		protocolType: old.protocolType, protocols: old.protocols, assignment: old.assignment,
	}
	g.add(nm)
	if idx >= 0 && idx < len(g.order)-1 {
		// Keep the instance's place in the join order.
		g.order = slices.Insert(g.order[:len(g.order)-1], idx, newID)
	}
	if wasLeader {
		g.leader = newID
	}
	g.static[instance] = newID
	return nm
}

func (m *Machine) maybePrepareRebalanceOrCompleteJoin(g *classicGroup) {
	if g.canRebalance() {
		m.prepareRebalance(g)
		return
	}
	m.maybeCompleteJoinPhase(g)
}

func (m *Machine) maybeCompleteJoinPhase(g *classicGroup) {
	if g.state == stPreparing && g.prev != stEmpty && g.hasAllMembersJoined() {
		m.completeJoinPhase(g)
	}
}

func (m *Machine) prepareRebalance(g *classicGroup) {
	if g.state == stCompleting {
		m.resetAndPropagateAssignment(g, kerr.RebalanceInProgress.Code)
	}
	m.removeSyncExpiration(g)
	initial := g.state == stEmpty
	g.transition(stPreparing, m.now)
	gid := g.id
	if initial {
		// A new group waits for more members before its first
		// generation: the delay restarts while members keep coming,
		// up to the rebalance timeout.
		delay := m.cfg.InitialRebalanceDelay
		remaining := max(g.rebalanceTimeout()-delay, 0)
		m.timers.schedule(joinKey(gid), m.now.Add(delay), func() { m.tryCompleteInitialRebalance(gid, delay, remaining) })
		return
	}
	if g.hasAllMembersJoined() {
		m.completeJoinPhase(g)
		return
	}
	m.timers.schedule(joinKey(gid), m.now.Add(g.rebalanceTimeout()), func() {
		if cg := m.classicGroupOf(gid); cg != nil {
			m.completeJoinPhase(cg)
		}
	})
}

func (m *Machine) tryCompleteInitialRebalance(gid string, delay, remaining time.Duration) {
	g := m.classicGroupOf(gid)
	if g == nil {
		return
	}
	if g.newAdded && remaining != 0 {
		g.newAdded = false
		next := min(m.cfg.InitialRebalanceDelay, remaining)
		left := max(remaining-delay, 0)
		m.timers.schedule(joinKey(gid), m.now.Add(next), func() { m.tryCompleteInitialRebalance(gid, next, left) })
		return
	}
	m.completeJoinPhase(g)
}

// completeJoinPhase ends the join phase: members that did not rejoin go,
// the next generation starts and every waiting member hears of it.
func (m *Machine) completeJoinPhase(g *classicGroup) {
	m.timers.cancel(joinKey(g.id))
	for _, id := range slices.Clone(g.order) {
		mem := g.members[id]
		if mem.join == nil && mem.instanceID == nil {
			g.remove(id)
			m.timers.cancel(hbKey(g.id, id))
		}
	}
	if g.state == stDead {
		return
	}
	if !m.electJoinedLeader(g) && len(g.members) > 0 {
		// Only static members that did not rejoin remain: wait another
		// rebalance timeout for them (or for their sessions to end).
		gid := g.id
		m.timers.schedule(joinKey(gid), m.now.Add(g.rebalanceTimeout()), func() {
			if cg := m.classicGroupOf(gid); cg != nil {
				m.completeJoinPhase(cg)
			}
		})
		return
	}
	g.generation++
	g.pendingSync = map[string]bool{}
	if len(g.members) == 0 {
		g.protocol = nil
		g.computeSubscribed()
		g.transition(stEmpty, m.now)
		m.write(g.part, []Record{m.groupMetadataRecord(g, nil)}, func(code int16) {
			if code != 0 {
				m.logger.Warn("could not persist an empty group", "group", g.id, "code", code)
			}
		})
		return
	}
	p := g.selectProtocol()
	g.protocol = &p
	g.computeSubscribed()
	g.transition(stCompleting, m.now)
	for _, id := range g.order {
		mem := g.members[id]
		m.completeJoin(g, mem, g.generationResp(&waiter{}, id, g.leader == id, g.leader))
		m.rescheduleHeartbeat(g, mem, mem.sessionTimeout)
		mem.isNew = false
		g.pendingSync[id] = true
	}
	gid, gen := g.id, g.generation
	m.timers.schedule(syncKey(gid), m.now.Add(g.rebalanceTimeout()), func() { m.expirePendingSync(gid, gen) })
}

// electJoinedLeader keeps the leader if it rejoined, else picks the oldest
// member that did; false when no member has rejoined.
func (m *Machine) electJoinedLeader(g *classicGroup) bool {
	if g.leader == "" {
		return false
	}
	if g.members[g.leader].join != nil {
		return true
	}
	for _, id := range g.order {
		if g.members[id].join != nil {
			g.leader = id
			return true
		}
	}
	return false
}

func (m *Machine) expirePendingSync(gid string, gen int32) {
	g := m.classicGroupOf(gid)
	if g == nil || g.generation != gen || (g.state != stCompleting && g.state != stStable) || len(g.pendingSync) == 0 {
		return
	}
	for id := range g.pendingSync {
		m.logger.Info("member did not send SyncGroup in time; removing it", "group", gid, "member", id)
		if mem := g.members[id]; mem != nil {
			m.completeSync(mem, m.syncError(mem.sync, kerr.UnknownMemberID.Code))
		}
		g.remove(id)
		m.timers.cancel(hbKey(gid, id))
	}
	m.prepareRebalance(g)
}

func (m *Machine) removeSyncExpiration(g *classicGroup) {
	g.pendingSync = map[string]bool{}
	m.timers.cancel(syncKey(g.id))
}

func (m *Machine) removePendingSync(g *classicGroup, id string) {
	delete(g.pendingSync, id)
	switch g.state {
	case stCompleting, stStable:
		if len(g.pendingSync) == 0 {
			m.timers.cancel(syncKey(g.id))
		}
	default:
		m.timers.cancel(syncKey(g.id))
	}
}

func (m *Machine) resetAndPropagateAssignment(g *classicGroup, code int16) {
	for _, mem := range g.members {
		mem.assignment = nil
	}
	m.propagateAssignment(g, code)
}

func (m *Machine) propagateAssignment(g *classicGroup, code int16) {
	for _, id := range g.order {
		mem := g.members[id]
		if mem.sync == nil {
			continue
		}
		r := newSyncResp(mem.sync)
		r.ErrorCode = code
		if code == 0 {
			r.Protocol, r.ProtocolType = g.protocol, g.protocolType
		}
		r.MemberAssignment = mem.assignment
		if r.MemberAssignment == nil {
			r.MemberAssignment = []byte{}
		}
		if m.completeSync(mem, r) {
			// The session restarts now: an expiry that fired while the
			// member waited was ignored.
			m.rescheduleHeartbeat(g, mem, mem.sessionTimeout)
		}
	}
}

// groupMetadataRecord is the GroupMetadata record of the group, with the
// given assignment (nil: the members' current ones).
func (m *Machine) groupMetadataRecord(g *classicGroup, assign map[string][]byte) Record {
	v := kmsg.NewGroupMetadataValue()
	v.Version = 3
	v.ProtocolType = derefOr(g.protocolType, "")
	v.Generation = g.generation
	v.Protocol = g.protocol
	if g.leader != "" {
		v.Leader = strp(g.leader)
	}
	v.CurrentStateTimestamp = g.stateTime
	for _, id := range g.order {
		mem := g.members[id]
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID, vm.InstanceID, vm.ClientID, vm.ClientHost = mem.id, mem.instanceID, mem.clientID, mem.clientHost
		vm.RebalanceTimeoutMillis = int32(mem.rebalanceTimeout / time.Millisecond)
		vm.SessionTimeoutMillis = int32(mem.sessionTimeout / time.Millisecond)
		vm.Subscription = []byte{}
		if g.protocol != nil {
			if md := mem.metadata(*g.protocol); md != nil {
				vm.Subscription = md
			}
		}
		vm.Assignment = mem.assignment
		if assign != nil {
			vm.Assignment = assign[id]
		}
		if vm.Assignment == nil {
			vm.Assignment = []byte{}
		}
		v.Members = append(v.Members, vm)
	}
	return Record{Key: groupMetadataKey(g.id), Value: v.AppendTo(nil)}
}

// ---- SyncGroup ----

// SyncGroup handles a SyncGroup request.
func (m *Machine) SyncGroup(now time.Time, id uint64, req *kmsg.SyncGroupRequest) Output {
	m.begin(now)
	w := &waiter{id: id, version: req.Version}
	fail := func(code int16) Output {
		m.reply(id, m.syncError(w, code))
		return m.end()
	}
	if req.Group == "" {
		return fail(kerr.InvalidGroupID.Code)
	}
	if code := m.coordinatorError(req.Group); code != 0 {
		return fail(code)
	}
	g := m.classicGroupOf(req.Group)
	if g == nil || g.state == stEmpty {
		return fail(kerr.UnknownMemberID.Code)
	}
	if g.state == stDead {
		return fail(kerr.CoordinatorNotAvailable.Code)
	}
	if code := g.validateMember(req.MemberID, req.InstanceID); code != 0 {
		return fail(code)
	}
	if req.Generation != g.generation {
		return fail(kerr.IllegalGeneration.Code)
	}
	if (req.ProtocolType != nil && derefOr(g.protocolType, "") != *req.ProtocolType) ||
		(req.Protocol != nil && derefOr(g.protocol, "") != *req.Protocol) {
		return fail(kerr.InconsistentGroupProtocol.Code)
	}
	mem := g.members[req.MemberID]
	switch g.state {
	case stPreparing:
		return fail(kerr.RebalanceInProgress.Code)
	case stStable:
		m.removePendingSync(g, req.MemberID)
		r := newSyncResp(w)
		r.Protocol, r.ProtocolType = g.protocol, g.protocolType
		r.MemberAssignment = mem.assignment
		if r.MemberAssignment == nil {
			r.MemberAssignment = []byte{}
		}
		m.reply(id, r)
		return m.end()
	}
	// CompletingRebalance.
	if mem.sync != nil {
		m.completeSync(mem, m.syncError(mem.sync, kerr.RebalanceInProgress.Code))
	}
	mem.sync = w
	m.removePendingSync(g, req.MemberID)
	if g.leader != req.MemberID {
		return m.end()
	}
	assign := map[string][]byte{}
	for _, a := range req.GroupAssignment {
		assign[a.MemberID] = cloneBytes(a.MemberAssignment)
	}
	for mid := range g.members {
		if _, ok := assign[mid]; !ok {
			assign[mid] = []byte{}
		}
	}
	gen := g.generation
	m.write(g.part, []Record{m.groupMetadataRecord(g, assign)}, func(code int16) {
		if m.classicGroupOf(g.id) != g || g.state != stCompleting || g.generation != gen {
			return
		}
		if code != 0 {
			m.resetAndPropagateAssignment(g, code)
			m.maybePrepareRebalanceOrCompleteJoin(g)
			return
		}
		for mid, mem := range g.members {
			mem.assignment = assign[mid]
		}
		m.propagateAssignment(g, 0)
		g.transition(stStable, m.now)
	})
	return m.end()
}

// ---- Heartbeat ----

// Heartbeat handles a classic Heartbeat request.
func (m *Machine) Heartbeat(now time.Time, id uint64, req *kmsg.HeartbeatRequest) Output {
	m.begin(now)
	r := req.ResponseKind().(*kmsg.HeartbeatResponse)
	r.ErrorCode = m.heartbeat(req)
	m.reply(id, r)
	return m.end()
}

func (m *Machine) heartbeat(req *kmsg.HeartbeatRequest) int16 {
	if req.Group == "" {
		return kerr.InvalidGroupID.Code
	}
	if code := m.coordinatorError(req.Group); code != 0 {
		return code
	}
	g := m.classicGroupOf(req.Group)
	if g == nil {
		return kerr.UnknownMemberID.Code
	}
	if g.state == stDead {
		return kerr.CoordinatorNotAvailable.Code
	}
	if code := g.validateMember(req.MemberID, req.InstanceID); code != 0 {
		return code
	}
	if req.Generation != g.generation {
		return kerr.IllegalGeneration.Code
	}
	mem := g.members[req.MemberID]
	switch g.state {
	case stEmpty:
		return kerr.UnknownMemberID.Code
	case stPreparing:
		m.rescheduleHeartbeat(g, mem, mem.sessionTimeout)
		return kerr.RebalanceInProgress.Code
	}
	m.rescheduleHeartbeat(g, mem, mem.sessionTimeout)
	return 0
}

// ---- LeaveGroup ----

// LeaveGroup handles a LeaveGroup request (one member before v3, a batch
// from v3, KIP-345).
func (m *Machine) LeaveGroup(now time.Time, id uint64, req *kmsg.LeaveGroupRequest) Output {
	m.begin(now)
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	members := req.Members
	if req.Version < 3 {
		members = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	code := int16(0)
	switch {
	case req.Group == "":
		code = kerr.InvalidGroupID.Code
	default:
		code = m.coordinatorError(req.Group)
	}
	gr := m.groups[req.Group]
	if code == 0 && gr == nil {
		code = kerr.UnknownMemberID.Code
	}
	if code == 0 && gr.classic != nil && gr.classic.state == stDead {
		code = kerr.CoordinatorNotAvailable.Code
	}
	if code != 0 {
		resp.ErrorCode = code
		m.reply(id, resp)
		return m.end()
	}
	for _, lm := range members {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = lm.MemberID, lm.InstanceID
		if gr.classic != nil {
			rm.ErrorCode = m.leaveClassic(gr.classic, lm)
		} else {
			// Members of a consumer group use the consumer protocol:
			// they leave with ConsumerGroupHeartbeat.
			rm.ErrorCode = kerr.UnknownMemberID.Code
		}
		resp.Members = append(resp.Members, rm)
	}
	if gr.classic != nil {
		left := false
		for _, rm := range resp.Members {
			left = left || rm.ErrorCode == 0
		}
		if g := gr.classic; left {
			switch g.state {
			case stStable, stCompleting:
				m.maybePrepareRebalanceOrCompleteJoin(g)
			case stPreparing:
				m.maybeCompleteJoinPhase(g)
			}
		}
	}
	if req.Version < 3 {
		resp.ErrorCode = resp.Members[0].ErrorCode
		resp.Members = nil
	}
	m.reply(id, resp)
	return m.end()
}

func (m *Machine) leaveClassic(g *classicGroup, lm kmsg.LeaveGroupRequestMember) int16 {
	if lm.MemberID == "" {
		// Removal by instance id (admin clients).
		if lm.InstanceID == nil {
			return kerr.UnknownMemberID.Code
		}
		mid, ok := g.static[*lm.InstanceID]
		if !ok {
			return kerr.UnknownMemberID.Code
		}
		m.removeCurrentMember(g, mid)
		return 0
	}
	if g.pendingJoin[lm.MemberID] {
		g.remove(lm.MemberID)
		m.timers.cancel(hbKey(g.id, lm.MemberID))
		return 0
	}
	if code := g.validateMember(lm.MemberID, lm.InstanceID); code != 0 {
		return code
	}
	m.removeCurrentMember(g, lm.MemberID)
	return 0
}

func (m *Machine) removeCurrentMember(g *classicGroup, mid string) {
	mem := g.members[mid]
	m.timers.cancel(hbKey(g.id, mid))
	m.completeJoin(g, mem, m.joinError(mem.join, "", kerr.UnknownMemberID.Code))
	m.completeSync(mem, m.syncError(mem.sync, kerr.UnknownMemberID.Code))
	g.remove(mid)
}

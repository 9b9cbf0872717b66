package group

// ListGroups, DescribeGroups, DeleteGroups and ConsumerGroupDescribe.

import (
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// authorizedOpsUnset is Kafka's "not requested" authorized operations.
const authorizedOpsUnset = -2147483648

// groupOps is the bitfield of the operations on a group (READ, DELETE,
// DESCRIBE) that every client may do while the broker has no authorizer.
const groupOps = 1<<3 | 1<<6 | 1<<8

func (gr *group) typeName() string {
	if gr.consumer != nil {
		return "consumer"
	}
	return "classic"
}

func (gr *group) stateName() string {
	if gr.consumer != nil {
		return gr.consumer.stateName()
	}
	return gr.classic.state.String()
}

func (gr *group) protocolType() string {
	if gr.consumer != nil {
		return "consumer"
	}
	return derefOr(gr.classic.protocolType, "")
}

// ListGroups lists the groups of every loaded partition, filtered by state
// (v4+, case-insensitive) and type (v5+).
func (m *Machine) ListGroups(now time.Time, id uint64, req *kmsg.ListGroupsRequest) Output {
	m.begin(now)
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	for _, st := range m.parts {
		if st != partLoaded {
			resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		}
	}
	states := map[string]bool{}
	for _, s := range req.StatesFilter {
		states[strings.ToLower(strings.TrimSpace(s))] = true
	}
	types := map[string]bool{}
	for _, t := range req.TypesFilter {
		types[strings.ToLower(strings.TrimSpace(t))] = true
	}
	for _, gid := range slices.Sorted(keysOf(m.groups)) {
		gr := m.groups[gid]
		if !m.Loaded(gr.part) {
			continue
		}
		if len(states) > 0 && !states[strings.ToLower(gr.stateName())] {
			continue
		}
		if len(types) > 0 && !types[gr.typeName()] {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = gid, gr.protocolType(), gr.stateName(), gr.typeName()
		resp.Groups = append(resp.Groups, lg)
	}
	m.reply(id, resp)
	return m.end()
}

// DescribeGroups describes classic groups. Consumer groups and unknown ids
// are described as Dead; v6 adds GROUP_ID_NOT_FOUND and a message.
func (m *Machine) DescribeGroups(now time.Time, id uint64, req *kmsg.DescribeGroupsRequest) Output {
	m.begin(now)
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, gid := range req.Groups {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group = gid
		dg.AuthorizedOperations = authorizedOpsUnset
		if req.IncludeAuthorizedOperations {
			dg.AuthorizedOperations = groupOps
		}
		if code := m.coordinatorError(gid); code != 0 {
			dg.ErrorCode = code
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		gr := m.groups[gid]
		if gr == nil || gr.classic == nil || gr.classic.state == stDead {
			dg.State = "Dead"
			if req.Version >= 6 {
				dg.ErrorCode = kerr.GroupIDNotFound.Code
				msg := "Group " + gid + " not found."
				if gr != nil && gr.consumer != nil {
					msg = "Group " + gid + " is not a classic group."
				}
				dg.ErrorMessage = &msg
			}
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		g := gr.classic
		dg.State, dg.ProtocolType = g.state.String(), derefOr(g.protocolType, "")
		stable := g.state == stStable && g.protocol != nil
		if stable {
			dg.Protocol = *g.protocol
		}
		for _, mid := range g.order {
			mem := g.members[mid]
			dm := kmsg.NewDescribeGroupsResponseGroupMember()
			dm.MemberID, dm.InstanceID, dm.ClientID, dm.ClientHost = mem.id, mem.instanceID, mem.clientID, mem.clientHost
			dm.ProtocolMetadata, dm.MemberAssignment = []byte{}, []byte{}
			if stable {
				if md := mem.metadata(*g.protocol); md != nil {
					dm.ProtocolMetadata = md
				}
				if mem.assignment != nil {
					dm.MemberAssignment = mem.assignment
				}
			}
			dg.Members = append(dg.Members, dm)
		}
		resp.Groups = append(resp.Groups, dg)
	}
	m.reply(id, resp)
	return m.end()
}

// DeleteGroups deletes groups that have no members, with their offsets;
// each group's answer comes once its tombstones are durable.
func (m *Machine) DeleteGroups(now time.Time, id uint64, req *kmsg.DeleteGroupsRequest) Output {
	m.begin(now)
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	resp.Groups = make([]kmsg.DeleteGroupsResponseGroup, len(req.Groups))
	waiting := 0
	done := func() {
		waiting--
		if waiting == 0 {
			m.reply(id, resp)
		}
	}
	waiting++ // held until every group is looked at
	for i, gid := range req.Groups {
		dg := &resp.Groups[i]
		*dg = kmsg.NewDeleteGroupsResponseGroup()
		dg.Group = gid
		set := func(code int16, msg string) {
			dg.ErrorCode = code
			if req.Version >= 3 && msg != "" {
				dg.ErrorMessage = &msg
			}
		}
		if gid == "" {
			set(kerr.InvalidGroupID.Code, "The group id is empty.")
			continue
		}
		if code := m.coordinatorError(gid); code != 0 {
			set(code, "")
			continue
		}
		gr := m.groups[gid]
		if gr == nil || (gr.classic != nil && gr.classic.state == stDead) {
			set(kerr.GroupIDNotFound.Code, "Group "+gid+" not found.")
			continue
		}
		if !m.groupEmpty(gr) {
			set(kerr.NonEmptyGroup.Code, "The group is not empty.")
			continue
		}
		recs := m.deleteGroup(gr)
		waiting++
		m.write(gr.part, recs, func(code int16) {
			set(code, "")
			done()
		})
	}
	done()
	return m.end()
}

// ConsumerGroupDescribe describes consumer (KIP-848) groups.
func (m *Machine) ConsumerGroupDescribe(now time.Time, id uint64, req *kmsg.ConsumerGroupDescribeRequest) Output {
	m.begin(now)
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	for _, gid := range req.Groups {
		dg := kmsg.NewConsumerGroupDescribeResponseGroup()
		dg.Group = gid
		dg.AuthorizedOperations = authorizedOpsUnset
		if req.IncludeAuthorizedOperations {
			dg.AuthorizedOperations = groupOps
		}
		fail := func(code int16, msg string) {
			dg.ErrorCode = code
			if msg != "" {
				dg.ErrorMessage = &msg
			}
			resp.Groups = append(resp.Groups, dg)
		}
		if gid == "" {
			fail(kerr.InvalidGroupID.Code, "The group id is empty.")
			continue
		}
		if code := m.coordinatorError(gid); code != 0 {
			fail(code, "")
			continue
		}
		gr := m.groups[gid]
		if gr == nil {
			fail(kerr.GroupIDNotFound.Code, "Group "+gid+" not found.")
			continue
		}
		if gr.consumer == nil {
			fail(kerr.GroupIDNotFound.Code, "Group "+gid+" is not a consumer group.")
			continue
		}
		g := gr.consumer
		dg.State, dg.Epoch, dg.AssignmentEpoch, dg.AssignorName = g.stateName(), g.epoch, g.assignmentEpoch, m.preferredAssignor(g)
		for _, mid := range slices.Sorted(keysOf(g.members)) {
			mem := g.members[mid]
			dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
			dm.MemberID, dm.InstanceID, dm.RackID, dm.MemberEpoch = mem.id, mem.instanceID, mem.rackID, mem.epoch
			dm.ClientID, dm.ClientHost = mem.clientID, mem.clientHost
			dm.SubscribedTopics = append([]string{}, mem.topics...)
			dm.SubscribedTopicRegex = mem.regex
			dm.Assignment = m.describeAssignment(mem.assigned)
			dm.TargetAssignment = m.describeAssignment(g.target[mid])
			dm.MemberType = 1 // consumer protocol
			dg.Members = append(dg.Members, dm)
		}
		resp.Groups = append(resp.Groups, dg)
	}
	m.reply(id, resp)
	return m.end()
}

func (m *Machine) describeAssignment(a assignment) kmsg.Assignment {
	out := kmsg.NewAssignment()
	for _, tp := range toTopicPartitions(a, nil) {
		at := kmsg.NewAssignmentTopicPartition()
		at.TopicID, at.Partitions = tp.TopicID, tp.Partitions
		if t := m.img.ByID[tp.TopicID]; t != nil {
			at.Topic = t.Name
		}
		out.TopicPartitions = append(out.TopicPartitions, at)
	}
	return out
}

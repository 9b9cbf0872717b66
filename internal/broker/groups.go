package broker

// The group coordinator's wiring and its APIs:
//
//	FindCoordinator        v0-v6  (batched keys v4+; key type 0 groups; type 1
//	                              transactions answers COORDINATOR_NOT_AVAILABLE
//	                              until a lookup registers in coordinatorLookups)
//	OffsetCommit           v2-v10 (v10: topic ids)
//	OffsetFetch            v1-v10 (v8: several groups; v9: member epoch; v10: topic ids)
//	JoinGroup              v2-v9  (v4: MEMBER_ID_REQUIRED, v5: static members)
//	Heartbeat              v0-v4
//	LeaveGroup             v0-v5  (v3: batched members)
//	SyncGroup              v0-v5  (v5: protocol type and name checked)
//	DescribeGroups         v0-v6  (v6: GROUP_ID_NOT_FOUND for unknown groups)
//	ListGroups             v0-v5  (v4: state filter, v5: type filter)
//	DeleteGroups           v1-v3  (v3: error messages)
//	OffsetDelete           v0
//	ConsumerGroupHeartbeat v0-v1  (KIP-848; v1: client member ids, regex)
//	ConsumerGroupDescribe  v0-v1
//
// The minimums follow Kafka 4 (KIP-896), except FindCoordinator v0 which is
// kept. Everything happens in internal/group; a handler hands its request
// to the coordinator on the connection's reader goroutine (so requests of
// one connection reach it in order) and waits for the answer in Wait.

import (
	"errors"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/plexus/plexus/internal/cluster"
	"github.com/plexus/plexus/internal/group"
	"github.com/plexus/plexus/internal/server"
)

// GroupCoordinator is the broker's group coordinator, nil before it
// starts and after Close (for metrics: its CommittedOffsets give consumer
// lag).
func (b *Broker) GroupCoordinator() *group.Coordinator { return b.groups.Load() }

func (b *Broker) groupConfig() group.Config {
	ms := func(key string) time.Duration { return time.Duration(b.cfg.Long(key)) * time.Millisecond }
	cfg := group.Config{
		OffsetsRetention:          time.Duration(b.cfg.Long("offsets.retention.minutes")) * time.Minute,
		OffsetsRetentionCheck:     ms("offsets.retention.check.interval.ms"),
		OffsetMetadataMaxBytes:    b.cfg.Int("offset.metadata.max.bytes"),
		InitialRebalanceDelay:     ms("group.initial.rebalance.delay.ms"),
		MinSessionTimeout:         ms("group.min.session.timeout.ms"),
		MaxSessionTimeout:         ms("group.max.session.timeout.ms"),
		MaxSize:                   b.cfg.Int("group.max.size"),
		NewMemberJoinTimeout:      5 * time.Minute,
		ConsumerHeartbeatInterval: ms("group.consumer.heartbeat.interval.ms"),
		ConsumerSessionTimeout:    ms("group.consumer.session.timeout.ms"),
		ConsumerMaxSize:           b.cfg.Int("group.consumer.max.size"),
		ConsumerAssignors:         b.cfg.List("group.consumer.assignors"),
	}
	return cfg
}

// startGroups starts the group coordinator, loading group state from
// __consumer_offsets.
func (b *Broker) startGroups() error {
	c, err := group.Start(group.Options{
		Config:       b.groupConfig(),
		Partitions:   int32(b.cfg.Int("offsets.topic.num.partitions")),
		SegmentBytes: b.cfg.Long("offsets.topic.segment.bytes"),
		Host:         groupHost{b},
		Logger:       b.logger,
		Now:          b.now,
		ErrorCode:    errorCode,
	})
	if err != nil {
		return err
	}
	b.groups.Store(c)
	b.OnMetadata(c.OnMetadata)
	return nil
}

// stopGroups stops the group coordinator.
func (b *Broker) stopGroups() error {
	c := b.GroupCoordinator()
	if c == nil {
		return nil
	}
	err := c.Close()
	b.groups.Store(nil)
	return err
}

// groupHost is the broker as the coordinator sees it. It creates
// __consumer_offsets with one replica, the brokers there are: Kafka would
// wait for offsets.topic.replication.factor brokers (3 by default), which a
// single node never has, so that key has no effect here.
type groupHost struct{ *Broker }

func (h groupHost) CreateTopic(name string, partitions int32, configs map[string]string, internal bool) (*cluster.Topic, error) {
	err := h.createTopics([]topicSpec{{name: name, partitions: partitions, replication: 1, configs: configs, internal: internal}}, false)[0]
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return nil, err
	}
	return h.store.Image().Topics[name], nil
}

// groupClient is who sent a request, as the coordinator records members.
func groupClient(r *server.Request) group.Client {
	c := group.Client{ID: r.ClientID}
	if r.Conn != nil && r.Conn.Remote != nil {
		host := r.Conn.Remote.String()
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		c.Host = "/" + host
	}
	return c
}

// groupOp runs one request through the coordinator. notCoordinator builds
// the answer when there is no coordinator, or when the wait ends because
// the coordinator or the connection stopped (the client then looks for
// the coordinator again).
func groupOp(b *Broker, r *server.Request, fn func(m *group.Machine, now time.Time, id uint64) group.Output, notCoordinator func() kmsg.Response) server.Reply {
	c := b.GroupCoordinator()
	if c == nil {
		return server.Reply{Response: notCoordinator()}
	}
	var gone <-chan struct{}
	if r.Conn != nil {
		gone = r.Conn.Done
	}
	wait := c.Do(fn, gone)
	return server.Reply{Wait: func() kmsg.Response {
		if resp := wait(); resp != nil {
			return resp
		}
		return notCoordinator()
	}}
}

// ---- FindCoordinator ----

// coordinatorLookups resolves a FindCoordinator key of each key type; the
// transaction coordinator registers type 1 when it exists. A lookup
// returns nil when this broker coordinates the key.
var coordinatorLookups = map[int8]func(b *Broker, key string) error{
	0: (*Broker).findGroupCoordinator,
}

func (b *Broker) findGroupCoordinator(key string) error {
	if key == "" {
		return errf(kerr.InvalidRequest, "the group id is empty")
	}
	c := b.GroupCoordinator()
	if c == nil {
		return errf(kerr.CoordinatorNotAvailable, "the group coordinator is not running")
	}
	return c.EnsureTopic()
}

func (b *Broker) findCoordinator(keyType int8, key string) error {
	if fn := coordinatorLookups[keyType]; fn != nil {
		return fn(b, key)
	}
	if keyType == 1 {
		return errf(kerr.CoordinatorNotAvailable, "the transaction coordinator is not available")
	}
	return errf(kerr.InvalidRequest, "unknown coordinator key type %d", keyType)
}

func handleFindCoordinator(b *Broker, r *server.Request) kmsg.Response {
	req := r.Body.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	keys := req.CoordinatorKeys
	if req.Version < 4 {
		keys = []string{req.CoordinatorKey}
	}
	for _, key := range keys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		if err := b.findCoordinator(req.CoordinatorType, key); err != nil {
			c.ErrorCode, c.ErrorMessage = errorCode(err), errorMessage(err)
			c.NodeID, c.Host, c.Port = -1, "", -1
		} else {
			c.NodeID, c.Host, c.Port = b.opts.NodeID, b.opts.Host, b.opts.Port
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	if req.Version < 4 {
		c := resp.Coordinators[0]
		resp.ErrorCode, resp.NodeID, resp.Host, resp.Port = c.ErrorCode, c.NodeID, c.Host, c.Port
		if req.Version >= 1 {
			resp.ErrorMessage = c.ErrorMessage
		}
		resp.Coordinators = nil
	}
	return resp
}

// ---- classic groups ----

func handleJoinGroup(b *Broker, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.JoinGroupRequest)
	cl := groupClient(r)
	return groupOp(b, r, func(m *group.Machine, now time.Time, id uint64) group.Output {
		return m.JoinGroup(now, id, cl, req)
	}, func() kmsg.Response {
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode, resp.MemberID = kerr.NotCoordinator.Code, req.MemberID
		return resp
	})
}

func handleSyncGroup(b *Broker, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.SyncGroupRequest)
	return groupOp(b, r, func(m *group.Machine, now time.Time, id uint64) group.Output {
		return m.SyncGroup(now, id, req)
	}, func() kmsg.Response {
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = kerr.NotCoordinator.Code
		return resp
	})
}

func handleHeartbeat(b *Broker, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.HeartbeatRequest)
	return groupOp(b, r, func(m *group.Machine, now time.Time, id uint64) group.Output {
		return m.Heartbeat(now, id, req)
	}, func() kmsg.Response {
		resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = kerr.NotCoordinator.Code
		return resp
	})
}

func handleLeaveGroup(b *Broker, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.LeaveGroupRequest)
	return groupOp(b, r, func(m *group.Machine, now time.Time, id uint64) group.Output {
		return m.LeaveGroup(now, id, req)
	}, func() kmsg.Response {
		resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
		resp.ErrorCode = kerr.NotCoordinator.Code
		return resp
	})
}

// ---- offsets ----

func handleOffsetCommit(b *Broker, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.OffsetCommitRequest)
	return groupOp(b, r, func(m *group.Machine, now time.Time, id uint64) group.Output {
		return m.OffsetCommit(now, id, req)
	}, func() kmsg.Response {
		resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.NotCoordinator.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp
	})
}

func handleOffsetFetch(b *Broker, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.OffsetFetchRequest)
	return groupOp(b, r, func(m *group.Machine, now time.Time, id uint64) group.Output {
		return m.OffsetFetch(now, id, req)
	}, func() kmsg.Response {
		resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
		resp.ErrorCode = kerr.NotCoordinator.Code
		for _, rg := range req.Groups {
			g := kmsg.NewOffsetFetchResponseGroup()
			g.Group, g.ErrorCode = rg.Group, kerr.NotCoordinator.Code
			resp.Groups = append(resp.Groups, g)
		}
		return resp
	})
}

func handleOffsetDelete(b *Broker, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.OffsetDeleteRequest)
	return groupOp(b, r, func(m *group.Machine, now time.Time, id uint64) group.Output {
		return m.OffsetDelete(now, id, req)
	}, func() kmsg.Response {
		resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
		resp.ErrorCode = kerr.NotCoordinator.Code
		return resp
	})
}

// ---- admin ----

func handleDescribeGroups(b *Broker, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.DescribeGroupsRequest)
	return groupOp(b, r, func(m *group.Machine, now time.Time, id uint64) group.Output {
		return m.DescribeGroups(now, id, req)
	}, func() kmsg.Response {
		resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
		for _, g := range req.Groups {
			dg := kmsg.NewDescribeGroupsResponseGroup()
			dg.Group, dg.ErrorCode = g, kerr.NotCoordinator.Code
			resp.Groups = append(resp.Groups, dg)
		}
		return resp
	})
}

func handleListGroups(b *Broker, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.ListGroupsRequest)
	return groupOp(b, r, func(m *group.Machine, now time.Time, id uint64) group.Output {
		return m.ListGroups(now, id, req)
	}, func() kmsg.Response {
		resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	})
}

func handleDeleteGroups(b *Broker, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.DeleteGroupsRequest)
	return groupOp(b, r, func(m *group.Machine, now time.Time, id uint64) group.Output {
		return m.DeleteGroups(now, id, req)
	}, func() kmsg.Response {
		resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
		for _, g := range req.Groups {
			dg := kmsg.NewDeleteGroupsResponseGroup()
			dg.Group, dg.ErrorCode = g, kerr.NotCoordinator.Code
			resp.Groups = append(resp.Groups, dg)
		}
		return resp
	})
}

// ---- KIP-848 ----

func handleConsumerGroupHeartbeat(b *Broker, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.ConsumerGroupHeartbeatRequest)
	cl := groupClient(r)
	return groupOp(b, r, func(m *group.Machine, now time.Time, id uint64) group.Output {
		return m.ConsumerGroupHeartbeat(now, id, cl, req)
	}, func() kmsg.Response {
		resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		resp.ErrorCode = kerr.NotCoordinator.Code
		return resp
	})
}

func handleConsumerGroupDescribe(b *Broker, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.ConsumerGroupDescribeRequest)
	return groupOp(b, r, func(m *group.Machine, now time.Time, id uint64) group.Output {
		return m.ConsumerGroupDescribe(now, id, req)
	}, func() kmsg.Response {
		resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
		for _, g := range req.Groups {
			dg := kmsg.NewConsumerGroupDescribeResponseGroup()
			dg.Group, dg.ErrorCode = g, kerr.NotCoordinator.Code
			resp.Groups = append(resp.Groups, dg)
		}
		return resp
	})
}

// ---- for the transaction coordinator ----

// groupTxnOffsetCommit stages a TxnOffsetCommit's offsets in the group
// coordinator, for the TxnOffsetCommit handler to call once it has checked
// the producer's transaction (AddOffsetsToTxn done, epoch current). The
// offsets are written as a transactional batch of the producer and stay
// invisible until groupTxnCompleted reports the commit marker.
func (b *Broker) groupTxnOffsetCommit(r *server.Request, req *kmsg.TxnOffsetCommitRequest) server.Reply {
	return groupOp(b, r, func(m *group.Machine, now time.Time, id uint64) group.Output {
		return m.TxnOffsetCommit(now, id, req)
	}, func() kmsg.Response {
		resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewTxnOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.NotCoordinator.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp
	})
}

// groupTxnCompleted tells the group coordinator that a transaction marker
// (commit or abort) of producer pid is durable in __consumer_offsets
// partition part: the producer's staged offsets there become the committed
// ones, or vanish. (Loading replays the markers by itself.)
func (b *Broker) groupTxnCompleted(part int32, pid int64, commit bool) {
	if c := b.GroupCoordinator(); c != nil {
		c.CompleteTxn(part, pid, commit)
	}
}

// groupPartitionFor is the __consumer_offsets partition of a group (where
// AddOffsetsToTxn must send the markers), -1 before the topic exists.
func (b *Broker) groupPartitionFor(groupID string) int32 {
	if c := b.GroupCoordinator(); c != nil {
		return c.PartitionFor(groupID)
	}
	return -1
}

package groups

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// rawClient is a client for hand-made requests; pins caps API versions
// (key, version pairs).
func rawClient(t *testing.T, addr string, pins ...int16) *kgo.Client {
	t.Helper()
	v := kversion.Stable()
	for i := 0; i+1 < len(pins); i += 2 {
		v.SetMaxKeyVersion(pins[i], pins[i+1])
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxVersions(v))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func TestFindCoordinator(t *testing.T) {
	t.Parallel()
	// __consumer_offsets gets min(offsets.topic.replication.factor, brokers)
	// replicas, whatever default.replication.factor says.
	b := startBroker(t, "default.replication.factor", "3")
	cl := rawClient(t, b.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Batched (v4+): groups are coordinated here; the offsets topic is
	// created on first use.
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorType, req.CoordinatorKeys = 0, []string{"g1", "g2", ""}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]kmsg.FindCoordinatorResponseCoordinator{}
	for _, c := range resp.Coordinators {
		byKey[c.Key] = c
	}
	if len(byKey) != 3 {
		t.Fatalf("coordinators: %+v", resp.Coordinators)
	}
	for _, k := range []string{"g1", "g2"} {
		if c := byKey[k]; c.ErrorCode != 0 || c.NodeID != 0 || c.Port <= 0 {
			t.Fatalf("group %s: %+v", k, c)
		}
	}
	if c := byKey[""]; c.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("empty group id: %+v", c)
	}
	adm := kadm.NewClient(cl)
	ts, err := adm.ListTopics(ctx, "__consumer_offsets")
	if err != nil || ts["__consumer_offsets"].Err != nil || len(ts["__consumer_offsets"].Partitions) != 4 {
		t.Fatalf("__consumer_offsets: %v %+v", err, ts)
	}

	// Transactional ids (key type 1) have their coordinator here too
	// (test/txn covers it).
	req = kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorType, req.CoordinatorKeys = 1, []string{"txn"}
	if resp, err = req.RequestWith(ctx, cl); err != nil || resp.Coordinators[0].ErrorCode != 0 || resp.Coordinators[0].NodeID != 0 {
		t.Fatalf("txn: %v %+v", err, resp)
	}

	// The single-key form (v0-v3).
	for v := int16(0); v <= 3; v++ {
		old := rawClient(t, b.Addr, 10, v)
		req = kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKey = "g1"
		r, err := old.Broker(0).RetriableRequest(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		resp := r.(*kmsg.FindCoordinatorResponse)
		if resp.Version != v || resp.ErrorCode != 0 || resp.NodeID != 0 || resp.Port <= 0 {
			t.Fatalf("v%d: %+v", v, resp)
		}
	}
}

// A member that joins and then never heartbeats is removed and the group
// carries on; bad input gets Kafka's codes.
func TestBadMembersAndInput(t *testing.T) {
	t.Parallel()
	b := startBroker(t, "group.initial.rebalance.delay.ms", "0")
	cl := rawClient(t, b.Addr, 8, 9) // OffsetCommit by topic name
	adm := kadm.NewClient(cl)
	createTopic(t, adm, "t", 2)
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	adm.FindGroupCoordinators(ctx, "g") // creates __consumer_offsets

	join := func(member string) *kmsg.JoinGroupResponse {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.MemberID, req.ProtocolType = "g", member, "consumer"
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 2000, 5000
		req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0, 0, 0, 0, 0, 1, 0, 1, 't', 0, 0, 0, 0}}}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	r := join("")
	if r.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("first join: %+v", r)
	}
	r = join(r.MemberID)
	if r.ErrorCode != 0 || r.Generation != 1 {
		t.Fatalf("join: %+v", r)
	}
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.MemberID, sync.Generation = "g", r.MemberID, 1
	sync.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: r.MemberID, MemberAssignment: []byte{}}}
	if sr, err := sync.RequestWith(ctx, cl); err != nil || sr.ErrorCode != 0 {
		t.Fatalf("sync: %v %+v", err, sr)
	}

	// Oversized metadata, an unknown member, a stale generation.
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Group, commit.MemberID, commit.Generation = "g", r.MemberID, 1
	big := strings.Repeat("x", 5000)
	commit.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1, Metadata: &big}, {Partition: 1, Offset: 2}}}}
	cr, err := commit.RequestWith(ctx, cl)
	if err != nil || cr.Topics[0].Partitions[0].ErrorCode != kerr.OffsetMetadataTooLarge.Code || cr.Topics[0].Partitions[1].ErrorCode != 0 {
		t.Fatalf("commit: %v %+v", err, cr)
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation = "g", "nobody", 1
	if hr, err := hb.RequestWith(ctx, cl); err != nil || hr.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member: %v %+v", err, hr)
	}
	hb.MemberID, hb.Generation = r.MemberID, 0
	if hr, err := hb.RequestWith(ctx, cl); err != nil || hr.ErrorCode != kerr.IllegalGeneration.Code {
		t.Fatalf("stale generation: %v %+v", err, hr)
	}
	dr, err := adm.DeleteGroups(ctx, "g")
	if err != nil || !strings.Contains(dr["g"].Err.Error(), "NON_EMPTY_GROUP") {
		t.Fatalf("delete a live group: %v %+v", err, dr)
	}

	// The member never heartbeats again: it is removed after its 2s
	// session and the group is empty, with its offsets.
	eventually(t, waitLong, "the silent member to be removed", func() (bool, string) {
		ls, err := adm.DescribeGroups(ctx, "g")
		if err != nil {
			return false, err.Error()
		}
		return ls["g"].State == "Empty", ls["g"].State
	})
	os, err := adm.FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := os.Lookup("t", 1); o.At != 2 {
		t.Fatalf("offsets after the member left: %+v", os)
	}
	// And the group takes new members.
	r = join("")
	r = join(r.MemberID)
	if r.ErrorCode != 0 || r.Generation != 3 {
		t.Fatalf("join after: %+v", r)
	}
}

// kadm's lag (what `plexus group describe` shows) from DescribeGroups,
// OffsetFetch and ListOffsets.
func TestLag(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	adm := adminFor(t, b.Addr)
	createTopic(t, adm, "lagged", 2)
	produce(t, b.Addr, "lagged", 0, 100)
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "lagged", Partition: 0, At: 10, LeaderEpoch: -1})
	offs.Add(kadm.Offset{Topic: "lagged", Partition: 1, At: 45, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, "lagging", offs); err != nil {
		t.Fatal(err)
	}
	lags, err := adm.Lag(ctx, "lagging")
	if err != nil {
		t.Fatal(err)
	}
	l := lags["lagging"]
	if l.Error() != nil {
		t.Fatalf("lag: %v", l.Error())
	}
	if l.State != "Empty" || l.Lag.Total() != 40+5 {
		t.Fatalf("lag: state %s total %d (%+v)", l.State, l.Lag.Total(), l.Lag)
	}
	groups, err := adm.ListGroups(ctx)
	if err != nil || groups["lagging"].State != "Empty" || groups["lagging"].GroupType != "classic" {
		t.Fatalf("list: %v %+v", err, groups)
	}
	if _, err := adm.DeleteGroups(ctx, "lagging"); err != nil {
		t.Fatal(err)
	}
	os, err := adm.FetchOffsets(ctx, "lagging")
	if err != nil || len(os) != 0 {
		t.Fatalf("offsets after delete: %v %+v", err, os)
	}
}

// A JoinGroup parked in a rebalance does not hold up a broker shutdown:
// it is answered NOT_COORDINATOR and the client finds the coordinator
// again. (Otherwise the shutdown would wait for the other member's long
// session to end; brokertest fails a shutdown that needs its 30 seconds.)
func TestRestartDuringRebalance(t *testing.T) {
	t.Parallel()
	b := startBroker(t, "group.initial.rebalance.delay.ms", "0", "group.max.session.timeout.ms", "300000")
	cl, cl2 := rawClient(t, b.Addr), rawClient(t, b.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	req := kmsg.NewPtrJoinGroupRequest()
	req.Group, req.ProtocolType = "g", "consumer"
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 120000, 120000
	req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}}
	adm := kadm.NewClient(cl)
	adm.FindGroupCoordinators(ctx, "g")
	r, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	req.MemberID = r.MemberID
	if r, err = req.RequestWith(ctx, cl); err != nil || r.ErrorCode != 0 {
		t.Fatalf("first member: %v %+v", err, r)
	}
	// A second member's JoinGroup parks until the first rejoins, which it
	// never does.
	parked := make(chan *kmsg.JoinGroupResponse, 1)
	go func() {
		req2 := *req
		req2.MemberID = ""
		first, err := req2.RequestWith(ctx, cl2)
		if err != nil {
			parked <- nil
			return
		}
		req2.MemberID = first.MemberID
		// Straight to the broker: no retry of NOT_COORDINATOR.
		resp, err := cl2.Broker(0).Request(ctx, &req2)
		if err != nil {
			parked <- nil
			return
		}
		parked <- resp.(*kmsg.JoinGroupResponse)
	}()
	eventually(t, waitLong, "the second member to be parked", func() (bool, string) {
		gs, err := adm.DescribeGroups(ctx, "g")
		if err != nil {
			return false, err.Error()
		}
		return gs["g"].State == "PreparingRebalance", gs["g"].State
	})
	b.Restart()
	if r := <-parked; r != nil && r.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("the parked JoinGroup got %+v", r)
	}
}

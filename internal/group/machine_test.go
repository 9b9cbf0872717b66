package group

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func quietMachine() *Machine {
	return NewMachine(DefaultConfig(), slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// Before __consumer_offsets exists a broker coordinates nothing; while a
// partition loads its groups answer COORDINATOR_LOAD_IN_PROGRESS.
func TestCoordinatorStates(t *testing.T) {
	m := quietMachine()
	now := time.UnixMilli(1)
	hb := func() int16 {
		req := kmsg.NewPtrHeartbeatRequest()
		req.Group, req.MemberID, req.Generation = "g", "m", 1
		out := m.Heartbeat(now, 1, req)
		return out.Replies[0].Response.(*kmsg.HeartbeatResponse).ErrorCode
	}
	if code := hb(); code != kerr.NotCoordinator.Code {
		t.Fatalf("no topic: %v", code)
	}
	m.SetOffsetsTopic(now, 3, true)
	if code := hb(); code != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("loading: %v", code)
	}
	list := kmsg.NewPtrListGroupsRequest()
	if r := m.ListGroups(now, 2, list).Replies[0].Response.(*kmsg.ListGroupsResponse); r.ErrorCode != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("list while loading: %v", r.ErrorCode)
	}
	for p := int32(0); p < 3; p++ {
		m.LoadDone(now, p)
	}
	if code := hb(); code != kerr.UnknownMemberID.Code {
		t.Fatalf("loaded: %v", code)
	}
}

// Shutdown answers every parked request.
func TestShutdownAnswersWaiters(t *testing.T) {
	m := quietMachine()
	now := time.UnixMilli(1)
	m.SetOffsetsTopic(now, 1, false)
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version, req.Group, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 3, "g", 10000, 10000
	req.ProtocolType, req.Protocols = "consumer", []kmsg.JoinGroupRequestProtocol{{Name: "range"}}
	if out := m.JoinGroup(now, 7, Client{ID: "c"}, req); len(out.Replies) != 0 {
		t.Fatalf("join answered before the delay: %v", out.Replies)
	}
	out := m.Shutdown(now)
	if len(out.Replies) != 1 || out.Replies[0].ID != 7 || out.Replies[0].Response.(*kmsg.JoinGroupResponse).ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("shutdown: %+v", out.Replies)
	}
}

package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/plexus/plexus/internal/brokertest"
)

// The group commands run against franz-go's kfake, which has consumer
// groups, and against Plexus once its group coordinator serves the APIs.
// Both use the same goldens: a difference is an incompatibility.

func TestGroupCommandsKfake(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	testGroupCommands(t, c.ListenAddrs()[0])
}

func TestGroupCommandsPlexus(t *testing.T) {
	// No initial rebalance delay: each consume -g joins an empty group.
	b := brokertest.Start(t, brokertest.WithConfig("group.initial.rebalance.delay.ms", "0"))
	if missing := missingGroupAPIs(t, b.Addr); missing != "" {
		t.Skipf("the broker does not serve consumer groups yet (%s); the same test runs against kfake", missing)
	}
	testGroupCommands(t, b.Addr)
}

func missingGroupAPIs(t *testing.T, addr string) string {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	vs, err := kadm.NewClient(cl).ApiVersions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, v := range vs.Sorted() {
		for _, k := range []int16{8, 9, 10, 11, 12, 13, 14, 15, 16, 42} {
			if _, ok := v.KeyMaxVersion(k); !ok {
				missing = append(missing, kadmName(k))
			}
		}
	}
	return strings.Join(missing, ", ")
}

func kadmName(k int16) string {
	return map[int16]string{8: "OffsetCommit", 9: "OffsetFetch", 10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat", 13: "LeaveGroup", 14: "SyncGroup", 15: "DescribeGroups", 16: "ListGroups", 42: "DeleteGroups"}[k]
}

func testGroupCommands(t *testing.T, addr string) {
	bk := "--brokers=" + addr
	ok(t, "", "topic", "create", "orders", "-p", "1", bk)
	var in strings.Builder
	for i := range 10 {
		in.WriteString(`{"key":"k` + string(rune('0'+i)) + `","value":"v` + string(rune('0'+i)) + `","timestamp":` + string(rune('1'+i%9)) + strings.Repeat("0", 3+i/9) + "}\n")
	}
	ok(t, in.String(), "produce", "orders", "--format", "json", bk)

	// A member of billing reads four records and commits, then leaves.
	golden(t, "group_consume", ok(t, "", "consume", "orders", "-g", "billing", "-n", "4", "-f", `%o %k %v\n`, bk))
	golden(t, "group_list", ok(t, "", "group", "list", bk))
	golden(t, "group_describe", ok(t, "", "group", "describe", "billing", bk))
	golden(t, "group_describe_json", ok(t, "", "group", "describe", "billing", "--format", "json", bk))

	// Reset: a dry run changes nothing.
	r := run(t, nil, "", "group", "reset-offsets", "billing", "--topic", "orders", "--to-earliest", bk)
	if r.err != nil {
		t.Fatal(r.err)
	}
	golden(t, "group_reset_dry_run", r.stdout)
	if !strings.Contains(r.stderr, "Dry run") || !strings.Contains(r.stderr, "--execute") {
		t.Errorf("dry run not announced on stderr: %q", r.stderr)
	}
	if got := committed(t, bk, "billing"); got != 4 {
		t.Errorf("after a dry run the committed offset is %d, want 4", got)
	}
	golden(t, "group_reset_to_offset", ok(t, "", "group", "reset-offsets", "billing", "--to-offset", "7", "--execute", bk))
	if got := committed(t, bk, "billing"); got != 7 {
		t.Errorf("after --to-offset 7 the committed offset is %d", got)
	}
	// The group resumes from its committed offset.
	golden(t, "group_consume_after_reset", ok(t, "", "consume", "orders", "-g", "billing", "-n", "2", "-f", `%o %v\n`, bk))
	golden(t, "group_reset_to_timestamp_json", ok(t, "", "group", "reset-offsets", "billing", "-t", "orders:0", "--to-timestamp", "5000", "--execute", "--format", "json", bk))
	if got := committed(t, bk, "billing"); got != 4 {
		t.Errorf("after --to-timestamp 5000 the committed offset is %d, want 4", got)
	}
	ok(t, "", "group", "reset-offsets", "billing", "--to-latest", "--execute", bk)
	if got := committed(t, bk, "billing"); got != 10 {
		t.Errorf("after --to-latest the committed offset is %d, want 10", got)
	}
	ok(t, "", "group", "reset-offsets", "billing", "--to-offset", "100", "--execute", bk)
	if got := committed(t, bk, "billing"); got != 10 {
		t.Errorf("--to-offset past the end committed %d, want the end, 10", got)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"group", "reset-offsets", "billing", "--execute"}, "exactly one of --to-earliest"},
		{[]string{"group", "reset-offsets", "billing", "--to-earliest", "--to-latest"}, "exactly one of"},
		{[]string{"group", "reset-offsets", "billing", "-t", "nope", "--to-earliest"}, "topic nope does not exist"},
		{[]string{"group", "reset-offsets", "billing", "-t", "orders:5", "--to-earliest"}, "topic orders has no partition 5"},
		{[]string{"group", "reset-offsets", "fresh", "--to-earliest"}, "group fresh has no committed offsets: name the topics to reset with --topic"},
	} {
		r := fails(t, "", append(c.args, bk)...)
		if !strings.Contains(r.err.Error(), c.want) {
			t.Errorf("plexus %s: %v, want %q", strings.Join(c.args, " "), r.err, c.want)
		}
	}

	// A live member: describe shows it; reset and delete refuse.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	root := NewRoot()
	root.SetArgs([]string{"consume", "orders", "-g", "live", bk})
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	var d []struct {
		State   string `json:"state"`
		Members []struct {
			MemberID string `json:"member_id"`
			ClientID string `json:"client_id"`
			Assigned []struct {
				Topic      string  `json:"topic"`
				Partitions []int32 `json:"partitions"`
			} `json:"assigned"`
		} `json:"members"`
		Partitions []struct {
			Topic    string `json:"topic"`
			Lag      int64  `json:"lag"`
			MemberID string `json:"member_id"`
		} `json:"partitions"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Until the member joins, the group may not exist yet.
		r := run(t, nil, "", "group", "describe", "live", "--format", "json", bk)
		out := r.stdout
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatal(err)
		}
		if r.err == nil && len(d) == 1 && d[0].State == "Stable" && len(d[0].Members) == 1 && len(d[0].Members[0].Assigned) == 1 && strings.Count(stdout.String(), "\n") == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the live group never became stable with one member: %s\nconsumer stderr: %s", out, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	m := d[0].Members[0]
	if m.ClientID != "plexus-cli" || m.Assigned[0].Topic != "orders" || len(m.Assigned[0].Partitions) != 1 {
		t.Errorf("live member: %+v", m)
	}
	if r := fails(t, "", "group", "reset-offsets", "live", "--to-earliest", "-t", "orders", "--execute", bk); !strings.Contains(r.err.Error(), "group live has 1 active members (state Stable): stop its consumers") {
		t.Errorf("reset of a live group: %v", r.err)
	}
	if r := fails(t, "", "group", "delete", "live", bk); !strings.Contains(r.stdout, "NON_EMPTY_GROUP") || !strings.Contains(r.stdout, "stop the group's consumers first") {
		t.Errorf("delete of a live group: %v\n%s", r.err, r.stdout)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("group consumer: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("group consumer did not stop")
	}

	golden(t, "group_delete", ok(t, "", "group", "delete", "billing", bk))
	if out := ok(t, "", "group", "list", bk); strings.Contains(out, "billing") {
		t.Errorf("billing still listed after delete:\n%s", out)
	}
}

// committed is group's committed offset for orders-0, via the CLI's JSON.
func committed(t *testing.T, bk, group string) int64 {
	t.Helper()
	var d []struct {
		Partitions []struct {
			Topic           string `json:"topic"`
			Partition       int32  `json:"partition"`
			CommittedOffset int64  `json:"committed_offset"`
		} `json:"partitions"`
	}
	if err := json.Unmarshal([]byte(ok(t, "", "group", "describe", group, "--format", "json", bk)), &d); err != nil {
		t.Fatal(err)
	}
	for _, p := range d[0].Partitions {
		if p.Topic == "orders" && p.Partition == 0 {
			return p.CommittedOffset
		}
	}
	return -1
}

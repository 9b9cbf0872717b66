package groups

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// killer is a dialer whose connections can all be cut at once, and which
// refuses new ones afterwards: a consumer process that died.
type killer struct {
	mu    sync.Mutex
	conns []net.Conn
	dead  bool
	// addr, when set, is where every dial goes: the broker's current
	// address, which changes when a test restarts it.
	addr func() string
}

func (k *killer) dial(ctx context.Context, network, host string) (net.Conn, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dead {
		return nil, errors.New("killed")
	}
	if k.addr != nil {
		host = k.addr()
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, host)
	if err == nil {
		k.conns = append(k.conns, c)
	}
	return c, err
}

func (k *killer) kill() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.dead = true
	for _, c := range k.conns {
		c.Close()
	}
}

// franzConsumer is one group member polling in the background; every
// record it processes is recorded and then marked for commit, so commits
// never run ahead of processing.
type franzConsumer struct {
	name   string
	cl     *kgo.Client
	k      *killer
	cancel context.CancelFunc
	done   chan struct{}
}

func startFranz(t *testing.T, addr, group, topic, name string, own *ownership, s *seen, opts ...kgo.Opt) *franzConsumer {
	return startFranzK(t, &killer{}, addr, group, topic, name, own, s, opts...)
}

func startFranzK(t *testing.T, k *killer, addr, group, topic, name string, own *ownership, s *seen, opts ...kgo.Opt) *franzConsumer {
	t.Helper()
	fc := &franzConsumer{name: name, k: k, done: make(chan struct{})}
	base := []kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ClientID(name),
		kgo.SessionTimeout(sessionTimeout),
		kgo.HeartbeatInterval(500 * time.Millisecond),
		kgo.RebalanceTimeout(20 * time.Second),
		kgo.Dialer(fc.k.dial),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(200 * time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			own.assigned(name, partitionsOf(m, topic))
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
			own.revoked(name, partitionsOf(m, topic))
			cl.CommitMarkedOffsets(ctx)
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			own.revoked(name, partitionsOf(m, topic))
		}),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	fc.cl = cl
	ctx, cancel := context.WithCancel(context.Background())
	fc.cancel = cancel
	go func() {
		defer close(fc.done)
		for ctx.Err() == nil {
			fs := cl.PollRecords(ctx, 100)
			fs.EachRecord(func(r *kgo.Record) {
				if s != nil {
					s.add(string(r.Value))
				}
				cl.MarkCommitRecords(r)
			})
		}
	}()
	t.Cleanup(fc.close)
	return fc
}

// close leaves the group cleanly.
func (fc *franzConsumer) close() {
	fc.cancel()
	<-fc.done
	fc.cl.Close()
}

// kill makes the consumer vanish without leaving the group.
func (fc *franzConsumer) kill() {
	fc.k.kill()
	fc.cancel()
	<-fc.done
}

// groupScenario runs the scenarios every protocol must pass: three members
// split 12 partitions, one dies and its partitions move, every record is
// consumed. opts pick the protocol.
func groupScenario(t *testing.T, groupType string, opts ...kgo.Opt) {
	b := startBroker(t)
	adm := adminFor(t, b.Addr)
	const topic, group, n = "orders", "g", 12
	createTopic(t, adm, topic, n)
	produce(t, b.Addr, topic, 0, 600)

	own, s := newOwnership(), &seen{}
	a := startFranz(t, b.Addr, group, topic, "a", own, s, opts...)
	bb := startFranz(t, b.Addr, group, topic, "b", own, s, opts...)
	c := startFranz(t, b.Addr, group, topic, "c", own, s, opts...)
	_, _ = a, bb
	eventually(t, waitLong, "three members to share the partitions", func() (bool, string) { return own.exact(n, "a", "b", "c") })
	checkGroupType(t, adm, group, groupType)
	eventually(t, waitLong, "all records consumed", func() (bool, string) {
		m := s.missing(0, 600)
		return len(m) == 0, "missing " + itoa(len(m))
	})

	// c dies without leaving: the group notices within its session
	// timeout and hands its partitions to a and b.
	c.kill()
	own.drop("c")
	eventually(t, waitLong, "c's partitions to move to a and b", func() (bool, string) { return own.exact(n, "a", "b") })
	produce(t, b.Addr, topic, 600, 600)
	eventually(t, waitLong, "records produced after the failure consumed", func() (bool, string) {
		m := s.missing(0, 1200)
		return len(m) == 0, "missing " + itoa(len(m))
	})
}

func itoa(n int) string { return fmt.Sprint(n) }

func TestFranzClassicEagerRange(t *testing.T) {
	t.Parallel()
	groupScenario(t, "classic", kgo.Balancers(kgo.RangeBalancer()))
}

func TestFranzClassicCooperativeSticky(t *testing.T) {
	t.Parallel()
	groupScenario(t, "classic", kgo.Balancers(kgo.CooperativeStickyBalancer()))
}

func TestFranzConsumerProtocol(t *testing.T) {
	t.Parallel()
	groupScenario(t, "consumer", kgo.Balancers(kgo.CooperativeStickyBalancer()), kgo.ServerSideBalancer())
}

// incrementalScenario checks that a joining member only takes partitions
// from the others: the revocations the old members see are exactly what
// the new member ends up with (cooperative and KIP-848 groups).
func incrementalScenario(t *testing.T, opts ...kgo.Opt) {
	b := startBroker(t)
	adm := adminFor(t, b.Addr)
	const topic, group, n = "inc", "g", 12
	createTopic(t, adm, topic, n)
	own := newOwnership()
	startFranz(t, b.Addr, group, topic, "a", own, nil, opts...)
	startFranz(t, b.Addr, group, topic, "b", own, nil, opts...)
	eventually(t, waitLong, "two members to share the partitions", func() (bool, string) { return own.exact(n, "a", "b") })
	beforeA, beforeB := own.of("a"), own.of("b")
	own.clearRevoked()

	startFranz(t, b.Addr, group, topic, "c", own, nil, opts...)
	eventually(t, waitLong, "the third member to get its share", func() (bool, string) { return own.exact(n, "a", "b", "c") })
	taken := own.of("c")
	revoked := append(own.revokedBy("a"), own.revokedBy("b")...)
	slices.Sort(revoked)
	if !slices.Equal(revoked, taken) {
		t.Fatalf("a had %v, b had %v; c took %v but a and b revoked %v", beforeA, beforeB, taken, revoked)
	}
	if len(taken) != n/3 {
		t.Fatalf("c owns %v; want %d partitions", taken, n/3)
	}
}

func TestFranzCooperativeJoinRevokesOnlyMoved(t *testing.T) {
	t.Parallel()
	incrementalScenario(t, kgo.Balancers(kgo.CooperativeStickyBalancer()))
}

func TestFranzConsumerProtocolJoinRevokesOnlyMoved(t *testing.T) {
	t.Parallel()
	incrementalScenario(t, kgo.Balancers(kgo.CooperativeStickyBalancer()), kgo.ServerSideBalancer())
}

// staticScenario: a static member (group.instance.id) restarts within its
// session and gets its partitions back; the other member is not disturbed.
func staticScenario(t *testing.T, opts ...kgo.Opt) {
	b := startBroker(t)
	adm := adminFor(t, b.Addr)
	const topic, group, n = "static", "g", 6
	createTopic(t, adm, topic, n)
	own := newOwnership()
	a := startFranz(t, b.Addr, group, topic, "a", own, nil, append(opts, kgo.InstanceID("ia"))...)
	startFranz(t, b.Addr, group, topic, "b", own, nil, append(opts, kgo.InstanceID("ib"))...)
	eventually(t, waitLong, "two static members to share the partitions", func() (bool, string) { return own.exact(n, "a", "b") })
	had := own.of("a")
	own.clearRevoked()

	// a's process ends (a static member does not leave the group) and a
	// new process with the same instance id takes its place.
	a.close()
	own.drop("a")
	startFranz(t, b.Addr, group, topic, "a2", own, nil, append(opts, kgo.InstanceID("ia"))...)
	eventually(t, waitLong, "the restarted instance to get its partitions back", func() (bool, string) { return own.exact(n, "a2", "b") })
	if got := own.of("a2"); !slices.Equal(got, had) {
		t.Fatalf("the instance had %v and got back %v", had, got)
	}
	if r := own.revokedBy("b"); len(r) != 0 {
		t.Fatalf("b lost %v to a static member's restart", r)
	}
}

// The consumer protocol has no franz-go variant: franz-go 1.22.3 sends a
// static member's leave (epoch -2) without its instance id, which Kafka
// and Plexus refuse (INVALID_REQUEST), so the restarted instance waits for
// the old one's session to end. The coordinator's side is covered by
// internal/group/testdata/consumer_membership.txt.
func TestFranzClassicStaticMember(t *testing.T) {
	t.Parallel()
	staticScenario(t, kgo.Balancers(kgo.CooperativeStickyBalancer()))
}

// Package groups tests consumer groups end to end with real clients
// (franz-go, sarama, confluent-kafka-go) against in-process brokers: both
// rebalance protocols, member failure, incremental rebalances, durable
// offsets across restarts and at-least-once delivery.
package groups

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/plexus/plexus/internal/brokertest"
)

// Short timeouts so that failures are detected in seconds. Conditions are
// polled with deadlines; nothing sleeps and then asserts.
const (
	sessionTimeout = 6 * time.Second
	waitLong       = 60 * time.Second
)

// startBroker starts a broker tuned for group tests; kv overrides.
func startBroker(t *testing.T, kv ...string) *brokertest.Broker {
	t.Helper()
	cfg := []string{
		"group.initial.rebalance.delay.ms", "100",
		"offsets.topic.num.partitions", "4",
		"group.min.session.timeout.ms", "1000",
		"group.consumer.min.session.timeout.ms", "1000",
		"group.consumer.session.timeout.ms", "6000",
		"group.consumer.min.heartbeat.interval.ms", "200",
		"group.consumer.heartbeat.interval.ms", "500",
	}
	cfg = append(cfg, kv...)
	return brokertest.Start(t, brokertest.WithConfig(cfg...))
}

func adminFor(t *testing.T, addr string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

func createTopic(t *testing.T, adm *kadm.Client, topic string, partitions int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, 1, nil, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v %v", topic, err, resp.Err)
	}
}

// produce writes n records key-i/value-i to topic, spread over its
// partitions, and returns them by partition.
func produce(t *testing.T, addr, topic string, from, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rs []*kgo.Record
	for i := from; i < from+n; i++ {
		rs = append(rs, &kgo.Record{Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("%d", i))})
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	last := ""
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last state: %s", d, what, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ownership tracks which consumer owns which partitions, as each
// consumer's callbacks report them.
type ownership struct {
	mu     sync.Mutex
	owned  map[string]map[int32]bool // consumer -> partitions
	revoks map[string][]int32        // consumer -> partitions revoked so far
	log    []string
}

func newOwnership() *ownership {
	return &ownership{owned: map[string]map[int32]bool{}, revoks: map[string][]int32{}}
}

func (o *ownership) assigned(who string, ps []int32) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.owned[who] == nil {
		o.owned[who] = map[int32]bool{}
	}
	for _, p := range ps {
		o.owned[who][p] = true
	}
	o.log = append(o.log, fmt.Sprintf("%s +%v", who, ps))
}

func (o *ownership) revoked(who string, ps []int32) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, p := range ps {
		delete(o.owned[who], p)
	}
	o.revoks[who] = append(o.revoks[who], ps...)
	o.log = append(o.log, fmt.Sprintf("%s -%v", who, ps))
}

func (o *ownership) drop(who string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.owned, who)
}

func (o *ownership) revokedBy(who string) []int32 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.revoks[who])
}

func (o *ownership) clearRevoked() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.revoks = map[string][]int32{}
}

// exact reports whether every partition 0..n-1 is owned by exactly one of
// the consumers in who and every one of them owns at least one.
func (o *ownership) exact(n int32, who ...string) (bool, string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	count := map[int32]int{}
	for _, w := range who {
		if len(o.owned[w]) == 0 {
			return false, o.describe()
		}
		for p := range o.owned[w] {
			count[p]++
		}
	}
	for w := range o.owned {
		if !slices.Contains(who, w) && len(o.owned[w]) > 0 {
			return false, o.describe()
		}
	}
	for p := int32(0); p < n; p++ {
		if count[p] != 1 {
			return false, o.describe()
		}
	}
	return len(count) == int(n), o.describe()
}

func (o *ownership) of(who string) []int32 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Sorted(maps.Keys(o.owned[who]))
}

func (o *ownership) describe() string {
	var parts []string
	for _, w := range slices.Sorted(maps.Keys(o.owned)) {
		parts = append(parts, fmt.Sprintf("%s=%v", w, slices.Sorted(maps.Keys(o.owned[w]))))
	}
	return strings.Join(parts, " ")
}

func partitionsOf(m map[string][]int32, topic string) []int32 {
	ps := slices.Clone(m[topic])
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return ps
}

// seen records which values a consumer group has processed.
type seen struct {
	mu sync.Mutex
	m  map[string]int
}

func (s *seen) add(v string) {
	s.mu.Lock()
	if s.m == nil {
		s.m = map[string]int{}
	}
	s.m[v]++
	s.mu.Unlock()
}

func (s *seen) missing(from, n int) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for i := from; i < from+n; i++ {
		if s.m[fmt.Sprint(i)] == 0 {
			out = append(out, i)
		}
	}
	return out
}

// checkGroupType asserts which protocol the group runs ("classic" or
// "consumer"), so a client silently falling back is caught.
func checkGroupType(t *testing.T, adm *kadm.Client, group, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ls, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatalf("list groups: %v", err)
	}
	g, ok := ls[group]
	if !ok {
		t.Fatalf("group %q not listed: %v", group, ls)
	}
	if g.GroupType != want || g.ProtocolType != "consumer" {
		t.Fatalf("group %q has type %q, protocol type %q; want %q, consumer", group, g.GroupType, g.ProtocolType, want)
	}
}

// Package compaction is the black-box suite of log compaction: real
// clients (franz-go, confluent-kafka-go) write many versions of keys to
// compacted topics, the broker's cleaner runs (forced with
// Broker.CleanNow, or in the background with a short backoff), and a
// reader from the beginning must see exactly the latest value of every
// key, in offset order. It also kills the broker at every step of a
// cleaning pass (in process, on an in-memory disk) and checks what
// restarts, and that __consumer_offsets stays small under endless commits.
//
// Tests poll with a deadline, never sleep then assert.
package compaction

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/plexus/plexus/internal/brokertest"
)

const testTimeout = 60 * time.Second

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

var topicSeq atomic.Int64

func topicName(hint string) string { return fmt.Sprintf("c%d-%s", topicSeq.Add(1), hint) }

// startBroker starts a broker whose cleaner does not run on its own: tests
// run it with CleanNow, so what they see does not depend on timing.
func startBroker(t testing.TB, opts ...brokertest.Option) *brokertest.Broker {
	t.Helper()
	base := []brokertest.Option{brokertest.WithConfig("auto.create.topics.enable", "false", "log.cleaner.enable", "false")}
	return brokertest.Start(t, append(base, opts...)...)
}

func newClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// createTopic creates a one-partition topic with configs.
func createTopic(t testing.TB, addr, topic string, configs map[string]string) {
	t.Helper()
	cfg := map[string]*string{}
	for k, v := range configs {
		cfg[k] = &v
	}
	adm := kadm.NewClient(newClient(t, addr))
	resp, err := adm.CreateTopic(ctxFor(t), 1, 1, cfg, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
}

// compactedConfigs rolls a segment whenever record timestamps span more
// than ten minutes: the producers below space their rounds eleven minutes
// apart (in the past), so each round lands in its own segment without
// megabytes of data.
func compactedConfigs(extra ...string) map[string]string {
	m := map[string]string{"cleanup.policy": "compact", "segment.ms": "600000", "min.cleanable.dirty.ratio": "0.01"}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}

// workload is what the tests write: rounds of every key, each round eleven
// minutes after the last, the keys below tombstones getting a tombstone in
// the last round; then a sentinel at the present, which rolls the last
// round out of the active segment.
type workload struct {
	keys, rounds, tombstones int
	start                    time.Time
}

func newWorkload(keys, rounds, tombstones int) workload {
	return workload{keys: keys, rounds: rounds, tombstones: tombstones,
		start: time.Now().Add(-time.Duration(rounds+2) * 11 * time.Minute)}
}

func (w workload) key(i int) string { return "key-" + strconv.Itoa(i) }

// value is key i's value in round r; nil is a tombstone.
func (w workload) value(i, r int) []byte {
	if r == w.rounds-1 && i < w.tombstones {
		return nil
	}
	return []byte(fmt.Sprintf("value-%d-round-%d-%s", i, r, "padding-padding-padding"))
}

func (w workload) time(r int) time.Time { return w.start.Add(time.Duration(r) * 11 * time.Minute) }

const sentinelKey = "sentinel"

// expected is what a reader from the beginning sees after a full clean:
// the latest record of each key, tombstones included unless gone.
func (w workload) expected(tombstonesGone bool) map[string][]byte {
	m := map[string][]byte{sentinelKey: []byte("end")}
	for i := 0; i < w.keys; i++ {
		v := w.value(i, w.rounds-1)
		if v == nil && tombstonesGone {
			continue
		}
		m[w.key(i)] = v
	}
	return m
}

// got is one record as read.
type got struct {
	offset int64
	key    string
	value  []byte
}

// readAllFranz reads the partition from its start to its end offset.
func readAllFranz(t testing.TB, addr, topic string) []got {
	t.Helper()
	ctx := ctxFor(t)
	adm := kadm.NewClient(newClient(t, addr))
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(topic, 0)
	if end.Err != nil {
		t.Fatal(end.Err)
	}
	cl := newClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	var out []got
	next := int64(0)
	for next < end.Offset {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("reading %s: reached %d of %d: %v", topic, next, end.Offset, err)
		}
		for _, e := range fs.Errors() {
			t.Fatalf("fetch: %v", e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, got{offset: r.Offset, key: string(r.Key), value: r.Value})
			next = r.Offset + 1
		})
	}
	return out
}

// checkCompacted fails unless recs are exactly want, one record per key,
// in increasing offsets.
func checkCompacted(t testing.TB, recs []got, want map[string][]byte) {
	t.Helper()
	seen := map[string]bool{}
	prev := int64(-1)
	for _, r := range recs {
		if r.offset <= prev {
			t.Fatalf("offset %d after %d", r.offset, prev)
		}
		prev = r.offset
		if seen[r.key] {
			t.Fatalf("key %s read twice (offset %d)", r.key, r.offset)
		}
		seen[r.key] = true
		w, ok := want[r.key]
		if !ok {
			t.Fatalf("key %s (offset %d) should be gone", r.key, r.offset)
		}
		if (w == nil) != (r.value == nil) || string(w) != string(r.value) {
			t.Fatalf("key %s at %d: value %q, want %q", r.key, r.offset, r.value, w)
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("read %d keys, want %d", len(seen), len(want))
	}
}

// produceFranz writes the workload with franz-go (idempotent, so batches
// carry producer ids and sequences), round by round.
func produceFranz(t testing.TB, addr, topic string, w workload, opts ...kgo.Opt) {
	t.Helper()
	ctx := ctxFor(t)
	cl := newClient(t, addr, append([]kgo.Opt{kgo.DefaultProduceTopic(topic)}, opts...)...)
	for r := 0; r < w.rounds; r++ {
		var rs []*kgo.Record
		for i := 0; i < w.keys; i++ {
			rs = append(rs, &kgo.Record{Key: []byte(w.key(i)), Value: w.value(i, r), Timestamp: w.time(r)})
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatalf("produce round %d: %v", r, err)
		}
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(sentinelKey), Value: []byte("end"), Timestamp: time.Now()}).FirstErr(); err != nil {
		t.Fatalf("produce sentinel: %v", err)
	}
}

// eventually calls fn until it returns nil, failing the test with fn's
// last error at the deadline.
func eventually(t testing.TB, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	wait := 5 * time.Millisecond
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing at the deadline: %v", what, err)
		}
		time.Sleep(wait)
		wait = min(2*wait, 200*time.Millisecond)
	}
}

package compaction

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/plexus/plexus/internal/brokertest"
)

// TestCompactionTransactions: rounds of a franz-go transactional producer,
// every other one aborted, on a compacted topic. After cleaning, even a
// read_uncommitted reader sees no aborted record (they go on the first
// pass) and exactly the latest committed value of every key; read_committed
// agrees.
func TestCompactionTransactions(t *testing.T) {
	b := startBroker(t, brokertest.WithConfig("transaction.state.log.num.partitions", "1", "offsets.topic.num.partitions", "1"))
	topic := topicName("txn")
	// Markers carry the broker's clock, not the rounds' old timestamps: with
	// segment.ms=1 every jump forward in time rolls, and the sentinel, a
	// minute ahead, leaves every transaction in closed segments.
	createTopic(t, b.Addr, topic, compactedConfigs("segment.ms", "1"))
	ctx := ctxFor(t)
	tx := newClient(t, b.Addr, kgo.DefaultProduceTopic(topic), kgo.TransactionalID("compaction-txn"))
	w := newWorkload(20, 7, 0)
	want := map[string][]byte{sentinelKey: []byte("end")}
	for r := 0; r < w.rounds; r++ {
		if err := tx.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		var rs []*kgo.Record
		for i := 0; i < w.keys; i++ {
			rs = append(rs, &kgo.Record{Key: []byte(w.key(i)), Value: w.value(i, r), Timestamp: w.time(r)})
		}
		if err := tx.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatalf("round %d: %v", r, err)
		}
		commit := r%2 == 0
		if err := tx.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("end round %d: %v", r, err)
		}
		if commit {
			for i := 0; i < w.keys; i++ {
				want[w.key(i)] = w.value(i, r)
			}
		}
	}
	plain := newClient(t, b.Addr, kgo.DefaultProduceTopic(topic))
	if err := plain.ProduceSync(ctx, &kgo.Record{Key: []byte(sentinelKey), Value: []byte("end"), Timestamp: time.Now().Add(time.Minute)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for pass := 0; pass < 2; pass++ {
		if err := b.Broker.CleanNow(ctx, topic); err != nil {
			t.Fatal(err)
		}
	}
	for _, level := range []kgo.IsolationLevel{kgo.ReadUncommitted(), kgo.ReadCommitted()} {
		checkCompacted(t, readAllFranzIsolation(t, b.Addr, topic, level), want)
	}
}

// readAllFranzIsolation reads the partition from its start, with the
// isolation level, until the reader's high watermark (or last stable
// offset).
func readAllFranzIsolation(t testing.TB, addr, topic string, level kgo.IsolationLevel) []got {
	t.Helper()
	ctx := ctxFor(t)
	cl := newClient(t, addr, kgo.FetchIsolationLevel(level),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	var out []got
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("reading %s: %v", topic, err)
		}
		for _, e := range fs.Errors() {
			t.Fatalf("fetch: %v", e.Err)
		}
		done := false
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			for _, r := range p.Records {
				out = append(out, got{offset: r.Offset, key: string(r.Key), value: r.Value})
			}
			if n := len(p.Records); n > 0 && string(p.Records[n-1].Key) == sentinelKey {
				done = true
			}
		})
		if done {
			return out
		}
	}
}

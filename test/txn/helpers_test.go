// Package txn tests exactly-once end to end with real clients (franz-go,
// sarama, confluent-kafka-go) against in-process brokers and, in the crash
// test, a broker process killed with SIGKILL: committed transactions are
// read exactly once at read_committed, aborted ones never, offsets
// committed in a transaction move with it, and duplicates, gaps, fenced
// producers and timed-out transactions are refused as Kafka refuses them.
package txn

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/plexus/plexus/internal/brokertest"
)

const waitLong = 60 * time.Second

// brokerConfig keeps the internal topics small and the coordinator's
// timers fast, so that tests run in seconds.
var brokerConfig = []string{
	"offsets.topic.num.partitions", "4",
	"transaction.state.log.num.partitions", "4",
	"group.initial.rebalance.delay.ms", "0",
	"group.min.session.timeout.ms", "1000",
	"transaction.abort.timed.out.transaction.cleanup.interval.ms", "200",
}

func startBroker(t *testing.T, kv ...string) *brokertest.Broker {
	t.Helper()
	return brokertest.Start(t, brokertest.WithConfig(append(append([]string{}, brokerConfig...), kv...)...))
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	t.Cleanup(cancel)
	return ctx
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

func createTopic(t *testing.T, addr, topic string, partitions int32) {
	t.Helper()
	resp, err := adminFor(t, addr).CreateTopic(ctxFor(t), partitions, 1, nil, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v %v", topic, err, resp.Err)
	}
}

// tv1 caps franz-go below the KIP-890 part 2 request versions, so it runs
// transactions version 1 (explicit AddPartitionsToTxn / AddOffsetsToTxn,
// no epoch bump per transaction) against the same broker.
func tv1() kgo.Opt {
	v := kversion.Stable()
	v.SetMaxKeyVersion(24, 4) // AddPartitionsToTxn
	v.SetMaxKeyVersion(26, 4) // EndTxn
	v.SetMaxKeyVersion(28, 4) // TxnOffsetCommit
	v.SetMaxKeyVersion(0, 11) // Produce
	return kgo.MaxVersions(v)
}

// txnModes runs a test under both transaction versions.
var txnModes = []struct {
	name string
	opts []kgo.Opt
}{
	{"tv2", nil},
	{"tv1", []kgo.Opt{tv1()}},
}

// readAll reads topic from the start at the given isolation level and
// returns the values by partition, in offset order. It first appends a
// plain "END-…" record to every partition and reads until it has seen each:
// control batches leave gaps in the offsets, and a read_committed reader
// stops at the last stable offset, so end offsets tell nothing certain.
func readAll(t *testing.T, addr, topic string, committed bool) map[int32][]string {
	t.Helper()
	ctx := ctxFor(t)
	ts, err := adminFor(t, addr).ListTopics(ctx, topic)
	if err != nil || ts[topic].Err != nil {
		t.Fatalf("list %s: %v %v", topic, err, ts[topic].Err)
	}
	n := int32(len(ts[topic].Partitions))
	end := fmt.Sprintf("END-%d", time.Now().UnixNano())
	w, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < n; p++ {
		if err := w.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte(end)}).FirstErr(); err != nil {
			t.Fatalf("end marker in %s-%d: %v", topic, p, err)
		}
	}
	w.Close()
	opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}
	if committed {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	out := map[int32][]string{}
	ended := map[int32]bool{}
	for int32(len(ended)) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %v (partitions ended: %v)", topic, ctx.Err(), ended)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("fetch %s-%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			switch v := string(r.Value); {
			case v == end:
				ended[r.Partition] = true
				return
			case strings.HasPrefix(v, "END-"), ended[r.Partition]:
				return // an earlier read's mark, or written after this read began
			}
			out[r.Partition] = append(out[r.Partition], string(r.Value))
		})
	}
	return out
}

// values flattens readAll's result and counts each value.
func counts(byPart map[int32][]string) map[string]int {
	out := map[string]int{}
	for _, vs := range byPart {
		for _, v := range vs {
			out[v]++
		}
	}
	return out
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// exactlyOnce checks that got holds every value of want once and nothing
// else.
func exactlyOnce(t *testing.T, what string, got map[string]int, want []string) {
	t.Helper()
	wantSet := map[string]bool{}
	for _, w := range want {
		wantSet[w] = true
	}
	var problems []string
	for _, w := range want {
		if got[w] != 1 {
			problems = append(problems, fmt.Sprintf("%s seen %d times", w, got[w]))
		}
	}
	for _, v := range sortedKeys(got) {
		if !wantSet[v] {
			problems = append(problems, fmt.Sprintf("%s should not be there (%d times)", v, got[v]))
		}
	}
	if len(problems) > 0 {
		if len(problems) > 10 {
			problems = append(problems[:10], fmt.Sprintf("... %d more", len(problems)-10))
		}
		t.Fatalf("%s: %d values expected once, %d read:\n%s", what, len(want), len(got), strings.Join(problems, "\n"))
	}
}

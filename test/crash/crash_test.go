// Package crash builds the plexus binary, runs it as a process, kills it
// with SIGKILL in the middle of work and checks that nothing acknowledged
// was lost.
package crash

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/plexus/plexus/internal/proctest"
)

// The process helpers live in internal/proctest, shared with test/txn.
var (
	Binary    = proctest.Binary
	FreePort  = proctest.FreePort
	StartProc = proctest.StartProc
)

// TestKill9DuringProduce runs idempotent acks=all producers against the
// broker process and kills it with SIGKILL several times mid-stream. The
// producers keep their clients (and so their producer ids and sequence
// numbers) across the kills, as a real application would, and retry. At
// the end every acknowledged record must be in the log exactly once, the
// offsets of every partition dense, and the log must take new writes.
func TestKill9DuringProduce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a broker process")
	}
	bin := Binary(t)
	root := t.TempDir()
	if d := os.Getenv("CRASH_TEST_KEEP_DIR"); d != "" {
		root = d
	}
	dataDir := filepath.Join(root, "data")
	addr := FreePort(t)
	const (
		topic      = "crash"
		partitions = 6
		producers  = 4
		kills      = 4
	)
	proc := StartProc(t, bin, dataDir, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	admin, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kadm.NewClient(admin).CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	admin.Close()

	var (
		mu      sync.Mutex
		acked   = map[string]bool{}
		nAcked  atomic.Int64
		stop    atomic.Bool
		wg      sync.WaitGroup
		clients []*kgo.Client
	)
	for i := 0; i < producers; i++ {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
			kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(time.Millisecond),
			kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, cl)
		wg.Add(1)
		go func(id int, cl *kgo.Client) {
			defer wg.Done()
			for seq := 0; !stop.Load(); seq++ {
				v := fmt.Sprintf("p%d-%d", id, seq)
				cl.Produce(ctx, &kgo.Record{Key: []byte(v), Value: []byte(v)}, func(r *kgo.Record, err error) {
					if err == nil {
						mu.Lock()
						acked[string(r.Value)] = true
						mu.Unlock()
						nAcked.Add(1)
					}
				})
				if seq%64 == 63 {
					// Keep the buffer bounded while the broker is down.
					for cl.BufferedProduceRecords() > 2000 && !stop.Load() {
						time.Sleep(5 * time.Millisecond)
					}
				}
			}
		}(i, cl)
	}

	for k := 0; k < kills; k++ {
		target := nAcked.Load() + 3000
		for nAcked.Load() < target {
			if ctx.Err() != nil {
				t.Fatalf("round %d: producers stalled at %d acks", k, nAcked.Load())
			}
			time.Sleep(2 * time.Millisecond)
		}
		proc.Kill()
		proc = StartProc(t, bin, dataDir, addr)
	}
	stop.Store(true)
	wg.Wait()
	for _, cl := range clients {
		if err := cl.Flush(ctx); err != nil {
			t.Fatalf("flush: %v", err)
		}
		cl.Close()
	}
	// One more kill after the last acknowledgement, then a clean stop and
	// start: the final state must survive both.
	proc.Kill()
	proc = StartProc(t, bin, dataDir, addr)
	proc.Stop(t)
	proc = StartProc(t, bin, dataDir, addr)

	seen := readAll(t, ctx, addr, topic, partitions)
	mu.Lock()
	defer mu.Unlock()
	missing := 0
	for v := range acked {
		if seen[v] == 0 {
			missing++
			if missing <= 5 {
				t.Errorf("acknowledged record %s is missing", v)
			}
		}
	}
	dups := 0
	for v, n := range seen {
		if n > 1 {
			dups++
			if dups <= 5 {
				t.Errorf("record %s is in the log %d times", v, n)
			}
		}
	}
	if missing > 0 || dups > 0 {
		t.Fatalf("%d acknowledged records missing, %d duplicated, of %d acknowledged", missing, dups, len(acked))
	}
	t.Logf("%d records acknowledged across %d kills, all present exactly once (%d in the log)", len(acked), kills+1, len(seen))

	// The log takes new writes after all that.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatalf("produce after recovery: %v", err)
	}
}

// readAll consumes every partition from the start to its end, checking
// that offsets are dense and increasing, and counts each value.
func readAll(t *testing.T, ctx context.Context, addr, topic string, partitions int32) map[string]int {
	t.Helper()
	adm, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	ends, err := kadm.NewClient(adm).ListEndOffsets(ctx, topic)
	adm.Close()
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { want[o.Partition] = o.Offset })
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := map[string]int{}
	next := map[int32]int64{}
	done := func() bool {
		for p, end := range want {
			if next[p] < end {
				return false
			}
		}
		return true
	}
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading back: %v (positions %v, ends %v)", ctx.Err(), next, want)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("fetch partition %d: %v", p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != next[r.Partition] {
				t.Fatalf("partition %d: offset %d follows %d; offsets must be dense", r.Partition, r.Offset, next[r.Partition]-1)
			}
			next[r.Partition] = r.Offset + 1
			seen[string(r.Value)]++
		})
	}
	return seen
}

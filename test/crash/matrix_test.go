package crash

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCrashMatrix kills the broker with SIGKILL at random moments while it
// does several kinds of work at once: acks=all produce, retention deleting
// segments of a short-lived topic, topic creation and deletion, and a
// consumer group rebalancing and committing offsets. After each restart
// everything acknowledged must be there: records exactly once with dense
// offsets, topics whose creation was acknowledged (and not their
// acknowledged deletion), and committed offsets no older than the last
// acknowledged commit.
func TestCrashMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a broker process")
	}
	bin := Binary(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	addr := FreePort(t)
	const rounds = 6
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))

	extra := []string{
		"--set", "log.retention.check.interval.ms=200",
		"--set", "group.initial.rebalance.delay.ms=0",
	}
	proc := StartProc(t, bin, dataDir, addr, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	adm := newAdmin(t, addr)
	mustCreate(t, ctx, adm, "stream", 4, nil)
	// A topic whose segments roll every few records' time and expire
	// quickly, so retention deletes segments throughout the run.
	mustCreate(t, ctx, adm, "ephemeral", 2, map[string]*string{
		"segment.ms": kadm.StringPtr("50"), "retention.ms": kadm.StringPtr("300"),
	})

	st := &matrixState{acked: map[string]bool{}, topics: map[string]bool{}, unsure: map[string]bool{}, committed: map[int32]int64{}}
	for round := 0; round < rounds; round++ {
		runCtx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for _, work := range []func(context.Context, string, int){st.produce, st.churnTopics, st.group, st.ephemeral} {
			wg.Add(1)
			go func() { defer wg.Done(); work(runCtx, addr, round) }()
		}
		// Kill at a random point once work is under way.
		time.Sleep(time.Duration(200+rng.IntN(1200)) * time.Millisecond)
		proc.Kill()
		stop()
		wg.Wait()
		proc = StartProc(t, bin, dataDir, addr, extra...)
		st.verify(t, ctx, addr, round)
	}
	proc.Stop(t)
	proc = StartProc(t, bin, dataDir, addr, extra...)
	st.verify(t, ctx, addr, rounds)
	t.Logf("%d rounds: %d records acknowledged, %d topics alive, %d partition offsets committed", rounds+1, len(st.acked), st.liveTopics(), len(st.committed))
}

type matrixState struct {
	mu     sync.Mutex
	acked  map[string]bool // record values acknowledged on "stream"
	topics map[string]bool // topic -> alive, per acknowledged create/delete
	// unsure holds topics with a create or delete sent but not answered:
	// the broker may have done it before the kill, so either state is
	// right.
	unsure    map[string]bool
	committed map[int32]int64 // "stream" partition -> last acknowledged commit
}

func (s *matrixState) liveTopics() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, alive := range s.topics {
		if alive {
			n++
		}
	}
	return n
}

func newAdmin(t *testing.T, addr string) *kadm.Client {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

func mustCreate(t *testing.T, ctx context.Context, adm *kadm.Client, topic string, parts int32, cfg map[string]*string) {
	t.Helper()
	resp, err := adm.CreateTopic(ctx, parts, 1, cfg, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatal(err)
	}
}

// produce writes to "stream" with an idempotent acks=all producer.
func (s *matrixState) produce(ctx context.Context, addr string, round int) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("stream"), kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		return
	}
	defer cl.Close()
	for i := 0; ctx.Err() == nil; i++ {
		v := fmt.Sprintf("r%d-%d", round, i)
		cl.Produce(ctx, &kgo.Record{Key: []byte(v), Value: []byte(v)}, func(r *kgo.Record, err error) {
			if err == nil {
				s.mu.Lock()
				s.acked[string(r.Value)] = true
				s.mu.Unlock()
			}
		})
		if i%32 == 31 {
			cl.Flush(ctx)
		}
	}
}

// churnTopics creates and deletes topics, recording acknowledged outcomes.
func (s *matrixState) churnTopics(ctx context.Context, addr string, round int) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for i := 0; ctx.Err() == nil; i++ {
		name := fmt.Sprintf("churn-%d-%d", round, i)
		s.mark(name)
		resp, err := adm.CreateTopic(ctx, 2, 1, nil, name)
		if err == nil && resp.Err == nil {
			s.settle(name, true)
		}
		if i%2 == 1 {
			prev := fmt.Sprintf("churn-%d-%d", round, i-1)
			s.mark(prev)
			dresp, err := adm.DeleteTopics(ctx, prev)
			if err == nil {
				if r, ok := dresp[prev]; ok && r.Err == nil {
					s.settle(prev, false)
				}
			}
		}
	}
}

// mark notes a change sent to the broker and not yet answered.
func (s *matrixState) mark(topic string) {
	s.mu.Lock()
	s.unsure[topic] = true
	s.mu.Unlock()
}

// settle records an acknowledged change.
func (s *matrixState) settle(topic string, alive bool) {
	s.mu.Lock()
	s.topics[topic] = alive
	delete(s.unsure, topic)
	s.mu.Unlock()
}

// group runs two members of a consumer group on "stream" that join and
// leave, committing offsets synchronously.
func (s *matrixState) group(ctx context.Context, addr string, round int) {
	var wg sync.WaitGroup
	for m := 0; m < 2; m++ {
		wg.Add(1)
		go func(m int) {
			defer wg.Done()
			for ctx.Err() == nil {
				cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup("matrix"), kgo.ConsumeTopics("stream"),
					kgo.DisableAutoCommit(), kgo.SessionTimeout(6*time.Second), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
				if err != nil {
					return
				}
				// Each member stays a short while, then leaves: rebalances.
				until := time.Now().Add(time.Duration(300+m*200) * time.Millisecond)
				for time.Now().Before(until) && ctx.Err() == nil {
					pctx, pcancel := context.WithTimeout(ctx, 200*time.Millisecond)
					fs := cl.PollFetches(pctx)
					pcancel()
					offsets := map[int32]int64{}
					fs.EachRecord(func(r *kgo.Record) { offsets[r.Partition] = r.Offset + 1 })
					if len(offsets) == 0 {
						continue
					}
					if err := cl.CommitUncommittedOffsets(ctx); err == nil {
						s.mu.Lock()
						for p, o := range offsets {
							if o > s.committed[p] {
								s.committed[p] = o
							}
						}
						s.mu.Unlock()
					}
				}
				if ctx.Err() != nil {
					// The broker was killed: leaving the group would wait
					// for it, and a real crashed member never leaves.
					go cl.Close()
					return
				}
				cl.Close()
			}
		}(m)
	}
	wg.Wait()
}

// ephemeral keeps writing to the short-retention topic.
func (s *matrixState) ephemeral(ctx context.Context, addr string, round int) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("ephemeral"))
	if err != nil {
		return
	}
	defer cl.Close()
	for ctx.Err() == nil {
		// Asynchronous, with a flush that ends with ctx: a synchronous
		// produce would wait out the killed broker, retrying.
		cl.Produce(ctx, &kgo.Record{Value: []byte("tick")}, nil)
		cl.Flush(ctx)
		time.Sleep(5 * time.Millisecond)
	}
}

func (s *matrixState) verify(t *testing.T, ctx context.Context, addr string, round int) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := readAll(t, ctx, addr, "stream", 4)
	for v := range s.acked {
		if seen[v] != 1 {
			t.Fatalf("round %d: acknowledged record %s is in the log %d times", round, v, seen[v])
		}
	}
	for v, n := range seen {
		if n > 1 {
			t.Fatalf("round %d: record %s is in the log %d times", round, v, n)
		}
	}
	adm := newAdmin(t, addr)
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, alive := range s.topics {
		if s.unsure[name] {
			continue
		}
		if topics.Has(name) != alive {
			t.Fatalf("round %d: topic %s exists=%v, but its last acknowledged change says %v", round, name, topics.Has(name), alive)
		}
	}
	offs, err := adm.FetchOffsets(ctx, "matrix")
	if err != nil {
		t.Fatalf("round %d: fetch committed offsets: %v", round, err)
	}
	for p, want := range s.committed {
		got, ok := offs.Lookup("stream", p)
		if !ok || got.At < want {
			t.Fatalf("round %d: partition %d committed offset %d, but %d was acknowledged", round, p, got.At, want)
		}
	}
	// The short-retention topic reads cleanly from its start.
	ends, err := adm.ListEndOffsets(ctx, "ephemeral")
	if err != nil {
		t.Fatal(err)
	}
	starts, err := adm.ListStartOffsets(ctx, "ephemeral")
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		if st, _ := starts.Lookup("ephemeral", o.Partition); st.Offset > o.Offset {
			t.Fatalf("round %d: ephemeral-%d starts at %d past its end %d", round, o.Partition, st.Offset, o.Offset)
		}
	})
}

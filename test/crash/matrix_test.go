package crash

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCrashMatrix kills the broker with SIGKILL at random moments while it
// does several kinds of work at once: acks=all produce, retention deleting
// segments of a short-lived topic, topic creation and deletion, a consumer
// group rebalancing and committing offsets, and the log cleaner compacting
// a topic whose few keys are overwritten all the time. After each restart
// everything acknowledged must be there: records exactly once with dense
// offsets, topics whose creation was acknowledged (and not their
// acknowledged deletion), committed offsets no older than the last
// acknowledged commit, and for every key of the compacted topic its last
// acknowledged value or a later one that was sent.
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
		"--set", "log.cleaner.backoff.ms=50",
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

	// A compacted topic whose segments roll every 100ms of record time,
	// cleaned as soon as a hundredth of it is dirty: the cleaner is
	// rewriting segments whenever the kill comes.
	mustCreate(t, ctx, adm, "compacted", 2, map[string]*string{
		"cleanup.policy": kadm.StringPtr("compact"), "segment.ms": kadm.StringPtr("100"),
		"min.cleanable.dirty.ratio": kadm.StringPtr("0.01"),
	})

	st := &matrixState{acked: map[string]bool{}, topics: map[string]bool{}, unsure: map[string]bool{}, committed: map[int32]int64{},
		kvSent: map[string]int64{}, kvAcked: map[string]int64{}}
	for round := 0; round < rounds; round++ {
		runCtx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for _, work := range []func(context.Context, string, int){st.produce, st.churnTopics, st.group, st.ephemeral, st.overwrite} {
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
	// The compacted topic was compacted: the cleaner runs within its
	// backoff of the start, so poll until reading shows it.
	for st.kvCompacted == 0 {
		if ctx.Err() != nil {
			t.Fatal("the compacted topic was never compacted")
		}
		time.Sleep(50 * time.Millisecond)
		st.verifyCompacted(t, ctx, addr, rounds)
	}
	t.Logf("%d rounds: %d records acknowledged, %d topics alive, %d partition offsets committed, %d overwrites of %d keys (%d records compacted away)",
		rounds+1, len(st.acked), st.liveTopics(), len(st.committed), st.kvSeq, len(st.kvSent), st.kvCompacted)
}

// compactKeys is the keyspace of the compacted topic.
const compactKeys = 16

// compactKey is the key write seq goes to: key i gets every 2^(i+1)-th
// write (the last key the rest). Hot keys have their latest value in the
// active segment; the cold keys' latest values sit in the closed segments
// the cleaner rewrites, where losing one would show.
func compactKey(seq int64) string {
	return fmt.Sprintf("k%02d", min(bits.TrailingZeros64(uint64(seq+1)), compactKeys-1))
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
	// On "compacted" the value of each write is its sequence number, kvSeq
	// the next one; per key, the highest sent and acknowledged, and how
	// many records compaction was last seen to have removed.
	kvSeq       int64
	kvSent      map[string]int64
	kvAcked     map[string]int64
	kvCompacted int64
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

// overwrite writes to "compacted" with an idempotent acks=all producer,
// over compactKeys keys (see compactKey), so that every segment the
// cleaner looks at supersedes older ones.
func (s *matrixState) overwrite(ctx context.Context, addr string, round int) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("compacted"), kgo.ProducerLinger(time.Millisecond),
		kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		return
	}
	defer cl.Close()
	for i := 0; ctx.Err() == nil; i++ {
		s.mu.Lock()
		seq := s.kvSeq
		s.kvSeq++
		key := compactKey(seq)
		s.kvSent[key] = seq
		s.mu.Unlock()
		cl.Produce(ctx, &kgo.Record{Key: []byte(key), Value: []byte(strconv.FormatInt(seq, 10))}, func(r *kgo.Record, err error) {
			if err == nil {
				s.mu.Lock()
				if old, ok := s.kvAcked[key]; !ok || seq > old {
					s.kvAcked[key] = seq
				}
				s.mu.Unlock()
			}
		})
		if i%32 == 31 {
			cl.Flush(ctx)
		}
	}
}

// verifyCompacted reads "compacted" from the start: for every key, the
// value of its last record in offset order must be the last acknowledged
// one or a later one sent, and a key with an acknowledged write must be
// there. Offsets must increase; the gaps are what compaction removed.
func (s *matrixState) verifyCompacted(t *testing.T, ctx context.Context, addr string, round int) {
	t.Helper()
	latest, removed := readLatest(t, ctx, addr, "compacted")
	for key, acked := range s.kvAcked {
		v, ok := latest[key]
		if !ok {
			t.Fatalf("round %d: compacted key %s is missing; %d was acknowledged", round, key, acked)
		}
		seq, err := strconv.ParseInt(v, 10, 64)
		if err != nil || compactKey(seq) != key {
			t.Fatalf("round %d: compacted key %s has value %q, which was never sent for it", round, key, v)
		}
		if seq < acked {
			t.Fatalf("round %d: compacted key %s reads %d, older than %d which was acknowledged", round, key, seq, acked)
		}
		if seq > s.kvSent[key] {
			t.Fatalf("round %d: compacted key %s reads %d, never sent (last sent %d)", round, key, seq, s.kvSent[key])
		}
	}
	for key := range latest {
		if _, ok := s.kvSent[key]; !ok {
			t.Fatalf("round %d: compacted topic has key %s, never sent", round, key)
		}
	}
	s.kvCompacted = removed
}

// readLatest reads every partition of topic from its start to its end and
// returns each key's last value, and how many offsets below the end hold
// no record (removed by compaction).
func readLatest(t *testing.T, ctx context.Context, addr, topic string) (map[string]string, int64) {
	t.Helper()
	adm := newAdmin(t, addr)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	var removed int64
	ends.Each(func(o kadm.ListedOffset) {
		want[o.Partition] = o.Offset
		st, _ := starts.Lookup(topic, o.Partition)
		removed += o.Offset - st.Offset
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	latest := map[string]string{}
	next := map[int32]int64{}
	for p, end := range want {
		if end == 0 {
			delete(want, p)
		}
	}
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s back: %v (positions %v, ends %v)", topic, ctx.Err(), next, want)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("fetch %s-%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset < next[r.Partition] {
				t.Fatalf("%s-%d: offset %d after %d; offsets must increase", topic, r.Partition, r.Offset, next[r.Partition]-1)
			}
			next[r.Partition] = r.Offset + 1
			latest[string(r.Key)] = string(r.Value)
			removed--
			if next[r.Partition] >= want[r.Partition] {
				delete(want, r.Partition)
			}
		})
	}
	return latest, removed
}

func (s *matrixState) verify(t *testing.T, ctx context.Context, addr string, round int) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.verifyCompacted(t, ctx, addr, round)
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

package txn

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

// TestKill9TransactionalCopy runs a transactional copy job (consume from
// one topic, produce to another, offsets committed in the transaction)
// against a broker process and kills the broker with SIGKILL several times
// mid-run. Some transactions abort on purpose. The copiers start over with a new session after any error, as
// an application would. At the end the output, read at read_committed,
// holds every input record exactly once.
func TestKill9TransactionalCopy(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and kills a broker process")
	}
	bin := proctest.Binary(t)
	root := t.TempDir()
	if d := os.Getenv("CRASH_TEST_KEEP_DIR"); d != "" {
		root = d
	}
	dataDir := filepath.Join(root, "data")
	addr := proctest.FreePort(t)
	var extra []string
	for i := 0; i+1 < len(brokerConfig); i += 2 {
		extra = append(extra, "--set", brokerConfig[i]+"="+brokerConfig[i+1])
	}
	start := func() *proctest.Proc { return proctest.StartProc(t, bin, dataDir, addr, extra...) }
	proc := start()

	const (
		in, out, group = "crash-in", "crash-out", "crash-copy"
		inputs         = 10000
		copiers        = 2
		kills          = 4
	)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	adm, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	kadmin := kadm.NewClient(adm)
	for _, tp := range []struct {
		name string
		n    int32
	}{{in, 4}, {out, 3}} {
		if _, err := kadmin.CreateTopic(ctx, tp.n, 1, nil, tp.name); err != nil {
			t.Fatal(err)
		}
	}
	var want []string
	{
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(in), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
		if err != nil {
			t.Fatal(err)
		}
		// Small batches, so that transactions copy a few at a time.
		for i := 0; i < inputs; i += 25 {
			var rs []*kgo.Record
			for j := i; j < i+25; j++ {
				v := fmt.Sprintf("in-%05d", j)
				want = append(want, v)
				rs = append(rs, &kgo.Record{Value: []byte(v)})
			}
			if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		cl.Close()
	}

	var (
		stop     atomic.Bool
		wg       sync.WaitGroup
		sessions atomic.Int64
	)
	copier := func(id int) {
		defer wg.Done()
		for !stop.Load() && ctx.Err() == nil {
			sessions.Add(1)
			s, err := kgo.NewGroupTransactSession(
				kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(out),
				kgo.TransactionalID(fmt.Sprintf("crash-copier-%d", id)),
				kgo.TransactionTimeout(10*time.Second),
				kgo.ConsumerGroup(group), kgo.ConsumeTopics(in),
				kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.RequireStableFetchOffsets(),
				kgo.FetchMaxPartitionBytes(8<<10), kgo.FetchMaxWait(100*time.Millisecond),
				kgo.SessionTimeout(3*time.Second), kgo.HeartbeatInterval(300*time.Millisecond),
				kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
				kgo.RecordRetries(50),
			)
			if err != nil {
				t.Errorf("copier %d: %v", id, err)
				return
			}
			for round := 1; !stop.Load() && ctx.Err() == nil; round++ {
				pctx, pcancel := context.WithTimeout(ctx, 300*time.Millisecond)
				fs := s.PollRecords(pctx, 100)
				pcancel()
				if err := s.Begin(); err != nil {
					break
				}
				var rs []*kgo.Record
				fs.EachRecord(func(r *kgo.Record) {
					rs = append(rs, &kgo.Record{Key: r.Value, Value: r.Value})
				})
				// Synchronously, so an aborted transaction's records are
				// in the log too.
				s.ProduceSync(ctx, rs...)
				// Every fifth transaction aborts: its records are read
				// again and copied by a later one.
				if _, err := s.End(ctx, kgo.TransactionEndTry(round%5 != 0)); err != nil {
					// Not retryable: start over with a new session, whose
					// InitProducerId fences this one and aborts its
					// transaction if it is still open.
					break
				}
			}
			s.Close()
		}
	}
	for i := 0; i < copiers; i++ {
		wg.Add(1)
		go copier(i)
	}

	// progress is how many input records the group has committed.
	progress := func() int64 {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		defer pcancel()
		offs, err := kadmin.FetchOffsets(pctx, group)
		if err != nil {
			return -1
		}
		var n int64
		offs.Each(func(o kadm.OffsetResponse) {
			if o.Err == nil && o.Topic == in {
				n += o.At
			}
		})
		return n
	}
	waitFor := func(what string, target int64) {
		for {
			if p := progress(); p >= target {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s: committed progress stuck at %d of %d", what, progress(), target)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	for k := 1; k <= kills; k++ {
		waitFor(fmt.Sprintf("before kill %d", k), int64(inputs*k/(kills+2)))
		proc.Kill()
		proc = start()
	}
	waitFor("after the kills", inputs)
	stop.Store(true)
	wg.Wait()
	// One more kill after the end, then a clean stop and start.
	proc.Kill()
	proc = start()
	proc.Stop(t)
	proc = start()

	exactlyOnce(t, "output at read_committed", counts(readAll(t, addr, out, true)), want)
	// What the kills cost: records written by transactions that were
	// aborted (or fenced) and copied again.
	dirty := 0
	for _, n := range counts(readAll(t, addr, out, false)) {
		dirty += n
	}
	t.Logf("%d records copied exactly once across %d kills (%d copier sessions); the log holds %d, %d of them aborted",
		inputs, kills+1, sessions.Load(), dirty, dirty-inputs)
}

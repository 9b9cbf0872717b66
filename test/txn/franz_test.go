package txn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Committed transactions are read exactly once at read_committed, aborted
// ones never; read_uncommitted sees both. Under both transaction versions.
func TestFranzCommitAndAbort(t *testing.T) {
	t.Parallel()
	for _, mode := range txnModes {
		t.Run(mode.name, func(t *testing.T) {
			b := startBroker(t)
			const topic = "out"
			createTopic(t, b.Addr, topic, 3)
			ctx := ctxFor(t)
			opts := append([]kgo.Opt{
				kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(topic),
				kgo.TransactionalID("tx-" + mode.name), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
			}, mode.opts...)
			cl, err := kgo.NewClient(opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			var committed, aborted []string
			for txn := 0; txn < 10; txn++ {
				if err := cl.BeginTransaction(); err != nil {
					t.Fatal(err)
				}
				commit := txn%3 != 1
				for i := 0; i < 7; i++ {
					v := fmt.Sprintf("t%d-%d", txn, i)
					if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
						t.Fatalf("produce %s: %v", v, err)
					}
					if commit {
						committed = append(committed, v)
					} else {
						aborted = append(aborted, v)
					}
				}
				if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
					t.Fatalf("end transaction %d (commit=%v): %v", txn, commit, err)
				}
			}
			exactlyOnce(t, "read_committed", counts(readAll(t, b.Addr, topic, true)), committed)
			exactlyOnce(t, "read_uncommitted", counts(readAll(t, b.Addr, topic, false)), append(append([]string{}, committed...), aborted...))
		})
	}
}

// While a transaction is open, the last stable offset holds read_committed
// readers (and ListOffsets) at its first offset.
func TestFranzLastStableOffset(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	const topic = "lso"
	createTopic(t, b.Addr, topic, 1)
	ctx := ctxFor(t)
	plain, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	tx, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(topic), kgo.TransactionalID("lso"))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	if err := plain.ProduceSync(ctx, &kgo.Record{Value: []byte("a")}, &kgo.Record{Value: []byte("b")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := tx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := tx.ProduceSync(ctx, &kgo.Record{Value: []byte("open")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := plain.ProduceSync(ctx, &kgo.Record{Value: []byte("c")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm := adminFor(t, b.Addr)
	end, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	stable, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := end.Lookup(topic, 0); e.Offset != 4 {
		t.Fatalf("high watermark %d, want 4", e.Offset)
	}
	if s, _ := stable.Lookup(topic, 0); s.Offset != 2 {
		t.Fatalf("last stable offset %d, want 2 (the open transaction's first offset)", s.Offset)
	}
	// A read_committed consumer gets a and b, and nothing past them.
	rc, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var got []string
	for len(got) < 2 {
		rc.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		if ctx.Err() != nil {
			t.Fatal(ctx.Err())
		}
	}
	short, cancel := context.WithTimeout(ctx, time.Second)
	rc.PollFetches(short).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	cancel()
	if fmt.Sprint(got) != "[a b]" {
		t.Fatalf("read_committed read %v before the commit, want [a b]", got)
	}
	if err := tx.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	for len(got) < 4 {
		rc.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		if ctx.Err() != nil {
			t.Fatalf("after commit: %v (read %v)", ctx.Err(), got)
		}
	}
	if fmt.Sprint(got) != "[a b open c]" {
		t.Fatalf("read_committed read %v, want [a b open c]", got)
	}
}

// Consume-transform-produce with GroupTransactSession: every input record
// lands in the output exactly once at read_committed, and the group's
// committed offsets are the input's end, though some transactions abort
// and a second member joins half way.
func TestFranzGroupTransactSession(t *testing.T) {
	t.Parallel()
	for _, mode := range txnModes {
		t.Run(mode.name, func(t *testing.T) {
			b := startBroker(t)
			const in, out, group = "in", "out", "copier"
			createTopic(t, b.Addr, in, 4)
			createTopic(t, b.Addr, out, 2)
			ctx := ctxFor(t)
			var inputs []string
			pcl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(in), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
			if err != nil {
				t.Fatal(err)
			}
			var rs []*kgo.Record
			for i := 0; i < 2000; i++ {
				v := fmt.Sprintf("v%04d", i)
				inputs = append(inputs, v)
				rs = append(rs, &kgo.Record{Value: []byte(v)})
			}
			if err := pcl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			pcl.Close()

			var copied sync.Map
			copier := func(name string, abortEvery int, stop <-chan struct{}) error {
				opts := append([]kgo.Opt{
					kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(out),
					kgo.TransactionalID("copier-" + name),
					kgo.ConsumerGroup(group), kgo.ConsumeTopics(in),
					kgo.FetchIsolationLevel(kgo.ReadCommitted()),
					kgo.RequireStableFetchOffsets(),
					kgo.FetchMaxPartitionBytes(4096), kgo.FetchMaxWait(100 * time.Millisecond),
					kgo.SessionTimeout(6 * time.Second), kgo.HeartbeatInterval(500 * time.Millisecond),
				}, mode.opts...)
				s, err := kgo.NewGroupTransactSession(opts...)
				if err != nil {
					return err
				}
				defer s.Close()
				for round := 1; ; round++ {
					select {
					case <-stop:
						return nil
					default:
					}
					pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
					fs := s.PollFetches(pctx)
					cancel()
					if ctx.Err() != nil {
						return ctx.Err()
					}
					if err := s.Begin(); err != nil {
						return fmt.Errorf("begin: %w", err)
					}
					var n int
					fs.EachRecord(func(r *kgo.Record) {
						n++
						s.Produce(ctx, &kgo.Record{Key: r.Value, Value: r.Value}, func(_ *kgo.Record, err error) {
							if err != nil {
								t.Logf("%s produce: %v", name, err)
							}
						})
					})
					commit := kgo.TryCommit
					if abortEvery > 0 && round%abortEvery == 0 {
						commit = kgo.TryAbort
					}
					committed, err := s.End(ctx, commit)
					if err != nil {
						return fmt.Errorf("end: %w", err)
					}
					if committed && n > 0 {
						fs.EachRecord(func(r *kgo.Record) { copied.Store(string(r.Value), true) })
					}
				}
			}
			stop := make(chan struct{})
			errs := make(chan error, 2)
			go func() { errs <- copier("a", 3, stop) }()
			// A second member joins once some work is done: partitions move
			// between transactional members mid-stream.
			wait := func(n int) {
				for {
					c := 0
					copied.Range(func(_, _ any) bool { c++; return true })
					if c >= n {
						return
					}
					select {
					case err := <-errs:
						t.Fatalf("copier failed: %v", err)
					case <-ctx.Done():
						t.Fatalf("copied %d of %d: %v", c, n, ctx.Err())
					case <-time.After(20 * time.Millisecond):
					}
				}
			}
			wait(500)
			go func() { errs <- copier("b", 4, stop) }()
			wait(len(inputs))
			close(stop)
			for i := 0; i < 2; i++ {
				if err := <-errs; err != nil {
					t.Fatalf("copier: %v", err)
				}
			}
			exactlyOnce(t, "output at read_committed", counts(readAll(t, b.Addr, out, true)), inputs)

			// The committed offsets are the input's end.
			adm := adminFor(t, b.Addr)
			offs, err := adm.FetchOffsets(ctx, group)
			if err != nil {
				t.Fatal(err)
			}
			ends, err := adm.ListEndOffsets(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			ends.Each(func(e kadm.ListedOffset) {
				o, ok := offs.Lookup(in, e.Partition)
				if !ok || o.At != e.Offset {
					t.Errorf("group offset of %s-%d is %d, want the end %d", in, e.Partition, o.At, e.Offset)
				}
			})
		})
	}
}

// A producer whose transaction outlives its timeout is aborted by the
// coordinator and fenced: its data never becomes visible.
func TestFranzTransactionTimeout(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	const topic = "slow"
	createTopic(t, b.Addr, topic, 1)
	ctx := ctxFor(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(topic), kgo.TransactionalID("slow"),
		kgo.TransactionTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("too-late")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Wait until the coordinator aborted it.
	adm := adminFor(t, b.Addr)
	for {
		ds, err := adm.DescribeTransactions(ctx, "slow")
		if err != nil {
			t.Fatal(err)
		}
		if d, _ := ds.On("slow", nil); d.State == "CompleteAbort" {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the transaction was not aborted")
		case <-time.After(50 * time.Millisecond):
		}
	}
	err = cl.EndTransaction(ctx, kgo.TryCommit)
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("commit after the timeout: %v, want the producer fenced", err)
	}
	if got := counts(readAll(t, b.Addr, topic, true)); len(got) != 0 {
		t.Fatalf("read_committed sees %v from an aborted transaction", got)
	}
	if got := counts(readAll(t, b.Addr, topic, false)); got["too-late"] != 1 {
		t.Fatalf("read_uncommitted sees %v, want the aborted record", got)
	}
}

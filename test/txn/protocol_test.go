package txn

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/plexus/plexus/internal/records"
)

// rawClient is a client for hand-built requests, with API versions capped
// (pairs of key, max version). Produce stays below v13, which names topics
// by id.
func rawClient(t *testing.T, addr string, pins ...int16) *kgo.Client {
	t.Helper()
	v := kversion.Stable()
	v.SetMaxKeyVersion(0, 12)
	for i := 0; i+1 < len(pins); i += 2 {
		v.SetMaxKeyVersion(pins[i], pins[i+1])
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxVersions(v))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// batch builds a record batch: an idempotent one when pid >= 0.
func batch(pid int64, epoch int16, seq int32, n int, txn bool) []byte {
	h := records.NewHeader()
	h.ProducerID, h.ProducerEpoch, h.BaseSequence = pid, epoch, seq
	h.Transactional = txn
	h.BaseTimestamp = time.Now().UnixMilli()
	var b records.Builder
	b.Reset(h)
	for i := 0; i < n; i++ {
		b.Add(int32(i), h.BaseTimestamp, nil, []byte(fmt.Sprintf("%d-%d", seq, i)), nil)
	}
	out, err := b.AppendTo(nil)
	if err != nil {
		panic(err)
	}
	return out
}

// produceRaw sends one batch and returns the partition's answer.
func produceRaw(t *testing.T, cl *kgo.Client, txnID *string, topic string, b []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis, req.TransactionID = -1, 10_000, txnID
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = b
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxFor(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0]
}

// initPID runs InitProducerId until it is not CONCURRENT_TRANSACTIONS.
func initPID(t *testing.T, cl *kgo.Client, txnID *string) (int64, int16) {
	t.Helper()
	ctx := ctxFor(t)
	for {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID, req.TransactionTimeoutMillis = txnID, 60_000
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode == kerr.ConcurrentTransactions.Code {
			time.Sleep(10 * time.Millisecond) // the fenced transaction's markers are being written
			continue
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			t.Fatalf("InitProducerId: %v", err)
		}
		return resp.ProducerID, resp.ProducerEpoch
	}
}

func wantProduce(t *testing.T, what string, got kmsg.ProduceResponseTopicPartition, code int16, offset int64) {
	t.Helper()
	if got.ErrorCode != code || (code == 0 && offset >= 0 && got.BaseOffset != offset) {
		t.Fatalf("%s: %v at %d, want %v at %d", what, kerr.ErrorForCode(got.ErrorCode), got.BaseOffset, kerr.ErrorForCode(code), offset)
	}
}

// Duplicates, gaps and old epochs of an idempotent producer, before and
// after a restart.
func TestIdempotentDuplicatesAndGaps(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	createTopic(t, b.Addr, "idem", 1)
	cl := rawClient(t, b.Addr)
	pid, epoch := initPID(t, cl, nil)
	first := batch(pid, epoch, 0, 3, false)
	wantProduce(t, "first batch", produceRaw(t, cl, nil, "idem", first), 0, 0)
	wantProduce(t, "the same batch again", produceRaw(t, cl, nil, "idem", first), 0, 0)
	second := batch(pid, epoch, 3, 2, false)
	wantProduce(t, "second batch", produceRaw(t, cl, nil, "idem", second), 0, 3)
	wantProduce(t, "the first batch again", produceRaw(t, cl, nil, "idem", first), 0, 0)
	wantProduce(t, "a gap", produceRaw(t, cl, nil, "idem", batch(pid, epoch, 9, 1, false)), kerr.OutOfOrderSequenceNumber.Code, -1)
	wantProduce(t, "a sequence reused", produceRaw(t, cl, nil, "idem", batch(pid, epoch, 3, 1, false)), kerr.OutOfOrderSequenceNumber.Code, -1)
	wantProduce(t, "no sequence", produceRaw(t, cl, nil, "idem", batch(pid, epoch, -1, 1, false)), kerr.InvalidRecord.Code, -1)
	// KIP-360: the producer bumps its epoch itself and starts over at 0.
	wantProduce(t, "a new epoch not at 0", produceRaw(t, cl, nil, "idem", batch(pid, epoch+1, 5, 1, false)), kerr.OutOfOrderSequenceNumber.Code, -1)
	bumped := batch(pid, epoch+1, 0, 2, false)
	wantProduce(t, "a new epoch", produceRaw(t, cl, nil, "idem", bumped), 0, 5)
	wantProduce(t, "the old epoch", produceRaw(t, cl, nil, "idem", batch(pid, epoch, 5, 1, false)), kerr.InvalidProducerEpoch.Code, -1)

	b.Restart()
	cl = rawClient(t, b.Addr)
	wantProduce(t, "the newest batch after a restart", produceRaw(t, cl, nil, "idem", bumped), 0, 5)
	wantProduce(t, "the next batch after a restart", produceRaw(t, cl, nil, "idem", batch(pid, epoch+1, 2, 1, false)), 0, 7)
	// 3 + 2 records at the first epoch, 2 + 1 at the second: nothing twice.
	want := map[string]int{"0-0": 2, "0-1": 2, "0-2": 1, "3-0": 1, "3-1": 1, "2-0": 1}
	if got := counts(readAll(t, b.Addr, "idem", false)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("the log holds %v, want %v", got, want)
	}
}

// KIP-890 part 1: a transactional write to a partition that is not in the
// transaction is refused (INVALID_TXN_STATE before produce v11,
// TRANSACTION_ABORTABLE at v11); at v12 (part 2) it joins the transaction.
func TestTransactionalProduceChecks(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	createTopic(t, b.Addr, "tx", 2)
	txnID := "checks"
	// FindCoordinator creates __transaction_state.
	adm := adminFor(t, b.Addr)
	if _, err := adm.DescribeTransactions(ctxFor(t), txnID); err != nil && !errors.Is(err, kerr.TransactionalIDNotFound) {
		t.Logf("describe before init: %v", err)
	}
	v9 := rawClient(t, b.Addr, 0, 9)
	pid, epoch := initPID(t, v9, &txnID)
	wantProduce(t, "not added, v9", produceRaw(t, v9, &txnID, "tx", batch(pid, epoch, 0, 1, true)), kerr.InvalidTxnState.Code, -1)
	v11 := rawClient(t, b.Addr, 0, 11)
	wantProduce(t, "not added, v11", produceRaw(t, v11, &txnID, "tx", batch(pid, epoch, 0, 1, true)), kerr.TransactionAbortable.Code, -1)
	wantProduce(t, "no transactional id", produceRaw(t, v11, nil, "tx", batch(pid, epoch, 0, 1, true)), kerr.TransactionalIDAuthorizationFailed.Code, -1)
	v12 := rawClient(t, b.Addr, 0, 12)
	wantProduce(t, "implicitly added, v12", produceRaw(t, v12, &txnID, "tx", batch(pid, epoch, 0, 2, true)), 0, 0)
	ds, err := adm.DescribeTransactions(ctxFor(t), txnID)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := ds.On(txnID, nil)
	if d.State != "Ongoing" || len(d.Topics["tx"]) != 1 {
		t.Fatalf("after the implicit add: %+v", d)
	}
	wantProduce(t, "added, v9", produceRaw(t, v9, &txnID, "tx", batch(pid, epoch, 2, 1, true)), 0, 2)
	wantProduce(t, "non-transactional while open", produceRaw(t, v9, nil, "tx", batch(pid, epoch, 3, 1, false)), kerr.InvalidTxnState.Code, -1)
	wantProduce(t, "an old epoch", produceRaw(t, v9, &txnID, "tx", batch(pid, epoch-1, 0, 1, true)), kerr.InvalidProducerEpoch.Code, -1)
	other := "someone-else"
	wantProduce(t, "another transactional id", produceRaw(t, v9, &other, "tx", batch(pid, epoch, 3, 1, true)), kerr.InvalidProducerIDMapping.Code, -1)

	// The partition's LSO is held by the open transaction.
	offs, err := adm.ListCommittedOffsets(ctxFor(t), "tx")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := offs.Lookup("tx", 0); o.Offset != 0 {
		t.Fatalf("last stable offset %d, want 0", o.Offset)
	}
}

// A second producer with the same transactional id fences the first: the
// first's open transaction is aborted and its commit refused.
func TestFencedProducer(t *testing.T) {
	t.Parallel()
	for _, mode := range txnModes {
		t.Run(mode.name, func(t *testing.T) {
			b := startBroker(t)
			const topic = "fence"
			createTopic(t, b.Addr, topic, 1)
			ctx := ctxFor(t)
			newClient := func() *kgo.Client {
				cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(topic), kgo.TransactionalID("shared")}, mode.opts...)...)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(cl.Close)
				return cl
			}
			zombie := newClient()
			if err := zombie.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			if err := zombie.ProduceSync(ctx, &kgo.Record{Value: []byte("zombie")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			fresh := newClient()
			if err := fresh.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			if err := fresh.ProduceSync(ctx, &kgo.Record{Value: []byte("fresh")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			if err := fresh.EndTransaction(ctx, kgo.TryCommit); err != nil {
				t.Fatal(err)
			}
			// The zombie cannot write nor commit any more.
			perr := zombie.ProduceSync(ctx, &kgo.Record{Value: []byte("zombie-2")}).FirstErr()
			cerr := zombie.EndTransaction(ctx, kgo.TryCommit)
			if perr == nil && cerr == nil {
				t.Fatal("the fenced producer wrote and committed")
			}
			for _, err := range []error{perr, cerr} {
				if err != nil && !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) && !errors.Is(err, kerr.InvalidProducerIDMapping) && !errors.Is(err, kerr.OperationNotAttempted) {
					t.Logf("zombie error: %v", err)
				}
			}
			exactlyOnce(t, "read_committed", counts(readAll(t, b.Addr, topic, true)), []string{"fresh"})
		})
	}
}

// The admin APIs describe a hanging transaction, and WriteTxnMarkers (what
// `plexus txn abort` sends) closes it so the last stable offset moves.
func TestHangingTransactionAbort(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	const topic = "hang"
	createTopic(t, b.Addr, topic, 1)
	ctx := ctxFor(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(topic), kgo.TransactionalID("hanging"), kgo.TransactionTimeout(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("stuck")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	plain, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.ProduceSync(ctx, &kgo.Record{Value: []byte("behind")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm := adminFor(t, b.Addr)
	lso := func() int64 {
		offs, err := adm.ListCommittedOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		o, _ := offs.Lookup(topic, 0)
		return o.Offset
	}
	if got := lso(); got != 0 {
		t.Fatalf("last stable offset %d, want 0", got)
	}
	ps, err := adm.DescribeProducers(ctx, kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	var hanging *kadm.DescribedProducer
	for _, p := range ps.SortedProducers() {
		if p.CurrentTxnStartOffset >= 0 {
			hanging = &p
		}
	}
	if hanging == nil || hanging.CurrentTxnStartOffset != 0 || hanging.LastSequence != 0 {
		t.Fatalf("DescribeProducers: %+v", ps.SortedProducers())
	}
	lt, err := adm.ListTransactions(ctx, nil, []string{"Ongoing"})
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := lt["hanging"]; !ok || l.ProducerID != hanging.ProducerID {
		t.Fatalf("ListTransactions: %+v", lt)
	}
	res, err := adm.WriteTxnMarkers(ctx, kadm.TxnMarkers{
		ProducerID: hanging.ProducerID, ProducerEpoch: hanging.ProducerEpoch, Commit: false,
		CoordinatorEpoch: max(hanging.CoordinatorEpoch, 0), Topics: kadm.TopicsSet{topic: {0: {}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.SortedPartitions() {
		if p.Err != nil {
			t.Fatalf("WriteTxnMarkers %s-%d: %v", p.Topic, p.Partition, p.Err)
		}
	}
	if got := lso(); got != 3 {
		t.Fatalf("last stable offset %d after the abort, want 3", got)
	}
	exactlyOnce(t, "read_committed", counts(readAll(t, b.Addr, topic, true)), []string{"behind"})
}

// An open transaction survives a restart (the last stable offset stays
// held); committed and aborted ones keep their outcome; the coordinator
// remembers the transactional id.
func TestTransactionsSurviveRestart(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	const topic = "durable"
	createTopic(t, b.Addr, topic, 2)
	ctx := ctxFor(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(topic), kgo.TransactionalID("durable"), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	for i, commit := range []bool{true, false} {
		cl.BeginTransaction()
		for j := 0; j < 4; j++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("%d-%d", i, j))}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	cl.BeginTransaction()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("open")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	ds, err := adminFor(t, b.Addr).DescribeTransactions(ctx, "durable")
	if err != nil {
		t.Fatal(err)
	}
	before, _ := ds.On("durable", nil)
	cl.Close()

	b.Restart()
	adm := adminFor(t, b.Addr)
	ds, err = adm.DescribeTransactions(ctx, "durable")
	if err != nil {
		t.Fatal(err)
	}
	after, _ := ds.On("durable", nil)
	if after.State != "Ongoing" || after.ProducerID != before.ProducerID || after.ProducerEpoch != before.ProducerEpoch {
		t.Fatalf("after restart: %+v, before: %+v", after, before)
	}
	end, _ := adm.ListEndOffsets(ctx, topic)
	stable, _ := adm.ListCommittedOffsets(ctx, topic)
	held := false
	stable.Each(func(o kadm.ListedOffset) {
		if e, _ := end.Lookup(topic, o.Partition); o.Offset < e.Offset {
			held = true
		}
	})
	if !held {
		t.Fatal("no partition's last stable offset is held by the open transaction after the restart")
	}
	// A new producer with the id fences and aborts the open transaction.
	cl2, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(topic), kgo.TransactionalID("durable"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	if err := cl2.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl2.ProduceSync(ctx, &kgo.Record{Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := cl2.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, "read_committed", counts(readAll(t, b.Addr, topic, true)), []string{"0-0", "0-1", "0-2", "0-3", "after"})
}

// FindCoordinator for transactional ids (key type 1).
func TestFindTransactionCoordinator(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	cl := rawClient(t, b.Addr)
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorType, req.CoordinatorKeys = 1, []string{"a", ""}
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]kmsg.FindCoordinatorResponseCoordinator{}
	for _, c := range resp.Coordinators {
		byKey[c.Key] = c // the client may split and merge the keys
	}
	if c := byKey["a"]; c.ErrorCode != 0 || c.NodeID != 0 || c.Port <= 0 {
		t.Fatalf("coordinator of a: %+v", c)
	}
	if c, ok := byKey[""]; !ok || c.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("empty id: %+v", c)
	}
	ts, err := adminFor(t, b.Addr).ListTopics(ctxFor(t), "__transaction_state")
	if err != nil || ts["__transaction_state"].Err != nil || len(ts["__transaction_state"].Partitions) != 4 || !ts["__transaction_state"].IsInternal {
		t.Fatalf("__transaction_state: %v %+v", err, ts)
	}
	// ApiVersions advertises transaction.version 2.
	av, err := kmsg.NewPtrApiVersionsRequest().RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range av.FinalizedFeatures {
		if f.Name == "transaction.version" && f.MaxVersionLevel == 2 {
			found = true
		}
	}
	if !found || av.FinalizedFeaturesEpoch < 0 {
		t.Fatalf("finalized features %+v (epoch %d)", av.FinalizedFeatures, av.FinalizedFeaturesEpoch)
	}
}

// Offsets committed in a transaction become the group's offsets when the
// transaction commits, never when it aborts. TxnOffsetCommit below v5
// needs AddOffsetsToTxn first (KIP-890 part 1); v5 adds the group's
// partition itself (part 2).
func TestTransactionalOffsets(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	createTopic(t, b.Addr, "src", 1)
	ctx := ctxFor(t)
	adm := adminFor(t, b.Addr)
	txnID, group := "offsets", "og"
	cl := rawClient(t, b.Addr, 26, 4) // EndTxn v4: transactions version 1
	pid, epoch := initPID(t, cl, &txnID)
	committedAt := func() int64 {
		t.Helper()
		offs, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			t.Fatal(err)
		}
		if o, ok := offs.Lookup("src", 0); ok && o.Err == nil {
			return o.At
		}
		return -1
	}
	txnCommit := func(c *kgo.Client, version int16, offset int64) int16 {
		t.Helper()
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.Version = version
		req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = txnID, group, pid, epoch
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = "src"
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = 0, offset
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	endTxn := func(c *kgo.Client, commit bool) (int64, int16) {
		t.Helper()
		req := kmsg.NewPtrEndTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = txnID, pid, epoch, commit
		resp, err := req.RequestWith(ctx, c)
		if err != nil || resp.ErrorCode != 0 {
			t.Fatalf("EndTxn: %v %v", err, kerr.ErrorForCode(resp.ErrorCode))
		}
		return resp.ProducerID, resp.ProducerEpoch
	}
	v3 := rawClient(t, b.Addr, 28, 3, 26, 4)
	if code := txnCommit(v3, 3, 10); code != kerr.InvalidTxnState.Code {
		t.Fatalf("TxnOffsetCommit v3 without AddOffsetsToTxn: %v", kerr.ErrorForCode(code))
	}
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = txnID, pid, epoch, group
	if resp, err := add.RequestWith(ctx, v3); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("AddOffsetsToTxn: %v %+v", err, resp)
	}
	if code := txnCommit(v3, 3, 10); code != 0 {
		t.Fatalf("TxnOffsetCommit: %v", kerr.ErrorForCode(code))
	}
	if at := committedAt(); at != -1 {
		t.Fatalf("offset %d visible before the commit", at)
	}
	endTxn(v3, true)
	waitOffset := func(want int64) {
		t.Helper()
		for at := committedAt(); at != want; at = committedAt() {
			if ctx.Err() != nil {
				t.Fatalf("group offset %d, want %d", at, want)
			}
			time.Sleep(10 * time.Millisecond) // the markers are written after EndTxn answers
		}
	}
	waitOffset(10)

	// Transactions version 2: no AddOffsetsToTxn; an abort drops the offset.
	v5 := rawClient(t, b.Addr)
	if code := txnCommit(v5, 5, 20); code != 0 {
		t.Fatalf("TxnOffsetCommit v5: %v", kerr.ErrorForCode(code))
	}
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = txnID, pid, epoch, false
	resp, err := req.RequestWith(ctx, v5)
	if err != nil || resp.ErrorCode != 0 || resp.ProducerEpoch != epoch+1 {
		t.Fatalf("EndTxn v5 abort: %v %+v", err, resp)
	}
	epoch = resp.ProducerEpoch
	if code := txnCommit(v5, 5, 30); code != 0 {
		t.Fatalf("TxnOffsetCommit v5 after the abort: %v", kerr.ErrorForCode(code))
	}
	if at := committedAt(); at != 10 {
		t.Fatalf("group offset %d while the second transaction is open, want 10", at)
	}
	req.ProducerEpoch, req.Commit = epoch, true
	if resp, err := req.RequestWith(ctx, v5); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("EndTxn v5 commit: %v %+v", err, resp)
	}
	waitOffset(30)
}

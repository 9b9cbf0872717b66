package txn

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// harness drives a Machine with a hand-moved clock: appends and markers
// are held until the test makes them durable, and every record written is
// kept so a second machine can load it.
type harness struct {
	t       *testing.T
	m       *Machine
	now     time.Time
	nextPID int64
	nextID  uint64
	replies map[uint64]Reply
	appends []Append
	markers []Markers
	log     []Record // every durable record, in order
}

var testConfig = Config{
	MaxTimeout:         15 * time.Minute,
	IDExpiration:       7 * 24 * time.Hour,
	AbortInterval:      10 * time.Second,
	ExpireInterval:     time.Hour,
	TransactionVersion: 2,
	RetryBackoff:       100 * time.Millisecond,
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, now: time.UnixMilli(1_700_000_000_000), nextPID: 1000, replies: map[uint64]Reply{}}
	h.m = h.newMachine()
	h.run(h.m.SetTopic(h.now, 4, false))
	return h
}

func (h *harness) newMachine() *Machine {
	m := NewMachine(testConfig, slog.New(slog.NewTextHandler(io.Discard, nil)))
	m.NewProducerID = func() (int64, error) {
		h.nextPID++
		return h.nextPID - 1, nil
	}
	m.Exists = func(topic string, p int32) bool { return topic != "missing" }
	return m
}

func (h *harness) run(out Output) {
	for _, r := range out.Replies {
		if _, dup := h.replies[r.ID]; dup {
			h.t.Fatalf("request %d answered twice", r.ID)
		}
		h.replies[r.ID] = r
	}
	h.appends = append(h.appends, out.Appends...)
	h.markers = append(h.markers, out.Markers...)
}

func (h *harness) id() uint64 { h.nextID++; return h.nextID }

// durable makes every pending append durable (fail: with that code).
func (h *harness) durable(fail int16) {
	for len(h.appends) > 0 {
		a := h.appends[0]
		h.appends = h.appends[1:]
		if fail == 0 {
			h.log = append(h.log, a.Records...)
		}
		h.run(h.m.Appended(h.now, a.Token, fail))
	}
}

// writeMarkers reports every requested marker job done and returns them.
func (h *harness) writeMarkers() []Markers {
	mks := h.markers
	h.markers = nil
	for _, mk := range mks {
		h.run(h.m.MarkersWritten(h.now, mk.Token))
	}
	h.durable(0)
	return mks
}

func (h *harness) reply(id uint64) Reply {
	h.t.Helper()
	r, ok := h.replies[id]
	if !ok {
		h.t.Fatalf("request %d not answered", id)
	}
	delete(h.replies, id)
	return r
}

func (h *harness) noReply(id uint64) {
	h.t.Helper()
	if _, ok := h.replies[id]; ok {
		h.t.Fatalf("request %d answered too early: %+v", id, h.replies[id])
	}
}

func wantCode(t *testing.T, what string, got, want int16) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: %v, want %v", what, kerr.ErrorForCode(got), kerr.ErrorForCode(want))
	}
}

// initPID runs InitProducerId (v5 unless version says otherwise) through
// durability and returns the answer.
func (h *harness) initPID(txnID string, version int16, timeoutMs int32, pid int64, epoch int16) *kmsg.InitProducerIDResponse {
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = version
	req.TransactionalID = &txnID
	req.TransactionTimeoutMillis = timeoutMs
	req.ProducerID, req.ProducerEpoch = pid, epoch
	id := h.id()
	h.run(h.m.InitProducerID(h.now, id, req))
	h.durable(0)
	return h.reply(id).Response.(*kmsg.InitProducerIDResponse)
}

func (h *harness) mustInit(txnID string) (int64, int16) {
	h.t.Helper()
	r := h.initPID(txnID, 5, 60_000, -1, -1)
	wantCode(h.t, "init "+txnID, r.ErrorCode, 0)
	return r.ProducerID, r.ProducerEpoch
}

func (h *harness) addPartitions(version int16, txnID string, pid int64, epoch int16, tps ...TP) map[TP]int16 {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = version
	req.TransactionalID, req.ProducerID, req.ProducerEpoch = txnID, pid, epoch
	for _, tp := range tps {
		t := kmsg.NewAddPartitionsToTxnRequestTopic()
		t.Topic, t.Partitions = tp.Topic, []int32{tp.Partition}
		req.Topics = append(req.Topics, t)
	}
	id := h.id()
	h.run(h.m.AddPartitionsToTxn(h.now, id, req))
	h.durable(0)
	out := map[TP]int16{}
	for _, t := range h.reply(id).Response.(*kmsg.AddPartitionsToTxnResponse).Topics {
		for _, p := range t.Partitions {
			out[TP{t.Topic, p.Partition}] = p.ErrorCode
		}
	}
	return out
}

func (h *harness) mustAdd(txnID string, pid int64, epoch int16, tps ...TP) {
	h.t.Helper()
	for tp, code := range h.addPartitions(3, txnID, pid, epoch, tps...) {
		wantCode(h.t, fmt.Sprintf("add %v", tp), code, 0)
	}
}

// endTxn sends EndTxn; it leaves markers pending.
func (h *harness) endTxn(version int16, txnID string, pid int64, epoch int16, commit bool) *kmsg.EndTxnResponse {
	req := kmsg.NewPtrEndTxnRequest()
	req.Version = version
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = txnID, pid, epoch, commit
	id := h.id()
	h.run(h.m.EndTxn(h.now, id, req))
	h.durable(0)
	return h.reply(id).Response.(*kmsg.EndTxnResponse)
}

func (h *harness) admit(w Write) (uint64, int16) {
	id := h.id()
	h.run(h.m.Admit(h.now, id, w))
	h.durable(0)
	return id, h.reply(id).Code
}

func (h *harness) describe(txnID string) kmsg.DescribeTransactionsResponseTransactionState {
	req := kmsg.NewPtrDescribeTransactionsRequest()
	req.TransactionalIDs = []string{txnID}
	id := h.id()
	h.run(h.m.DescribeTransactions(h.now, id, req))
	return h.reply(id).Response.(*kmsg.DescribeTransactionsResponse).TransactionStates[0]
}

func (h *harness) wantState(txnID string, state State, pid int64, epoch int16) {
	h.t.Helper()
	d := h.describe(txnID)
	if d.ErrorCode != 0 || d.State != state.String() || d.ProducerID != pid || d.ProducerEpoch != int16(epoch) {
		h.t.Fatalf("%s: %s %s pid %d epoch %d, want %s pid %d epoch %d", txnID, kerr.ErrorForCode(d.ErrorCode), d.State, d.ProducerID, d.ProducerEpoch, state, pid, epoch)
	}
}

func (h *harness) advance(d time.Duration) {
	h.now = h.now.Add(d)
	h.run(h.m.Tick(h.now))
}

var (
	t0 = TP{"t", 0}
	t1 = TP{"t", 1}
	t2 = TP{"t", 2}
)

func TestInitProducerID(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.mustInit("a")
	if pid != 1000 || epoch != 0 {
		t.Fatalf("first init: %d/%d", pid, epoch)
	}
	// A second producer with the same id fences the first.
	if pid2, epoch2 := h.mustInit("a"); pid2 != pid || epoch2 != 1 {
		t.Fatalf("second init: %d/%d, want %d/1", pid2, epoch2, pid)
	}
	wantCode(t, "timeout above the max", h.initPID("a", 5, int32(testConfig.MaxTimeout.Milliseconds())+1, -1, -1).ErrorCode, kerr.InvalidTransactionTimeout.Code)
	wantCode(t, "zero timeout", h.initPID("a", 5, 0, -1, -1).ErrorCode, kerr.InvalidTransactionTimeout.Code)
	wantCode(t, "empty id", h.initPID("", 5, 1000, -1, -1).ErrorCode, kerr.InvalidRequest.Code)
	wantCode(t, "id without epoch", h.initPID("a", 5, 1000, pid, -1).ErrorCode, kerr.InvalidRequest.Code)

	// KIP-360: a producer names its id and epoch to bump it.
	if r := h.initPID("a", 5, 1000, pid, 1); r.ErrorCode != 0 || r.ProducerEpoch != 2 {
		t.Fatalf("bump with the current epoch: %+v", r)
	}
	// A retry of that bump (the answer was lost) gets the same epoch.
	if r := h.initPID("a", 5, 1000, pid, 1); r.ErrorCode != 0 || r.ProducerEpoch != 2 {
		t.Fatalf("retried bump: %+v", r)
	}
	wantCode(t, "a stale epoch", h.initPID("a", 5, 1000, pid, 0).ErrorCode, kerr.ProducerFenced.Code)
	wantCode(t, "a stale epoch before v4", h.initPID("a", 3, 1000, pid, 0).ErrorCode, kerr.InvalidProducerEpoch.Code)
	wantCode(t, "another producer id", h.initPID("a", 5, 1000, 4242, 0).ErrorCode, kerr.ProducerFenced.Code)

	// Before __transaction_state exists, and while it loads.
	h2 := &harness{t: t, now: h.now, nextPID: 1, replies: map[uint64]Reply{}}
	h2.m = h2.newMachine()
	wantCode(t, "no topic", h2.initPID("a", 5, 1000, -1, -1).ErrorCode, kerr.NotCoordinator.Code)
	h2.run(h2.m.SetTopic(h2.now, 4, true))
	wantCode(t, "loading", h2.initPID("a", 5, 1000, -1, -1).ErrorCode, kerr.CoordinatorLoadInProgress.Code)
	h2.run(h2.m.LoadDone(h2.now, partitionFor("a", 4), 0))
	wantCode(t, "loaded", h2.initPID("a", 5, 1000, -1, -1).ErrorCode, 0)
}

// Transactions version 1: partitions added explicitly, the epoch kept.
func TestTransactionV1(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.mustInit("a")
	wantCode(t, "commit with nothing added", h.endTxn(3, "a", pid, epoch, true).ErrorCode, kerr.InvalidTxnState.Code)
	h.mustAdd("a", pid, epoch, t0, t1)
	h.wantState("a", Ongoing, pid, epoch)
	if codes := h.addPartitions(3, "a", pid, epoch, TP{"missing", 0}, t2); codes[TP{"missing", 0}] != kerr.UnknownTopicOrPartition.Code || codes[t2] != kerr.OperationNotAttempted.Code {
		t.Fatalf("unknown partition: %v", codes)
	}
	wantCode(t, "add with an old epoch", h.addPartitions(3, "a", pid, epoch-1, t2)[t2], kerr.ProducerFenced.Code)
	wantCode(t, "add with an old epoch, v1", h.addPartitions(1, "a", pid, epoch-1, t2)[t2], kerr.InvalidProducerEpoch.Code)
	wantCode(t, "add with another producer id", h.addPartitions(3, "a", pid+1, epoch, t2)[t2], kerr.InvalidProducerIDMapping.Code)

	// KIP-890 part 1: a write must name a partition of the transaction.
	inflight, code := h.admit(Write{TransactionalID: "a", ProducerID: pid, ProducerEpoch: epoch, Partition: t0})
	wantCode(t, "admit t-0", code, 0)
	_, code = h.admit(Write{TransactionalID: "a", ProducerID: pid, ProducerEpoch: epoch, Partition: t2})
	wantCode(t, "admit a partition not added", code, kerr.TransactionAbortable.Code)
	_, code = h.admit(Write{TransactionalID: "a", ProducerID: pid, ProducerEpoch: epoch - 1, Partition: t0})
	wantCode(t, "admit an old epoch", code, kerr.ProducerFenced.Code)

	if r := h.endTxn(3, "a", pid, epoch, true); r.ErrorCode != 0 {
		t.Fatalf("commit: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	h.wantState("a", PrepareCommit, pid, epoch)
	// The admitted write to t-0 has not been released: no markers yet.
	if len(h.markers) != 0 {
		t.Fatalf("markers sent while a write is in flight: %+v", h.markers)
	}
	wantCode(t, "commit while committing", h.endTxn(3, "a", pid, epoch, true).ErrorCode, kerr.ConcurrentTransactions.Code)
	wantCode(t, "abort while committing", h.endTxn(3, "a", pid, epoch, false).ErrorCode, kerr.InvalidTxnState.Code)
	_, code = h.admit(Write{TransactionalID: "a", ProducerID: pid, ProducerEpoch: epoch, Partition: t0})
	wantCode(t, "admit while committing", code, kerr.ConcurrentTransactions.Code)
	h.run(h.m.Release(h.now, inflight))
	mks := h.writeMarkers()
	want := []Markers{{Token: mks[0].Token, TransactionalID: "a", ProducerID: pid, ProducerEpoch: epoch, Commit: true, Partitions: []TP{t0, t1}}}
	if !reflect.DeepEqual(mks, want) {
		t.Fatalf("markers %+v, want %+v", mks, want)
	}
	h.wantState("a", CompleteCommit, pid, epoch)
	wantCode(t, "a retried commit", h.endTxn(3, "a", pid, epoch, true).ErrorCode, 0)
	wantCode(t, "abort after commit", h.endTxn(3, "a", pid, epoch, false).ErrorCode, kerr.InvalidTxnState.Code)

	// The next transaction keeps the epoch; an abort writes abort markers.
	h.mustAdd("a", pid, epoch, t2)
	wantCode(t, "abort", h.endTxn(3, "a", pid, epoch, false).ErrorCode, 0)
	if mks := h.writeMarkers(); len(mks) != 1 || mks[0].Commit || mks[0].ProducerEpoch != epoch || mks[0].Strict || !reflect.DeepEqual(mks[0].Partitions, []TP{t2}) {
		t.Fatalf("abort markers %+v", mks)
	}
	h.wantState("a", CompleteAbort, pid, epoch)
}

// Transactions version 2 (KIP-890 part 2): partitions join with their
// first write, and every EndTxn bumps the epoch.
func TestTransactionV2(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.mustInit("b")
	w := Write{TransactionalID: "b", ProducerID: pid, ProducerEpoch: epoch, Partition: t0, ImplicitAdd: true}
	id, code := h.admit(w)
	wantCode(t, "implicit add", code, 0)
	h.run(h.m.Release(h.now, id))
	w.Partition = TP{OffsetsTopic, 3}
	id, code = h.admit(w)
	wantCode(t, "implicit add of the group's partition", code, 0)
	h.run(h.m.Release(h.now, id))
	h.wantState("b", Ongoing, pid, epoch)

	r := h.endTxn(5, "b", pid, epoch, true)
	if r.ErrorCode != 0 || r.ProducerID != pid || r.ProducerEpoch != epoch+1 {
		t.Fatalf("commit v5: %+v", r)
	}
	mks := h.writeMarkers()
	if len(mks) != 1 || !mks[0].Strict || mks[0].ProducerEpoch != epoch+1 || !reflect.DeepEqual(mks[0].Partitions, []TP{{OffsetsTopic, 3}, t0}) {
		t.Fatalf("markers %+v", mks)
	}
	h.wantState("b", CompleteCommit, pid, epoch+1)
	// A retry of the commit with the old epoch succeeds with the new one.
	if r := h.endTxn(5, "b", pid, epoch, true); r.ErrorCode != 0 || r.ProducerEpoch != epoch+1 {
		t.Fatalf("retried commit: %+v", r)
	}
	wantCode(t, "retried commit as abort", h.endTxn(5, "b", pid, epoch, false).ErrorCode, kerr.InvalidTxnState.Code)
	wantCode(t, "commit with nothing in it", h.endTxn(5, "b", pid, epoch+1, true).ErrorCode, kerr.InvalidTxnState.Code)
	// An abort with nothing in it is allowed and bumps the epoch.
	if r := h.endTxn(5, "b", pid, epoch+1, false); r.ErrorCode != 0 || r.ProducerEpoch != epoch+2 {
		t.Fatalf("empty abort: %+v", r)
	}
	if mks := h.writeMarkers(); len(mks) != 0 {
		t.Fatalf("an empty abort wrote markers: %+v", mks)
	}
	h.wantState("b", CompleteAbort, pid, epoch+2)
	_, code = h.admit(Write{TransactionalID: "b", ProducerID: pid, ProducerEpoch: epoch + 1, Partition: t0, ImplicitAdd: true})
	wantCode(t, "a write with the epoch before the bump", code, kerr.ProducerFenced.Code)

	// Two partitions joining at once: the second waits for the first.
	e := epoch + 2
	id1 := h.id()
	h.run(h.m.Admit(h.now, id1, Write{TransactionalID: "b", ProducerID: pid, ProducerEpoch: e, Partition: t1, ImplicitAdd: true}))
	id2 := h.id()
	h.run(h.m.Admit(h.now, id2, Write{TransactionalID: "b", ProducerID: pid, ProducerEpoch: e, Partition: t2, ImplicitAdd: true}))
	h.noReply(id2)
	h.durable(0)
	wantCode(t, "first join", h.reply(id1).Code, 0)
	wantCode(t, "second join", h.reply(id2).Code, 0)
	d := h.describe("b")
	if len(d.Topics) != 1 || !reflect.DeepEqual(d.Topics[0].Partitions, []int32{1, 2}) {
		t.Fatalf("partitions %+v", d.Topics)
	}
}

// A new producer with the same transactional id aborts the old one's
// transaction and fences it.
func TestFencing(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.mustInit("a")
	h.mustAdd("a", pid, epoch, t0)
	r := h.initPID("a", 5, 60_000, -1, -1)
	wantCode(t, "init over an open transaction", r.ErrorCode, kerr.ConcurrentTransactions.Code)
	mks := h.writeMarkers()
	// Server TV2: the fence bumps once, the abort once more.
	if len(mks) != 1 || mks[0].Commit || mks[0].ProducerEpoch != epoch+2 || !mks[0].Strict {
		t.Fatalf("fencing abort markers %+v", mks)
	}
	wantCode(t, "the zombie commits", h.endTxn(3, "a", pid, epoch, true).ErrorCode, kerr.ProducerFenced.Code)
	wantCode(t, "the zombie commits, v1", h.endTxn(1, "a", pid, epoch, true).ErrorCode, kerr.InvalidProducerEpoch.Code)
	wantCode(t, "the zombie adds", h.addPartitions(3, "a", pid, epoch, t1)[t1], kerr.ProducerFenced.Code)
	if pid2, epoch2 := h.mustInit("a"); pid2 != pid || epoch2 != epoch+3 {
		t.Fatalf("retried init: %d/%d, want %d/%d", pid2, epoch2, pid, epoch+3)
	}
}

// A transaction open past its timeout is aborted on the abort interval,
// and its producer fenced.
func TestTimeoutAborts(t *testing.T) {
	h := newHarness(t)
	r := h.initPID("a", 5, 5_000, -1, -1)
	pid, epoch := r.ProducerID, r.ProducerEpoch
	h.mustAdd("a", pid, epoch, t0)
	h.advance(4 * time.Second)
	h.advance(4 * time.Second) // 8s: past the timeout but before the abort check at 10s
	h.wantState("a", Ongoing, pid, epoch)
	h.advance(2 * time.Second)
	h.durable(0)
	h.wantState("a", PrepareAbort, pid, epoch+2)
	mks := h.writeMarkers()
	if len(mks) != 1 || mks[0].Commit {
		t.Fatalf("timeout markers %+v", mks)
	}
	h.wantState("a", CompleteAbort, pid, epoch+2)
	_, code := h.admit(Write{TransactionalID: "a", ProducerID: pid, ProducerEpoch: epoch, Partition: t0})
	wantCode(t, "the timed-out producer writes", code, kerr.ProducerFenced.Code)
	wantCode(t, "the timed-out producer commits", h.endTxn(3, "a", pid, epoch, true).ErrorCode, kerr.ProducerFenced.Code)
	if next := h.m.NextDeadline(); !next.After(h.now) {
		t.Fatalf("next deadline %v is not after now %v", next, h.now)
	}
}

func TestEpochExhaustionRotatesProducerID(t *testing.T) {
	h := newHarness(t)
	pid, _ := h.mustInit("a")
	h.m.txns["a"].epoch = math.MaxInt16 - 2
	if p, e := h.mustInit("a"); p != pid || e != math.MaxInt16-1 {
		t.Fatalf("init to the last epoch: %d/%d", p, e)
	}
	p2, e2 := h.mustInit("a")
	if p2 == pid || e2 != 0 {
		t.Fatalf("init past the last epoch: %d/%d, want a new id at 0", p2, e2)
	}
	// TV2: the commit at the last epoch rotates the id and answers with it.
	h.m.txns["a"].epoch = math.MaxInt16 - 1
	h.mustAdd("a", p2, math.MaxInt16-1, t0)
	r := h.endTxn(5, "a", p2, math.MaxInt16-1, true)
	if r.ErrorCode != 0 || r.ProducerID == p2 || r.ProducerEpoch != 0 {
		t.Fatalf("commit at the last epoch: %+v", r)
	}
	if mks := h.writeMarkers(); len(mks) != 1 || mks[0].ProducerID != p2 || mks[0].ProducerEpoch != math.MaxInt16 {
		t.Fatalf("markers %+v", mks)
	}
	h.wantState("a", CompleteCommit, r.ProducerID, 0)
	// The client retrying the commit with its old id and epoch is answered.
	if rr := h.endTxn(5, "a", p2, math.MaxInt16-1, true); rr.ErrorCode != 0 || rr.ProducerID != r.ProducerID {
		t.Fatalf("retried commit across the rotation: %+v", rr)
	}
}

// The state and unfinished markers survive a reload from the log.
func TestReload(t *testing.T) {
	h := newHarness(t)
	pa, ea := h.mustInit("a")
	h.mustAdd("a", pa, ea, t0, t1)
	pb, eb := h.mustInit("b")
	h.mustAdd("b", pb, eb, t2)
	wantCode(t, "commit b", h.endTxn(3, "b", pb, eb, true).ErrorCode, 0)
	h.markers = nil // the broker died before writing them
	pc, ec := h.mustInit("c")
	_ = ec

	h2 := &harness{t: t, now: h.now.Add(time.Second), nextPID: 5000, replies: map[uint64]Reply{}}
	h2.m = h2.newMachine()
	h2.run(h2.m.SetTopic(h2.now, 4, true))
	for _, r := range h.log {
		if err := h2.m.Replay(r.Key, r.Value); err != nil {
			t.Fatal(err)
		}
	}
	for p := int32(0); p < 4; p++ {
		h2.run(h2.m.LoadDone(h2.now, p, 3))
	}
	h2.wantState("a", Ongoing, pa, ea)
	h2.wantState("c", Empty, pc, 0)
	h2.wantState("b", PrepareCommit, pb, eb)
	mks := h2.writeMarkers()
	if len(mks) != 1 || mks[0].ProducerID != pb || !mks[0].Commit || mks[0].CoordinatorEpoch != 3 || !reflect.DeepEqual(mks[0].Partitions, []TP{t2}) {
		t.Fatalf("markers after reload: %+v", mks)
	}
	h2.wantState("b", CompleteCommit, pb, eb)
	d := h2.describe("a")
	if len(d.Topics) != 1 || !reflect.DeepEqual(d.Topics[0].Partitions, []int32{0, 1}) || d.StartTimestamp != h.now.UnixMilli() {
		t.Fatalf("a after reload: %+v", d)
	}
}

// Failed appends answer the request and leave no pending transition; a
// failed completion is retried.
func TestAppendFailures(t *testing.T) {
	h := newHarness(t)
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = 5
	id := "a"
	req.TransactionalID, req.TransactionTimeoutMillis = &id, 60_000
	rid := h.id()
	h.run(h.m.InitProducerID(h.now, rid, req))
	h.durable(kerr.NotLeaderForPartition.Code)
	wantCode(t, "init on a failed append", h.reply(rid).Response.(*kmsg.InitProducerIDResponse).ErrorCode, kerr.NotCoordinator.Code)
	pid, epoch := h.mustInit("a")
	h.mustAdd("a", pid, epoch, t0)
	wantCode(t, "commit", h.endTxn(3, "a", pid, epoch, true).ErrorCode, 0)
	mk := h.markers[0]
	h.markers = nil
	h.run(h.m.MarkersWritten(h.now, mk.Token))
	h.durable(kerr.KafkaStorageError.Code)
	h.wantState("a", PrepareCommit, pid, epoch)
	h.advance(50 * time.Millisecond)
	if len(h.appends) != 0 {
		t.Fatal("completion retried before the backoff")
	}
	h.advance(60 * time.Millisecond)
	h.durable(0)
	h.wantState("a", CompleteCommit, pid, epoch)
}

func TestExpiration(t *testing.T) {
	h := newHarness(t)
	pa, ea := h.mustInit("a")
	h.mustAdd("a", pa, ea, t0)
	h.mustInit("b")
	for i := 0; i < 7*24+1; i++ {
		h.advance(time.Hour)
		h.durable(0)
	}
	if d := h.describe("b"); d.ErrorCode != kerr.TransactionalIDNotFound.Code {
		t.Fatalf("expired id described: %+v", d)
	}
	// "a" has a transaction open (aborted by its timeout long ago, so
	// it is complete now and idle past the expiration... after one more
	// interval it goes too).
	h.writeMarkers()
	h.advance(7*24*time.Hour + time.Hour)
	h.durable(0)
	if d := h.describe("a"); d.ErrorCode != kerr.TransactionalIDNotFound.Code {
		t.Fatalf("a: %+v", d)
	}
	// A tombstone was written for each.
	tombstones := 0
	for _, r := range h.log {
		if r.Value == nil {
			tombstones++
		}
	}
	if tombstones != 2 {
		t.Fatalf("%d tombstones, want 2", tombstones)
	}
}

func TestListAndDescribe(t *testing.T) {
	h := newHarness(t)
	pa, ea := h.mustInit("alpha")
	h.mustAdd("alpha", pa, ea, t0)
	h.now = h.now.Add(time.Minute)
	h.mustInit("beta")
	list := func(version int16, states []string, pids []int64, dur int64, pattern *string) *kmsg.ListTransactionsResponse {
		req := kmsg.NewPtrListTransactionsRequest()
		req.Version, req.StateFilters, req.ProducerIDFilters, req.DurationFilterMillis, req.TransactionalIDPattern = version, states, pids, dur, pattern
		id := h.id()
		h.run(h.m.ListTransactions(h.now, id, req))
		return h.reply(id).Response.(*kmsg.ListTransactionsResponse)
	}
	names := func(r *kmsg.ListTransactionsResponse) []string {
		var out []string
		for _, s := range r.TransactionStates {
			out = append(out, s.TransactionalID+"="+s.TransactionState)
		}
		return out
	}
	pat := "^b"
	bad := "("
	cases := []struct {
		name string
		r    *kmsg.ListTransactionsResponse
		want []string
	}{
		{"all", list(0, nil, nil, -1, nil), []string{"alpha=Ongoing", "beta=Empty"}},
		{"by state", list(0, []string{"Ongoing"}, nil, -1, nil), []string{"alpha=Ongoing"}},
		{"by producer id", list(0, nil, []int64{pa + 1}, -1, nil), []string{"beta=Empty"}},
		{"running over 30s", list(1, []string{"Ongoing"}, nil, 30_000, nil), []string{"alpha=Ongoing"}},
		{"running over 2m", list(1, []string{"Ongoing"}, nil, 120_000, nil), nil},
		{"by pattern", list(2, nil, nil, -1, &pat), []string{"beta=Empty"}},
	}
	for _, c := range cases {
		if got := names(c.r); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	if r := list(0, []string{"Bogus"}, nil, -1, nil); !reflect.DeepEqual(r.UnknownStateFilters, []string{"Bogus"}) {
		t.Errorf("unknown filters %v", r.UnknownStateFilters)
	}
	wantCode(t, "bad pattern", list(2, nil, nil, -1, &bad).ErrorCode, kerr.InvalidRegularExpression.Code)
	if d := h.describe("nope"); d.ErrorCode != kerr.TransactionalIDNotFound.Code {
		t.Errorf("unknown id: %+v", d)
	}
	d := h.describe("alpha")
	if d.State != "Ongoing" || d.TimeoutMillis != 60_000 || d.StartTimestamp != h.now.Add(-time.Minute).UnixMilli() || len(d.Topics) != 1 {
		t.Errorf("alpha: %+v", d)
	}
}

// AddPartitionsToTxn v4+: several transactions, and verify-only checks.
func TestAddPartitionsBatched(t *testing.T) {
	h := newHarness(t)
	pa, ea := h.mustInit("a")
	h.mustAdd("a", pa, ea, t0)
	pb, eb := h.mustInit("b")
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 5
	tx := func(id string, pid int64, epoch int16, verify bool, parts ...int32) kmsg.AddPartitionsToTxnRequestTransaction {
		r := kmsg.NewAddPartitionsToTxnRequestTransaction()
		r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.VerifyOnly = id, pid, epoch, verify
		tt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
		tt.Topic, tt.Partitions = "t", parts
		r.Topics = append(r.Topics, tt)
		return r
	}
	req.Transactions = append(req.Transactions, tx("a", pa, ea, true, 0, 1), tx("b", pb, eb, false, 2))
	id := h.id()
	h.run(h.m.AddPartitionsToTxn(h.now, id, req))
	h.noReply(id)
	h.durable(0)
	got := map[string]string{}
	for _, tr := range h.reply(id).Response.(*kmsg.AddPartitionsToTxnResponse).Transactions {
		for _, t := range tr.Topics {
			for _, p := range t.Partitions {
				got[fmt.Sprintf("%s/%d", tr.TransactionalID, p.Partition)] = fmt.Sprint(kerr.ErrorForCode(p.ErrorCode))
			}
		}
	}
	want := map[string]string{"a/0": "<nil>", "a/1": kerr.TransactionAbortable.Error(), "b/2": "<nil>"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("batched add: %v, want %v", got, want)
	}
	h.wantState("b", Ongoing, pb, eb)
}

// With transactions version 2 the next transaction's first write arrives
// while the last one's markers are being written: it waits for them, up to
// a bound, rather than failing.
func TestWriteWaitsForMarkers(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.mustInit("w")
	id, code := h.admit(Write{TransactionalID: "w", ProducerID: pid, ProducerEpoch: epoch, Partition: t0, ImplicitAdd: true})
	wantCode(t, "first write", code, 0)
	h.run(h.m.Release(h.now, id))
	r := h.endTxn(5, "w", pid, epoch, true)
	wantCode(t, "commit", r.ErrorCode, 0)
	next := Write{TransactionalID: "w", ProducerID: pid, ProducerEpoch: r.ProducerEpoch, Partition: t1, ImplicitAdd: true}
	waiting := h.id()
	h.run(h.m.Admit(h.now, waiting, next))
	h.noReply(waiting)
	h.writeMarkers()
	wantCode(t, "the next transaction's write", h.reply(waiting).Code, 0)
	h.wantState("w", Ongoing, pid, r.ProducerEpoch)

	// Markers that never complete: the write gives up after admitWait.
	h.run(h.m.Release(h.now, waiting))
	r = h.endTxn(5, "w", pid, r.ProducerEpoch, true)
	next.ProducerEpoch = r.ProducerEpoch
	stuck := h.id()
	h.run(h.m.Admit(h.now, stuck, next))
	if d := h.m.NextDeadline(); !d.Equal(h.now.Add(admitWait)) {
		t.Fatalf("next deadline %v, want %v", d, h.now.Add(admitWait))
	}
	h.advance(admitWait - time.Millisecond)
	h.noReply(stuck)
	h.advance(time.Millisecond)
	wantCode(t, "a write waiting past the bound", h.reply(stuck).Code, kerr.ConcurrentTransactions.Code)
	// A TV1 write is not added implicitly: it is refused at once.
	h.writeMarkers()
	_, code = h.admit(Write{TransactionalID: "w", ProducerID: pid, ProducerEpoch: r.ProducerEpoch, Partition: t2})
	wantCode(t, "a TV1 write to a partition not added", code, kerr.TransactionAbortable.Code)
}

// With transaction version 2 the client holds the bumped epoch as soon as
// the commit is answered, while the markers are still being written. An
// EndTxn of its next transaction at that epoch waits
// (CONCURRENT_TRANSACTIONS, which clients retry); it is not fenced. Once
// the commit completes, the same request is an empty abort.
func TestNextEndTxnWaitsForMarkers(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.mustInit("n")
	id, code := h.admit(Write{TransactionalID: "n", ProducerID: pid, ProducerEpoch: epoch, Partition: t0, ImplicitAdd: true})
	wantCode(t, "implicit add", code, 0)
	h.run(h.m.Release(h.now, id))
	if r := h.endTxn(5, "n", pid, epoch, true); r.ErrorCode != 0 || r.ProducerEpoch != epoch+1 {
		t.Fatalf("commit: %+v", r)
	}
	h.wantState("n", PrepareCommit, pid, epoch+1)
	wantCode(t, "next transaction's abort during the commit", h.endTxn(5, "n", pid, epoch+1, false).ErrorCode, kerr.ConcurrentTransactions.Code)
	wantCode(t, "next transaction's commit during the commit", h.endTxn(5, "n", pid, epoch+1, true).ErrorCode, kerr.ConcurrentTransactions.Code)
	wantCode(t, "retried commit during the commit", h.endTxn(5, "n", pid, epoch, true).ErrorCode, kerr.ConcurrentTransactions.Code)
	wantCode(t, "retry as abort during the commit", h.endTxn(5, "n", pid, epoch, false).ErrorCode, kerr.InvalidTxnState.Code)
	wantCode(t, "an older epoch during the commit", h.endTxn(5, "n", pid, epoch-1, false).ErrorCode, kerr.ProducerFenced.Code)
	wantCode(t, "a later epoch during the commit", h.endTxn(5, "n", pid, epoch+2, false).ErrorCode, kerr.ProducerFenced.Code)
	h.writeMarkers()
	h.wantState("n", CompleteCommit, pid, epoch+1)
	if r := h.endTxn(5, "n", pid, epoch+1, false); r.ErrorCode != 0 || r.ProducerEpoch != epoch+2 {
		t.Fatalf("empty abort after the commit completed: %+v", r)
	}
}

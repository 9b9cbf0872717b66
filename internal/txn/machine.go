package txn

import (
	"log/slog"
	"math"
	"regexp"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Kafka error codes the machine answers with.
var (
	codeNotCoordinator        = kerr.NotCoordinator.Code
	codeLoadInProgress        = kerr.CoordinatorLoadInProgress.Code
	codeNotAvailable          = kerr.CoordinatorNotAvailable.Code
	codeInvalidRequest        = kerr.InvalidRequest.Code
	codeInvalidTimeout        = kerr.InvalidTransactionTimeout.Code
	codeConcurrent            = kerr.ConcurrentTransactions.Code
	codeProducerFenced        = kerr.ProducerFenced.Code
	codeInvalidProducerEpoch  = kerr.InvalidProducerEpoch.Code
	codeInvalidMapping        = kerr.InvalidProducerIDMapping.Code
	codeInvalidTxnState       = kerr.InvalidTxnState.Code
	codeTransactionAbortable  = kerr.TransactionAbortable.Code
	codeUnknownPartition      = kerr.UnknownTopicOrPartition.Code
	codeOperationNotAttempted = kerr.OperationNotAttempted.Code
	codeNotFound              = kerr.TransactionalIDNotFound.Code
	codeInvalidRegex          = kerr.InvalidRegularExpression.Code
)

// OffsetsTopic is where transactional offset commits go; AddOffsetsToTxn
// adds one of its partitions to a transaction.
const OffsetsTopic = "__consumer_offsets"

// Config is the coordinator's configuration, in Kafka's terms.
type Config struct {
	MaxTimeout     time.Duration // transaction.max.timeout.ms
	IDExpiration   time.Duration // transactional.id.expiration.ms
	AbortInterval  time.Duration // transaction.abort.timed.out.transaction.cleanup.interval.ms
	ExpireInterval time.Duration // transaction.remove.expired.transaction.cleanup.interval.ms
	// TransactionVersion is the finalized transaction.version feature:
	// what the coordinator uses for the transitions it starts itself
	// (timeouts, fencing).
	TransactionVersion int16
	// RetryBackoff spaces attempts to write a completion after a failed
	// append.
	RetryBackoff time.Duration
}

// Output is what an event asks the driver to do.
type Output struct {
	// Appends are records for __transaction_state partitions; the
	// driver reports each with Appended once durable (or failed).
	Appends []Append
	// Markers are transaction markers to write; the driver reports each
	// with MarkersWritten once every partition has its marker durable.
	Markers []Markers
	// Replies answer requests by the id they came with.
	Replies []Reply
}

// Append is one batch for a partition of __transaction_state.
type Append struct {
	Partition int32
	Token     uint64
	Records   []Record
}

// Record is a __transaction_state record; a nil Value is a tombstone.
type Record struct {
	Key, Value []byte
}

// Markers asks for a commit or abort marker in every listed partition.
type Markers struct {
	Token            uint64
	TransactionalID  string
	ProducerID       int64
	ProducerEpoch    int16
	Commit           bool
	CoordinatorEpoch int32
	// Strict is transaction version 2: the epoch was bumped for the
	// markers, so partitions require it to be above the producer's.
	Strict     bool
	Partitions []TP
}

// Reply answers the request with ID: Response for API requests, Code for
// the internal ones (Admit).
type Reply struct {
	ID       uint64
	Response kmsg.Response
	Code     int16
}

// Machine is the transaction coordinator's state machine. It reads no
// clock and does no I/O: every method takes the time and returns the
// effects. It is not safe for concurrent use; the driver serialises calls.
type Machine struct {
	cfg Config
	log *slog.Logger
	now int64 // ms

	parts      int32 // partitions of __transaction_state, 0 before it exists
	loading    map[int32]bool
	coordEpoch map[int32]int32
	txns       map[string]*meta

	nextToken uint64
	appends   map[uint64]func(code int16)
	markerOf  map[uint64]*meta
	writes    map[uint64]*meta // admitted writes by request id
	out       Output

	nextAbort, nextExpire int64

	// NewProducerID hands out a producer id never used before.
	NewProducerID func() (int64, error)
	// Exists reports whether a topic partition exists.
	Exists func(topic string, partition int32) bool
}

// NewMachine returns a machine with no __transaction_state yet.
func NewMachine(cfg Config, log *slog.Logger) *Machine {
	if log == nil {
		log = slog.Default()
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = 100 * time.Millisecond
	}
	return &Machine{
		cfg: cfg, log: log,
		loading: map[int32]bool{}, coordEpoch: map[int32]int32{}, txns: map[string]*meta{},
		appends: map[uint64]func(int16){}, markerOf: map[uint64]*meta{}, writes: map[uint64]*meta{},
		NewProducerID: func() (int64, error) { return 0, errCode(codeNotAvailable) },
		Exists:        func(string, int32) bool { return true },
	}
}

func (m *Machine) begin(now time.Time) {
	if ms := now.UnixMilli(); ms > m.now {
		m.now = ms
	}
	if m.nextAbort == 0 {
		m.nextAbort = m.now + m.cfg.AbortInterval.Milliseconds()
		m.nextExpire = m.now + m.cfg.ExpireInterval.Milliseconds()
	}
}

func (m *Machine) end() Output {
	out := m.out
	m.out = Output{}
	return out
}

func (m *Machine) reply(id uint64, resp kmsg.Response, code int16) {
	m.out.Replies = append(m.out.Replies, Reply{ID: id, Response: resp, Code: code})
}

// ---- __transaction_state ----

// SetTopic tells the machine that __transaction_state exists with n
// partitions; loading marks them loading until LoadDone (a topic created
// just now is empty, so loaded). A second call does nothing.
func (m *Machine) SetTopic(now time.Time, n int32, loading bool) Output {
	m.begin(now)
	if m.parts > 0 || n <= 0 {
		return m.end()
	}
	m.parts = n
	for p := int32(0); p < n; p++ {
		m.loading[p] = loading
	}
	return m.end()
}

// Partitions is the partition count of __transaction_state, 0 before it
// exists.
func (m *Machine) Partitions() int32 { return m.parts }

// PartitionFor is the __transaction_state partition of a transactional
// id, -1 before the topic exists.
func (m *Machine) PartitionFor(id string) int32 {
	if m.parts == 0 {
		return -1
	}
	return partitionFor(id, m.parts)
}

// Replay applies one record read back from __transaction_state while the
// partition loads.
func (m *Machine) Replay(key, value []byte) error {
	id, mt, err := decodeRecord(key, value)
	if err != nil {
		return err
	}
	if mt == nil || mt.state == Dead {
		delete(m.txns, id)
		return nil
	}
	m.txns[id] = mt
	return nil
}

// LoadDone ends the loading of a partition: its transactions serve
// requests, and those that were writing markers write them again.
func (m *Machine) LoadDone(now time.Time, part int32, coordEpoch int32) Output {
	m.begin(now)
	m.loading[part] = false
	m.coordEpoch[part] = coordEpoch
	for _, mt := range m.sorted() {
		if partitionFor(mt.id, m.parts) != part {
			continue
		}
		if mt.state == PrepareCommit || mt.state == PrepareAbort {
			mt.markers = &markerJob{commit: mt.state == PrepareCommit}
			m.maybeSendMarkers(mt)
		}
	}
	return m.end()
}

func (m *Machine) sorted() []*meta {
	out := make([]*meta, 0, len(m.txns))
	for _, mt := range m.txns {
		out = append(out, mt)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// lookup finds a transactional id's state, or the error that stops it
// being served here.
func (m *Machine) lookup(id string) (*meta, int16) {
	if m.parts == 0 {
		return nil, codeNotCoordinator
	}
	if m.loading[partitionFor(id, m.parts)] {
		return nil, codeLoadInProgress
	}
	return m.txns[id], 0
}

// write appends a transition of mt to __transaction_state and applies it
// once durable; done gets the outcome.
func (m *Machine) write(mt *meta, t *transit, done func(code int16)) {
	mt.pending = t
	m.nextToken++
	tok := m.nextToken
	rec := Record{Key: keyOf(mt.id)}
	if t.state != Dead {
		rec.Value = valueOf(t)
	}
	m.out.Appends = append(m.out.Appends, Append{Partition: partitionFor(mt.id, m.parts), Token: tok, Records: []Record{rec}})
	m.appends[tok] = func(code int16) {
		if mt.pending != t {
			// Cannot happen: transitions are written one at a time.
			done(codeNotCoordinator)
			return
		}
		if code != 0 {
			mt.pending = nil
		} else if t.state == Dead {
			if m.txns[mt.id] == mt {
				delete(m.txns, mt.id)
			}
			mt.pending = nil
		} else {
			mt.apply(t)
		}
		done(code)
		m.wake(mt)
	}
}

// waiter is a request waiting for a transaction's state to change.
type waiter struct {
	deadline int64
	fn       func(expired bool)
}

// wake re-runs the requests waiting on mt.
func (m *Machine) wake(mt *meta) {
	ws := mt.waiters
	mt.waiters = nil
	for _, w := range ws {
		w.fn(false)
	}
}

// Appended reports that the append with token is durable (code 0) or
// failed with a Kafka error code.
func (m *Machine) Appended(now time.Time, token uint64, code int16) Output {
	m.begin(now)
	if fn := m.appends[token]; fn != nil {
		delete(m.appends, token)
		fn(normalizeAppendCode(code))
	}
	return m.end()
}

// normalizeAppendCode turns the error of an append to __transaction_state
// into what a transactional client understands, as Kafka does.
func normalizeAppendCode(code int16) int16 {
	switch code {
	case 0:
		return 0
	case kerr.UnknownTopicOrPartition.Code, kerr.NotEnoughReplicas.Code, kerr.NotEnoughReplicasAfterAppend.Code, kerr.RequestTimedOut.Code:
		return codeNotAvailable
	case kerr.NotLeaderForPartition.Code, kerr.KafkaStorageError.Code:
		return codeNotCoordinator
	case kerr.MessageTooLarge.Code, kerr.RecordListTooLarge.Code:
		return kerr.UnknownServerError.Code
	}
	return code
}

// ---- InitProducerId ----

// InitProducerID serves a transactional InitProducerId.
func (m *Machine) InitProducerID(now time.Time, id uint64, req *kmsg.InitProducerIDRequest) Output {
	m.begin(now)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	respond := func(code int16, pid int64, epoch int16) {
		if req.Version < 4 && code == codeProducerFenced {
			// Older clients know only the older code.
			code = codeInvalidProducerEpoch
		}
		resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = code, -1, -1
		if code == 0 {
			resp.ProducerID, resp.ProducerEpoch = pid, epoch
		}
		m.reply(id, resp, code)
	}
	if req.TransactionalID == nil || *req.TransactionalID == "" {
		respond(codeInvalidRequest, 0, 0)
		return m.end()
	}
	txnID := *req.TransactionalID
	var expPID int64 = noID
	var expEpoch = noEpoch
	if req.Version >= 3 {
		expPID, expEpoch = req.ProducerID, req.ProducerEpoch
	}
	hasExpected := expPID != noID || expEpoch != noEpoch
	if hasExpected && (expPID == noID || expEpoch == noEpoch) {
		respond(codeInvalidRequest, 0, 0)
		return m.end()
	}
	timeout := req.TransactionTimeoutMillis
	if timeout <= 0 || int64(timeout) > m.cfg.MaxTimeout.Milliseconds() {
		respond(codeInvalidTimeout, 0, 0)
		return m.end()
	}
	mt, code := m.lookup(txnID)
	if code != 0 {
		respond(code, 0, 0)
		return m.end()
	}
	if mt == nil {
		pid, err := m.NewProducerID()
		if err != nil {
			m.log.Warn("allocating a producer id failed", "err", err)
			respond(codeNotAvailable, 0, 0)
			return m.end()
		}
		mt = &meta{id: txnID, pid: pid, prevPID: noID, nextPID: noID, epoch: noEpoch, lastEpoch: noEpoch,
			timeoutMs: timeout, state: Empty, parts: map[TP]struct{}{}, startMs: -1, updateMs: m.now}
		m.txns[txnID] = mt
	}
	validPID := mt.epoch == noEpoch || expPID == mt.pid || (expPID == mt.prevPID && epochExhausted(expEpoch))
	switch {
	case mt.pending != nil:
		respond(codeConcurrent, 0, 0)
		return m.end()
	case hasExpected && !validPID:
		respond(codeProducerFenced, 0, 0)
		return m.end()
	}
	var t *transit
	switch mt.state {
	case PrepareAbort, PrepareCommit:
		respond(codeConcurrent, 0, 0)
		return m.end()
	case Ongoing:
		// Abort the open transaction with a bumped epoch first; the
		// client retries (CONCURRENT_TRANSACTIONS) and then gets an
		// epoch above the fenced one.
		fence := mt.prepareFence()
		mt.pending = fence
		m.endTxn(mt, fence.pid, fence.epoch, false, false, m.cfg.TransactionVersion, func(code int16, _ int64, _ int16) {
			if code == 0 {
				code = codeConcurrent
			}
			respond(code, 0, 0)
		})
		return m.end()
	case Empty, CompleteAbort, CompleteCommit:
		if epochExhausted(mt.epoch) && (!hasExpected || expEpoch == mt.epoch) {
			pid, err := m.NewProducerID()
			if err != nil {
				respond(codeNotAvailable, 0, 0)
				return m.end()
			}
			t = mt.prepareRotation(pid, timeout, m.now, hasExpected)
		} else {
			var err error
			if t, err = mt.prepareIncrementEpoch(timeout, expEpoch, hasExpected, m.now); err != nil {
				if c, ok := err.(errCode); ok {
					respond(int16(c), 0, 0)
				} else {
					respond(kerr.UnknownServerError.Code, 0, 0)
				}
				return m.end()
			}
		}
	default:
		respond(kerr.UnknownServerError.Code, 0, 0)
		return m.end()
	}
	m.write(mt, t, func(code int16) { respond(code, t.pid, t.epoch) })
	return m.end()
}

// ---- EndTxn ----

// endTxn ends mt's transaction (Kafka's endTransaction). fromClient is
// false for aborts the coordinator starts (fencing, timeouts). done gets
// the outcome and, for transaction version 2, the producer id and epoch
// the client continues with.
func (m *Machine) endTxn(mt *meta, pid int64, epoch int16, commit, fromClient bool, tv int16, done func(code int16, pid int64, epoch int16)) {
	clearFence := func() {
		if mt != nil && mt.pending != nil && mt.pending.state == PrepareEpochFence {
			mt.pending = nil
		}
	}
	fail := func(code int16) {
		clearFence()
		done(code, noID, noEpoch)
	}
	if mt == nil || (mt.pid != pid && !(tv >= 2 && mt.prevPID == pid)) {
		fail(codeInvalidMapping)
		return
	}
	isFence := mt.pending != nil && mt.pending.state == PrepareEpochFence
	next := PrepareAbort
	if commit {
		next = PrepareCommit
	}
	var (
		isRetry bool
		noAdd   bool
	)
	if tv < 2 {
		if mt.pid != pid {
			fail(codeInvalidMapping)
			return
		}
		if (fromClient && epoch != mt.epoch) || epoch < mt.epoch {
			fail(codeProducerFenced)
			return
		}
		if mt.pending != nil && !isFence {
			fail(codeConcurrent)
			return
		}
		switch mt.state {
		case Ongoing:
		case CompleteCommit, CompleteAbort:
			if (mt.state == CompleteCommit) == commit {
				done(0, noID, noEpoch)
			} else {
				fail(codeInvalidTxnState)
			}
			return
		case PrepareCommit, PrepareAbort:
			if (mt.state == PrepareCommit) == commit {
				fail(codeConcurrent)
			} else {
				fail(codeInvalidTxnState)
			}
			return
		default:
			fail(codeInvalidTxnState)
			return
		}
	} else {
		retryOnOverflow := !isFence && mt.prevPID == pid && epoch == math.MaxInt16-1 && mt.epoch == 0
		retryOnBump := !isFence && int(mt.epoch) == int(epoch)+1
		isRetry = retryOnOverflow || retryOnBump
		var validEpoch bool
		if !isFence {
			switch mt.state {
			case PrepareCommit, PrepareAbort:
				// Kafka accepts only a retry (the epoch before the bump)
				// here and fences the bumped epoch. But only the producer
				// that got our EndTxn answer holds the bumped epoch, and a
				// client that ends its next transaction quickly (franz-go
				// aborts one whose produces never got in) lands here while
				// the markers are still being written. It is told to wait
				// (CONCURRENT_TRANSACTIONS, below), not that it is fenced.
				validEpoch = retryOnBump || epoch == mt.epoch
			case CompleteCommit, CompleteAbort:
				validEpoch = isRetry || epoch == mt.epoch
			default:
				validEpoch = epoch == mt.epoch
			}
		} else {
			validEpoch = (!fromClient || epoch == mt.epoch) && epoch >= mt.epoch
		}
		switch {
		case mt.pid != pid && !retryOnOverflow:
			fail(codeInvalidMapping)
			return
		case !validEpoch:
			fail(codeProducerFenced)
			return
		case mt.pending != nil && !isFence:
			fail(codeConcurrent)
			return
		}
		switch mt.state {
		case Ongoing:
		case CompleteCommit:
			if commit && isRetry {
				done(0, mt.pid, mt.epoch)
				return
			}
			if commit || isRetry {
				fail(codeInvalidTxnState)
				return
			}
			next, noAdd = PrepareAbort, true
		case CompleteAbort:
			if commit {
				fail(codeInvalidTxnState)
				return
			}
			if isRetry {
				done(0, mt.pid, mt.epoch)
				return
			}
			noAdd = true
		case PrepareCommit, PrepareAbort:
			if !isRetry || (mt.state == PrepareCommit) == commit {
				// The previous transaction is completing: a retry of
				// its EndTxn, or the next transaction's, waits for it.
				fail(codeConcurrent)
			} else {
				fail(codeInvalidTxnState)
			}
			return
		case Empty:
			if commit {
				fail(codeInvalidTxnState)
				return
			}
			noAdd = true
		default:
			fail(codeInvalidTxnState)
			return
		}
	}
	nextPID := noID
	if tv >= 2 && !isFence && epochExhausted(mt.epoch) {
		id, err := m.NewProducerID()
		if err != nil {
			fail(codeNotAvailable)
			return
		}
		nextPID = id
	}
	if isFence {
		// The fence's bumped epoch goes into the abort record.
		mt.pending = nil
		mt.epoch, mt.lastEpoch = epoch, noEpoch
	}
	if isFence && next != PrepareAbort {
		fail(codeInvalidTxnState)
		return
	}
	txnTV := tv
	if tv < 2 {
		txnTV = 0
	}
	t := mt.prepareAbortOrCommit(next, txnTV, nextPID, m.now, noAdd)
	m.write(mt, t, func(code int16) {
		if code != 0 {
			if isFence {
				mt.failedFence = true
			}
			done(code, noID, noEpoch)
			return
		}
		mt.failedFence = false
		respPID, respEpoch := mt.pid, mt.epoch
		if mt.nextPID != noID {
			respPID, respEpoch = mt.nextPID, 0
		}
		done(0, respPID, respEpoch)
		mt.markers = &markerJob{commit: next == PrepareCommit}
		m.maybeSendMarkers(mt)
	})
}

// EndTxn serves EndTxn: v5+ is transaction version 2 (the epoch is bumped
// and returned).
func (m *Machine) EndTxn(now time.Time, id uint64, req *kmsg.EndTxnRequest) Output {
	m.begin(now)
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	respond := func(code int16, pid int64, epoch int16) {
		if req.Version < 2 && code == codeProducerFenced {
			code = codeInvalidProducerEpoch
		}
		resp.ErrorCode = code
		if code == 0 && req.Version >= 5 {
			resp.ProducerID, resp.ProducerEpoch = pid, epoch
		}
		m.reply(id, resp, code)
	}
	if req.TransactionalID == "" {
		respond(codeInvalidRequest, 0, 0)
		return m.end()
	}
	mt, code := m.lookup(req.TransactionalID)
	if code != 0 {
		respond(code, 0, 0)
		return m.end()
	}
	tv := int16(0)
	if req.Version >= 5 {
		tv = 2
	}
	m.endTxn(mt, req.ProducerID, req.ProducerEpoch, req.Commit, true, tv, respond)
	return m.end()
}

// maybeSendMarkers hands mt's markers to the driver once no admitted write
// to its partitions is still on its way to the log: a marker never
// precedes data of the transaction it ends.
func (m *Machine) maybeSendMarkers(mt *meta) {
	job := mt.markers
	if job == nil || job.sent || mt.inflight > 0 {
		return
	}
	job.sent = true
	if len(mt.parts) == 0 {
		m.complete(mt)
		return
	}
	m.nextToken++
	job.token = m.nextToken
	m.markerOf[job.token] = mt
	m.out.Markers = append(m.out.Markers, Markers{
		Token: job.token, TransactionalID: mt.id, ProducerID: mt.pid, ProducerEpoch: mt.epoch,
		Commit: job.commit, CoordinatorEpoch: m.coordEpoch[partitionFor(mt.id, m.parts)],
		Strict: mt.tv >= 2, Partitions: mt.sortedParts(),
	})
}

// MarkersWritten reports that the markers with token are durable in every
// partition (or the partition is gone).
func (m *Machine) MarkersWritten(now time.Time, token uint64) Output {
	m.begin(now)
	if mt := m.markerOf[token]; mt != nil {
		delete(m.markerOf, token)
		m.complete(mt)
	}
	return m.end()
}

// complete writes CompleteCommit or CompleteAbort, retrying after a failed
// append.
func (m *Machine) complete(mt *meta) {
	if mt.state != PrepareCommit && mt.state != PrepareAbort {
		mt.markers = nil
		return
	}
	t := mt.prepareComplete(m.now)
	m.write(mt, t, func(code int16) {
		if code != 0 {
			m.log.Warn("writing a transaction's completion failed; retrying", "transactional_id", mt.id, "code", code)
			mt.retryAt = m.now + m.cfg.RetryBackoff.Milliseconds()
			return
		}
		mt.markers = nil
	})
}

// ---- AddPartitionsToTxn, AddOffsetsToTxn ----

// addPartitions adds partitions to mt's transaction (Kafka's
// handleAddPartitionsToTransaction).
func (m *Machine) addPartitions(mt *meta, pid int64, epoch int16, tps []TP, tv int16, done func(code int16)) {
	switch {
	case mt == nil || mt.pid != pid:
		done(codeInvalidMapping)
		return
	case mt.epoch != epoch:
		done(codeProducerFenced)
		return
	case mt.pending != nil, mt.state == PrepareCommit, mt.state == PrepareAbort:
		done(codeConcurrent)
		return
	}
	if mt.state == Ongoing {
		all := true
		for _, tp := range tps {
			if _, ok := mt.parts[tp]; !ok {
				all = false
				break
			}
		}
		if all {
			done(0)
			return
		}
	}
	m.write(mt, mt.prepareAddPartitions(tps, m.now, tv), done)
}

// verifyPartitions answers a verify-only AddPartitionsToTxn (Kafka's
// handleVerifyPartitionsInTransaction).
func (m *Machine) verifyPartitions(mt *meta, pid int64, epoch int16, tps []TP) map[TP]int16 {
	out := make(map[TP]int16, len(tps))
	all := func(code int16) map[TP]int16 {
		for _, tp := range tps {
			out[tp] = code
		}
		return out
	}
	switch {
	case mt == nil || mt.pid != pid:
		return all(codeInvalidMapping)
	case mt.epoch != epoch:
		return all(codeProducerFenced)
	case mt.state == PrepareCommit || mt.state == PrepareAbort:
		return all(codeConcurrent)
	}
	for _, tp := range tps {
		if _, ok := mt.parts[tp]; ok && mt.state == Ongoing {
			out[tp] = 0
		} else {
			out[tp] = codeTransactionAbortable
		}
	}
	return out
}

// AddPartitionsToTxn serves AddPartitionsToTxn: v0-v3 from clients (one
// transaction), v4+ batched from brokers, with verify-only transactions.
func (m *Machine) AddPartitionsToTxn(now time.Time, id uint64, req *kmsg.AddPartitionsToTxnRequest) Output {
	m.begin(now)
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	type txnReq struct {
		id     string
		pid    int64
		epoch  int16
		verify bool
		tps    []TP
	}
	var reqs []txnReq
	if req.Version < 4 {
		r := txnReq{id: req.TransactionalID, pid: req.ProducerID, epoch: req.ProducerEpoch}
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				r.tps = append(r.tps, TP{t.Topic, p})
			}
		}
		reqs = append(reqs, r)
	} else {
		for _, tx := range req.Transactions {
			r := txnReq{id: tx.TransactionalID, pid: tx.ProducerID, epoch: tx.ProducerEpoch, verify: tx.VerifyOnly}
			for _, t := range tx.Topics {
				for _, p := range t.Partitions {
					r.tps = append(r.tps, TP{t.Topic, p})
				}
			}
			reqs = append(reqs, r)
		}
	}
	results := make([]map[TP]int16, len(reqs))
	left := len(reqs)
	finish := func() {
		left--
		if left > 0 {
			return
		}
		for i, r := range reqs {
			res := results[i]
			if req.Version < 4 {
				resp.Topics = topicsV3(r.tps, res)
				continue
			}
			tx := kmsg.NewAddPartitionsToTxnResponseTransaction()
			tx.TransactionalID = r.id
			for _, t := range topicsV3(r.tps, res) {
				rt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
					rp.Partition, rp.ErrorCode = p.Partition, p.ErrorCode
					rt.Partitions = append(rt.Partitions, rp)
				}
				tx.Topics = append(tx.Topics, rt)
			}
			resp.Transactions = append(resp.Transactions, tx)
		}
		m.reply(id, resp, 0)
	}
	if len(reqs) == 0 {
		left = 1
		finish()
		return m.end()
	}
	for i, r := range reqs {
		setAll := func(code int16) {
			if req.Version < 2 && code == codeProducerFenced {
				code = codeInvalidProducerEpoch
			}
			res := make(map[TP]int16, len(r.tps))
			for _, tp := range r.tps {
				res[tp] = code
			}
			results[i] = res
		}
		if r.id == "" {
			setAll(codeInvalidRequest)
			finish()
			continue
		}
		// Any unknown partition fails the whole transaction's request.
		var unknown []TP
		for _, tp := range r.tps {
			if !m.Exists(tp.Topic, tp.Partition) {
				unknown = append(unknown, tp)
			}
		}
		if len(unknown) > 0 {
			setAll(codeOperationNotAttempted)
			for _, tp := range unknown {
				results[i][tp] = codeUnknownPartition
			}
			finish()
			continue
		}
		mt, code := m.lookup(r.id)
		if code != 0 {
			setAll(code)
			finish()
			continue
		}
		if r.verify {
			results[i] = m.verifyPartitions(mt, r.pid, r.epoch, r.tps)
			finish()
			continue
		}
		m.addPartitions(mt, r.pid, r.epoch, r.tps, 0, func(code int16) {
			setAll(code)
			finish()
		})
	}
	return m.end()
}

func topicsV3(tps []TP, res map[TP]int16) []kmsg.AddPartitionsToTxnResponseTopic {
	var out []kmsg.AddPartitionsToTxnResponseTopic
	idx := map[string]int{}
	for _, tp := range tps {
		i, ok := idx[tp.Topic]
		if !ok {
			i = len(out)
			idx[tp.Topic] = i
			t := kmsg.NewAddPartitionsToTxnResponseTopic()
			t.Topic = tp.Topic
			out = append(out, t)
		}
		p := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
		p.Partition, p.ErrorCode = tp.Partition, res[tp]
		out[i].Partitions = append(out[i].Partitions, p)
	}
	return out
}

// AddOffsetsToTxn adds the group's __consumer_offsets partition
// (groupPartition) to the transaction.
func (m *Machine) AddOffsetsToTxn(now time.Time, id uint64, req *kmsg.AddOffsetsToTxnRequest, groupPartition int32) Output {
	m.begin(now)
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	respond := func(code int16) {
		if req.Version < 2 && code == codeProducerFenced {
			code = codeInvalidProducerEpoch
		}
		resp.ErrorCode = code
		m.reply(id, resp, code)
	}
	if req.TransactionalID == "" {
		respond(codeInvalidRequest)
		return m.end()
	}
	if groupPartition < 0 {
		respond(codeNotAvailable)
		return m.end()
	}
	mt, code := m.lookup(req.TransactionalID)
	if code != 0 {
		respond(code)
		return m.end()
	}
	m.addPartitions(mt, req.ProducerID, req.ProducerEpoch, []TP{{OffsetsTopic, groupPartition}}, 0, respond)
	return m.end()
}

// ---- writes to a transaction's partitions ----

// Write is a transactional write a partition is about to append (a
// produce, or a transactional offset commit in __consumer_offsets).
type Write struct {
	TransactionalID string
	ProducerID      int64
	ProducerEpoch   int16
	Partition       TP
	// ImplicitAdd is transaction version 2: the write adds its partition
	// to the transaction (KIP-890 part 2). Without it the partition must
	// already be in the transaction (KIP-890 part 1).
	ImplicitAdd bool
}

// Admit checks a write against the transaction and, when it may go ahead,
// registers it as in flight: the transaction's markers wait until Release
// says the write reached the log, so no write lands after its
// transaction's marker. The reply (by id) carries the Kafka code; on 0 the
// caller must call Release with the same id.
func (m *Machine) Admit(now time.Time, id uint64, w Write) Output {
	m.begin(now)
	m.admit(id, w, m.now+admitWait.Milliseconds())
	return m.end()
}

// admitWait bounds how long a write that joins a transaction waits for the
// transaction's previous state change (a partition being added, the last
// transaction's markers) before it is refused with CONCURRENT_TRANSACTIONS:
// with transactions version 2 a producer begins its next transaction as
// soon as EndTxn answers, while the markers are still being written (Kafka
// retries such verifications too, add.partitions.to.txn.retry.backoff.*).
const admitWait = time.Second

func (m *Machine) admit(id uint64, w Write, deadline int64) {
	fail := func(code int16) { m.reply(id, nil, code) }
	if w.TransactionalID == "" {
		fail(codeInvalidRequest)
		return
	}
	mt, code := m.lookup(w.TransactionalID)
	if code != 0 {
		fail(code)
		return
	}
	admit := func() {
		mt.inflight++
		m.writes[id] = mt
		m.reply(id, nil, 0)
	}
	wait := func() {
		if m.now >= deadline {
			fail(codeConcurrent)
			return
		}
		mt.waiters = append(mt.waiters, waiter{deadline: deadline, fn: func(expired bool) {
			if expired {
				fail(codeConcurrent)
				return
			}
			m.admit(id, w, deadline)
		}})
	}
	switch {
	case mt == nil || mt.pid != w.ProducerID:
		fail(codeInvalidMapping)
		return
	case mt.epoch != w.ProducerEpoch:
		fail(codeProducerFenced)
		return
	}
	if _, ok := mt.parts[w.Partition]; ok && mt.state == Ongoing && (mt.pending == nil || mt.pending.state == Ongoing) {
		admit()
		return
	}
	if !w.ImplicitAdd {
		if mt.state == PrepareCommit || mt.state == PrepareAbort || (mt.pending != nil && mt.pending.state != Ongoing) {
			fail(codeConcurrent)
		} else {
			fail(codeTransactionAbortable)
		}
		return
	}
	if mt.pending != nil || mt.state == PrepareCommit || mt.state == PrepareAbort {
		// Another partition is being added, or the previous
		// transaction is ending: wait for it rather than failing.
		if mt.pending != nil && mt.pending.state == Dead {
			fail(codeConcurrent)
			return
		}
		wait()
		return
	}
	m.write(mt, mt.prepareAddPartitions([]TP{w.Partition}, m.now, 2), func(code int16) {
		if code != 0 {
			fail(code)
			return
		}
		admit()
	})
}

// Release ends an admitted write (appended or failed).
func (m *Machine) Release(now time.Time, id uint64) Output {
	m.begin(now)
	if mt := m.writes[id]; mt != nil {
		delete(m.writes, id)
		mt.inflight--
		m.maybeSendMarkers(mt)
	}
	return m.end()
}

// ---- timers ----

// Tick runs what is due at now: completions to retry, timed-out
// transactions to abort, expired transactional ids to remove.
func (m *Machine) Tick(now time.Time) Output {
	m.begin(now)
	for _, mt := range m.sorted() {
		if mt.retryAt > 0 && mt.retryAt <= m.now && mt.pending == nil {
			mt.retryAt = 0
			m.complete(mt)
		}
		var keep []waiter
		for _, w := range mt.waiters {
			if w.deadline <= m.now {
				w.fn(true)
			} else {
				keep = append(keep, w)
			}
		}
		mt.waiters = keep
	}
	if m.now >= m.nextAbort {
		m.nextAbort = m.now + m.cfg.AbortInterval.Milliseconds()
		m.abortTimedOut()
	}
	if m.now >= m.nextExpire {
		m.nextExpire = m.now + m.cfg.ExpireInterval.Milliseconds()
		m.expire()
	}
	return m.end()
}

// NextDeadline is when Tick next has something to do.
func (m *Machine) NextDeadline() time.Time {
	next := min(m.nextAbort, m.nextExpire)
	for _, mt := range m.txns {
		if mt.retryAt > 0 {
			next = min(next, mt.retryAt)
		}
		for _, w := range mt.waiters {
			next = min(next, w.deadline)
		}
	}
	return time.UnixMilli(next)
}

// abortTimedOut fences and aborts every transaction open for longer than
// its timeout.
func (m *Machine) abortTimedOut() {
	for _, mt := range m.sorted() {
		if mt.state != Ongoing || mt.pending != nil || m.loading[partitionFor(mt.id, m.parts)] {
			continue
		}
		if mt.startMs+int64(mt.timeoutMs) >= m.now {
			continue
		}
		m.log.Info("aborting a transaction past its timeout", "transactional_id", mt.id, "producer_id", mt.pid, "epoch", mt.epoch, "timeout_ms", mt.timeoutMs)
		fence := mt.prepareFence()
		mt.pending = fence
		id := mt.id
		m.endTxn(mt, fence.pid, fence.epoch, false, false, m.cfg.TransactionVersion, func(code int16, _ int64, _ int16) {
			if code != 0 {
				m.log.Warn("aborting a timed-out transaction failed", "transactional_id", id, "code", code)
			}
		})
	}
}

// expire removes transactional ids idle for transactional.id.expiration.ms
// (with no transaction in progress): a tombstone, then the state goes.
func (m *Machine) expire() {
	limit := m.now - m.cfg.IDExpiration.Milliseconds()
	for _, mt := range m.sorted() {
		switch mt.state {
		case Empty, CompleteCommit, CompleteAbort:
		default:
			continue
		}
		if mt.pending != nil || mt.inflight > 0 || mt.markers != nil || mt.updateMs > limit || m.loading[partitionFor(mt.id, m.parts)] {
			continue
		}
		m.log.Info("expiring a transactional id", "transactional_id", mt.id, "producer_id", mt.pid)
		m.write(mt, &transit{state: Dead}, func(int16) {})
	}
}

// ---- admin ----

// DescribeTransactions serves DescribeTransactions.
func (m *Machine) DescribeTransactions(now time.Time, id uint64, req *kmsg.DescribeTransactionsRequest) Output {
	m.begin(now)
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	for _, txnID := range req.TransactionalIDs {
		st := kmsg.NewDescribeTransactionsResponseTransactionState()
		st.TransactionalID = txnID
		st.ProducerID, st.ProducerEpoch, st.StartTimestamp = -1, -1, -1
		if txnID == "" {
			st.ErrorCode = codeInvalidRequest
		} else if mt, code := m.lookup(txnID); code != 0 {
			st.ErrorCode = code
		} else if mt == nil || (mt.pending != nil && mt.pending.state == Dead) {
			st.ErrorCode = codeNotFound
		} else {
			st.State = mt.state.String()
			st.TimeoutMillis = mt.timeoutMs
			st.StartTimestamp = mt.startMs
			st.ProducerID, st.ProducerEpoch = mt.pid, mt.epoch
			for _, tp := range mt.sortedParts() {
				if n := len(st.Topics); n == 0 || st.Topics[n-1].Topic != tp.Topic {
					t := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
					t.Topic = tp.Topic
					st.Topics = append(st.Topics, t)
				}
				t := &st.Topics[len(st.Topics)-1]
				t.Partitions = append(t.Partitions, tp.Partition)
			}
		}
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	m.reply(id, resp, 0)
	return m.end()
}

// ListTransactions serves ListTransactions: filters by state, producer id,
// duration (v1+: running longer than) and transactional id pattern (v2+,
// RE2 syntax).
func (m *Machine) ListTransactions(now time.Time, id uint64, req *kmsg.ListTransactionsRequest) Output {
	m.begin(now)
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	for _, loading := range m.loading {
		if loading {
			resp.ErrorCode = codeLoadInProgress
			m.reply(id, resp, resp.ErrorCode)
			return m.end()
		}
	}
	var re *regexp.Regexp
	if req.Version >= 2 && req.TransactionalIDPattern != nil && *req.TransactionalIDPattern != "" {
		var err error
		if re, err = regexp.Compile(*req.TransactionalIDPattern); err != nil {
			resp.ErrorCode = codeInvalidRegex
			m.reply(id, resp, resp.ErrorCode)
			return m.end()
		}
	}
	states := map[State]bool{}
	for _, name := range req.StateFilters {
		if st, ok := parseState(name); ok {
			states[st] = true
		} else {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, name)
		}
	}
	pids := map[int64]bool{}
	for _, p := range req.ProducerIDFilters {
		pids[p] = true
	}
	duration := int64(-1)
	if req.Version >= 1 {
		duration = req.DurationFilterMillis
	}
	for _, mt := range m.sorted() {
		switch {
		case mt.state == Dead || (mt.pending != nil && mt.pending.state == Dead):
		case len(pids) > 0 && !pids[mt.pid]:
		case len(req.StateFilters) > 0 && !states[mt.state]:
		case duration >= 0 && m.now-mt.startMs <= duration:
		case re != nil && !re.MatchString(mt.id):
		default:
			st := kmsg.NewListTransactionsResponseTransactionState()
			st.TransactionalID, st.ProducerID, st.TransactionState = mt.id, mt.pid, mt.state.String()
			resp.TransactionStates = append(resp.TransactionStates, st)
		}
	}
	m.reply(id, resp, 0)
	return m.end()
}

// Shutdown answers nothing more; in-flight work is dropped (the state is
// in the log, and the next start resumes it).
func (m *Machine) Shutdown(now time.Time) Output {
	m.begin(now)
	return m.end()
}

package txn

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// State is a transaction's state, numbered as Kafka numbers it in
// __transaction_state.
type State int8

const (
	Empty             State = 0
	Ongoing           State = 1
	PrepareCommit     State = 2
	PrepareAbort      State = 3
	CompleteCommit    State = 4
	CompleteAbort     State = 5
	Dead              State = 6
	PrepareEpochFence State = 7
)

var stateNames = [...]string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"}

func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int8(s))
}

// parseState maps Kafka's state names (ListTransactions filters) to states.
func parseState(name string) (State, bool) {
	for i, n := range stateNames {
		if n == name {
			return State(i), true
		}
	}
	return 0, false
}

// TP is a topic partition.
type TP struct {
	Topic     string
	Partition int32
}

// noEpoch and noID are Kafka's "none" producer epoch and id.
const (
	noEpoch int16 = -1
	noID    int64 = -1
)

// epochExhausted: Kafka never hands out the last two epochs, so that a
// producer can always be fenced by one more bump.
func epochExhausted(e int16) bool { return e >= math.MaxInt16-1 }

// meta is one transactional id's state (Kafka's TransactionMetadata).
type meta struct {
	id        string
	pid       int64 // producer id in use
	prevPID   int64 // producer id before the last rotation (KIP-890)
	nextPID   int64 // producer id the current completion rotates to, -1
	epoch     int16
	lastEpoch int16 // epoch before the last bump, -1 (not persisted, as in Kafka)
	timeoutMs int32
	state     State
	parts     map[TP]struct{}
	startMs   int64 // when the transaction began, -1 outside one
	updateMs  int64
	tv        int16 // transaction version the client used for the last transition

	// pending is the transition being written to __transaction_state;
	// nil when none. A fence (PrepareEpochFence) is pending but never
	// written.
	pending     *transit
	failedFence bool // a fence's bumped epoch may not be durable: do not bump again

	inflight int        // admitted writes to the transaction's partitions not yet appended
	markers  *markerJob // markers to write once inflight drains, or being written
	retryAt  int64      // when a failed completion is appended again, 0 when not waiting
	waiters  []waiter   // admissions waiting for a state change
}

// transit is a transition of a meta (Kafka's TxnTransitMetadata).
type transit struct {
	state     State
	pid       int64
	prevPID   int64
	nextPID   int64
	epoch     int16
	lastEpoch int16
	timeoutMs int32
	parts     map[TP]struct{}
	startMs   int64
	updateMs  int64
	tv        int16
}

// markerJob is a pending marker write of a meta in PrepareCommit or
// PrepareAbort.
type markerJob struct {
	commit bool
	sent   bool // handed to the driver
	token  uint64
}

func (m *meta) base(state State) *transit {
	return &transit{
		state: state, pid: m.pid, prevPID: m.pid, nextPID: m.nextPID,
		epoch: m.epoch, lastEpoch: m.lastEpoch, timeoutMs: m.timeoutMs,
		parts: m.parts, startMs: m.startMs, updateMs: m.updateMs, tv: m.tv,
	}
}

// apply completes a transition written to the log.
func (m *meta) apply(t *transit) {
	m.pid, m.prevPID, m.nextPID = t.pid, t.prevPID, t.nextPID
	m.epoch, m.lastEpoch, m.timeoutMs = t.epoch, t.lastEpoch, t.timeoutMs
	m.parts, m.startMs, m.updateMs, m.tv = t.parts, t.startMs, t.updateMs, t.tv
	m.state = t.state
	m.pending = nil
}

func (m *meta) sortedParts() []TP {
	out := make([]TP, 0, len(m.parts))
	for tp := range m.parts {
		out = append(out, tp)
	}
	sortTPs(out)
	return out
}

func sortTPs(tps []TP) {
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
}

// errCode carries a Kafka error code out of a preparation.
type errCode int16

func (e errCode) Error() string { return fmt.Sprintf("kafka error %d", int16(e)) }

// prepareIncrementEpoch is InitProducerId on a meta with no transaction
// in progress (Kafka's prepareIncrementProducerEpoch).
func (m *meta) prepareIncrementEpoch(timeoutMs int32, expected int16, hasExpected bool, now int64) (*transit, error) {
	if epochExhausted(m.epoch) {
		return nil, errors.New("txn: producer epoch exhausted")
	}
	t := m.base(Empty)
	bumped := m.epoch + 1
	switch {
	case !hasExpected:
		t.epoch, t.lastEpoch = bumped, noEpoch
	case m.epoch == noEpoch || expected == m.epoch:
		t.epoch, t.lastEpoch = bumped, m.epoch
	case expected == m.lastEpoch:
		// A retry of a bump that succeeded: answer with the current
		// epoch again.
		t.epoch, t.lastEpoch = m.epoch, m.lastEpoch
	default:
		return nil, errCode(codeProducerFenced)
	}
	t.timeoutMs = timeoutMs
	t.parts = map[TP]struct{}{}
	t.startMs, t.updateMs = -1, now
	return t, nil
}

// prepareRotation gives the transactional id a new producer id at epoch 0.
func (m *meta) prepareRotation(newPID int64, timeoutMs int32, now int64, recordLast bool) *transit {
	t := m.base(Empty)
	t.pid, t.epoch = newPID, 0
	t.lastEpoch = noEpoch
	if recordLast {
		t.lastEpoch = m.epoch
	}
	t.timeoutMs = timeoutMs
	t.parts = map[TP]struct{}{}
	t.startMs, t.updateMs = -1, now
	return t
}

func (m *meta) prepareAddPartitions(add []TP, now int64, tv int16) *transit {
	t := m.base(Ongoing)
	if m.state == Empty || m.state == CompleteAbort || m.state == CompleteCommit {
		t.startMs = now
	}
	t.parts = make(map[TP]struct{}, len(m.parts)+len(add))
	for tp := range m.parts {
		t.parts[tp] = struct{}{}
	}
	for _, tp := range add {
		t.parts[tp] = struct{}{}
	}
	t.updateMs = now
	t.tv = tv
	return t
}

// prepareAbortOrCommit moves to PrepareCommit or PrepareAbort; with
// transaction version 2 the epoch is bumped, and nextPID (when not -1) is
// the producer id the completion rotates to.
func (m *meta) prepareAbortOrCommit(state State, tv int16, nextPID int64, now int64, noPartitionAdded bool) *transit {
	t := m.base(state)
	if tv >= 2 {
		t.epoch, t.lastEpoch = m.epoch+1, m.epoch
	}
	if noPartitionAdded {
		t.startMs = now
	}
	t.nextPID = nextPID
	t.updateMs = now
	t.tv = tv
	return t
}

func (m *meta) prepareComplete(now int64) *transit {
	state := CompleteAbort
	if m.state == PrepareCommit {
		state = CompleteCommit
	}
	t := m.base(state)
	if m.tv >= 2 && m.nextPID != noID {
		t.pid, t.epoch = m.nextPID, 0
	}
	t.nextPID = noID
	t.parts = map[TP]struct{}{}
	t.updateMs = now
	return t
}

func (m *meta) prepareFence() *transit {
	t := m.base(PrepareEpochFence)
	if !m.failedFence {
		t.epoch = m.epoch + 1
	}
	return t
}

// javaHash is Java's String.hashCode, over UTF-16 code units.
func javaHash(s string) int32 {
	var h int32
	for _, c := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(c)
	}
	return h
}

// partitionFor is the __transaction_state partition of a transactional
// id: Kafka's Utils.abs(hashCode) % partitions.
func partitionFor(id string, n int32) int32 {
	h := javaHash(id)
	if h == math.MinInt32 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % n
}

// ---- records of __transaction_state ----

// keyOf encodes Kafka's TransactionLogKey (version 0).
func keyOf(id string) []byte {
	k := kmsg.NewTxnMetadataKey()
	k.Version = 0
	k.TransactionalID = id
	return k.AppendTo(nil)
}

// valueOf encodes Kafka's TransactionLogValue (version 1, flexible, with
// the KIP-890 tagged fields) for a transition.
func valueOf(t *transit) []byte {
	v := kmsg.NewTxnMetadataValue()
	v.Version = 1
	v.ProducerID, v.ProducerEpoch = t.pid, t.epoch
	v.TimeoutMillis = t.timeoutMs
	v.State = kmsg.TransactionState(t.state)
	v.LastUpdateTimestamp, v.StartTimestamp = t.updateMs, t.startMs
	v.PreviousProducerID, v.NextProducerID = t.prevPID, t.nextPID
	v.ClientTransactionVersion = t.tv
	tps := make([]TP, 0, len(t.parts))
	for tp := range t.parts {
		tps = append(tps, tp)
	}
	sortTPs(tps)
	for _, tp := range tps {
		if n := len(v.Topics); n == 0 || v.Topics[n-1].Topic != tp.Topic {
			vt := kmsg.NewTxnMetadataValueTopic()
			vt.Topic = tp.Topic
			v.Topics = append(v.Topics, vt)
		}
		vt := &v.Topics[len(v.Topics)-1]
		vt.Partitions = append(vt.Partitions, tp.Partition)
	}
	return v.AppendTo(nil)
}

// decodeRecord reads a __transaction_state record: the transactional id
// and its state, or nil state for a tombstone.
func decodeRecord(key, value []byte) (string, *meta, error) {
	if len(key) < 2 {
		return "", nil, errors.New("txn: short record key")
	}
	var k kmsg.TxnMetadataKey
	if err := k.ReadFrom(key); err != nil {
		return "", nil, fmt.Errorf("txn: record key: %w", err)
	}
	if k.Version != 0 {
		return "", nil, fmt.Errorf("txn: unknown record key version %d", k.Version)
	}
	if value == nil {
		return k.TransactionalID, nil, nil
	}
	var v kmsg.TxnMetadataValue
	if err := v.ReadFrom(value); err != nil {
		return "", nil, fmt.Errorf("txn: record value of %q: %w", k.TransactionalID, err)
	}
	if v.Version < 0 || v.Version > 1 {
		return "", nil, fmt.Errorf("txn: unknown record value version %d", v.Version)
	}
	st := State(v.State)
	if st < Empty || st > PrepareEpochFence {
		return "", nil, fmt.Errorf("txn: unknown state %d", v.State)
	}
	m := &meta{
		id: k.TransactionalID, pid: v.ProducerID, prevPID: v.PreviousProducerID, nextPID: v.NextProducerID,
		epoch: v.ProducerEpoch, lastEpoch: noEpoch, timeoutMs: v.TimeoutMillis, state: st,
		parts: map[TP]struct{}{}, startMs: v.StartTimestamp, updateMs: v.LastUpdateTimestamp,
		tv: v.ClientTransactionVersion,
	}
	for _, t := range v.Topics {
		for _, p := range t.Partitions {
			m.parts[TP{t.Topic, p}] = struct{}{}
		}
	}
	return k.TransactionalID, m, nil
}

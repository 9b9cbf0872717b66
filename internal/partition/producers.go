package partition

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// Errors of the idempotent and transactional producer checks. The broker
// maps them to Kafka's codes.
var (
	ErrOutOfOrderSequence   = errors.New("partition: out of order sequence number")                 // OUT_OF_ORDER_SEQUENCE_NUMBER
	ErrInvalidProducerEpoch = errors.New("partition: producer epoch is older than the current one") // INVALID_PRODUCER_EPOCH
	// ErrInvalidTxnState: a non-transactional batch from a producer with
	// an open transaction in the partition (INVALID_TXN_STATE).
	ErrInvalidTxnState = errors.New("partition: invalid transaction state")
	// ErrCoordinatorFenced: a transaction marker from a coordinator epoch
	// older than one seen before (TRANSACTION_COORDINATOR_FENCED).
	ErrCoordinatorFenced = errors.New("partition: transaction coordinator fenced")
)

// maxInFlight is how many recent batches per producer are remembered for
// duplicate detection: the most a client keeps in flight per partition.
const maxInFlight = 5

type batchMeta struct {
	firstSeq, lastSeq       int32
	firstOffset, lastOffset int64
	timestamp               int64
}

// producer is the state of one producer id in one partition.
type producer struct {
	epoch   int16
	batches [maxInFlight]batchMeta // ring of the most recent batches
	n       int                    // how many of batches are valid
	next    int                    // ring position of the next record
	lastTS  int64
	// txnFirst is the first offset of the producer's open transaction in
	// this partition, -1 when none.
	txnFirst int64
	// coordEpoch is the coordinator epoch of the last marker, -1 before
	// any.
	coordEpoch int32
}

func newProducer(epoch int16) *producer {
	return &producer{epoch: epoch, txnFirst: -1, coordEpoch: -1, lastTS: -1}
}

func (e *producer) last() *batchMeta {
	if e.n == 0 {
		return nil
	}
	return &e.batches[(e.next+maxInFlight-1)%maxInFlight]
}

func (e *producer) push(m batchMeta) {
	e.batches[e.next] = m
	e.next = (e.next + 1) % maxInFlight
	if e.n < maxInFlight {
		e.n++
	}
}

// ordered returns the remembered batches, oldest first.
func (e *producer) ordered() []batchMeta {
	out := make([]batchMeta, e.n)
	for i := 0; i < e.n; i++ {
		out[i] = e.batches[(e.next-e.n+i+2*maxInFlight)%maxInFlight]
	}
	return out
}

// setEpoch moves the producer to epoch; the batches of an older epoch can
// no longer be retried, so they are forgotten (Kafka does the same).
func (e *producer) setEpoch(epoch int16) {
	if epoch != e.epoch {
		e.epoch = epoch
		e.n, e.next = 0, 0
	}
}

// producers holds the idempotence and transaction state of every producer
// id seen in the partition. It is guarded by the partition's append lock.
type producers map[int64]*producer

func inSequence(last, next int32) bool {
	return next == last+1 || (last == math.MaxInt32 && next == 0)
}

// check validates a data batch from producer id pid against the state. It
// returns the original batch when this one is a retry of a batch already
// in the log (same epoch and sequence range), and an error when the batch
// must be rejected. Kafka's rules: a retry is recognised first; an older
// epoch is fenced; a new epoch starts at sequence 0 unless the producer is
// unknown; within an epoch, sequences are contiguous; a producer with an
// open transaction may only write transactional batches.
//
// A batch without sequence numbers (firstSeq < 0) comes from a coordinator
// of this broker (transactional offset commits): only its epoch is checked.
func (ps producers) check(pid int64, epoch int16, firstSeq, lastSeq int32, transactional bool) (*batchMeta, error) {
	e := ps[pid]
	if e == nil {
		// Unknown producer (new, or its state expired with the log):
		// any sequence is accepted, as in Kafka.
		return nil, nil
	}
	if epoch == e.epoch && firstSeq >= 0 {
		for i := 0; i < e.n; i++ {
			b := &e.batches[i]
			if b.firstSeq == firstSeq && b.lastSeq == lastSeq {
				return b, nil
			}
		}
	}
	if epoch < e.epoch {
		return nil, fmt.Errorf("%w: producer %d epoch %d is older than %d", ErrInvalidProducerEpoch, pid, epoch, e.epoch)
	}
	if firstSeq >= 0 {
		if epoch > e.epoch {
			if firstSeq != 0 {
				return nil, fmt.Errorf("%w: producer %d starts epoch %d at sequence %d, not 0", ErrOutOfOrderSequence, pid, epoch, firstSeq)
			}
		} else if last := e.last(); last != nil {
			if !inSequence(last.lastSeq, firstSeq) {
				return nil, fmt.Errorf("%w: producer %d sent sequence %d after %d", ErrOutOfOrderSequence, pid, firstSeq, last.lastSeq)
			}
		} else if firstSeq != 0 {
			// Known at this epoch (a marker moved it here) but with no
			// batch yet: the epoch's first batch has sequence 0.
			return nil, fmt.Errorf("%w: producer %d starts epoch %d at sequence %d, not 0", ErrOutOfOrderSequence, pid, epoch, firstSeq)
		}
	}
	if e.txnFirst >= 0 && !transactional {
		return nil, fmt.Errorf("%w: producer %d wrote a non-transactional batch while its transaction from offset %d is open", ErrInvalidTxnState, pid, e.txnFirst)
	}
	return nil, nil
}

// record notes an appended data batch. It returns the producer and whether
// the batch began a transaction.
func (ps producers) record(pid int64, epoch int16, transactional bool, m batchMeta) (*producer, bool) {
	e := ps[pid]
	if e == nil {
		e = newProducer(epoch)
		ps[pid] = e
	}
	e.setEpoch(epoch)
	if m.firstSeq >= 0 {
		e.push(m)
	}
	e.lastTS = m.timestamp
	began := false
	if transactional && e.txnFirst < 0 {
		e.txnFirst = m.firstOffset
		began = true
	}
	return e, began
}

// checkMarker validates a transaction marker against the state. strict is
// transaction version 2, where the coordinator bumps the epoch before it
// writes markers: the marker's epoch must then be above the producer's,
// except for a retry of a marker already written (same epoch, no open
// transaction). Otherwise the epoch may not go back.
func (ps producers) checkMarker(pid int64, epoch int16, coordEpoch int32, strict bool) error {
	e := ps[pid]
	if e == nil {
		return nil
	}
	bad := epoch < e.epoch
	if strict && epoch == e.epoch && e.txnFirst >= 0 {
		bad = true
	}
	if bad {
		return fmt.Errorf("%w: marker of producer %d at epoch %d, the producer is at %d", ErrInvalidProducerEpoch, pid, epoch, e.epoch)
	}
	if e.coordEpoch > coordEpoch {
		return fmt.Errorf("%w: marker of producer %d from coordinator epoch %d, %d was seen", ErrCoordinatorFenced, pid, coordEpoch, e.coordEpoch)
	}
	return nil
}

// marker notes an appended transaction marker; it returns the first offset
// of the transaction it ended, -1 when the producer had none open here.
func (ps producers) marker(pid int64, epoch int16, coordEpoch int32, ts int64) int64 {
	e := ps[pid]
	if e == nil {
		e = newProducer(epoch)
		ps[pid] = e
	}
	first := e.txnFirst
	e.setEpoch(epoch)
	e.coordEpoch = coordEpoch
	e.lastTS = ts
	e.txnFirst = -1
	return first
}

// ProducerInfo is one producer's state in a partition, as DescribeProducers
// reports it.
type ProducerInfo struct {
	ProducerID       int64
	Epoch            int16
	LastSequence     int32 // -1 when no batch is remembered
	LastTimestamp    int64
	CoordinatorEpoch int32
	TxnStartOffset   int64 // first offset of the open transaction, -1 when none
}

// Producers lists the producers the partition holds state for, by id. The
// caller owns the slice.
func (p *Partition) Producers() []ProducerInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]ProducerInfo, 0, len(p.producers))
	for pid, e := range p.producers {
		pi := ProducerInfo{ProducerID: pid, Epoch: e.epoch, LastSequence: -1, LastTimestamp: e.lastTS, CoordinatorEpoch: e.coordEpoch, TxnStartOffset: e.txnFirst}
		if l := e.last(); l != nil {
			pi.LastSequence = l.lastSeq
		}
		out = append(out, pi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ProducerID < out[j].ProducerID })
	return out
}

// ExpireProducers forgets producers without an open transaction whose last
// write is older than idle (producer.id.expiration.ms), judged by the
// batches' timestamps as in Kafka. It returns how many were forgotten.
func (p *Partition) ExpireProducers(now int64, idle int64) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for pid, e := range p.producers {
		if e.txnFirst < 0 && now-e.lastTS >= idle {
			delete(p.producers, pid)
			n++
		}
	}
	if n > 0 {
		// The next snapshot need not carry them.
		p.sinceSnap++
	}
	return n
}

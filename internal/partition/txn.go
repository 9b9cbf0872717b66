package partition

// Transactions in one partition: the open transactions that hold the last
// stable offset back, the index of aborted transactions a read_committed
// fetch reports, and the transaction markers (control batches) the
// transaction coordinator writes.
//
// A transaction opens in the partition with the producer's first
// transactional batch and closes with its marker. It holds the last stable
// offset back until the marker is durable (below the high watermark), so a
// read_committed reader never passes data whose outcome a crash could still
// change, nor reads an aborted transaction before the index lists it.

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"sync"

	"github.com/plexus/plexus/internal/records"
)

// Control record types of a transaction marker's key.
const (
	markerAbort  = 0
	markerCommit = 1
)

// AbortedTxn is an aborted transaction's producer and offsets, as a
// read_committed fetch reports it: the transaction's data lies in
// [FirstOffset, LastOffset) and its abort marker at LastOffset.
type AbortedTxn struct {
	ProducerID  int64
	FirstOffset int64
	LastOffset  int64
}

// openTxn is a transaction that holds the last stable offset back: open
// (end -1), or ended by a marker at end that is not yet durable.
type openTxn struct {
	pid   int64
	first int64
	end   int64
}

// txnIndex is the partition's transaction state that readers need. Its
// mutex is a leaf: it is taken under the append lock and under ackMu, and
// nothing is taken while holding it.
type txnIndex struct {
	mu      sync.Mutex
	open    []openTxn
	aborted []AbortedTxn // ascending by LastOffset (marker order)
}

// unstableNone is the first unstable offset when no transaction is open.
const unstableNone = math.MaxInt64

// begin notes a transaction opening at first. It is called before the batch
// is appended, so the last stable offset never passes it.
func (p *Partition) txnBegin(pid, first int64) {
	x := &p.txns
	x.mu.Lock()
	x.open = append(x.open, openTxn{pid: pid, first: first, end: -1})
	p.updateUnstableLocked()
	x.mu.Unlock()
}

// txnCancel forgets a transaction txnBegin opened for a batch whose append
// failed.
func (p *Partition) txnCancel(pid, first int64) {
	x := &p.txns
	x.mu.Lock()
	for i, o := range x.open {
		if o.pid == pid && o.first == first && o.end < 0 {
			x.open = append(x.open[:i], x.open[i+1:]...)
			break
		}
	}
	p.updateUnstableLocked()
	x.mu.Unlock()
}

// txnEnd notes the marker at offset that ended pid's transaction from
// first; abort adds it to the aborted index. hwm is the high watermark.
func (p *Partition) txnEnd(pid, first, marker int64, abort bool, hwm int64) {
	x := &p.txns
	x.mu.Lock()
	for i := range x.open {
		if o := &x.open[i]; o.pid == pid && o.first == first && o.end < 0 {
			o.end = marker
			break
		}
	}
	if abort {
		x.aborted = append(x.aborted, AbortedTxn{ProducerID: pid, FirstOffset: first, LastOffset: marker})
	}
	p.pruneLocked(hwm)
	x.mu.Unlock()
}

// txnDurable releases the transactions whose markers the high watermark
// passed.
func (p *Partition) txnDurable(hwm int64) {
	x := &p.txns
	x.mu.Lock()
	p.pruneLocked(hwm)
	x.mu.Unlock()
}

func (p *Partition) pruneLocked(hwm int64) {
	x := &p.txns
	k := 0
	for _, o := range x.open {
		if o.end >= 0 && o.end < hwm {
			continue
		}
		x.open[k] = o
		k++
	}
	clear(x.open[k:])
	x.open = x.open[:k]
	p.updateUnstableLocked()
}

func (p *Partition) updateUnstableLocked() {
	fu := int64(unstableNone)
	for _, o := range p.txns.open {
		fu = min(fu, o.first)
	}
	p.unstable.Store(fu)
}

// txnReset empties the state before it is rebuilt from the log.
func (p *Partition) txnReset() {
	x := &p.txns
	x.mu.Lock()
	x.open = nil
	x.aborted = nil
	p.updateUnstableLocked()
	x.mu.Unlock()
}

// LastStableOffset is the end of what read_committed consumers may read:
// the first offset of the oldest transaction that is open (or whose marker
// is not yet durable), or the high watermark when there is none, and never
// below the log start offset.
func (p *Partition) LastStableOffset() int64 {
	hwm := p.hwm.Load()
	lso := min(hwm, p.unstable.Load())
	return max(lso, min(p.log.StartOffset(), hwm))
}

// AbortedTransactions lists the aborted transactions that overlap the
// offsets [from, to]: those whose abort marker is at or after from and
// whose data starts at or before to. The caller owns the slice.
func (p *Partition) AbortedTransactions(from, to int64) []AbortedTxn {
	x := &p.txns
	x.mu.Lock()
	defer x.mu.Unlock()
	i := sort.Search(len(x.aborted), func(i int) bool { return x.aborted[i].LastOffset >= from })
	var out []AbortedTxn
	for _, a := range x.aborted[i:] {
		if a.FirstOffset <= to {
			out = append(out, a)
		}
	}
	return out
}

// pruneAborted drops index entries wholly below the log start offset.
func (p *Partition) pruneAborted() {
	start := p.log.StartOffset()
	x := &p.txns
	x.mu.Lock()
	i := sort.Search(len(x.aborted), func(i int) bool { return x.aborted[i].LastOffset >= start })
	if i > 0 {
		x.aborted = append(x.aborted[:0:0], x.aborted[i:]...)
	}
	x.mu.Unlock()
}

// pruneCleanedAborts drops the index entries below end, the end of what a
// compaction pass rewrote, whose ABORT marker the pass did not keep
// (markers, ascending): once the cleaner has removed a transaction's data
// and then, past its delete horizon, its marker, nothing is left for
// read_committed readers to skip. Without it the index of a compacted
// topic would only grow.
func (p *Partition) pruneCleanedAborts(end int64, markers []int64) {
	x := &p.txns
	x.mu.Lock()
	defer x.mu.Unlock()
	k, m := 0, 0
	for _, a := range x.aborted {
		for m < len(markers) && markers[m] < a.LastOffset {
			m++
		}
		if a.LastOffset < end && (m == len(markers) || markers[m] != a.LastOffset) {
			continue
		}
		x.aborted[k] = a
		k++
	}
	x.aborted = x.aborted[:k]
}

// abortedSnapshot copies the index for a snapshot.
func (p *Partition) abortedSnapshot() []AbortedTxn {
	x := &p.txns
	x.mu.Lock()
	defer x.mu.Unlock()
	return append([]AbortedTxn(nil), x.aborted...)
}

// Marker is a transaction marker for WriteMarker.
type Marker struct {
	ProducerID       int64
	ProducerEpoch    int16
	Commit           bool
	CoordinatorEpoch int32
	// Strict is transaction version 2: the coordinator bumped the epoch
	// before writing the marker, so it must be above the producer's.
	Strict bool
}

// WriteMarker appends a commit or abort marker for a producer: Kafka's
// control batch (transactional and control attributes set, the producer's
// id and epoch, no sequence) holding one control record, key
// {int16 version 0, int16 type (0 abort, 1 commit)} and value
// {int16 version 0, int32 coordinator epoch}. The returned ack completes
// when the marker is durable.
func (p *Partition) WriteMarker(m Marker) (int64, *Ack, error) {
	if m.ProducerID < 0 {
		return -1, nil, fmt.Errorf("%w: marker without a producer id", ErrInvalidRecord)
	}
	cfg := p.cfg.Load()
	p.mu.Lock()
	flush := false
	defer func() {
		p.mu.Unlock()
		if flush {
			p.scheduleFlush()
		}
	}()
	if p.closed {
		return -1, nil, ErrClosed
	}
	if err := p.producers.checkMarker(m.ProducerID, m.ProducerEpoch, m.CoordinatorEpoch, m.Strict); err != nil {
		return -1, nil, err
	}
	now := p.now().UnixMilli()
	batch := encodeMarker(m, now)
	batch.SetPartitionLeaderEpoch(p.epoch.Load())
	p.ackMu.Lock()
	gen := p.gen
	p.ackMu.Unlock()
	first, next, err := p.log.Append(batch)
	if err != nil {
		return -1, nil, fmt.Errorf("%w: %v", ErrNotDurable, err)
	}
	if txnFirst := p.producers.marker(m.ProducerID, m.ProducerEpoch, m.CoordinatorEpoch, now); txnFirst >= 0 {
		p.txnEnd(m.ProducerID, txnFirst, first, !m.Commit, p.hwm.Load())
	}
	p.maybeSnapshot(len(batch))
	var ack *Ack
	if cfg.WriteCaching {
		p.advance(next)
		ack = completed
	} else {
		ack = p.registerAck(next, gen)
	}
	flush = true
	return first, ack, nil
}

// encodeMarker builds a marker's control batch.
func encodeMarker(m Marker, now int64) records.Batch {
	h := records.NewHeader()
	h.ProducerID, h.ProducerEpoch = m.ProducerID, m.ProducerEpoch
	h.Transactional, h.Control = true, true
	h.BaseTimestamp = now
	typ := int16(markerAbort)
	if m.Commit {
		typ = markerCommit
	}
	var key [4]byte
	binary.BigEndian.PutUint16(key[2:], uint16(typ))
	var value [6]byte
	binary.BigEndian.PutUint32(value[2:], uint32(m.CoordinatorEpoch))
	var b records.Builder
	b.Reset(h)
	b.Add(0, now, key[:], value[:], nil)
	out, err := b.AppendTo(nil)
	if err != nil {
		// Uncompressed: appending cannot fail.
		panic(err)
	}
	return records.Batch(out)
}

// ReadMarker decodes the marker in a control batch: whether it commits and
// the coordinator epoch. ok is false for a control batch that holds no
// marker (compaction may empty one) or one that cannot be read.
func ReadMarker(b records.Batch) (commit bool, coordEpoch int32, ok bool) {
	if !b.IsControl() {
		return false, 0, false
	}
	it, _, err := b.Records(nil, 1<<20)
	if err != nil {
		return false, 0, false
	}
	var r records.Record
	if !it.Next(&r) || len(r.Key) < 4 {
		return false, 0, false
	}
	typ := int16(binary.BigEndian.Uint16(r.Key[2:]))
	if typ != markerAbort && typ != markerCommit {
		return false, 0, false
	}
	if len(r.Value) >= 6 {
		coordEpoch = int32(binary.BigEndian.Uint32(r.Value[2:]))
	}
	return typ == markerCommit, coordEpoch, true
}

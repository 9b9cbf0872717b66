package log

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math"

	"github.com/plexus/plexus/internal/records"
)

// errRecordOffsets means a batch's records do not have increasing offset
// deltas within its last offset delta: a rebuilt batch would not fit.
var errRecordOffsets = fmt.Errorf("%w: record offset deltas out of order or past the batch's last offset", records.ErrCorrupt)

// keyMap maps a key to the offset of its latest record in the dirty
// section. Keys are stored as two independent 64-bit hashes: a collision
// (about 2^-128 per pair) would drop a record, the same trade Kafka makes
// with its MD5-keyed map.
type keyMap struct {
	s1, s2 maphash.Seed
	m      map[[2]uint64]int64
	max    int
}

func newKeyMap(max int) *keyMap {
	return &keyMap{s1: maphash.MakeSeed(), s2: maphash.MakeSeed(), m: map[[2]uint64]int64{}, max: max}
}

func (k *keyMap) hash(key []byte) [2]uint64 {
	return [2]uint64{maphash.Bytes(k.s1, key), maphash.Bytes(k.s2, key)}
}

func (k *keyMap) len() int { return len(k.m) }

func (k *keyMap) put(key []byte, off int64) { k.m[k.hash(key)] = off }

func (k *keyMap) get(key []byte) (int64, bool) {
	o, ok := k.m[k.hash(key)]
	return o, ok
}

// Control record types (the key of a control record is version int16,
// type int16).
const (
	ctlAbort  = 0
	ctlCommit = 1
	ctlNone   = -1 // not a control batch, or one without a readable record
)

// controlType is the type of a control batch's first record, ctlNone when
// it has none.
func controlType(b records.Batch) int16 {
	if !b.IsControl() || b.NumRecords() == 0 {
		return ctlNone
	}
	it, _, err := b.Records(nil, 1<<20)
	if err != nil {
		return ctlNone
	}
	var r records.Record
	if !it.Next(&r) || len(r.Key) < 4 {
		return ctlNone
	}
	return int16(binary.BigEndian.Uint16(r.Key[2:]))
}

// filter decides, batch by batch, what a pass keeps, with Kafka's rules
// (LogCleaner.cleanInto and MemoryRecords.filterTo):
//
//   - a record at or beyond mapEnd (past what the key map covers) stays;
//   - a record without a key goes;
//   - a record stays only if no later record of its key is in the map, and,
//     for a tombstone, while its batch's delete horizon has not passed;
//   - records of aborted transactions go on the first pass;
//   - a transaction marker goes once its transaction's data is gone and
//     its delete horizon (set on the pass that found it so) has passed;
//   - a batch left empty goes, unless it is the last batch of a producer
//     that has not expired (it carries the producer's sequence and
//     epoch): then its header stays;
//   - a batch left whole is copied byte for byte; one that lost records,
//     or gains a delete horizon (it holds a tombstone, or is a marker
//     whose data is gone), is rebuilt with its codec, producer id, epoch,
//     base sequence, base and last offset, and leader epoch.
type filter struct {
	p      *cleanPass
	km     *keyMap
	mapEnd int64
	txn    *txnState
	now    int64

	keep    []bool
	governs bool // the batch being rebuilt keeps a tombstone or marker
	b       records.Builder
	hdrs    []records.Header
	out     []byte
}

func (f *filter) batch(b records.Batch, w *segWriter) error {
	p := f.p
	n := b.NumRecords()
	p.res.RecordsRead += int64(n)
	control := b.IsControl()
	ctl := int16(ctlNone)
	var canDiscard bool
	if control {
		ctl = controlType(b)
		canDiscard = f.txn.onControl(b, ctl)
	} else {
		canDiscard = f.txn.onData(b)
	}
	if b.LastOffset() < p.start {
		return nil // below the log start offset: never read again
	}
	discardRecords := canDiscard
	if control {
		discardRecords = canDiscard && b.HasDeleteHorizon() && b.BaseTimestamp() <= f.now
	}
	retainEmpty := b.ProducerID() >= 0 && f.txn.isLast(b)
	if discardRecords && !retainEmpty {
		return nil
	}

	// Decide record by record.
	var sec []byte
	kept, tombstones := 0, false
	f.keep = f.keep[:0]
	if !discardRecords && n > 0 {
		it, scratch, err := b.Records(p.scratch, p.o.MaxBatchBytes)
		p.scratch = scratch
		if err != nil {
			return err
		}
		if b.Codec() == records.CodecNone {
			sec = b.RecordsSection()
		} else {
			sec = scratch
		}
		var r records.Record
		prev := int32(-1)
		for it.Next(&r) {
			if r.OffsetDelta <= prev || r.OffsetDelta > b.LastOffsetDelta() {
				return errRecordOffsets
			}
			prev = r.OffsetDelta
			keep := control || f.retain(b, &r)
			f.keep = append(f.keep, keep)
			if keep {
				kept++
				tombstones = tombstones || !control && r.Value == nil
			}
		}
		if err := it.Err(); err != nil {
			return err
		}
	}
	needHorizon := (tombstones || canDiscard && control) && !b.HasDeleteHorizon()

	switch {
	case kept == 0 && !retainEmpty:
		return nil
	case kept == 0 && n == 0:
		return w.add(b, ctl, false) // already an empty producer-state batch
	case kept == 0:
		return f.rebuild(b, nil, -1, ctl, w)
	case kept == int(n) && !needHorizon:
		p.res.RecordsKept += int64(kept)
		return w.add(b, ctl, tombstones || control)
	}
	horizon := int64(-1)
	if needHorizon {
		horizon = f.now + min(p.o.DeleteRetentionMs, math.MaxInt64-f.now)
	} else if b.HasDeleteHorizon() {
		horizon = b.BaseTimestamp()
	}
	p.res.RecordsKept += int64(kept)
	f.governs = tombstones || control
	return f.rebuild(b, sec, horizon, ctl, w)
}

// retain applies the key rules to one data record.
func (f *filter) retain(b records.Batch, r *records.Record) bool {
	off := b.BaseOffset() + int64(r.OffsetDelta)
	if off >= f.mapEnd {
		return true
	}
	if r.Key == nil {
		return false
	}
	if latest, ok := f.km.get(r.Key); ok && off < latest {
		return false
	}
	return r.Value != nil || !b.HasDeleteHorizon() || f.now < b.BaseTimestamp()
}

// rebuild writes a copy of b holding the records of sec that f.keep
// marks (none when sec is nil), with the delete horizon horizon (-1:
// none).
func (f *filter) rebuild(b records.Batch, sec []byte, horizon int64, ctl int16, w *segWriter) error {
	h := records.BatchHeader{
		Codec:          b.Codec(),
		LogAppendTime:  b.LogAppendTime(),
		Transactional:  b.IsTransactional(),
		Control:        b.IsControl(),
		ProducerID:     b.ProducerID(),
		ProducerEpoch:  b.ProducerEpoch(),
		BaseSequence:   b.BaseSequence(),
		LeaderEpoch:    b.PartitionLeaderEpoch(),
		BaseOffset:     b.BaseOffset(),
		LastOffsetHint: b.LastOffsetDelta(),
		BaseTimestamp:  b.MaxTimestamp(),
	}
	maxTs := int64(math.MinInt64)
	if sec == nil {
		// Only the header stays, uncompressed, as Kafka writes it.
		h.Codec = records.CodecNone
		maxTs = b.MaxTimestamp()
	}
	if horizon >= 0 {
		h.BaseTimestamp, h.DeleteHorizon = horizon, true
	} else if sec != nil {
		it := records.NewRecordIter(sec, b.NumRecords())
		var r records.Record
		for i := 0; it.Next(&r); i++ {
			if f.keep[i] {
				h.BaseTimestamp = b.BaseTimestamp() + r.TimestampDelta
				break
			}
		}
	}
	f.b.Reset(h)
	if sec != nil {
		it := records.NewRecordIter(sec, b.NumRecords())
		var r records.Record
		for i := 0; it.Next(&r); i++ {
			if !f.keep[i] {
				continue
			}
			ts := b.BaseTimestamp() + r.TimestampDelta
			maxTs = max(maxTs, ts)
			f.hdrs = f.hdrs[:0]
			r.EachHeader(func(k, v []byte) { f.hdrs = append(f.hdrs, records.Header{Key: k, Value: v}) })
			f.b.Add(r.OffsetDelta, ts, r.Key, r.Value, f.hdrs)
		}
	}
	if b.LogAppendTime() {
		maxTs = b.MaxTimestamp()
	}
	out, err := f.b.AppendTo(f.out[:0])
	if err != nil {
		return err
	}
	f.out = out
	nb := records.Batch(out)
	binary.BigEndian.PutUint64(nb[35:], uint64(maxTs))
	nb.UpdateCRC()
	governs := sec != nil && f.governs
	f.governs = false
	return w.add(nb, ctl, governs)
}

// abortedTxn is an aborted transaction: its producer, its first data
// offset and the offset of its ABORT marker.
type abortedTxn struct {
	pid, first, last int64
}

// txnState is the transaction and producer bookkeeping of a pass: what
// scanTxns learnt of the whole log, and the state of the walk through the
// segments being cleaned (Kafka's CleanedTransactionMetadata).
type txnState struct {
	aborted   []abortedTxn // by first offset
	openFirst int64        // first offset of the earliest open transaction; MaxInt64 when none
	lastData  map[int64]int64
	lastEpoch map[int64]int16
	lastTs    map[int64]int64
	// A producer whose last batch is expiration ms older than now is
	// forgotten (producer.id.expiration.ms); 0 keeps every producer.
	now, expiration int64

	next             int
	ongoingAborted   map[int64]*int64 // pid -> last offset of its batches seen (-1: none)
	ongoingCommitted map[int64]bool
}

// resetCleaning restarts the walk.
func (t *txnState) resetCleaning() {
	t.next = 0
	t.ongoingAborted = map[int64]*int64{}
	t.ongoingCommitted = map[int64]bool{}
}

func (t *txnState) consumeUpTo(off int64) {
	for t.next < len(t.aborted) && t.aborted[t.next].first <= off {
		a := t.aborted[t.next]
		if t.ongoingAborted[a.pid] == nil {
			seen := int64(-1)
			t.ongoingAborted[a.pid] = &seen
		}
		t.next++
	}
}

// onData notes a data batch and says whether it belongs to an aborted
// transaction (and may go).
func (t *txnState) onData(b records.Batch) bool {
	t.consumeUpTo(b.LastOffset())
	if !b.IsTransactional() {
		return false
	}
	if seen := t.ongoingAborted[b.ProducerID()]; seen != nil {
		*seen = b.LastOffset()
		return true
	}
	t.ongoingCommitted[b.ProducerID()] = true
	return false
}

// onControl notes a control batch and says whether it may go (its delete
// horizon permitting): a marker whose transaction left no batch in the
// part of the log walked.
func (t *txnState) onControl(b records.Batch, typ int16) bool {
	t.consumeUpTo(b.LastOffset())
	pid := b.ProducerID()
	switch {
	case b.NumRecords() == 0:
		return true
	case typ == ctlAbort:
		seen := t.ongoingAborted[pid]
		delete(t.ongoingAborted, pid)
		return seen == nil || *seen < 0
	case typ == ctlCommit:
		had := t.ongoingCommitted[pid]
		delete(t.ongoingCommitted, pid)
		return !had
	}
	return false
}

// isLast says whether b is the last batch of its producer in the log,
// which keeps the producer's sequence (or, for a marker, epoch) state, and
// the producer has not expired.
func (t *txnState) isLast(b records.Batch) bool {
	pid := b.ProducerID()
	if ts, ok := t.lastTs[pid]; ok && t.expiration > 0 && t.now-ts >= t.expiration {
		return false
	}
	if d, ok := t.lastData[pid]; ok {
		return b.LastOffset() == d
	}
	e, ok := t.lastEpoch[pid]
	return ok && b.IsControl() && b.ProducerEpoch() == e
}

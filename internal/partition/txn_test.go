package partition

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"syscall"
	"testing"
	"time"

	plog "github.com/plexus/plexus/internal/log"
	"github.com/plexus/plexus/internal/records"
)

// txnBatch builds a transactional batch of n records.
func txnBatch(pid int64, epoch int16, seq int32, n int, ts int64) records.Batch {
	h := records.NewHeader()
	h.ProducerID, h.ProducerEpoch, h.BaseSequence, h.BaseTimestamp = pid, epoch, seq, ts
	h.Transactional = true
	var b records.Builder
	b.Reset(h)
	for i := 0; i < n; i++ {
		b.Add(int32(i), ts, []byte(fmt.Sprintf("k%d", i)), []byte("txn"), nil)
	}
	out, err := b.AppendTo(nil)
	if err != nil {
		panic(err)
	}
	return records.Batch(out)
}

func (f *fixture) marker(m Marker) (int64, error) {
	f.t.Helper()
	off, ack, err := f.p.WriteMarker(m)
	if err == nil {
		if werr := ack.Wait(10 * time.Second); werr != nil {
			f.t.Fatalf("marker ack: %v", werr)
		}
	}
	return off, err
}

func (f *fixture) mustAppend(b records.Batch) AppendResult {
	f.t.Helper()
	res, err := f.append(b, -1)
	if err != nil {
		f.t.Fatalf("append: %v", err)
	}
	return res
}

func (f *fixture) wantLSO(want int64) {
	f.t.Helper()
	if got := f.p.LastStableOffset(); got != want {
		f.t.Fatalf("last stable offset %d, want %d (high watermark %d)", got, want, f.p.HighWatermark())
	}
}

// A transaction holds the last stable offset at its first offset until its
// marker is durable; an abort enters the aborted index.
func TestTransactionLastStableOffset(t *testing.T) {
	f := newFixture(t, plog.NewMemFS())
	ts := f.now.UnixMilli()
	f.mustAppend(batch(-1, -1, -1, 2, ts)) // 0-1
	f.mustAppend(txnBatch(7, 0, 0, 3, ts)) // 2-4, opens pid 7
	f.mustAppend(batch(-1, -1, -1, 1, ts)) // 5
	f.mustAppend(txnBatch(8, 3, 0, 2, ts)) // 6-7, opens pid 8
	f.mustAppend(txnBatch(7, 0, 3, 1, ts)) // 8
	if hwm := f.p.HighWatermark(); hwm != 9 {
		t.Fatalf("high watermark %d, want 9", hwm)
	}
	f.wantLSO(2)
	data, err := f.p.Read(nil, 0, 1<<20, true)
	if err != nil || countBatches(t, data) != 1 {
		t.Fatalf("read_committed read %d batches (%v), want the one before the transaction", countBatches(t, data), err)
	}

	off, err := f.marker(Marker{ProducerID: 7, ProducerEpoch: 0, Commit: true})
	if err != nil || off != 9 {
		t.Fatalf("commit marker at %d, %v; want 9", off, err)
	}
	f.wantLSO(6) // pid 8 is still open
	off, err = f.marker(Marker{ProducerID: 8, ProducerEpoch: 3, Commit: false})
	if err != nil || off != 10 {
		t.Fatalf("abort marker at %d, %v; want 10", off, err)
	}
	f.wantLSO(11)
	if got := f.p.AbortedTransactions(0, 10); len(got) != 1 || got[0] != (AbortedTxn{ProducerID: 8, FirstOffset: 6, LastOffset: 10}) {
		t.Fatalf("aborted %+v", got)
	}
	for _, r := range []struct{ from, to int64 }{{0, 5}, {11, 20}} {
		if got := f.p.AbortedTransactions(r.from, r.to); len(got) != 0 {
			t.Fatalf("aborted in [%d,%d]: %+v, want none", r.from, r.to, got)
		}
	}
	if got := f.p.AbortedTransactions(7, 7); len(got) != 1 {
		t.Fatalf("aborted in [7,7]: %+v", got)
	}
	// The marker is a control batch with Kafka's control record.
	data, _ = f.p.Read(nil, 10, 1<<20, true)
	b := records.Batch(data)
	commit, coord, ok := ReadMarker(b)
	if !b.IsControl() || !b.IsTransactional() || b.ProducerID() != 8 || b.ProducerEpoch() != 3 || !ok || commit || coord != 0 || b.Check() != nil {
		t.Fatalf("marker batch: control=%v txn=%v pid=%d epoch=%d ok=%v commit=%v", b.IsControl(), b.IsTransactional(), b.ProducerID(), b.ProducerEpoch(), ok, commit)
	}
}

// The last stable offset does not pass a marker until the marker is
// durable; with acks waiting on the flusher, it follows the high
// watermark.
func TestLastStableOffsetWaitsForDurableMarker(t *testing.T) {
	fs := plog.NewFaultFS(plog.NewMemFS())
	f := newFixture(t, fs)
	ts := f.now.UnixMilli()
	f.mustAppend(txnBatch(7, 0, 0, 2, ts))
	fs.Inject(plog.Fault{Ops: plog.OpSync, Path: ".log", Err: syscall.EIO, Times: 1, DropUnsynced: true})
	_, ack, err := f.p.WriteMarker(Marker{ProducerID: 7, ProducerEpoch: 0, Commit: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := ack.Wait(10 * time.Second); err == nil {
		t.Fatal("the marker was acknowledged though the sync failed")
	}
	// The failed flush dropped the marker: the transaction is open again.
	f.wantLSO(0)
	if got := f.p.LogEndOffset(); got != 2 {
		t.Fatalf("log end %d after the failed flush, want 2", got)
	}
	if _, err := f.marker(Marker{ProducerID: 7, ProducerEpoch: 0, Commit: false}); err != nil {
		t.Fatal(err)
	}
	f.wantLSO(3)
	if got := f.p.AbortedTransactions(0, 3); len(got) != 1 || got[0].FirstOffset != 0 || got[0].LastOffset != 2 {
		t.Fatalf("aborted %+v", got)
	}
}

func TestTransactionalProducerRules(t *testing.T) {
	ts := int64(1_700_000_000_000)
	type step struct {
		b      records.Batch // nil: a marker
		m      Marker
		want   error
		dupOf  int64
		offset int64 // expected base offset, -1 to skip
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"a non-transactional batch while a transaction is open", []step{
			{b: txnBatch(7, 0, 0, 1, ts), offset: 0},
			{b: batch(7, 0, 1, 1, ts), want: ErrInvalidTxnState},
			{m: Marker{ProducerID: 7, ProducerEpoch: 0, Commit: true}, offset: 1},
			{b: batch(7, 0, 1, 1, ts), offset: 2},
		}},
		{"a retried transactional batch is a duplicate", []step{
			{b: txnBatch(7, 0, 0, 2, ts), offset: 0},
			{b: txnBatch(7, 0, 2, 2, ts), offset: 2},
			{b: txnBatch(7, 0, 0, 2, ts), dupOf: 0},
		}},
		{"TV1 markers keep the epoch and sequences continue", []step{
			{b: txnBatch(7, 2, 0, 2, ts), offset: 0},
			{m: Marker{ProducerID: 7, ProducerEpoch: 2, Commit: true}, offset: 2},
			{b: txnBatch(7, 2, 2, 1, ts), offset: 3},
			{m: Marker{ProducerID: 7, ProducerEpoch: 1, Commit: true}, want: ErrInvalidProducerEpoch},
		}},
		{"TV2 markers bump the epoch: sequences restart at 0", []step{
			{b: txnBatch(7, 2, 0, 2, ts), offset: 0},
			{m: Marker{ProducerID: 7, ProducerEpoch: 2, Commit: true, Strict: true}, want: ErrInvalidProducerEpoch},
			{m: Marker{ProducerID: 7, ProducerEpoch: 3, Commit: true, Strict: true}, offset: 2},
			{m: Marker{ProducerID: 7, ProducerEpoch: 3, Commit: true, Strict: true}, offset: 3}, // a retried marker
			{b: txnBatch(7, 2, 2, 1, ts), want: ErrInvalidProducerEpoch},
			{b: txnBatch(7, 3, 5, 1, ts), want: ErrOutOfOrderSequence},
			{b: txnBatch(7, 3, 0, 1, ts), offset: 4},
		}},
		{"a marker from an older coordinator epoch is fenced", []step{
			{b: txnBatch(7, 0, 0, 1, ts), offset: 0},
			{m: Marker{ProducerID: 7, ProducerEpoch: 0, Commit: false, CoordinatorEpoch: 5}, offset: 1},
			{m: Marker{ProducerID: 7, ProducerEpoch: 0, Commit: false, CoordinatorEpoch: 4}, want: ErrCoordinatorFenced},
		}},
		{"a transactional batch needs a producer id", []step{
			{b: txnBatch(-1, -1, -1, 1, ts), want: ErrInvalidRecord},
		}},
		{"coordinator batches without sequences are never duplicates", []step{
			{b: txnBatch(9, 1, -1, 1, ts), offset: 0},
			{b: txnBatch(9, 1, -1, 1, ts), offset: 1},
			{b: txnBatch(9, 0, -1, 1, ts), want: ErrInvalidProducerEpoch},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, plog.NewMemFS())
			for i, s := range c.steps {
				var (
					off int64
					dup bool
					err error
				)
				if s.b != nil {
					var res AppendResult
					res, err = f.append(s.b, -1)
					off, dup = res.BaseOffset, res.Duplicate
				} else {
					off, err = f.marker(s.m)
				}
				if !errors.Is(err, s.want) {
					t.Fatalf("step %d: err %v, want %v", i, err, s.want)
				}
				if err != nil {
					continue
				}
				if s.dupOf > 0 || (s.dupOf == 0 && s.offset == 0 && dup) {
					if !dup || off != s.dupOf {
						t.Fatalf("step %d: duplicate=%v at %d, want a duplicate of %d", i, dup, off, s.dupOf)
					}
					continue
				}
				if dup || off != s.offset {
					t.Fatalf("step %d: at %d (duplicate=%v), want %d", i, off, dup, s.offset)
				}
			}
		})
	}
}

// Open transactions, the aborted index and the producer epochs survive a
// clean restart (snapshot) and a crash (replay from the log).
func TestTransactionStateSurvivesRestart(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(fmt.Sprintf("crash=%v", crash), func(t *testing.T) {
			mem := plog.NewMemFS()
			f := newFixture(t, mem)
			ts := f.now.UnixMilli()
			f.mustAppend(txnBatch(7, 0, 0, 2, ts))                                         // 0-1
			f.mustAppend(txnBatch(8, 0, 0, 2, ts))                                         // 2-3
			f.marker(Marker{ProducerID: 7, ProducerEpoch: 1, Commit: false, Strict: true}) // 4
			f.mustAppend(txnBatch(9, 0, 0, 1, ts))                                         // 5
			f.marker(Marker{ProducerID: 9, ProducerEpoch: 0, Commit: true})                // 6
			if crash {
				f.fs = mem.CrashClone()
			} else {
				f.p.Close()
			}
			f.open(testConfig())
			f.wantLSO(2)
			if got := f.p.AbortedTransactions(0, 10); len(got) != 1 || got[0] != (AbortedTxn{7, 0, 4}) {
				t.Fatalf("aborted after restart: %+v", got)
			}
			if _, err := f.append(txnBatch(7, 0, 2, 1, ts), -1); !errors.Is(err, ErrInvalidProducerEpoch) {
				t.Fatalf("old epoch after restart: %v", err)
			}
			if res, err := f.append(txnBatch(8, 0, 0, 2, ts), -1); err != nil || !res.Duplicate || res.BaseOffset != 2 {
				t.Fatalf("retry after restart: %+v %v", res, err)
			}
			if _, err := f.marker(Marker{ProducerID: 8, ProducerEpoch: 0, Commit: true}); err != nil {
				t.Fatal(err)
			}
			f.wantLSO(8)
			ps := f.p.Producers()
			if len(ps) != 3 || ps[0].ProducerID != 7 || ps[0].Epoch != 1 || ps[1].TxnStartOffset != -1 {
				t.Fatalf("producers %+v", ps)
			}
		})
	}
}

// The aborted index and open transactions follow the log start offset.
func TestTransactionStateAndLogStart(t *testing.T) {
	f := newFixture(t, plog.NewMemFS())
	ts := f.now.UnixMilli()
	f.mustAppend(txnBatch(7, 0, 0, 2, ts))                           // 0-1
	f.marker(Marker{ProducerID: 7, ProducerEpoch: 0, Commit: false}) // 2
	f.mustAppend(txnBatch(8, 0, 0, 2, ts))                           // 3-4
	f.mustAppend(batch(-1, -1, -1, 2, ts))                           // 5-6
	if _, err := f.p.DeleteRecords(4); err != nil {
		t.Fatal(err)
	}
	// The open transaction began below the new start: the LSO is the start.
	f.wantLSO(4)
	if got := f.p.AbortedTransactions(0, 10); len(got) != 0 {
		t.Fatalf("aborted index kept %+v below the log start", got)
	}
	f.p.Close()
	f.open(testConfig())
	f.wantLSO(4)
}

func TestExpireProducers(t *testing.T) {
	f := newFixture(t, plog.NewMemFS())
	ts := f.now.UnixMilli()
	f.mustAppend(batch(5, 0, 0, 1, ts-10_000))
	f.mustAppend(txnBatch(6, 0, 0, 1, ts-10_000))
	f.mustAppend(batch(7, 0, 0, 1, ts))
	if n := f.p.ExpireProducers(ts, 5_000); n != 1 {
		t.Fatalf("expired %d producers, want 1 (an open transaction keeps its producer)", n)
	}
	// The forgotten producer may start anywhere, as an unknown one.
	if _, err := f.append(batch(5, 0, 7, 1, ts), -1); err != nil {
		t.Fatal(err)
	}
}

// Snapshots written by version 1 (before transactions) are still read.
func TestSnapshotVersion1(t *testing.T) {
	b := []byte("PXPS")
	b = append(b, 1)
	b = binary.BigEndian.AppendUint64(b, 40)
	b = binary.BigEndian.AppendUint32(b, 1)
	b = binary.BigEndian.AppendUint64(b, 12) // pid
	b = binary.BigEndian.AppendUint16(b, 3)  // epoch
	b = binary.BigEndian.AppendUint64(b, ^uint64(0))
	b = binary.BigEndian.AppendUint64(b, 77)
	b = append(b, 1)
	for _, v := range []uint32{0, 4} {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	for _, v := range []uint64{30, 34, 77} {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	st, err := decodeSnapshot(b)
	if err != nil || st.offset != 40 {
		t.Fatalf("decode v1: %+v %v", st, err)
	}
	e := st.producers[12]
	if e == nil || e.epoch != 3 || e.txnFirst != -1 || e.coordEpoch != -1 || e.last().lastSeq != 4 || e.last().lastOffset != 34 {
		t.Fatalf("producer %+v", e)
	}
}

// Compaction removes an aborted transaction's data, then (once no batch of
// the transaction is left, not even the emptied one that keeps the
// producer's state until the producer expires) gives its marker a delete
// horizon, and removes the marker on a pass after it, as Kafka does. The
// aborted index lists a transaction exactly while its marker is in the
// log, so a compacted topic's index does not grow for ever.
func TestCompactionPrunesAbortedIndex(t *testing.T) {
	f := newFixture(t, plog.NewMemFS())
	cfg := testConfig()
	cfg.Compact = true
	cfg.Log.SegmentBytes = 200 // about a batch per segment
	f.p.SetConfig(cfg)
	abort := func(pid int64) {
		t.Helper()
		f.mustAppend(txnBatch(pid, 0, 0, 2, f.now.UnixMilli()))
		if _, err := f.marker(Marker{ProducerID: pid, ProducerEpoch: 0}); err != nil {
			t.Fatal(err)
		}
		for range 3 { // so that the marker leaves the active segment
			f.mustAppend(batch(-1, -1, -1, 1, f.now.UnixMilli()))
		}
	}
	// markers lists the abort markers in the log, and entries the index,
	// as producer id by marker offset.
	markers := func() map[int64]int64 {
		out := map[int64]int64{}
		data, err := f.p.Read(nil, 0, 1<<20, false)
		if err != nil {
			t.Fatal(err)
		}
		for len(data) > 0 {
			b, rest, err := records.Next(data)
			if err != nil {
				t.Fatal(err)
			}
			if commit, _, ok := ReadMarker(b); ok && b.IsControl() && !commit {
				out[b.BaseOffset()] = b.ProducerID()
			}
			data = rest
		}
		return out
	}
	entries := func() map[int64]int64 {
		out := map[int64]int64{}
		for _, a := range f.p.AbortedTransactions(0, 1<<40) {
			out[a.LastOffset] = a.ProducerID
		}
		return out
	}
	abort(7)
	abort(8)
	gone := false
	for pass := 1; pass <= 8 && !gone; pass++ {
		if pass == 2 {
			abort(9)
		}
		res, err := f.p.Clean(plog.CleanOptions{Now: f.now, DeleteRetentionMs: 1000, ProducerExpirationMs: 1000})
		if err != nil || !res.Cleaned {
			t.Fatalf("pass %d: %+v, %v", pass, res, err)
		}
		m, e := markers(), entries()
		if fmt.Sprint(m) != fmt.Sprint(e) {
			t.Fatalf("pass %d: abort markers in the log %v, index %v", pass, m, e)
		}
		gone = true
		for _, pid := range m {
			gone = gone && pid != 7 && pid != 8
		}
		f.now = f.now.Add(2 * time.Second)
	}
	if !gone {
		t.Fatalf("the markers of pids 7 and 8 are still in the log: %v", markers())
	}
	if e := entries(); len(e) != 1 {
		t.Fatalf("index %v, want pid 9's transaction, whose marker is newer", e)
	}
}

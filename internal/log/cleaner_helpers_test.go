package log

import (
	"encoding/binary"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/plexus/plexus/internal/records"
)

// kv is one record for keyed test batches. A nil value is a tombstone.
type kv struct {
	key, value []byte
	ts         int64
}

func rec(k, v string, ts int64) kv {
	r := kv{key: []byte(k), ts: ts}
	if v != "" {
		r.value = []byte(v)
	}
	return r
}

// keyedBatch builds a batch of keyed records.
func keyedBatch(t testing.TB, h records.BatchHeader, rs ...kv) []byte {
	t.Helper()
	var b records.Builder
	if len(rs) > 0 {
		h.BaseTimestamp = rs[0].ts
	}
	b.Reset(h)
	for i, r := range rs {
		b.Add(int32(i), r.ts, r.key, r.value, []records.Header{{Key: []byte("h"), Value: []byte(fmt.Sprint(i))}})
	}
	out, err := b.AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// controlBatch builds a transaction marker of producer pid.
func controlBatch(t testing.TB, pid int64, epoch int16, commit bool, ts int64) []byte {
	t.Helper()
	h := records.NewHeader()
	h.ProducerID, h.ProducerEpoch, h.Transactional, h.Control = pid, epoch, true, true
	h.BaseTimestamp = ts
	var b records.Builder
	b.Reset(h)
	key := make([]byte, 4)
	if commit {
		binary.BigEndian.PutUint16(key[2:], 1)
	}
	b.Add(0, ts, key, []byte{0, 0, 0, 0, 0, 0}, nil)
	out, err := b.AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// logRecord is a record as read back from the log.
type logRecord struct {
	offset     int64
	key, value string
	tombstone  bool
	ts         int64
	batch      int64 // base offset of its batch
	codec      records.Codec
}

// readRecords reads every record of the log from its start, checking
// batches and their order.
func readRecords(t testing.TB, l *Log) ([]logRecord, []records.Batch) {
	t.Helper()
	var out []logRecord
	var batches []records.Batch
	off := l.StartOffset()
	end := l.EndOffset()
	prev := int64(-1)
	for off < end {
		buf, err := l.Read(nil, off, 1<<20, math.MaxInt64)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		if len(buf) == 0 {
			break
		}
		for _, b := range splitBatches(t, buf) {
			if err := b.Check(); err != nil {
				t.Fatalf("Read(%d): bad batch: %v", off, err)
			}
			if b.BaseOffset() <= prev {
				t.Fatalf("Read(%d): batch %d after offset %d", off, b.BaseOffset(), prev)
			}
			prev = b.LastOffset()
			batches = append(batches, b)
			it, _, err := b.Records(nil, 1<<30)
			if err != nil {
				t.Fatal(err)
			}
			var r records.Record
			for it.Next(&r) {
				lr := logRecord{offset: b.BaseOffset() + int64(r.OffsetDelta), key: string(r.Key), value: string(r.Value),
					tombstone: r.Value == nil, ts: b.BaseTimestamp() + r.TimestampDelta, batch: b.BaseOffset(), codec: b.Codec()}
				if b.IsControl() {
					lr.key = "<control>"
				}
				out = append(out, lr)
			}
			if err := it.Err(); err != nil {
				t.Fatal(err)
			}
			off = b.LastOffset() + 1
		}
	}
	return out, batches
}

func cleanNow(t testing.TB, l *Log, now time.Time, retention int64) CleanResult {
	t.Helper()
	res, err := l.Clean(CleanOptions{UpTo: math.MaxInt64, Now: now, DeleteRetentionMs: retention})
	if err != nil {
		t.Fatalf("Clean: %v", err)
	}
	return res
}

func compactConfig() Config {
	c := smallConfig()
	c.SegmentBytes = 2048
	c.IndexIntervalBytes = 128
	return c
}

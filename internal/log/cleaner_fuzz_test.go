package log

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/plexus/plexus/internal/records"
)

// fuzzBatches turns fuzz input into batches whose header fields and
// records section are arbitrary but which pass Check (a CRC-valid batch of
// garbage, as a buggy client or a corrupt disk with a matching CRC could
// leave). Each is: attributes u16, last offset delta u8, record count u8,
// producer id i8, section length u8, section.
func fuzzBatches(data []byte) [][]byte {
	var out [][]byte
	for len(data) >= 6 && len(out) < 4 {
		attrs := binary.BigEndian.Uint16(data)
		delta, count, pid, n := data[2], data[3], int8(data[4]), int(data[5])
		data = data[6:]
		n = min(n, len(data))
		sec := data[:n]
		data = data[n:]
		var b records.Builder
		h := records.NewHeader()
		h.BaseTimestamp = 1000
		b.Reset(h)
		buf, _ := b.AppendTo(nil)
		buf = append(buf, sec...)
		bt := records.Batch(buf)
		binary.BigEndian.PutUint32(bt[8:], uint32(len(buf)-12))
		binary.BigEndian.PutUint16(bt[21:], attrs&^0x38|attrs&0x30) // no LogAppendTime
		if bt.Codec() > records.CodecZstd {
			binary.BigEndian.PutUint16(bt[21:], uint16(bt.Attributes())&^7)
		}
		binary.BigEndian.PutUint32(bt[23:], uint32(delta))
		binary.BigEndian.PutUint32(bt[57:], uint32(min(count, delta+1)))
		binary.BigEndian.PutUint64(bt[43:], uint64(int64(pid)))
		bt.UpdateCRC()
		out = append(out, buf)
	}
	return out
}

// FuzzClean cleans logs holding CRC-valid batches of arbitrary content
// among ordinary ones: a pass may fail (the content is garbage) but must
// not panic or damage the log, which must read back valid and reopen.
func FuzzClean(f *testing.F) {
	var b records.Builder
	h := records.NewHeader()
	h.BaseTimestamp = 5
	b.Reset(h)
	b.Add(0, 5, []byte("k"), nil, nil)
	b.Add(1, 6, []byte("k"), []byte("v"), nil)
	valid, _ := b.AppendTo(nil)
	sec := records.Batch(valid).RecordsSection()
	f.Add(append([]byte{0, 0, 1, 2, 0, byte(len(sec))}, sec...))
	f.Add(append([]byte{0, 0x30, 0, 1, 7, byte(len(sec))}, sec...))
	f.Add(append([]byte{0, 0x10, 1, 2, 7, byte(len(sec))}, sec...))
	f.Add([]byte{0, 1, 3, 3, 0, 4, 1, 2, 3, 4})
	f.Add([]byte{0, 0x20, 0, 1, 3, 8, 20, 0, 0, 0, 8, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		clk := newClock()
		fs := NewMemFS()
		c := oneBatchPerSegment()
		l, err := Open(Options{FS: fs, Dir: testDir, Config: c, Logger: slogTo(discard{}), Now: clk.now})
		if err != nil {
			t.Fatal(err)
		}
		h := records.NewHeader()
		mustAppend(t, l, keyedBatch(t, h, rec("k", "first", 1)))
		for _, bt := range fuzzBatches(data) {
			mustAppend(t, l, bt)
			mustAppend(t, l, keyedBatch(t, h, rec("k", "between", 2), rec("j", "", 3)))
		}
		mustAppend(t, l, keyedBatch(t, h, rec("end", "x", 4)))
		mustFlush(t, l)
		before := readBack(t, l)
		for i := 0; i < 2; i++ {
			_, err := l.Clean(CleanOptions{UpTo: math.MaxInt64, Now: clk.now(), DeleteRetentionMs: 10, MaxBatchBytes: 1 << 16})
			if err != nil {
				if errors.Is(err, ErrCleanAborted) {
					t.Fatalf("aborted: %v", err)
				}
				if after := readBack(t, l); len(after) != len(before) {
					t.Fatalf("a failed pass changed the log: %d batches, %d before", len(after), len(before))
				}
				break
			}
			readBack(t, l)
			clk.add(time.Second)
		}
		end := l.EndOffset()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l, err = Open(Options{FS: fs, Dir: testDir, Config: c, Logger: slogTo(discard{}), Now: clk.now})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if l.EndOffset() != end {
			t.Fatalf("end %d after reopen, was %d", l.EndOffset(), end)
		}
		readBack(t, l)
	})
}

// readBack reads every batch, checking framing, CRC and order.
func readBack(t *testing.T, l *Log) []records.Batch {
	t.Helper()
	var out []records.Batch
	prev := int64(-1)
	for off := l.StartOffset(); off < l.EndOffset(); {
		buf, err := l.Read(nil, off, 1<<20, math.MaxInt64)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		if len(buf) == 0 {
			break
		}
		for _, b := range splitBatches(t, buf) {
			if err := b.Check(); err != nil || b.BaseOffset() <= prev {
				t.Fatalf("Read(%d): batch at %d (after %d): %v", off, b.BaseOffset(), prev, err)
			}
			prev = b.LastOffset()
			off = b.LastOffset() + 1
			out = append(out, b)
		}
	}
	return out
}

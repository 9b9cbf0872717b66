package partition

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"testing"
	"time"

	plog "github.com/plexus/plexus/internal/log"
	"github.com/plexus/plexus/internal/records"
)

func testConfig() Config {
	return Config{
		Log: plog.Config{
			SegmentBytes: 1 << 20, SegmentMs: -1, IndexIntervalBytes: 4096,
			SegmentIndexBytes: 1 << 20, RetentionMs: -1, RetentionBytes: -1,
		},
		MaxMessageBytes:      1 << 20,
		TimestampBeforeMaxMs: -1,
		TimestampAfterMaxMs:  -1,
		MinInsyncReplicas:    1,
	}
}

type fixture struct {
	t   *testing.T
	fs  plog.FS
	now time.Time
	p   *Partition
}

func newFixture(t *testing.T, fs plog.FS) *fixture {
	f := &fixture{t: t, fs: fs, now: time.UnixMilli(1_700_000_000_000)}
	f.open(testConfig())
	t.Cleanup(func() { f.p.Close() })
	return f
}

func (f *fixture) open(cfg Config) {
	f.t.Helper()
	p, err := Open(Options{
		Topic: "t", Index: 0, FS: f.fs, Dir: "/data/t-0", Config: cfg,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:    func() time.Time { return f.now },
	})
	if err != nil {
		f.t.Fatal(err)
	}
	f.p = p
}

// batch builds an idempotent batch (pid < 0 for a plain one) of n records.
func batch(pid int64, epoch int16, seq int32, n int, ts int64) records.Batch {
	h := records.NewHeader()
	h.ProducerID, h.ProducerEpoch, h.BaseSequence, h.BaseTimestamp = pid, epoch, seq, ts
	var b records.Builder
	b.Reset(h)
	for i := 0; i < n; i++ {
		b.Add(int32(i), ts, []byte(fmt.Sprintf("k%d", i)), []byte("value"), nil)
	}
	out, err := b.AppendTo(nil)
	if err != nil {
		panic(err)
	}
	return records.Batch(out)
}

func (f *fixture) append(b records.Batch, acks int16) (AppendResult, error) {
	f.t.Helper()
	res, ack, err := f.p.Append(b, acks)
	if err == nil && ack != nil {
		if werr := ack.Wait(10 * time.Second); werr != nil {
			f.t.Fatalf("ack: %v", werr)
		}
	}
	return res, err
}

func TestAppendAssignsOffsetsAndAcksAfterFlush(t *testing.T) {
	f := newFixture(t, plog.NewMemFS())
	ts := f.now.UnixMilli()
	for i := 0; i < 3; i++ {
		res, err := f.append(batch(-1, -1, -1, 5, ts), -1)
		if err != nil {
			t.Fatal(err)
		}
		if res.BaseOffset != int64(i*5) {
			t.Fatalf("batch %d at offset %d, want %d", i, res.BaseOffset, i*5)
		}
	}
	if hwm := f.p.HighWatermark(); hwm != 15 {
		t.Fatalf("high watermark %d after acks=all, want 15", hwm)
	}
	data, err := f.p.Read(nil, 0, 1<<20, false)
	if err != nil {
		t.Fatal(err)
	}
	if n := countBatches(t, data); n != 3 {
		t.Fatalf("read %d batches, want 3", n)
	}
}

func countBatches(t *testing.T, data []byte) int {
	n := 0
	for len(data) > 0 {
		b, rest, err := records.Next(data)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Check(); err != nil {
			t.Fatalf("stored batch fails its check: %v", err)
		}
		n++
		data = rest
	}
	return n
}

func TestIdempotentProducer(t *testing.T) {
	ts := int64(1_700_000_000_000)
	cases := []struct {
		name    string
		batches []records.Batch
		want    []error // per batch
		dupOf   []int64 // expected base offset of a duplicate, -1 when not one
	}{
		{
			name:    "retry of the last batch is a duplicate",
			batches: []records.Batch{batch(7, 0, 0, 3, ts), batch(7, 0, 3, 2, ts), batch(7, 0, 3, 2, ts)},
			want:    []error{nil, nil, nil},
			dupOf:   []int64{-1, -1, 3},
		},
		{
			name:    "retry of an older in-flight batch is a duplicate",
			batches: []records.Batch{batch(7, 0, 0, 1, ts), batch(7, 0, 1, 1, ts), batch(7, 0, 2, 1, ts), batch(7, 0, 0, 1, ts)},
			want:    []error{nil, nil, nil, nil},
			dupOf:   []int64{-1, -1, -1, 0},
		},
		{
			name:    "a gap is out of order",
			batches: []records.Batch{batch(7, 0, 0, 3, ts), batch(7, 0, 5, 1, ts)},
			want:    []error{nil, ErrOutOfOrderSequence},
			dupOf:   []int64{-1, -1},
		},
		{
			name:    "an older epoch is fenced",
			batches: []records.Batch{batch(7, 1, 0, 1, ts), batch(7, 0, 1, 1, ts)},
			want:    []error{nil, ErrInvalidProducerEpoch},
			dupOf:   []int64{-1, -1},
		},
		{
			name:    "a new epoch must start at sequence 0",
			batches: []records.Batch{batch(7, 0, 0, 1, ts), batch(7, 1, 4, 1, ts), batch(7, 1, 0, 1, ts)},
			want:    []error{nil, ErrOutOfOrderSequence, nil},
			dupOf:   []int64{-1, -1, -1},
		},
		{
			name:    "an unknown producer may start anywhere",
			batches: []records.Batch{batch(9, 3, 40, 2, ts), batch(9, 3, 42, 1, ts)},
			want:    []error{nil, nil},
			dupOf:   []int64{-1, -1},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, plog.NewMemFS())
			for i, b := range c.batches {
				res, err := f.append(b, -1)
				if !errors.Is(err, c.want[i]) {
					t.Fatalf("batch %d: err %v, want %v", i, err, c.want[i])
				}
				if err != nil {
					continue
				}
				if c.dupOf[i] >= 0 {
					if !res.Duplicate || res.BaseOffset != c.dupOf[i] {
						t.Fatalf("batch %d: duplicate=%v base %d, want duplicate of %d", i, res.Duplicate, res.BaseOffset, c.dupOf[i])
					}
				} else if res.Duplicate {
					t.Fatalf("batch %d: unexpectedly a duplicate", i)
				}
			}
		})
	}
}

// Deduplication survives a restart, clean (snapshot) or after a crash
// (rebuilt from the log).
func TestProducerStateSurvivesRestart(t *testing.T) {
	ts := int64(1_700_000_000_000)
	for _, crash := range []bool{false, true} {
		t.Run(fmt.Sprintf("crash=%v", crash), func(t *testing.T) {
			mem := plog.NewMemFS()
			f := newFixture(t, mem)
			if _, err := f.append(batch(5, 0, 0, 4, ts), -1); err != nil {
				t.Fatal(err)
			}
			if _, err := f.append(batch(5, 0, 4, 4, ts), -1); err != nil {
				t.Fatal(err)
			}
			if crash {
				// Everything acknowledged was synced; the clone keeps only
				// that, as a power cut would.
				f.fs = mem.CrashClone()
			} else {
				f.p.Close()
			}
			f.open(testConfig())
			res, err := f.append(batch(5, 0, 4, 4, ts), -1)
			if err != nil || !res.Duplicate || res.BaseOffset != 4 {
				t.Fatalf("retry after restart: %+v, %v; want duplicate at 4", res, err)
			}
			if _, err := f.append(batch(5, 0, 9, 1, ts), -1); !errors.Is(err, ErrOutOfOrderSequence) {
				t.Fatalf("gap after restart: %v, want out of order", err)
			}
			if end := f.p.LogEndOffset(); end != 8 {
				t.Fatalf("log end %d, want 8", end)
			}
		})
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	ps := producers{}
	for pid := int64(0); pid < 3; pid++ {
		for i := int32(0); i < 7; i++ {
			ps.record(pid, int16(pid), pid == 2, batchMeta{firstSeq: i * 2, lastSeq: i*2 + 1, firstOffset: int64(i) * 10, lastOffset: int64(i)*10 + 1, timestamp: int64(i)})
		}
	}
	ps.marker(1, 1, 7, 5)
	aborted := []AbortedTxn{{ProducerID: 4, FirstOffset: 3, LastOffset: 9}, {ProducerID: 5, FirstOffset: 1, LastOffset: 12}}
	buf := encodeSnapshot(snapshot{offset: 99, producers: ps, aborted: aborted})
	st, err := decodeSnapshot(buf)
	if err != nil || st.offset != 99 || len(st.producers) != 3 {
		t.Fatalf("decode: off=%d n=%d err=%v", st.offset, len(st.producers), err)
	}
	for pid, e := range ps {
		g := st.producers[pid]
		if g.epoch != e.epoch || g.n != e.n || g.txnFirst != e.txnFirst || g.coordEpoch != e.coordEpoch || g.lastTS != e.lastTS {
			t.Fatalf("producer %d: got %+v want %+v", pid, g, e)
		}
		if e.n > 0 && *g.last() != *e.last() {
			t.Fatalf("producer %d: last batch %+v want %+v", pid, *g.last(), *e.last())
		}
	}
	if st.producers[2].txnFirst != 0 || st.producers[1].coordEpoch != 7 {
		t.Fatalf("transaction state lost: %+v %+v", st.producers[2], st.producers[1])
	}
	if fmt.Sprint(st.aborted) != fmt.Sprint(aborted) {
		t.Fatalf("aborted %v, want %v", st.aborted, aborted)
	}
	for i := range buf {
		bad := append([]byte(nil), buf...)
		bad[i] ^= 0x40
		if _, err := decodeSnapshot(bad); err == nil {
			t.Fatalf("flipping byte %d went unnoticed", i)
		}
	}
}

func TestValidation(t *testing.T) {
	ts := int64(1_700_000_000_000)
	cfg := testConfig()
	cfg.MaxMessageBytes = 200
	cfg.TimestampBeforeMaxMs = 1000
	cfg.TimestampAfterMaxMs = 1000
	f := newFixture(t, plog.NewMemFS())
	f.p.SetConfig(cfg)

	corrupt := batch(-1, -1, -1, 1, ts)
	corrupt[len(corrupt)-1] ^= 1
	compactCfg := cfg
	compactCfg.Compact = true
	// Bounds at Long.MAX accept any timestamp; ts+bound must not wrap.
	unbounded := cfg
	unbounded.TimestampBeforeMaxMs, unbounded.TimestampAfterMaxMs = math.MaxInt64, math.MaxInt64
	h := records.NewHeader()
	h.BaseTimestamp = ts
	var bld records.Builder
	bld.Reset(h)
	bld.Add(0, ts, nil, []byte("no key"), nil)
	keyless, _ := bld.AppendTo(nil)

	cases := []struct {
		name string
		cfg  Config
		b    records.Batch
		want error
	}{
		{"bad crc", cfg, corrupt, ErrCorrupt},
		{"too large", cfg, batch(-1, -1, -1, 20, ts), ErrTooLarge},
		{"too old", cfg, batch(-1, -1, -1, 1, ts-5000), ErrInvalidTimestamp},
		{"too new", cfg, batch(-1, -1, -1, 1, ts+5000), ErrInvalidTimestamp},
		{"keyless on compacted topic", compactCfg, records.Batch(keyless), ErrInvalidRecord},
		{"fine", cfg, batch(-1, -1, -1, 1, ts), nil},
		{"far future, unbounded", unbounded, batch(-1, -1, -1, 1, math.MaxInt64-1), nil},
		{"far past, unbounded", unbounded, batch(-1, -1, -1, 1, 0), nil},
		{"no timestamp", cfg, batch(-1, -1, -1, 1, -1), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f.p.SetConfig(c.cfg)
			before := f.p.LogEndOffset()
			res, err := f.append(c.b, 1)
			if !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
			if err != nil && f.p.LogEndOffset() != before {
				t.Fatalf("a rejected batch moved the log end")
			}
			if c.want == ErrInvalidRecord && (len(res.RecordErrors) != 1 || res.RecordErrors[0].Index != 0) {
				t.Fatalf("record errors %+v, want record 0", res.RecordErrors)
			}
		})
	}
}

func TestLogAppendTime(t *testing.T) {
	f := newFixture(t, plog.NewMemFS())
	cfg := testConfig()
	cfg.LogAppendTime = true
	f.p.SetConfig(cfg)
	res, err := f.append(batch(-1, -1, -1, 3, 1), -1)
	if err != nil {
		t.Fatal(err)
	}
	if res.LogAppendTime != f.now.UnixMilli() {
		t.Fatalf("log append time %d, want %d", res.LogAppendTime, f.now.UnixMilli())
	}
	data, _ := f.p.Read(nil, 0, 1<<20, false)
	b := records.Batch(data)
	if !b.LogAppendTime() || b.MaxTimestamp() != f.now.UnixMilli() || b.Check() != nil {
		t.Fatalf("stored batch: logAppendTime=%v max=%d check=%v", b.LogAppendTime(), b.MaxTimestamp(), b.Check())
	}
}

// A waiting fetch is woken by an append, not by polling.
func TestWatcherWokenByAppend(t *testing.T) {
	f := newFixture(t, plog.NewMemFS())
	w := NewWatcher()
	f.p.Watch(w)
	defer f.p.Unwatch(w)
	if _, err := f.append(batch(-1, -1, -1, 1, f.now.UnixMilli()), -1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.C:
	default:
		t.Fatal("watcher not signalled by a durable append")
	}
}

func TestDeleteRecords(t *testing.T) {
	f := newFixture(t, plog.NewMemFS())
	for i := 0; i < 4; i++ {
		if _, err := f.append(batch(-1, -1, -1, 5, f.now.UnixMilli()), -1); err != nil {
			t.Fatal(err)
		}
	}
	if low, err := f.p.DeleteRecords(7); err != nil || low != 7 {
		t.Fatalf("DeleteRecords(7) = %d, %v", low, err)
	}
	if _, err := f.p.Read(nil, 6, 1<<20, false); !errors.Is(err, plog.ErrOffsetOutOfRange) {
		t.Fatalf("read below the start offset: %v", err)
	}
	if _, err := f.p.DeleteRecords(21); !errors.Is(err, plog.ErrOffsetOutOfRange) {
		t.Fatalf("DeleteRecords past the high watermark: %v", err)
	}
	if low, err := f.p.DeleteRecords(-1); err != nil || low != 20 {
		t.Fatalf("DeleteRecords(-1) = %d, %v; want the high watermark 20", low, err)
	}
}

// compression.type naming a codec recompresses other batches; the records
// and producer fields survive.
func TestRecompressToTopicCodec(t *testing.T) {
	f := newFixture(t, plog.NewMemFS())
	cfg := testConfig()
	cfg.Recompress, cfg.Codec = true, records.CodecZstd
	f.p.SetConfig(cfg)
	in := batch(11, 2, 0, 5, f.now.UnixMilli())
	want, _, err := in.Records(nil, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.append(in, -1); err != nil {
		t.Fatal(err)
	}
	data, err := f.p.Read(nil, 0, 1<<20, false)
	if err != nil {
		t.Fatal(err)
	}
	got := records.Batch(data)
	if got.Codec() != records.CodecZstd || got.Check() != nil || got.ProducerID() != 11 || got.ProducerEpoch() != 2 || got.NumRecords() != 5 {
		t.Fatalf("stored batch: codec %v check %v pid %d epoch %d records %d", got.Codec(), got.Check(), got.ProducerID(), got.ProducerEpoch(), got.NumRecords())
	}
	it, _, err := got.Records(nil, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var a, b records.Record
	for want.Next(&a) {
		if !it.Next(&b) || string(a.Key) != string(b.Key) || string(a.Value) != string(b.Value) || a.OffsetDelta != b.OffsetDelta {
			t.Fatalf("record %d differs after recompression", a.OffsetDelta)
		}
	}
}

// max.message.bytes bounds the batch as stored: one that fits compressed
// on the wire but not once recompressed to the topic's codec is refused
// with ErrTooLarge (MESSAGE_TOO_LARGE), as Kafka checks again after
// recompressing.
func TestMaxMessageBytesAfterRecompression(t *testing.T) {
	f := newFixture(t, plog.NewMemFS())
	h := records.NewHeader()
	h.BaseTimestamp = f.now.UnixMilli()
	var bld records.Builder
	bld.Reset(h)
	for i := 0; i < 20; i++ {
		bld.Add(int32(i), h.BaseTimestamp, []byte("k"), bytes.Repeat([]byte("compressible "), 20), nil)
	}
	plain, err := bld.AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	zstd, _, err := records.Recompress(nil, nil, records.Batch(plain), records.CodecZstd, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.Recompress, cfg.Codec = true, records.CodecNone
	cfg.MaxMessageBytes = (len(zstd) + len(plain)) / 2
	if len(zstd) >= cfg.MaxMessageBytes || len(plain) <= cfg.MaxMessageBytes {
		t.Fatalf("test batch sizes: zstd %d, plain %d, limit %d", len(zstd), len(plain), cfg.MaxMessageBytes)
	}
	f.p.SetConfig(cfg)
	if _, err := f.append(records.Batch(zstd), -1); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("append of %d zstd bytes stored as %d: %v, want ErrTooLarge", len(zstd), len(plain), err)
	}
	if end := f.p.LogEndOffset(); end != 0 {
		t.Fatalf("log end %d after a refused batch", end)
	}
	cfg.Recompress = false // compression.type=producer: stored as sent
	f.p.SetConfig(cfg)
	if _, err := f.append(records.Batch(zstd), -1); err != nil {
		t.Fatalf("append as sent: %v", err)
	}
}

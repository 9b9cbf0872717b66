package log

import (
	"bytes"
	"errors"
	"math"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/plexus/plexus/internal/records"
)

func TestAppendAssignsOffsets(t *testing.T) {
	l := openLog(t, NewMemFS(), smallConfig())
	defer l.Close()
	a := makeBatch(t, batchSpec{records: 3, ts: 10})
	b := makeBatch(t, batchSpec{records: 5, ts: 20})
	first, next := mustAppend(t, l, slices.Concat(a, b))
	if first != 0 || next != 8 {
		t.Fatalf("first, next = %d, %d; want 0, 8", first, next)
	}
	buf := slices.Concat(a, b)
	first, next = mustAppend(t, l, buf)
	if first != 8 || next != 16 {
		t.Fatalf("first, next = %d, %d; want 8, 16", first, next)
	}
	// The caller's bytes were patched in place.
	bs := splitBatches(t, buf)
	if bs[0].BaseOffset() != 8 || bs[1].BaseOffset() != 11 {
		t.Fatalf("patched base offsets %d, %d; want 8, 11", bs[0].BaseOffset(), bs[1].BaseOffset())
	}
	got := readAll(t, l, 0)
	if len(got) != 4 || got[3].BaseOffset() != 11 || !bytes.Equal(got[3], bs[1]) {
		t.Fatalf("read back %d batches", len(got))
	}
	if first, next, err := l.Append(nil); err != nil || first != 16 || next != 16 {
		t.Fatalf("empty append = %d, %d, %v", first, next, err)
	}
	if _, _, err := l.Append([]byte("garbage that is not a batch......................................")); !errors.Is(err, records.ErrCorrupt) {
		t.Fatalf("garbage append: %v, want ErrCorrupt", err)
	}
	if l.EndOffset() != 16 {
		t.Fatalf("end offset %d after a rejected append", l.EndOffset())
	}
}

func TestRollBySize(t *testing.T) {
	one := len(makeBatch(t, batchSpec{records: 1, valueSz: 100, ts: 1}))
	cases := []struct {
		name         string
		segmentBytes int64
		appends      []int // records per append (each append is one batch of 100-byte values)
		wantBases    []int64
	}{
		{"fits", 10 * int64(one), []int{1, 1, 1}, []int64{0}},
		{"exact fit does not roll", 3 * int64(one), []int{1, 1, 1}, []int64{0}},
		{"one byte over rolls", 3*int64(one) - 1, []int{1, 1, 1}, []int64{0, 2}},
		{"every batch alone", int64(one), []int{1, 1, 1}, []int64{0, 1, 2}},
		{"batch larger than a segment gets a fresh one", int64(one), []int{1, 5, 1}, []int64{0, 1, 6}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := smallConfig()
			c.SegmentBytes = tc.segmentBytes
			l := openLog(t, NewMemFS(), c)
			defer l.Close()
			for _, n := range tc.appends {
				mustAppend(t, l, makeBatch(t, batchSpec{records: n, valueSz: 100, ts: 1}))
			}
			var bases []int64
			for _, s := range l.Segments() {
				bases = append(bases, s.BaseOffset)
			}
			if !slices.Equal(bases, tc.wantBases) {
				t.Fatalf("segment bases %v, want %v", bases, tc.wantBases)
			}
			readAll(t, l, 0)
		})
	}
}

func TestRollByTime(t *testing.T) {
	cases := []struct {
		name      string
		ts        []int64 // batch timestamps (-1: none)
		advance   time.Duration
		wantBases []int64
	}{
		{"timestamps within segment.ms", []int64{1000, 1500, 2000}, 0, []int64{0}},
		{"timestamp span beyond segment.ms", []int64{1000, 1500, 2001}, 0, []int64{0, 2}},
		{"span measured from the first batch", []int64{1000, 2001, 2500, 3002}, 0, []int64{0, 1, 3}},
		{"no timestamps: clock below segment.ms", []int64{-1, -1, -1}, 400 * time.Millisecond, []int64{0}},
		{"no timestamps: clock beyond segment.ms", []int64{-1, -1, -1}, 1001 * time.Millisecond, []int64{0, 1, 2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			c := smallConfig()
			c.SegmentBytes = 1 << 20
			c.SegmentMs = 1000
			l := openLog(t, NewMemFS(), c, withClock(clk))
			defer l.Close()
			for _, ts := range tc.ts {
				mustAppend(t, l, makeBatch(t, batchSpec{records: 1, ts: ts}))
				clk.add(tc.advance)
			}
			var bases []int64
			for _, s := range l.Segments() {
				bases = append(bases, s.BaseOffset)
			}
			if !slices.Equal(bases, tc.wantBases) {
				t.Fatalf("segment bases %v, want %v", bases, tc.wantBases)
			}
		})
	}
}

// segment.jitter.ms makes a log roll earlier by its own fraction of the
// jitter, never by more than segment.ms.
func TestRollByTimeJitter(t *testing.T) {
	for _, tc := range []struct {
		name            string
		jitterMs        int64
		share           float64
		rollsAt, stayAt int64 // timestamp spans that roll, and that do not
	}{
		{"no jitter", 0, 0.5, 1001, 1000},
		{"half of a 400 ms jitter", 400, 0.5, 801, 800},
		{"jitter above segment.ms is bounded by it", 5000, 0.25, 751, 750},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, span := range []int64{tc.rollsAt, tc.stayAt} {
				c := smallConfig()
				c.SegmentBytes = 1 << 20
				c.SegmentMs = 1000
				c.SegmentJitterMs = tc.jitterMs
				l := openLog(t, NewMemFS(), c)
				l.jitter = tc.share
				mustAppend(t, l, makeBatch(t, batchSpec{records: 1, ts: 1000}))
				mustAppend(t, l, makeBatch(t, batchSpec{records: 1, ts: 1000 + span}))
				rolled := len(l.Segments()) == 2
				if rolled != (span == tc.rollsAt) {
					t.Errorf("span %d ms: rolled %v", span, rolled)
				}
				l.Close()
			}
		})
	}
}

func TestRollWhenIndexFull(t *testing.T) {
	c := smallConfig()
	c.SegmentBytes = 1 << 20
	c.IndexIntervalBytes = 0 // an entry before every batch but the first
	c.SegmentIndexBytes = 3 * offsetEntrySize
	l := openLog(t, NewMemFS(), c)
	defer l.Close()
	appendN(t, l, 10, batchSpec{records: 1, ts: 1})
	segs := l.Segments()
	if len(segs) < 2 {
		t.Fatalf("%d segments, want rolls when the index is full", len(segs))
	}
	readAll(t, l, 0)
}

func TestRead(t *testing.T) {
	// 10 segments' worth: batches of 4 records at offsets 0,4,8,...
	c := smallConfig()
	c.SegmentBytes = 2000
	l := openLog(t, NewMemFS(), c)
	defer l.Close()
	want := appendN(t, l, 40, batchSpec{records: 4, valueSz: 50, ts: 1000})
	size := len(want[0])
	if len(l.Segments()) < 5 {
		t.Fatalf("want several segments, got %d", len(l.Segments()))
	}
	end := l.EndOffset()
	cases := []struct {
		name      string
		offset    int64
		maxBytes  int
		limit     int64
		wantFirst int64 // base offset of the first batch returned
		wantN     int   // batches returned
		wantErr   error
	}{
		{"start", 0, 1 << 20, end, 0, 40, nil},
		{"offset inside a batch", 6, size, end, 4, 1, nil},
		{"last offset of a batch", 7, size, end, 4, 1, nil},
		{"maxBytes cuts at batch boundary", 0, 3*size + size/2, end, 0, 3, nil},
		{"KIP-74: first batch whole when larger", 8, 10, end, 8, 1, nil},
		{"maxBytes zero still gives one batch", 8, 0, end, 8, 1, nil},
		{"limit stops before base >= limit", 0, 1 << 20, 13, 0, 4, nil},
		{"limit inside the batch returns it", 12, 1 << 20, 13, 12, 1, nil},
		{"offset == limit: nothing", 20, 1 << 20, 20, 0, 0, nil},
		{"offset == end: nothing", end, 1 << 20, end, 0, 0, nil},
		{"across segments", 60, 1 << 20, end, 60, 25, nil},
		{"above end", end + 1, 1 << 20, math.MaxInt64, 0, 0, ErrOffsetOutOfRange},
		{"negative", -1, 1 << 20, end, 0, 0, ErrOffsetOutOfRange},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			prefix := []byte("prefix")
			buf, err := l.Read(slices.Clip(prefix), tc.offset, tc.maxBytes, tc.limit)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if !bytes.HasPrefix(buf, prefix) {
				t.Fatalf("dst prefix lost")
			}
			bs := splitBatches(t, buf[len(prefix):])
			if len(bs) != tc.wantN {
				t.Fatalf("%d batches, want %d", len(bs), tc.wantN)
			}
			for i, b := range bs {
				if want := want[int(tc.wantFirst)/4+i]; !bytes.Equal(b, want) {
					t.Fatalf("batch %d differs", i)
				}
			}
			if tc.maxBytes >= size && len(buf)-len(prefix) > tc.maxBytes {
				t.Fatalf("returned %d bytes, max %d", len(buf)-len(prefix), tc.maxBytes)
			}
		})
	}
}

func TestReadLargeBatchesAndDstReuse(t *testing.T) {
	c := smallConfig()
	c.SegmentBytes = 1 << 20
	l := openLog(t, NewMemFS(), c)
	defer l.Close()
	// Batches larger than the probe a read starts with.
	want := appendN(t, l, 6, batchSpec{records: 3, valueSz: 5000, ts: 1})
	dst := make([]byte, 0, 1<<20)
	for off := int64(0); off < l.EndOffset(); off++ {
		buf, err := l.Read(dst[:0], off, 1, l.EndOffset())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf, want[off/3]) {
			t.Fatalf("Read(%d) differs", off)
		}
		if &buf[0] != &dst[:1][0] {
			t.Fatalf("Read did not reuse dst")
		}
	}
}

func TestReadLazyIndexAndBadIndex(t *testing.T) {
	fs := NewMemFS()
	c := smallConfig()
	l := openLog(t, fs, c)
	want := appendN(t, l, 60, batchSpec{records: 2, valueSz: 60, ts: 1})
	mustClose(t, l)

	// Replace the first segment's index with entries that pass the sanity
	// checks but point at the wrong batches.
	segs := func() []SegmentInfo { l := openLog(t, fs, c); defer l.Close(); return l.Segments() }()
	name := testDir + "/" + segmentName(segs[0].BaseOffset, indexExt)
	f, err := fs.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(appendOffsetEntries(nil, []offsetEntry{{rel: 4, pos: 1}}))
	f.Close()

	l = openLog(t, fs, c)
	defer l.Close()
	sameBatches(t, readAll(t, l, 0), want)
	for off := int64(0); off < l.EndOffset(); off++ {
		buf, err := l.Read(nil, off, 1, l.EndOffset())
		if err != nil || !bytes.Equal(buf, want[off/2]) {
			t.Fatalf("Read(%d): %v", off, err)
		}
	}
}

func TestCloseOpenRoundTrip(t *testing.T) {
	fs := NewMemFS()
	c := smallConfig()
	l := openLog(t, fs, c)
	want := appendN(t, l, 100, batchSpec{records: 3, valueSz: 40, ts: 5000, epoch: 3})
	segs := l.Segments()
	mustClose(t, l)
	if _, _, err := l.Append(makeBatch(t, batchSpec{records: 1})); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	if _, err := l.Read(nil, 0, 100, 10); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}

	var lines lineCounter
	l, err := Open(Options{FS: fs, Dir: testDir, Config: c, Logger: slogTo(&lines)})
	if err != nil {
		t.Fatal(err)
	}
	if len(lines.lines) != 0 {
		t.Fatalf("clean open logged: %q", lines.lines)
	}
	if got := l.Segments(); !slices.Equal(got, segs) {
		t.Fatalf("segments after reopen\n%v\nwant\n%v", got, segs)
	}
	sameBatches(t, readAll(t, l, 0), want)
	if l.LatestEpoch() != 3 {
		t.Fatalf("latest epoch %d", l.LatestEpoch())
	}
	// Appending after a reopen continues the offsets and indexes.
	more := appendN(t, l, 20, batchSpec{records: 3, valueSz: 40, ts: 9000, epoch: 4})
	mustClose(t, l)
	l = openLog(t, fs, c)
	defer l.Close()
	sameBatches(t, readAll(t, l, 0), append(want, more...))
}

func TestRetention(t *testing.T) {
	cases := []struct {
		name           string
		retentionMs    int64
		retentionBytes int64
		advance        time.Duration
		limit          int64
		wantDeleted    int
		wantStart      int64
	}{
		{"unlimited", -1, -1, time.Hour, math.MaxInt64, 0, 0},
		{"nothing expired", 40_000, -1, 0, math.MaxInt64, 0, 0},
		// Segments hold 10 batches of 1 record with timestamps base+i*1000.
		{"time: oldest expired", 25_000, -1, 0, math.MaxInt64, 1, 10},
		{"time: all expired rolls the active", 0, -1, time.Hour, math.MaxInt64, 4, 40},
		{"time: bounded by limit", 0, -1, time.Hour, 25, 2, 20},
		{"bytes: keep at least retention.bytes", -1, 2, 0, math.MaxInt64, 2, 20},
		{"bytes: exactly one segment over", -1, 3, 0, math.MaxInt64, 1, 10},
		{"bytes: a byte short of a segment over keeps it", -1, 3, time.Nanosecond, math.MaxInt64, 0, 0},
		{"bytes: zero deletes all but the empty active", -1, 0, 0, math.MaxInt64, 4, 40},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			c := smallConfig()
			c.SegmentBytes = int64(10 * len(makeBatch(t, batchSpec{records: 1, ts: 1})))
			l := openLog(t, NewMemFS(), c, withClock(clk))
			defer l.Close()
			// 40 batches, one a second, ending now: 4 segments of 10.
			base := clk.ms() - 39_000
			for i := 0; i < 40; i++ {
				mustAppend(t, l, makeBatch(t, batchSpec{records: 1, ts: base + int64(i)*1000}))
			}
			if n := len(l.Segments()); n != 4 {
				t.Fatalf("%d segments, want 4", n)
			}
			if tc.retentionBytes >= 0 && tc.retentionBytes < 100 {
				// Express retention.bytes in segments.
				tc.retentionBytes *= l.Segments()[0].Size
				if tc.advance == time.Nanosecond {
					tc.retentionBytes++ // marks the one-byte case
				}
			}
			clk.add(tc.advance)
			c.RetentionMs, c.RetentionBytes = tc.retentionMs, tc.retentionBytes
			l.SetConfig(c)
			n, err := l.EnforceRetentionUpTo(tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if n != tc.wantDeleted || l.StartOffset() != tc.wantStart {
				t.Fatalf("deleted %d, start %d; want %d, %d", n, l.StartOffset(), tc.wantDeleted, tc.wantStart)
			}
			if l.EndOffset() != 40 {
				t.Fatalf("end offset %d", l.EndOffset())
			}
			if _, err := l.Read(nil, tc.wantStart-1, 100, 40); tc.wantStart > 0 && !errors.Is(err, ErrOffsetOutOfRange) {
				t.Fatalf("read below start: %v", err)
			}
			readAll(t, l, l.StartOffset())
			// Appends carry on after retention emptied the log.
			mustAppend(t, l, makeBatch(t, batchSpec{records: 1, ts: clk.ms()}))
			readAll(t, l, l.StartOffset())
		})
	}
}

func TestSetStartOffset(t *testing.T) {
	fs := NewMemFS()
	c := smallConfig()
	c.SegmentBytes = 1000
	l := openLog(t, fs, c)
	want := appendN(t, l, 50, batchSpec{records: 2, valueSz: 50, ts: 1})
	mustFlush(t, l)
	segs := len(l.Segments())
	if err := l.SetStartOffset(101); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("beyond end: %v", err)
	}
	if err := l.SetStartOffset(33); err != nil {
		t.Fatal(err)
	}
	if err := l.SetStartOffset(10); err != nil || l.StartOffset() != 33 {
		t.Fatalf("lower is a no-op: %v, start %d", err, l.StartOffset())
	}
	if _, err := l.Read(nil, 32, 100, 100); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below the start offset: %v", err)
	}
	buf, err := l.Read(nil, 33, 1, 100)
	if err != nil || !bytes.Equal(buf, want[16]) {
		t.Fatalf("read at the start offset inside a batch: %v", err)
	}
	if n := len(l.Segments()); n >= segs || l.Segments()[0].BaseOffset > 33 {
		t.Fatalf("segments below the start offset not deleted: %d -> %d", segs, n)
	}
	// Durable at once, across a crash with no flush since.
	crashed := fs.CrashClone()
	l2 := openLog(t, crashed, c)
	if l2.StartOffset() != 33 {
		t.Fatalf("start offset after crash %d", l2.StartOffset())
	}
	l2.Close()
	if err := l.SetStartOffset(100); err != nil || l.StartOffset() != 100 {
		t.Fatalf("start at end: %v %d", err, l.StartOffset())
	}
	if buf, err := l.Read(nil, 100, 100, 100); err != nil || len(buf) != 0 {
		t.Fatalf("read at start == end: %v %d", err, len(buf))
	}
	mustClose(t, l)
	l = openLog(t, fs, c)
	defer l.Close()
	if l.StartOffset() != 100 || l.EndOffset() != 100 {
		t.Fatalf("after reopen start %d end %d", l.StartOffset(), l.EndOffset())
	}
}

func TestFindTimestampAndMax(t *testing.T) {
	c := smallConfig()
	c.SegmentBytes = 600
	l := openLog(t, NewMemFS(), c)
	defer l.Close()
	if buf, err := l.MaxTimestampBatch(nil); err != nil || len(buf) != 0 {
		t.Fatalf("empty log: %v %d", err, len(buf))
	}
	// Timestamps (max per batch) not monotonic: 100 and 150 repeat later.
	tss := []int64{100, 200, 150, 300, 250, 400, 400, 350, 500, 120}
	var want [][]byte
	for i, ts := range tss {
		b := makeBatch(t, batchSpec{records: 2, valueSz: 100, ts: ts - 1})
		mustAppend(t, l, b)
		want = append(want, b)
		_ = i
	}
	if len(l.Segments()) < 3 {
		t.Fatalf("want several segments, got %d", len(l.Segments()))
	}
	cases := []struct {
		ts   int64
		want int // index into tss, -1 for none
	}{
		{0, 0}, {100, 0}, {101, 1}, {200, 1}, {201, 3}, {300, 3}, {301, 5}, {400, 5}, {401, 8}, {500, 8}, {501, -1},
	}
	for _, tc := range cases {
		buf, err := l.FindTimestamp(nil, tc.ts)
		if err != nil {
			t.Fatal(err)
		}
		if tc.want < 0 {
			if len(buf) != 0 {
				t.Fatalf("FindTimestamp(%d) returned a batch", tc.ts)
			}
			continue
		}
		if !bytes.Equal(buf, want[tc.want]) {
			t.Fatalf("FindTimestamp(%d) returned batch at %d, want %d", tc.ts, records.Batch(buf).BaseOffset(), tc.want*2)
		}
	}
	buf, err := l.MaxTimestampBatch(nil)
	if err != nil || !bytes.Equal(buf, want[8]) {
		t.Fatalf("MaxTimestampBatch: %v, batch at %d", err, records.Batch(buf).BaseOffset())
	}
	// Below the start offset batches no longer count.
	if err := l.SetStartOffset(18); err != nil {
		t.Fatal(err)
	}
	if buf, _ := l.FindTimestamp(nil, 0); !bytes.Equal(buf, want[9]) {
		t.Fatalf("FindTimestamp after DeleteRecords returned batch at %d", records.Batch(buf).BaseOffset())
	}
	if buf, _ := l.MaxTimestampBatch(nil); !bytes.Equal(buf, want[9]) {
		t.Fatalf("MaxTimestampBatch after DeleteRecords returned batch at %d", records.Batch(buf).BaseOffset())
	}
}

func TestFindTimestampAfterReopen(t *testing.T) {
	fs := NewMemFS()
	c := smallConfig()
	c.IndexIntervalBytes = 100
	l := openLog(t, fs, c)
	want := appendN(t, l, 100, batchSpec{records: 1, valueSz: 30, ts: 1000})
	mustClose(t, l)
	l = openLog(t, fs, c)
	defer l.Close()
	for i, b := range want {
		ts := records.Batch(b).MaxTimestamp()
		got, err := l.FindTimestamp(nil, ts)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("FindTimestamp(%d) = batch at %d, want %d (%v)", ts, records.Batch(got).BaseOffset(), i, err)
		}
	}
	if got, _ := l.MaxTimestampBatch(nil); !bytes.Equal(got, want[99]) {
		t.Fatalf("MaxTimestampBatch after reopen")
	}
	for _, s := range l.Segments() {
		if s.MaxTimestamp != 1000+s.NextOffset-1 {
			t.Fatalf("segment %d max timestamp %d", s.BaseOffset, s.MaxTimestamp)
		}
	}
}

func TestEpochs(t *testing.T) {
	fs := NewMemFS()
	c := smallConfig()
	l := openLog(t, fs, c)
	if l.LatestEpoch() != -1 {
		t.Fatalf("latest epoch of an empty log %d", l.LatestEpoch())
	}
	if e, o := l.EndOffsetForEpoch(0); e != -1 || o != -1 {
		t.Fatalf("empty cache: %d %d", e, o)
	}
	// Epochs 1 at 0..9, 3 at 10..29, 3 again, 6 at 30..39; -1 batches do not count.
	for _, sp := range []struct {
		n     int
		epoch int32
	}{{10, 1}, {10, 3}, {5, -1}, {5, 3}, {5, 2}, {5, 6}, {5, 6}} {
		appendN(t, l, 1, batchSpec{records: sp.n, ts: 1, epoch: sp.epoch})
	}
	check := func(l *Log) {
		t.Helper()
		if l.LatestEpoch() != 6 {
			t.Fatalf("latest epoch %d", l.LatestEpoch())
		}
		cases := []struct {
			epoch     int32
			wantEpoch int32
			wantEnd   int64
		}{
			{-1, -1, -1},
			{0, 0, 0}, // below every known epoch: Kafka gives the first start offset
			{1, 1, 10},
			{2, 1, 10},
			{3, 3, 35},
			{4, 3, 35},
			{5, 3, 35},
			{6, 6, 45},
			{7, -1, -1},
		}
		for _, tc := range cases {
			if e, o := l.EndOffsetForEpoch(tc.epoch); e != tc.wantEpoch || o != tc.wantEnd {
				t.Errorf("EndOffsetForEpoch(%d) = %d, %d; want %d, %d", tc.epoch, e, o, tc.wantEpoch, tc.wantEnd)
			}
		}
	}
	check(l)
	mustFlush(t, l)
	check(openLog(t, fs.CrashClone(), c))
	mustClose(t, l)
	check(openLog(t, fs.Clone(), c))

	// A missing or malformed checkpoint is rebuilt from the batches.
	for _, content := range []string{"", "0\n2\n1 0\n", "garbage\n"} {
		c2 := fs.Clone()
		if content == "" {
			c2.Remove(testDir + "/" + epochCheckpointFile)
		} else {
			writeTestFile(t, c2, testDir+"/"+epochCheckpointFile, []byte(content))
		}
		l := openLog(t, c2, c)
		if content == "0\n2\n1 0\n" {
			// Well formed but wrong: a clean shutdown trusts it.
			l.Close()
			continue
		}
		check(l)
		l.Close()
	}

	// Truncation and the start offset move the cache with the log.
	l = openLog(t, fs, c)
	defer l.Close()
	if err := l.TruncateTo(32); err != nil {
		t.Fatal(err)
	}
	if l.EndOffset() != 30 || l.LatestEpoch() != 3 {
		t.Fatalf("after truncation end %d, latest epoch %d", l.EndOffset(), l.LatestEpoch())
	}
	if e, o := l.EndOffsetForEpoch(3); e != 3 || o != 30 {
		t.Fatalf("EndOffsetForEpoch(3) after truncation = %d, %d", e, o)
	}
	if err := l.SetStartOffset(12); err != nil {
		t.Fatal(err)
	}
	if e, o := l.EndOffsetForEpoch(1); e != 1 || o != 12 {
		t.Fatalf("EndOffsetForEpoch(1) after DeleteRecords = %d, %d; want 1, 12 (below every epoch left)", e, o)
	}
}

func writeTestFile(t testing.TB, fsys FS, name string, data []byte) {
	t.Helper()
	f, err := fsys.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	f.Sync()
	f.Close()
}

func TestTruncate(t *testing.T) {
	fs := NewMemFS()
	c := smallConfig()
	l := openLog(t, fs, c)
	want := appendN(t, l, 60, batchSpec{records: 2, valueSz: 50, ts: 1})
	mustFlush(t, l)
	cases := []struct {
		to      int64
		wantEnd int64
	}{{121, 120}, {120, 120}, {101, 100}, {100, 100}, {57, 56}, {1, 0}}
	for _, tc := range cases {
		if err := l.TruncateTo(tc.to); err != nil {
			t.Fatal(err)
		}
		if l.EndOffset() != tc.wantEnd {
			t.Fatalf("TruncateTo(%d): end %d, want %d", tc.to, l.EndOffset(), tc.wantEnd)
		}
		sameBatches(t, readAll(t, l, 0), want[:tc.wantEnd/2])
		if l.DurableOffset() > l.EndOffset() {
			t.Fatalf("durable %d beyond end %d", l.DurableOffset(), l.EndOffset())
		}
		// The truncation survives a crash, and the recovered log agrees.
		cl := openLog(t, fs.CrashClone(), c)
		if cl.EndOffset() != tc.wantEnd {
			t.Fatalf("after crash end %d, want %d", cl.EndOffset(), tc.wantEnd)
		}
		cl.Close()
	}
	// Append after truncation reuses the offsets.
	more := appendN(t, l, 30, batchSpec{records: 2, valueSz: 70, ts: 1, epoch: 2})
	sameBatches(t, readAll(t, l, 0), more)
	mustFlush(t, l)
	cl := openLog(t, fs.CrashClone(), c)
	sameBatches(t, readAll(t, cl, 0), more)
	cl.Close()

	if err := l.TruncateFullyAndStartAt(500); err != nil {
		t.Fatal(err)
	}
	if l.StartOffset() != 500 || l.EndOffset() != 500 || len(l.Segments()) != 1 || l.LatestEpoch() != -1 {
		t.Fatalf("after reset: start %d end %d segments %d", l.StartOffset(), l.EndOffset(), len(l.Segments()))
	}
	after := appendN(t, l, 5, batchSpec{records: 1, ts: 1})
	sameBatches(t, readAll(t, l, 500), after)
	cl = openLog(t, fs.CrashClone(), c)
	if cl.StartOffset() != 500 || cl.EndOffset() > 505 || cl.EndOffset() < 500 {
		t.Fatalf("after reset and crash: start %d end %d", cl.StartOffset(), cl.EndOffset())
	}
	cl.Close()
	if err := l.TruncateTo(400); err != nil || l.StartOffset() != 400 || l.EndOffset() != 400 {
		t.Fatalf("truncate below start: %v start %d end %d", err, l.StartOffset(), l.EndOffset())
	}
	mustClose(t, l)
}

// TestConcurrent runs reads, flushes, retention and DeleteRecords against a
// busy appender; run with -race. Every read must return valid batches in
// order or ErrOffsetOutOfRange.
func TestConcurrent(t *testing.T) {
	c := smallConfig()
	c.RetentionBytes = 20_000
	l := openLog(t, NewMemFS(), c)
	defer l.Close()
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for i := 0; i < 2000; i++ {
			if _, _, err := l.Append(makeBatch(t, batchSpec{records: 1 + i%5, valueSz: 40, ts: int64(i)})); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	loop := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if err := f(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	loop(func() error { _, err := l.Flush(); return err })
	loop(func() error { _, err := l.EnforceRetention(); return err })
	loop(func() error {
		end := l.EndOffset()
		if end > 50 {
			return l.SetStartOffset(end - 50)
		}
		return nil
	})
	for r := 0; r < 3; r++ {
		loop(func() error {
			off := l.StartOffset()
			buf, err := l.Read(nil, off, 3000, math.MaxInt64)
			if errors.Is(err, ErrOffsetOutOfRange) {
				return nil
			}
			if err != nil {
				return err
			}
			prev := int64(-1)
			for len(buf) > 0 {
				b, rest, err := records.Next(buf)
				if err != nil {
					return err
				}
				if err := b.Check(); err != nil {
					return err
				}
				if prev >= 0 && b.BaseOffset() != prev+1 || b.LastOffset() < off {
					return errors.New("batches out of order")
				}
				prev = b.LastOffset()
				buf = rest
			}
			return nil
		})
	}
	loop(func() error { l.Segments(); _, err := l.MaxTimestampBatch(nil); return err })
	wg.Wait()
	readAll(t, l, l.StartOffset())
}

// TestConcurrentTruncate races reads against truncations and the appends
// that refill the truncated range: a read must never return a batch mixing
// old and new bytes (it would fail Check) or out of order.
func TestConcurrentTruncate(t *testing.T) {
	c := smallConfig()
	l := openLog(t, NewMemFS(), c)
	defer l.Close()
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for i := 0; i < 1500; i++ {
			size := 10 + (i*37)%300
			if _, _, err := l.Append(makeBatch(t, batchSpec{records: 1 + i%4, valueSz: size, ts: int64(i), epoch: int32(i / 100)})); err != nil {
				t.Error(err)
				return
			}
			if i%25 == 24 {
				if err := l.TruncateTo(l.EndOffset() - int64(i%40)); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				end := l.EndOffset()
				off := end - 30
				if off < 0 {
					off = 0
				}
				buf, err := l.Read(nil, off, 4000, math.MaxInt64)
				if errors.Is(err, ErrOffsetOutOfRange) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				prev := int64(-1)
				for len(buf) > 0 {
					b, rest, err := records.Next(buf)
					if err == nil {
						err = b.Check()
					}
					if err != nil {
						t.Errorf("torn read: %v", err)
						return
					}
					if prev >= 0 && b.BaseOffset() != prev+1 {
						t.Errorf("batches out of order: %d after %d", b.BaseOffset(), prev)
						return
					}
					prev = b.LastOffset()
					buf = rest
				}
			}
		}()
	}
	wg.Wait()
	readAll(t, l, 0)
}

// Closing a log that took no change since it opened cleanly writes
// nothing: its checkpoints and clean-shutdown marker on disk already say
// what Close would write. A broker of many idle partitions then stops
// without rewriting three files per partition.
func TestCloseUnchangedWritesNothing(t *testing.T) {
	mem := NewMemFS()
	fsys := NewFaultFS(mem)
	c := smallConfig()
	l := openLog(t, fsys, c)
	appendN(t, l, 5, batchSpec{records: 2, ts: 1})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// Any file written now fails the close.
	l = openLog(t, fsys, c)
	fsys.Inject(Fault{Ops: OpRename | OpWrite, Err: syscall.EIO})
	if err := l.Close(); err != nil {
		t.Fatalf("close of an unchanged log wrote a file: %v", err)
	}
	fsys.Clear()

	// The marker left in place still opens the log cleanly, whole.
	l = openLog(t, fsys, c)
	if l.marker == nil {
		t.Fatal("the clean-shutdown marker is gone")
	}
	if got := readAll(t, l, 0); len(got) != 5 {
		t.Fatalf("%d batches after the reopen, want 5", len(got))
	}
	// One append later, Close writes again (and the same fault fails it).
	mustAppend(t, l, makeBatch(t, batchSpec{records: 1, ts: 2}))
	fsys.Inject(Fault{Ops: OpRename | OpWrite, Err: syscall.EIO})
	if err := l.Close(); err == nil {
		t.Fatal("close after an append wrote nothing")
	}
}

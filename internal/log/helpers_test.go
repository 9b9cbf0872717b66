package log

import (
	"bytes"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/plexus/plexus/internal/records"
)

// batchSpec describes a batch for tests.
type batchSpec struct {
	records int   // at least 1
	valueSz int   // bytes per record value
	ts      int64 // timestamp of the first record, the others follow by 1 ms; -1: none
	epoch   int32 // partition leader epoch
}

// makeBatch builds one valid batch.
func makeBatch(t testing.TB, sp batchSpec) []byte {
	t.Helper()
	var b records.Builder
	h := records.NewHeader()
	h.BaseTimestamp = sp.ts
	h.LeaderEpoch = sp.epoch
	b.Reset(h)
	n := max(sp.records, 1)
	v := make([]byte, sp.valueSz)
	for i := 0; i < n; i++ {
		for j := range v {
			v[j] = byte('a' + (i+j)%26)
		}
		ts := sp.ts
		if ts >= 0 {
			ts += int64(i)
		}
		b.Add(int32(i), ts, nil, v, nil)
	}
	out, err := b.AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// testLogger sends the log's lines to the test's output.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, nil))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// lineCounter counts the log lines a log writes.
type lineCounter struct{ lines []string }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.lines = append(c.lines, string(p))
	return len(p), nil
}

// clock is a settable test clock.
type clock struct{ t time.Time }

func newClock() *clock               { return &clock{t: time.UnixMilli(1_700_000_000_000)} }
func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func (c *clock) ms() int64           { return c.t.UnixMilli() }

const testDir = "/data/topic-0"

func openLog(t testing.TB, fsys FS, c Config, opts ...func(*Options)) *Log {
	t.Helper()
	l, err := tryOpen(t, fsys, c, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

func tryOpen(t testing.TB, fsys FS, c Config, opts ...func(*Options)) (*Log, error) {
	o := Options{FS: fsys, Dir: testDir, Config: c, Logger: testLogger(t)}
	for _, f := range opts {
		f(&o)
	}
	return Open(o)
}

func withClock(c *clock) func(*Options) { return func(o *Options) { o.Now = c.now } }

func mustAppend(t testing.TB, l *Log, buf []byte) (int64, int64) {
	t.Helper()
	first, next, err := l.Append(buf)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return first, next
}

func mustFlush(t testing.TB, l *Log) int64 {
	t.Helper()
	d, err := l.Flush()
	if err != nil {
		t.Fatalf("Flush: %v", err)
	}
	return d
}

func mustClose(t testing.TB, l *Log) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// splitBatches splits concatenated batches, failing on bad framing.
func splitBatches(t testing.TB, buf []byte) []records.Batch {
	t.Helper()
	var out []records.Batch
	for len(buf) > 0 {
		b, rest, err := records.Next(buf)
		if err != nil {
			t.Fatalf("bad framing: %v", err)
		}
		out = append(out, b)
		buf = rest
	}
	return out
}

// readAll reads every batch from offset from to the end, checking each and
// that offsets increase without gaps.
func readAll(t testing.TB, l *Log, from int64) []records.Batch {
	t.Helper()
	var out []records.Batch
	off := from
	end := l.EndOffset()
	for off < end {
		buf, err := l.Read(nil, off, 64<<10, end)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		if len(buf) == 0 {
			t.Fatalf("Read(%d) returned nothing below end %d", off, end)
		}
		for _, b := range splitBatches(t, buf) {
			if err := b.Check(); err != nil {
				t.Fatalf("Read(%d) returned a bad batch: %v", off, err)
			}
			if b.LastOffset() < off || len(out) > 0 && b.BaseOffset() != out[len(out)-1].LastOffset()+1 {
				t.Fatalf("Read(%d) returned batch %d..%d out of order", off, b.BaseOffset(), b.LastOffset())
			}
			out = append(out, b)
			off = b.LastOffset() + 1
		}
	}
	return out
}

// appendN appends n batches of sp and returns them as stored.
func appendN(t testing.TB, l *Log, n int, sp batchSpec) [][]byte {
	t.Helper()
	var out [][]byte
	for i := 0; i < n; i++ {
		b := makeBatch(t, sp)
		mustAppend(t, l, b)
		out = append(out, b)
		if sp.ts >= 0 {
			sp.ts += int64(sp.records)
		}
	}
	return out
}

// sameBatches fails unless got holds exactly want, byte for byte.
func sameBatches(t testing.TB, got []records.Batch, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d batches, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("batch %d (offset %d) differs from what was appended", i, records.Batch(want[i]).BaseOffset())
		}
	}
}

func smallConfig() Config {
	c := DefaultConfig()
	c.SegmentBytes = 4096
	c.IndexIntervalBytes = 256
	c.SegmentMs = -1
	c.RetentionMs = -1
	return c
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

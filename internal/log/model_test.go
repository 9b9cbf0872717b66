package log

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/plexus/plexus/internal/records"
)

// model is what the log must hold: every batch appended and not
// truncated, and the offsets it reports.
type model struct {
	batches [][]byte // as stored, in offset order
	start   int64
	durable int64
}

func (m *model) end() int64 {
	if len(m.batches) == 0 {
		return m.start
	}
	return max(m.start, records.Batch(m.batches[len(m.batches)-1]).LastOffset()+1)
}

// truncate keeps the batches whose last offset is below o. When what is
// kept ends below the start offset the log restarts empty at the start
// offset.
func (m *model) truncate(o int64) {
	n := 0
	for n < len(m.batches) && records.Batch(m.batches[n]).LastOffset() < o {
		n++
	}
	if n == len(m.batches) {
		return
	}
	raw := records.Batch(m.batches[n]).BaseOffset() // the new end before the start offset caps it
	m.batches = m.batches[:n]
	if raw < m.start {
		m.batches = nil
		m.durable = min(m.durable, m.start)
		return
	}
	m.durable = min(m.durable, m.end())
}

// read is what Read must return.
func (m *model) read(off int64, maxBytes int, limit int64) ([]byte, error) {
	if off < m.start || off > m.end() {
		return nil, ErrOffsetOutOfRange
	}
	var out []byte
	if off >= limit {
		return out, nil
	}
	for _, b := range m.batches {
		bb := records.Batch(b)
		if bb.LastOffset() < off {
			continue
		}
		if bb.BaseOffset() >= limit || len(out) > 0 && len(out)+len(b) > maxBytes {
			break
		}
		out = append(out, b...)
	}
	return out, nil
}

// epochs is what the leader epoch cache must say.
func (m *model) epochs() epochCache {
	var c epochCache
	for _, b := range m.batches {
		c.assign(records.Batch(b).PartitionLeaderEpoch(), records.Batch(b).BaseOffset())
	}
	c.truncateFromStart(m.start)
	c.truncateFromEnd(m.end())
	return c
}

func (m *model) check(t *testing.T, l *Log, rng *rand.Rand, what string) {
	t.Helper()
	if l.StartOffset() != m.start || l.EndOffset() != m.end() {
		t.Fatalf("%s: start %d end %d, model %d %d", what, l.StartOffset(), l.EndOffset(), m.start, m.end())
	}
	for i := 0; i < 5; i++ {
		off := m.start + rng.Int64N(m.end()-m.start+3) - 1
		maxBytes := rng.IntN(3000)
		limit := m.end()
		if rng.IntN(3) == 0 {
			limit = m.start + rng.Int64N(m.end()-m.start+1)
		}
		got, err := l.Read(nil, off, maxBytes, limit)
		want, werr := m.read(off, maxBytes, limit)
		if !errors.Is(err, werr) || !bytes.Equal(got, want) {
			t.Fatalf("%s: Read(%d, %d, %d) = %d bytes, %v; model %d bytes, %v", what, off, maxBytes, limit, len(got), err, len(want), werr)
		}
	}
	ec := m.epochs()
	if l.LatestEpoch() != ec.latest() {
		t.Fatalf("%s: latest epoch %d, model %d", what, l.LatestEpoch(), ec.latest())
	}
	for e := int32(-1); e <= ec.latest()+1; e++ {
		ge, go_ := l.EndOffsetForEpoch(e)
		we, wo := ec.endOffsetFor(e, m.end())
		if ge != we || go_ != wo {
			t.Fatalf("%s: EndOffsetForEpoch(%d) = %d, %d; model %d, %d", what, e, ge, go_, we, wo)
		}
	}
}

var (
	modelSeeds = flag.Int("model.seeds", 24, "TestModel: number of random runs")
	modelFirst = flag.Int("model.first", 0, "TestModel: first seed")
)

func TestModel(t *testing.T) {
	seeds := *modelSeeds
	if testing.Short() {
		seeds = min(seeds, 4)
	}
	for seed := *modelFirst; seed < *modelFirst+seeds; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runModel(t, uint64(seed)) })
	}
}

func runModel(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 99))
	c := smallConfig()
	c.SegmentBytes = int64(300 + rng.IntN(3000))
	c.IndexIntervalBytes = rng.IntN(600)
	mem := NewMemFS()
	ffs := NewFaultFS(mem)
	clk := newClock()
	open := func(fsys FS) *Log {
		l, err := Open(Options{FS: fsys, Dir: testDir, Config: c, Now: clk.now, Logger: slogTo(discard{})})
		if err != nil {
			t.Fatalf("seed %d: Open: %v", seed, err)
		}
		return l
	}
	l := open(ffs)
	defer func() { l.Close() }()
	var m model
	epoch := int32(0)
	ts := clk.ms() - 100_000
	for step := 0; step < 300; step++ {
		what := fmt.Sprintf("seed %d step %d", seed, step)
		op := rng.IntN(100)
		if testing.Verbose() {
			t.Logf("%s: op %d, model start %d end %d durable %d", what, op, m.start, m.end(), m.durable)
		}
		switch {
		case op < 45: // append 1-3 batches
			var buf []byte
			for n := 1 + rng.IntN(3); n > 0; n-- {
				if rng.IntN(10) == 0 {
					epoch++
				}
				buf = append(buf, makeBatch(t, batchSpec{records: 1 + rng.IntN(4), valueSz: rng.IntN(150), ts: ts, epoch: epoch})...)
				ts += int64(rng.IntN(1000))
			}
			fault := rng.IntN(12) == 0
			if fault {
				ffs.Inject(Fault{Ops: OpWrite | OpOpen, Path: ".log", Err: syscall.ENOSPC, Partial: rng.IntN(2) == 0})
			}
			first, next, err := l.Append(buf)
			ffs.Clear()
			if err != nil {
				if !fault {
					t.Fatalf("%s: Append: %v", what, err)
				}
				break
			}
			if first != m.end() {
				t.Fatalf("%s: append at %d, model end %d", what, first, m.end())
			}
			for rest := buf; len(rest) > 0; {
				b, r, _ := records.Next(rest)
				m.batches = append(m.batches, append([]byte(nil), b...))
				rest = r
			}
			if next != m.end() {
				t.Fatalf("%s: append ended at %d, model %d", what, next, m.end())
			}
		case op < 60: // flush, sometimes failing
			fault := rng.IntN(6) == 0
			if fault {
				ops := []Op{OpSync, OpSyncDir, OpWrite}[rng.IntN(3)]
				ffs.Inject(Fault{Ops: ops, Err: syscall.EIO, After: rng.IntN(3), DropUnsynced: rng.IntN(2) == 0})
			}
			before := l.DurableOffset()
			d, err := l.Flush()
			ffs.Clear()
			if testing.Verbose() {
				t.Logf("flush: durable before %d, reported %d, err %v", before, d, err)
			}
			if err != nil {
				if !fault {
					t.Fatalf("%s: Flush: %v", what, err)
				}
				if d != m.durable {
					t.Fatalf("%s: failed flush reported %d, model durable %d", what, d, m.durable)
				}
				m.truncate(d)
				break
			}
			if d != m.end() {
				t.Fatalf("%s: flush reported %d, end %d", what, d, m.end())
			}
			m.durable = d
		case op < 65: // retention by bytes or time
			cc := c
			if rng.IntN(2) == 0 {
				cc.RetentionBytes = rng.Int64N(8000)
			} else {
				cc.RetentionMs = rng.Int64N(100_000)
			}
			l.SetConfig(cc)
			before := l.StartOffset()
			if _, err := l.EnforceRetention(); err != nil {
				t.Fatalf("%s: retention: %v", what, err)
			}
			l.SetConfig(c)
			m.start = l.StartOffset()
			if m.start < before || m.start > m.end() {
				t.Fatalf("%s: retention moved start from %d to %d (end %d)", what, before, m.start, m.end())
			}
		case op < 70: // DeleteRecords
			o := m.start + rng.Int64N(m.end()-m.start+1)
			if err := l.SetStartOffset(o); err != nil {
				t.Fatalf("%s: SetStartOffset(%d): %v", what, o, err)
			}
			m.start = o
		case op < 75: // follower truncation
			o := m.start + rng.Int64N(m.end()-m.start+1)
			if err := l.TruncateTo(o); err != nil {
				t.Fatalf("%s: TruncateTo(%d): %v", what, o, err)
			}
			m.truncate(o)
		case op < 82: // power loss, possibly tearing unsynced writes
			l.Close()
			var crashed *MemFS
			if rng.IntN(2) == 0 {
				crashed = mem.CrashClone()
			} else {
				crashed = tornCrashClone(mem, rng)
			}
			mem = crashed
			ffs = NewFaultFS(mem)
			l = open(ffs)
			end := l.EndOffset()
			if end < m.durable {
				t.Fatalf("%s: crash lost durable data: end %d < %d", what, end, m.durable)
			}
			if m.start > end || m.start > m.end() {
				m.batches = nil
			}
			if end > m.end() {
				t.Fatalf("%s: crash grew the log to %d (model %d)", what, end, m.end())
			}
			m.truncate(end)
			m.durable = m.end()
		case op < 86: // clean restart
			if err := l.Close(); err != nil {
				t.Fatalf("%s: Close: %v", what, err)
			}
			l = open(ffs)
			m.durable = m.end()
		case op < 90: // segment.bytes change
			c.SegmentBytes = int64(300 + rng.IntN(3000))
			l.SetConfig(c)
		default:
			clk.add(time.Duration(rng.IntN(20_000)) * time.Millisecond)
		}
		m.check(t, l, rng, what)
	}
	// Every batch reads back whole, in order.
	got := readAll(t, l, m.start)
	var want [][]byte
	for _, b := range m.batches {
		if records.Batch(b).LastOffset() >= m.start {
			want = append(want, b)
		}
	}
	sameBatches(t, got, want)
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

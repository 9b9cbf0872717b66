package log

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/plexus/plexus/internal/records"
)

// readTestFile returns a file's current content.
func readTestFile(t testing.TB, fsys FS, name string) []byte {
	t.Helper()
	b, err := readFile(fsys, name, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mutate rewrites a file, durably.
func mutate(t testing.TB, fsys FS, name string, f func([]byte) []byte) {
	t.Helper()
	writeTestFile(t, fsys, name, f(readTestFile(t, fsys, name)))
}

func segFile(base int64, ext string) string { return testDir + "/" + segmentName(base, ext) }

// crashedLog builds a log of n batches over several segments, flushes it,
// and returns a copy of the file system as a process crash (no Close)
// would leave it, with the batches as appended.
func crashedLog(t testing.TB, n int, c Config) (*MemFS, [][]byte) {
	t.Helper()
	fs := NewMemFS()
	l := openLog(t, fs, c)
	want := appendN(t, l, n, batchSpec{records: 3, valueSz: 30, ts: 1000, epoch: 1})
	mustFlush(t, l)
	crashed := fs.Clone()
	l.Close()
	return crashed, want
}

// wantPrefix checks that the log holds exactly the first n batches of want
// and that it can take appends again.
func wantPrefix(t testing.TB, l *Log, want [][]byte, n int) {
	t.Helper()
	sameBatches(t, readAll(t, l, 0), want[:n])
	end := int64(0)
	if n > 0 {
		end = records.Batch(want[n-1]).LastOffset() + 1
	}
	if l.EndOffset() != end {
		t.Fatalf("end offset %d, want %d", l.EndOffset(), end)
	}
	b := makeBatch(t, batchSpec{records: 2, ts: 5})
	if first, _ := mustAppend(t, l, b); first != end {
		t.Fatalf("append after recovery got offset %d, want %d", first, end)
	}
	sameBatches(t, readAll(t, l, 0), append(slices.Clone(want[:n]), b))
}

// batchesWithin counts the batches of want that lie wholly within the first
// size bytes of the segment starting at batch first.
func batchesWithin(want [][]byte, first int, size int) int {
	n := first
	for pos := 0; n < len(want) && pos+len(want[n]) <= size; n++ {
		pos += len(want[n])
	}
	return n
}

// segmentStarts maps each segment base offset to the index of its first
// batch in want.
func segmentStarts(l []SegmentInfo, want [][]byte) map[int64]int {
	m := map[int64]int{}
	for i, b := range want {
		for _, s := range l {
			if records.Batch(b).BaseOffset() == s.BaseOffset {
				m[s.BaseOffset] = i
			}
		}
	}
	return m
}

func TestRecoverTornTail(t *testing.T) {
	c := smallConfig()
	crashed, want := crashedLog(t, 60, c)
	l := openLog(t, crashed.Clone(), c)
	segs := l.Segments()
	l.Close()
	active := segs[len(segs)-1]
	first := segmentStarts(segs, want)[active.BaseOffset]
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{0, 1, 60, 61, int(active.Size) - 1}
	for i := 0; i < 40; i++ {
		sizes = append(sizes, rng.IntN(int(active.Size)))
	}
	for _, size := range sizes {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			fs := crashed.Clone()
			mutate(t, fs, segFile(active.BaseOffset, logExt), func(b []byte) []byte { return b[:size] })
			var lines lineCounter
			l, err := Open(Options{FS: fs, Dir: testDir, Config: c, Logger: slogTo(&lines)})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			n := batchesWithin(want, first, size)
			wantPrefix(t, l, want, n)
			torn := size
			for _, b := range want[first:n] {
				torn -= len(b)
			}
			if torn > 0 && !strings.Contains(strings.Join(lines.lines, ""), fmt.Sprintf("bytes_truncated=%d", torn)) {
				t.Fatalf("no recovery line for %d torn bytes: %q", torn, lines.lines)
			}
		})
	}
}

func TestRecoverTornEarlierSegment(t *testing.T) {
	// Without a recovery point every segment is validated: a torn segment
	// in the middle cuts the log there and drops the segments after it.
	c := smallConfig()
	crashed, want := crashedLog(t, 60, c)
	crashed.Remove(testDir + "/" + recoveryCheckpointFile)
	l := openLog(t, crashed.Clone(), c)
	segs := l.Segments()
	l.Close()
	if len(segs) < 3 {
		t.Fatalf("%d segments", len(segs))
	}
	mid := segs[1]
	first := segmentStarts(segs, want)[mid.BaseOffset]
	fs := crashed.Clone()
	mutate(t, fs, segFile(mid.BaseOffset, logExt), func(b []byte) []byte { return b[:len(b)-7] })
	l = openLog(t, fs, c)
	defer l.Close()
	wantPrefix(t, l, want, batchesWithin(want, first, int(mid.Size)-7))
	for _, s := range segs[2:] {
		if _, err := fs.Stat(segFile(s.BaseOffset, logExt)); err == nil {
			t.Fatalf("segment %d after the torn one still exists", s.BaseOffset)
		}
	}
}

func TestRecoverCorruptBytes(t *testing.T) {
	c := smallConfig()
	crashed, want := crashedLog(t, 60, c)
	l := openLog(t, crashed.Clone(), c)
	segs := l.Segments()
	l.Close()
	active := segs[len(segs)-1]
	first := segmentStarts(segs, want)[active.BaseOffset]
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 60; i++ {
		pos := rng.IntN(int(active.Size))
		// Find the batch and the byte within it.
		n, at := first, pos
		for at >= len(want[n]) {
			at -= len(want[n])
			n++
		}
		// The base offset and the leader epoch are outside the CRC: a flip
		// there is only caught when it breaks the offset order, so those
		// bytes are not part of this test.
		if at < 8 || at >= 12 && at < 16 {
			continue
		}
		t.Run(fmt.Sprintf("batch%d+%d", n, at), func(t *testing.T) {
			fs := crashed.Clone()
			mutate(t, fs, segFile(active.BaseOffset, logExt), func(b []byte) []byte {
				b[pos] ^= 1 << rng.IntN(8)
				return b
			})
			l := openLog(t, fs, c)
			defer l.Close()
			wantPrefix(t, l, want, n)
		})
	}
}

func TestRecoverGarbageAppended(t *testing.T) {
	c := smallConfig()
	crashed, want := crashedLog(t, 60, c)
	l := openLog(t, crashed.Clone(), c)
	segs := l.Segments()
	l.Close()
	active := segs[len(segs)-1]
	valid := make([]byte, 0)
	for _, b := range want[segmentStarts(segs, want)[active.BaseOffset]:] {
		valid = append(valid, b...)
	}
	last := records.Batch(want[len(want)-1])
	garbage := map[string][]byte{
		"zeros":  make([]byte, 4096),
		"random": bytes.Repeat([]byte{0x5a, 0x13, 0xff, 0x00, 0x80}, 300),
		// A well-formed batch that does not follow on from the last one.
		"stale batch": func() []byte {
			b := makeBatch(t, batchSpec{records: 1, ts: 1})
			records.Batch(b).SetBaseOffset(last.BaseOffset())
			return b
		}(),
		"torn copy of a batch": want[len(want)-1][:50],
	}
	for name, g := range garbage {
		t.Run(name, func(t *testing.T) {
			fs := crashed.Clone()
			mutate(t, fs, segFile(active.BaseOffset, logExt), func(b []byte) []byte { return append(b, g...) })
			l := openLog(t, fs, c)
			defer l.Close()
			wantPrefix(t, l, want, len(want))
		})
	}
}

func TestRecoverIndexes(t *testing.T) {
	c := smallConfig()
	fs := NewMemFS()
	l := openLog(t, fs, c)
	want := appendN(t, l, 80, batchSpec{records: 2, valueSz: 40, ts: 1000})
	segs := l.Segments()
	mustClose(t, l)
	cleanFS := fs.Clone()
	l = openLog(t, fs, c)
	mustFlush(t, l)
	uncleanFS := fs.Clone()
	l.Close()

	damage := map[string]func([]byte) []byte{
		"empty":      func([]byte) []byte { return nil },
		"odd size":   func(b []byte) []byte { return append(b, 1, 2, 3) },
		"random":     func(b []byte) []byte { return bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, len(b)/4+3) },
		"reversed":   func(b []byte) []byte { slices.Reverse(b); return b },
		"doubled":    func(b []byte) []byte { return append(b, b...) },
		"truncated":  func(b []byte) []byte { return b[:len(b)/2] },
		"zeroed":     func(b []byte) []byte { clear(b); return b },
		"out of seg": func(b []byte) []byte { return append(b, 0x7f, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0) },
	}
	for _, base := range []struct {
		name string
		fs   *MemFS
	}{{"clean", cleanFS}, {"unclean", uncleanFS}} {
		for name, f := range damage {
			for _, ext := range []string{indexExt, timeIndexExt, "missing"} {
				t.Run(base.name+"/"+name+"/"+ext, func(t *testing.T) {
					fs := base.fs.Clone()
					for _, s := range []SegmentInfo{segs[0], segs[len(segs)-1]} {
						if ext == "missing" {
							fs.Remove(segFile(s.BaseOffset, indexExt))
							fs.Remove(segFile(s.BaseOffset, timeIndexExt))
							continue
						}
						mutate(t, fs, segFile(s.BaseOffset, ext), f)
					}
					l := openLog(t, fs, c)
					sameBatches(t, readAll(t, l, 0), want)
					for off := int64(0); off < l.EndOffset(); off += 7 {
						if buf, err := l.Read(nil, off, 1, l.EndOffset()); err != nil || !bytes.Equal(buf, want[off/2]) {
							t.Fatalf("Read(%d): %v", off, err)
						}
					}
					for _, i := range []int{0, 33, 79} {
						ts := records.Batch(want[i]).MaxTimestamp()
						if buf, err := l.FindTimestamp(nil, ts); err != nil || !bytes.Equal(buf, want[i]) {
							t.Fatalf("FindTimestamp(%d): %v", ts, err)
						}
					}
					if got := l.Segments(); !slices.Equal(got, segs) {
						t.Fatalf("segments %v, want %v", got, segs)
					}
					mustClose(t, l)
					// The rebuilt indexes were written back and load cleanly.
					l = openLog(t, fs, c)
					sameBatches(t, readAll(t, l, 0), want)
					l.Close()
				})
			}
		}
	}
}

// tornCrashClone is CrashClone plus part of what was written but not
// synced, as a power loss during writeback leaves it: each file keeps a
// random prefix of its unsynced tail, and pages of that tail may read back
// as zeros.
func tornCrashClone(m *MemFS, rng *rand.Rand) *MemFS {
	c := m.CrashClone()
	m.mu.Lock()
	defer m.mu.Unlock()
	var walk func(live, crashed *memNode)
	walk = func(live, crashed *memNode) {
		for name, ln := range live.durEntries {
			cn := crashed.entries[name]
			if cn == nil {
				continue
			}
			if ln.dir {
				walk(ln, cn)
				continue
			}
			if !bytes.HasPrefix(ln.data, ln.synced) || len(ln.data) == len(ln.synced) {
				continue
			}
			extra := ln.data[len(ln.synced):]
			keep := append([]byte(nil), extra[:rng.IntN(len(extra)+1)]...)
			if len(keep) > 0 && rng.IntN(2) == 0 {
				at := rng.IntN(len(keep))
				clear(keep[at:min(len(keep), at+rng.IntN(512)+1)])
			}
			cn.data = append(cn.data, keep...)
			cn.synced = slices.Clone(cn.data)
		}
	}
	walk(m.root, c.root)
	return c
}

// TestCrashKeepsDurable: after Flush reports D, a power loss keeps every
// offset below D, and whatever else survives is a prefix of what was
// appended.
func TestCrashKeepsDurable(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for round := 0; round < 30; round++ {
		c := smallConfig()
		c.SegmentBytes = int64(500 + rng.IntN(3000))
		fs := NewMemFS()
		l := openLog(t, fs, c)
		var want [][]byte
		durable := int64(0)
		steps := 20 + rng.IntN(80)
		for i := 0; i < steps; i++ {
			b := makeBatch(t, batchSpec{records: 1 + rng.IntN(5), valueSz: rng.IntN(200), ts: int64(i), epoch: int32(i / 10)})
			mustAppend(t, l, b)
			want = append(want, b)
			if rng.IntN(4) == 0 {
				durable = mustFlush(t, l)
				if durable != l.EndOffset() {
					t.Fatalf("flush reported %d, end %d", durable, l.EndOffset())
				}
			}
		}
		for _, crashed := range []*MemFS{fs.CrashClone(), tornCrashClone(fs, rng)} {
			r := openLog(t, crashed, c)
			got := readAll(t, r, 0)
			if r.EndOffset() < durable {
				t.Fatalf("round %d: recovered end %d below durable %d", round, r.EndOffset(), durable)
			}
			sameBatches(t, got, want[:len(got)])
			r.Close()
		}
		l.Close()
	}
}

func TestStrayFiles(t *testing.T) {
	c := smallConfig()
	fs := NewMemFS()
	l := openLog(t, fs, c)
	want := appendN(t, l, 40, batchSpec{records: 2, valueSz: 40, ts: 1})
	segs := l.Segments()
	mustClose(t, l)

	stray := []string{
		"00000000000000000000.log.deleted",
		"00000000000000000000.index.deleted",
		"00000000000000000010.log.cleaned",
		"leader-epoch-checkpoint.tmp",
		"00000000000000099999.index",     // orphan
		"00000000000000099999.timeindex", // orphan
		"00000000000000000010.index.swap",
	}
	for _, name := range stray {
		writeTestFile(t, fs, testDir+"/"+name, []byte("junk"))
	}
	writeTestFile(t, fs, testDir+"/notes.txt", []byte("unknown"))
	var lines lineCounter
	l, err := Open(Options{FS: fs, Dir: testDir, Config: c, Logger: slogTo(&lines)})
	if err != nil {
		t.Fatal(err)
	}
	sameBatches(t, readAll(t, l, 0), want)
	for _, name := range stray {
		if _, err := fs.Stat(testDir + "/" + name); !os.IsNotExist(err) {
			t.Errorf("%s still there: %v", name, err)
		}
	}
	if _, err := fs.Stat(testDir + "/notes.txt"); err != nil {
		t.Errorf("unknown file removed: %v", err)
	}
	if all := strings.Join(lines.lines, ""); !strings.Contains(all, "notes.txt") || len(lines.lines) != len(stray)+1 {
		t.Errorf("want one line per action, got %q", lines.lines)
	}
	mustClose(t, l)

	// A complete swap file replaces the segments in its range: here a copy
	// of the second segment's batches, so the log is unchanged.
	second := readTestFile(t, fs, segFile(segs[1].BaseOffset, logExt))
	writeTestFile(t, fs, segFile(segs[1].BaseOffset, logExt)+".swap", second)
	l = openLog(t, fs, c)
	sameBatches(t, readAll(t, l, 0), want)
	mustClose(t, l)
	// A torn one is discarded.
	writeTestFile(t, fs, segFile(segs[1].BaseOffset, logExt)+".swap", second[:len(second)-3])
	l = openLog(t, fs, c)
	sameBatches(t, readAll(t, l, 0), want)
	mustClose(t, l)
}

func TestRecoverStartOffsetPastEnd(t *testing.T) {
	c := smallConfig()
	fs := NewMemFS()
	l := openLog(t, fs, c)
	appendN(t, l, 10, batchSpec{records: 2, ts: 1})
	mustFlush(t, l)
	appendN(t, l, 10, batchSpec{records: 2, ts: 1})
	if err := l.SetStartOffset(30); err != nil {
		t.Fatal(err)
	}
	// The start offset is durable, the batches below it beyond 20 are not.
	r := openLog(t, fs.CrashClone(), c)
	defer r.Close()
	if r.StartOffset() != 30 || r.EndOffset() != 30 {
		t.Fatalf("start %d end %d, want 30 30", r.StartOffset(), r.EndOffset())
	}
	if first, _ := mustAppend(t, r, makeBatch(t, batchSpec{records: 1, ts: 1})); first != 30 {
		t.Fatalf("append at %d", first)
	}
	l.Close()
}

func TestCleanMarkerMismatch(t *testing.T) {
	c := smallConfig()
	fs := NewMemFS()
	l := openLog(t, fs, c)
	want := appendN(t, l, 30, batchSpec{records: 2, ts: 1})
	segs := l.Segments()
	mustClose(t, l)
	active := segFile(segs[len(segs)-1].BaseOffset, logExt)
	cases := map[string]func(fs *MemFS){
		"active grew": func(fs *MemFS) { mutate(t, fs, active, func(b []byte) []byte { return append(b, 1, 2, 3) }) },
		"marker lies": func(fs *MemFS) { writeTestFile(t, fs, testDir+"/"+cleanShutdownFile, []byte("0\n999 0 5\n")) },
		"marker torn": func(fs *MemFS) { writeTestFile(t, fs, testDir+"/"+cleanShutdownFile, []byte("0\n99")) },
		"same size, bad tail": func(fs *MemFS) {
			mutate(t, fs, active, func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b })
		},
		"end offset off by one": func(fs *MemFS) {
			m := cleanMarker{end: 59, activeBase: segs[len(segs)-1].BaseOffset, activeSize: segs[len(segs)-1].Size}
			writeTestFile(t, fs, testDir+"/"+cleanShutdownFile, m.encode())
		},
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			fs := fs.Clone()
			f(fs)
			l := openLog(t, fs, c)
			defer l.Close()
			got := readAll(t, l, 0)
			n := len(want)
			if name == "same size, bad tail" {
				n--
			}
			sameBatches(t, got, want[:n])
		})
	}
}

// countingFS counts the bytes read from .log files.
type countingFS struct {
	FS
	logBytes atomic.Int64
}

type countingFile struct {
	File
	fs  *countingFS
	log bool
}

func (c *countingFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := c.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &countingFile{File: f, fs: c, log: strings.HasSuffix(name, logExt)}, nil
}

func (f *countingFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(p, off)
	if f.log {
		f.fs.logBytes.Add(int64(n))
	}
	return n, err
}

func TestCleanOpenReadsLittle(t *testing.T) {
	c := smallConfig()
	c.SegmentBytes = 64 << 10
	c.IndexIntervalBytes = 4096
	fs := NewMemFS()
	l := openLog(t, fs, c)
	appendN(t, l, 2000, batchSpec{records: 4, valueSz: 100, ts: 1})
	total := l.Size()
	mustClose(t, l)
	cfs := &countingFS{FS: fs}
	l = openLog(t, cfs, c)
	defer l.Close()
	// About the batches after the active segment's last index entry, and
	// a look at the batch its last time index entry names.
	if n := cfs.logBytes.Load(); n > 3*int64(c.IndexIntervalBytes) {
		t.Fatalf("clean open read %d bytes of segment data (log is %d)", n, total)
	}
}

// TestRecoverySyncs: a killed process leaves unsynced data in the page
// cache; recovery keeps it, so it must make it durable before Open
// returns, or a power loss right after would take back what it served.
func TestRecoverySyncs(t *testing.T) {
	c := smallConfig()
	fs := NewMemFS()
	l := openLog(t, fs, c)
	want := appendN(t, l, 60, batchSpec{records: 2, valueSz: 40, ts: 1})
	killed := fs.Clone() // no flush, no close
	l.Close()
	r := openLog(t, killed, c)
	sameBatches(t, readAll(t, r, 0), want)
	if d := r.DurableOffset(); d != r.EndOffset() {
		t.Fatalf("recovered log durable to %d of %d", d, r.EndOffset())
	}
	p := openLog(t, killed.CrashClone(), c)
	defer p.Close()
	defer r.Close()
	sameBatches(t, readAll(t, p, 0), want)
}

// A new log writes its folder and one segment file, nothing else: no
// checkpoints and no empty indexes (a topic of thousands of partitions
// pays per file). What it then makes durable survives a power loss before
// any checkpoint is written, and the next clean close writes them.
func TestNewLogWritesOnlyItsSegment(t *testing.T) {
	m := NewMemFS()
	l := openLog(t, m, smallConfig())
	names, err := m.ReadDir(testDir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{segmentName(0, logExt)}; !slices.Equal(names, want) {
		t.Fatalf("a new log holds %v, want %v", names, want)
	}
	// Durable at once: the folder and the file survive a power loss.
	if names, _ := m.CrashClone().ReadDir(testDir); !slices.Equal(names, []string{segmentName(0, logExt)}) {
		t.Fatalf("after a power loss right after Open: %v", names)
	}
	want := appendN(t, l, 3, batchSpec{records: 2, ts: 1000})
	mustFlush(t, l)
	crashed := m.CrashClone()
	l2 := openLog(t, crashed, smallConfig())
	sameBatches(t, readAll(t, l2, 0), want)
	mustClose(t, l2)
	names, _ = crashed.ReadDir(testDir)
	for _, f := range []string{recoveryCheckpointFile, epochCheckpointFile, cleanShutdownFile} {
		if !slices.Contains(names, f) {
			t.Errorf("after a clean close the log holds %v, without %s", names, f)
		}
	}
	mustClose(t, l)
}

package log

import (
	"fmt"
	"math"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plexus/plexus/internal/records"
)

// stepFS calls on after every operation that changes the file system, so a
// test can take a copy of the disk at every step of a cleaning pass.
type stepFS struct {
	*MemFS
	on func(op string)
}

type stepFile struct {
	File
	fs   *stepFS
	name string
}

func (s *stepFS) step(op, name string) {
	if s.on != nil {
		s.on(op + " " + name)
	}
}

func (s *stepFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := s.MemFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	if flag&(os.O_CREATE|os.O_TRUNC) != 0 {
		s.step("open", name)
	}
	return &stepFile{File: f, fs: s, name: name}, nil
}

func (s *stepFS) Remove(name string) error {
	err := s.MemFS.Remove(name)
	s.step("remove", name)
	return err
}

func (s *stepFS) Rename(a, b string) error {
	err := s.MemFS.Rename(a, b)
	s.step("rename", a+" "+b)
	return err
}

func (s *stepFS) SyncDir(name string) error {
	err := s.MemFS.SyncDir(name)
	s.step("syncdir", name)
	return err
}

func (f *stepFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.File.WriteAt(p, off)
	f.fs.step("write", f.name)
	return n, err
}

func (f *stepFile) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	f.fs.step("write", f.name)
	return n, err
}

func (f *stepFile) Sync() error {
	err := f.File.Sync()
	f.fs.step("sync", f.name)
	return err
}

func (f *stepFile) Truncate(n int64) error {
	err := f.File.Truncate(n)
	f.fs.step("truncate", f.name)
	return err
}

// cleanScenario fills a log with versions of a few keys, tombstones and
// codecs over many segments, flushed, and optionally cleans it once.
func cleanScenario(t testing.TB, fsys FS, clk *clock, precleaned bool) *Log {
	t.Helper()
	l := openLog(t, fsys, compactConfig(), withClock(clk))
	for i := 0; i < 160; i++ {
		h := records.NewHeader()
		h.Codec = allCodecs[i%len(allCodecs)]
		v := fmt.Sprintf("value-%d", i)
		if i%7 == 3 {
			v = ""
		}
		if i%11 == 5 {
			h.ProducerID, h.ProducerEpoch, h.BaseSequence = 42, 0, int32(i)
		}
		mustAppend(t, l, keyedBatch(t, h, rec(fmt.Sprintf("k%d", i%9), v, clk.ms()), rec(fmt.Sprintf("x%d", i%4), "y", clk.ms()+1)))
		clk.add(10 * time.Millisecond)
	}
	mustFlush(t, l)
	if precleaned {
		cleanNow(t, l, clk.now(), 100_000)
		clk.add(time.Second)
		for i := 0; i < 30; i++ {
			h := records.NewHeader()
			mustAppend(t, l, keyedBatch(t, h, rec(fmt.Sprintf("k%d", i%5), fmt.Sprintf("late-%d", i), clk.ms())))
		}
		mustFlush(t, l)
	}
	return l
}

type recKey struct {
	offset     int64
	key, value string
	tombstone  bool
}

func recordSet(t testing.TB, l *Log) map[recKey]bool {
	t.Helper()
	rs, _ := readRecords(t, l)
	m := map[recKey]bool{}
	for _, r := range rs {
		m[recKey{r.offset, r.key, r.value, r.tombstone}] = true
	}
	return m
}

// latestState is what a reader from the beginning ends up with: the last
// value of each key, tombstones deleting.
func latestState(set map[recKey]bool) map[string]string {
	var rs []recKey
	for r := range set {
		rs = append(rs, r)
	}
	last := map[string]recKey{}
	for _, r := range rs {
		if p, ok := last[r.key]; !ok || r.offset > p.offset {
			last[r.key] = r
		}
	}
	out := map[string]string{}
	for k, r := range last {
		if !r.tombstone {
			out[k] = r.value
		}
	}
	return out
}

// checkBetween fails unless got lies between the log after the pass
// (post) and before it (pre): every record got holds was there before,
// every record the pass kept is there, and readers see the same state.
func checkBetween(t testing.TB, what string, got, pre, post map[recKey]bool) {
	t.Helper()
	for r := range got {
		if !pre[r] {
			t.Fatalf("%s: record %+v was not in the log", what, r)
		}
	}
	for r := range post {
		if !got[r] {
			t.Fatalf("%s: record %+v the pass kept is lost", what, r)
		}
	}
	gs, ps := latestState(got), latestState(pre)
	if len(gs) != len(ps) {
		t.Fatalf("%s: %d live keys, want %d", what, len(gs), len(ps))
	}
	for k, v := range ps {
		if gs[k] != v {
			t.Fatalf("%s: key %s is %q, want %q", what, k, gs[k], v)
		}
	}
}

func sameSet(a, b map[recKey]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for r := range a {
		if !b[r] {
			return false
		}
	}
	return true
}

// TestCleanCrashAtEveryStep kills (and power-fails) the process after
// every file-system operation of a cleaning pass and recovers the copy:
// the log must open, hold either what it held before or what the pass
// made of it (or, across groups, a mix), lose no record the pass kept,
// take appends, and a new pass must finish the job.
func TestCleanCrashAtEveryStep(t *testing.T) {
	for _, precleaned := range []bool{false, true} {
		t.Run(fmt.Sprintf("precleaned=%v", precleaned), func(t *testing.T) {
			clk := newClock()
			mem := NewMemFS()
			sfs := &stepFS{MemFS: mem}
			l := cleanScenario(t, sfs, clk, precleaned)
			pre := recordSet(t, l)
			now := clk.now()
			type snap struct {
				op          string
				kill, power *MemFS
			}
			var snaps []snap
			sfs.on = func(op string) {
				snaps = append(snaps, snap{op, sfs.MemFS.Clone(), sfs.MemFS.CrashClone()})
			}
			res := cleanNow(t, l, now, 100_000)
			sfs.on = nil
			post := recordSet(t, l)
			if !res.Cleaned || len(post) >= len(pre) {
				t.Fatalf("the pass did nothing: %+v", res)
			}
			mustClose(t, l)
			t.Logf("%d steps", len(snaps))
			if len(snaps) < 10 {
				t.Fatalf("only %d steps", len(snaps))
			}
			stride := 1
			if testing.Short() || raceEnabled {
				stride = 5
			}
			for i := 0; i < len(snaps); i += stride {
				s := snaps[i]
				for _, c := range []struct {
					kind string
					fs   *MemFS
				}{{"kill", s.kill}, {"power", s.power}} {
					what := fmt.Sprintf("%s after step %d (%s)", c.kind, i, s.op)
					l, err := Open(Options{FS: c.fs, Dir: testDir, Config: compactConfig(), Logger: slogTo(discard{}), Now: clk.now})
					if err != nil {
						t.Fatalf("%s: Open: %v", what, err)
					}
					got := recordSet(t, l)
					checkBetween(t, what, got, pre, post)
					names, _ := c.fs.ReadDir(testDir)
					for _, n := range names {
						if strings.Contains(n, ".swap") || strings.Contains(n, ".cleaned") {
							t.Fatalf("%s: %s left after Open", what, n)
						}
					}
					if _, err := l.Clean(CleanOptions{UpTo: math.MaxInt64, Now: now, DeleteRetentionMs: 100_000}); err != nil {
						t.Fatalf("%s: Clean: %v", what, err)
					}
					if again := recordSet(t, l); !sameSet(again, post) {
						t.Fatalf("%s: a new pass gives %d records, the original %d", what, len(again), len(post))
					}
					end := l.EndOffset()
					if first, _ := mustAppend(t, l, makeBatch(t, batchSpec{records: 1, ts: clk.ms()})); first != end {
						t.Fatalf("%s: append at %d, end %d", what, first, end)
					}
					mustClose(t, l)
				}
			}
		})
	}
}

// TestCleanFaults fails each file-system operation of a pass in turn: the
// pass fails, the log stays readable with what it held or the cleaned
// result, a later pass succeeds, and a restart (or a power loss) keeps it.
func TestCleanFaults(t *testing.T) {
	clk := newClock()
	// Count the operations of a pass.
	mem := NewMemFS()
	ffs := NewFaultFS(mem)
	l := cleanScenario(t, ffs, clk, true)
	pre := recordSet(t, l)
	now := clk.now()
	ffs.Inject(Fault{Ops: OpAll, Err: syscall.EIO, After: math.MaxInt})
	cleanNow(t, l, now, 100_000)
	post := recordSet(t, l)
	total := ffs.faults[0].seen
	ffs.Clear()
	l.Close()
	if total < 20 {
		t.Fatalf("only %d operations", total)
	}
	stride := 1
	if testing.Short() || raceEnabled {
		stride = 7 // a sample of the steps: the race detector makes each slow
	}
	for n := 0; n < total; n += stride {
		for _, sticky := range []bool{false, true} {
			what := fmt.Sprintf("fault at op %d sticky=%v", n, sticky)
			clk := newClock()
			mem := NewMemFS()
			ffs := NewFaultFS(mem)
			l := cleanScenario(t, ffs, clk, true)
			times := 1
			if sticky {
				times = 0
			}
			ffs.Inject(Fault{Ops: OpAll, Err: syscall.EIO, After: n, Times: times, DropUnsynced: true})
			_, err := l.Clean(CleanOptions{UpTo: math.MaxInt64, Now: now, DeleteRetentionMs: 100_000})
			ffs.Clear()
			if err == nil && ffs.Hits() > 0 && !sameSet(recordSet(t, l), post) {
				t.Fatalf("%s: pass succeeded with a different result", what)
			}
			checkBetween(t, what, recordSet(t, l), pre, post)
			power := mem.CrashClone()
			if _, err := l.Clean(CleanOptions{UpTo: math.MaxInt64, Now: now, DeleteRetentionMs: 100_000}); err != nil {
				t.Fatalf("%s: second pass: %v", what, err)
			}
			if got := recordSet(t, l); !sameSet(got, post) {
				t.Fatalf("%s: second pass gives %d records, want %d", what, len(got), len(post))
			}
			mustClose(t, l)
			l = openLog(t, mem, compactConfig(), withClock(clk))
			if got := recordSet(t, l); !sameSet(got, post) {
				t.Fatalf("%s: reopened: %d records, want %d", what, len(got), len(post))
			}
			mustClose(t, l)
			l, err = Open(Options{FS: power, Dir: testDir, Config: compactConfig(), Logger: slogTo(discard{}), Now: clk.now})
			if err != nil {
				t.Fatalf("%s: open after power loss: %v", what, err)
			}
			checkBetween(t, what+" power loss", recordSet(t, l), pre, post)
			mustClose(t, l)
		}
	}
}

package log

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/plexus/plexus/internal/records"
)

// cleanModel is what a compacted log must hold: every record appended,
// with whether it is still alive, and for tombstones the delete horizon
// the pass that first kept them gave them.
type cleanModel struct {
	recs      []*modelRec
	retention int64
}

type modelRec struct {
	offset    int64
	key       string
	value     string
	tombstone bool
	ts        int64
	codec     records.Codec
	alive     bool
	horizon   int64 // -1: none yet
}

// clean applies a pass that cleaned every offset below to, at time now.
func (m *cleanModel) clean(to, now int64) {
	latest := map[string]int64{}
	for _, r := range m.recs {
		if r.alive && r.offset < to {
			latest[r.key] = r.offset
		}
	}
	for _, r := range m.recs {
		if !r.alive || r.offset >= to {
			continue
		}
		keep := r.offset == latest[r.key] && (!r.tombstone || r.horizon < 0 || now < r.horizon)
		if !keep {
			r.alive = false
			continue
		}
		if r.tombstone && r.horizon < 0 {
			r.horizon = now + m.retention
		}
	}
}

func (m *cleanModel) check(t *testing.T, l *Log, what string) {
	t.Helper()
	got, _ := readRecords(t, l)
	var want []*modelRec
	for _, r := range m.recs {
		if r.alive {
			want = append(want, r)
		}
	}
	for i := 0; i < min(len(got), len(want)); i++ {
		g, w := got[i], want[i]
		if g.offset != w.offset || g.key != w.key || g.tombstone != w.tombstone || g.value != w.value || g.ts != w.ts || g.codec != w.codec {
			t.Fatalf("%s: record %d is %+v, want %+v", what, i, g, *w)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d records, want %d", what, len(got), len(want))
	}
}

var allCodecs = []records.Codec{records.CodecNone, records.CodecGzip, records.CodecSnappy, records.CodecLZ4, records.CodecZstd}

func TestCleanModel(t *testing.T) {
	seeds := 40
	if testing.Short() || raceEnabled {
		seeds = 6
	}
	for seed := 0; seed < seeds; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runCleanModel(t, uint64(seed)) })
	}
}

func runCleanModel(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0xc1ea))
	clk := newClock()
	fs := NewMemFS()
	fs.SetClock(clk.now)
	c := compactConfig()
	c.SegmentBytes = int64(600 + rng.IntN(3000))
	c.IndexIntervalBytes = rng.IntN(400)
	open := func() *Log {
		l, err := Open(Options{FS: fs, Dir: testDir, Config: c, Logger: slogTo(discard{}), Now: clk.now})
		if err != nil {
			t.Fatalf("seed %d: Open: %v", seed, err)
		}
		return l
	}
	l := open()
	defer func() { l.Close() }()
	m := &cleanModel{retention: int64(rng.IntN(5000))}
	keys := 1 + rng.IntN(30)
	codec := allCodecs[rng.IntN(len(allCodecs))]
	cleans := 0
	steps := 400
	if raceEnabled {
		steps = 150
	}
	for step := 0; step < steps; step++ {
		switch x := rng.IntN(100); {
		case x < 70:
			n := 1 + rng.IntN(6)
			var rs []kv
			for i := 0; i < n; i++ {
				k := fmt.Sprintf("key-%d", rng.IntN(keys))
				v := ""
				if rng.IntN(5) > 0 {
					v = fmt.Sprintf("v%d-%d-%s", step, i, string(make([]byte, rng.IntN(40))))
				}
				rs = append(rs, rec(k, v, clk.ms()+int64(i)))
			}
			if rng.IntN(4) == 0 {
				codec = allCodecs[rng.IntN(len(allCodecs))]
			}
			h := records.NewHeader()
			h.Codec = codec
			first, _ := mustAppend(t, l, keyedBatch(t, h, rs...))
			for i, r := range rs {
				m.recs = append(m.recs, &modelRec{offset: first + int64(i), key: string(r.key), value: string(r.value),
					tombstone: r.value == nil, ts: r.ts, codec: codec, alive: true, horizon: -1})
			}
		case x < 80:
			clk.add(time.Duration(rng.IntN(3000)) * time.Millisecond)
		case x < 93:
			mustFlush(t, l)
			upTo := int64(math.MaxInt64)
			if rng.IntN(4) == 0 {
				upTo = l.StartOffset() + rng.Int64N(l.EndOffset()-l.StartOffset()+1)
			}
			res, err := l.Clean(CleanOptions{UpTo: upTo, Now: clk.now(), DeleteRetentionMs: m.retention,
				MinCompactionLagMs: int64(rng.IntN(2)) * int64(rng.IntN(4000))})
			if err != nil {
				t.Fatalf("seed %d step %d: Clean: %v", seed, step, err)
			}
			if res.Cleaned {
				cleans++
				if res.Through > upTo {
					t.Fatalf("seed %d: cleaned through %d, past %d", seed, res.Through, upTo)
				}
				m.clean(res.Through, clk.ms())
			}
			m.check(t, l, fmt.Sprintf("seed %d step %d after clean %+v", seed, step, res))
		case x < 96:
			mustClose(t, l)
			l = open()
			m.check(t, l, fmt.Sprintf("seed %d step %d after reopen", seed, step))
		default:
			// Power loss after a flush: everything is durable, so the log
			// comes back the same, its recovery validating the tail.
			mustFlush(t, l)
			crashed := fs.CrashClone()
			l.Close()
			fs = crashed
			l = open()
			m.check(t, l, fmt.Sprintf("seed %d step %d after crash", seed, step))
		}
	}
	mustFlush(t, l)
	for i := 0; i < 3; i++ {
		clk.add(time.Duration(m.retention+1) * time.Millisecond)
		res := cleanNow(t, l, clk.now(), m.retention)
		if res.Cleaned {
			m.clean(res.Through, clk.ms())
		}
		m.check(t, l, fmt.Sprintf("seed %d final clean %d", seed, i))
	}
	// Below the checkpoint, every key appears at most once.
	rs, _ := readRecords(t, l)
	seen := map[string]bool{}
	for _, r := range rs {
		if r.offset < l.CleanerCheckpoint() {
			if seen[r.key] {
				t.Fatalf("seed %d: key %s twice below the cleaner checkpoint %d", seed, r.key, l.CleanerCheckpoint())
			}
			seen[r.key] = true
		}
	}
	dead, tomb, tombDead := 0, 0, 0
	for _, r := range m.recs {
		if !r.alive {
			dead++
		}
		if r.tombstone {
			tomb++
			if !r.alive && r.horizon >= 0 {
				tombDead++
			}
		}
	}
	t.Logf("seed %d: %d records, %d removed, %d tombstones, %d removed after their horizon, %d cleans, %d segments", seed, len(m.recs), dead, tomb, tombDead, cleans, len(l.Segments()))
	if cleans == 0 {
		t.Logf("seed %d: no pass cleaned anything", seed)
	}
}

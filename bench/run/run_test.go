package main

import (
	"math"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{2, 2, 9, 1, 2}, 2},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median of nothing should be NaN")
	}
}

func TestRatioPairsOnlyCompleteRuns(t *testing.T) {
	r := &runner{cfg: &config{}}
	add := func(target string, pair int, v float64) {
		r.runs = append(r.runs, &runResult{Workload: "W1", Target: target, Pair: pair, Metrics: map[string]float64{"m": v}})
	}
	add(Plexus, 0, 300)
	add(KfakeMem, 0, 100) // 3
	add(Plexus, 1, 200)
	add(KfakeMem, 1, 200) // 1
	add(Plexus, 2, 500)
	add(KfakeMem, 2, 250) // 2
	add(Plexus, 3, 999)   // no peer run: left out
	got, n := r.ratio("W1", KfakeMem, "m")
	if got != 2 || n != 3 {
		t.Errorf("ratio = %v over %d pairs, want 2 over 3", got, n)
	}
	if m := r.med("W1", Plexus, "m"); m != 400 {
		t.Errorf("median = %v, want 400", m)
	}
}

func TestParsePerf(t *testing.T) {
	out := `# Overhead  Symbol                                IPC   [IPC Coverage]
# ........  ....................................  ....................
#
    23.32%  [k] finish_task_switch.isra.0              -      -
     7.41%  [.] hash/crc32.castagnoliSSE42Triple.abi0  -      -
     0.50%  [.] github.com/plexus/plexus/internal/log.(*Log).Append
`
	es := parsePerf(out)
	if len(es) != 3 {
		t.Fatalf("got %d entries: %+v", len(es), es)
	}
	if es[0].Percent != 23.32 || !es[0].Kernel || es[0].Symbol != "finish_task_switch.isra.0" {
		t.Errorf("first: %+v", es[0])
	}
	if es[1].Kernel || es[1].Symbol != "hash/crc32.castagnoliSSE42Triple.abi0" {
		t.Errorf("second: %+v", es[1])
	}
	if es[2].Symbol != "github.com/plexus/plexus/internal/log.(*Log).Append" {
		t.Errorf("third: %+v", es[2])
	}
	children := parsePerf("    84.66%     0.00%  [.] runtime.goexit.abi0   -   -\n")
	if len(children) != 1 || children[0].Percent != 84.66 || children[0].Self != 0 {
		t.Errorf("children: %+v", children)
	}
}

package broker

import (
	"math"
	"testing"
	"time"

	"github.com/plexus/plexus/internal/config"
	plog "github.com/plexus/plexus/internal/log"
)

func TestNeedsCleaning(t *testing.T) {
	now := time.UnixMilli(10_000_000)
	ms := now.UnixMilli()
	tc := config.Topic{MinCleanableDirtyRatio: 0.5, MaxCompactionLagMs: math.MaxInt64}
	lagged := tc
	lagged.MaxCompactionLagMs = 60_000
	dirty := func(ratio float64, bytes, earliest int64) plog.Dirtiness {
		return plog.Dirtiness{Ratio: ratio, DirtyBytes: bytes, EarliestDirtyTimestamp: earliest, CleanableSegments: 2}
	}
	for _, c := range []struct {
		name          string
		d             plog.Dirtiness
		tc            config.Topic
		horizon, last int64
		clean, urgent bool
	}{
		{"clean log", dirty(0, 0, -1), tc, -1, 0, false, false},
		{"below the ratio", dirty(0.4, 100, ms-1000), tc, -1, 0, false, false},
		{"at the ratio", dirty(0.5, 100, ms-1000), tc, -1, 0, false, false},
		{"above the ratio", dirty(0.6, 100, ms-1000), tc, -1, 0, true, false},
		{"lag not passed", dirty(0.1, 100, ms-60_000), lagged, -1, 0, false, false},
		{"lag passed", dirty(0.1, 100, ms-60_001), lagged, -1, 0, true, true},
		{"lag passed, nothing dirty", dirty(0, 0, ms-600_000), lagged, -1, 0, false, false},
		{"horizon ahead", dirty(0, 0, -1), tc, ms + 1, ms - 10, false, false},
		{"horizon passed", dirty(0, 0, -1), tc, ms, ms - 10, true, true},
		{"horizon zero retention", dirty(0, 0, -1), tc, ms - 10, ms - 10, true, true},
		{"horizon already past at the last pass", dirty(0, 0, -1), tc, ms - 20, ms - 10, false, false},
	} {
		clean, urgent := needsCleaning(c.d, c.tc, c.horizon, c.last, now)
		if clean != c.clean || urgent != c.urgent {
			t.Errorf("%s: clean %v urgent %v, want %v %v", c.name, clean, urgent, c.clean, c.urgent)
		}
	}
}

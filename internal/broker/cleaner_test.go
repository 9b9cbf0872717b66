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

// A compacted log rolls its active segment by max.compaction.lag.ms when
// that is sooner than segment.ms (Kafka's maxSegmentMs), since only closed
// segments are compacted; other logs keep segment.ms.
func TestLogConfigRollsCompactedByLag(t *testing.T) {
	const hour = 3_600_000
	for _, c := range []struct {
		name    string
		compact bool
		lag     int64
		want    int64
	}{
		{"compacted, lag sooner", true, 60_000, 60_000},
		{"compacted, segment.ms sooner", true, 2 * hour, hour},
		{"compacted, no lag", true, math.MaxInt64, hour},
		{"delete policy ignores the lag", false, 60_000, hour},
	} {
		tc := config.Topic{SegmentMs: hour, MaxCompactionLagMs: c.lag}
		tc.CleanupPolicy.Compact = c.compact
		if got := logConfig(tc).SegmentMs; got != c.want {
			t.Errorf("%s: log segment.ms %d, want %d", c.name, got, c.want)
		}
	}
}

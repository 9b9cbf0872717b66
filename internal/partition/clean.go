package partition

import (
	"time"

	plog "github.com/plexus/plexus/internal/log"
)

// Compaction entry points for the broker's log cleaner. The log does the
// work (internal/log, doc.go, Compaction); the partition supplies the
// bound: nothing at or beyond the last stable offset, which is at most the
// high watermark, is cleaned, so a consumer never sees compaction act on
// records it could not yet read, and no record of a transaction that may
// still abort supersedes an older one.

// cleanBound is the offset cleaning stops before.
func (p *Partition) cleanBound() int64 {
	return min(p.LastStableOffset(), p.HighWatermark())
}

// Clean runs one compaction pass over the partition's closed segments.
// o.UpTo, when positive, lowers the bound further. The pass reads and
// writes segments without the append lock; appends, fetches and flushes go
// on meanwhile.
func (p *Partition) Clean(o plog.CleanOptions) (plog.CleanResult, error) {
	bound := p.cleanBound()
	if o.UpTo <= 0 || o.UpTo > bound {
		o.UpTo = bound
	}
	res, err := p.log.Clean(o)
	if err == nil && res.Cleaned {
		p.pruneCleanedAborts(res.RewroteTo, res.AbortMarkers)
	}
	return res, err
}

// Dirtiness measures how much of the partition awaits compaction, for the
// cleaner to pick the dirtiest partition (min.cleanable.dirty.ratio,
// min.compaction.lag.ms and max.compaction.lag.ms are the caller's to
// apply; minLagMs only moves the cleanable end).
func (p *Partition) Dirtiness(minLagMs int64, now time.Time) (plog.Dirtiness, error) {
	return p.log.Dirtiness(p.cleanBound(), minLagMs, now)
}

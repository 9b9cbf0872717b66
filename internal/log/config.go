package log

import "math"

// Config holds the topic settings the log obeys, with Kafka's names and
// meanings. SetConfig changes them at run time.
type Config struct {
	// SegmentBytes (segment.bytes): an append rolls to a new segment when it
	// would take the active one past this size. A single append larger than
	// it still goes, alone, into a fresh segment.
	SegmentBytes int64
	// SegmentMs (segment.ms): an append rolls when the active segment spans
	// more than this much time (0 or negative: never). As in Kafka the span
	// is measured with record timestamps (the incoming batch's max timestamp
	// minus the segment's first), falling back to the clock when batches
	// carry no timestamp, so replicas roll at the same offsets.
	SegmentMs int64
	// SegmentJitterMs (segment.jitter.ms): each log rolls by time this
	// much earlier at most, by an amount fixed per log (random, below
	// SegmentMs too), so that partitions created together do not all roll
	// at once.
	SegmentJitterMs int64
	// IndexIntervalBytes (index.interval.bytes): bytes of batches between
	// two sparse index entries.
	IndexIntervalBytes int
	// SegmentIndexBytes (segment.index.bytes): the largest offset index of a
	// segment; the segment rolls when it is full.
	SegmentIndexBytes int
	// RetentionMs (retention.ms): segments whose newest timestamp is older
	// than this are deleted; negative means unlimited.
	RetentionMs int64
	// RetentionBytes (retention.bytes): the oldest segments are deleted while
	// the log stays at least this large without them; negative: unlimited.
	RetentionBytes int64
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:       1 << 30,
		SegmentMs:          7 * 24 * 3600 * 1000,
		IndexIntervalBytes: 4096,
		SegmentIndexBytes:  10 << 20,
		RetentionMs:        7 * 24 * 3600 * 1000,
		RetentionBytes:     -1,
	}
}

// maxSegmentBytes bounds a segment so that file positions fit the index's
// uint32, with room for one maximal append beyond it.
const maxSegmentBytes = math.MaxInt32

// normalize replaces values the log cannot work with: a zero SegmentBytes
// or SegmentIndexBytes takes Kafka's default (so a zero Config is usable),
// and the rest are clamped to what the on-disk format can hold.
func (c Config) normalize() Config {
	d := DefaultConfig()
	if c.SegmentBytes <= 0 {
		c.SegmentBytes = d.SegmentBytes
	}
	c.SegmentBytes = min(c.SegmentBytes, maxSegmentBytes)
	if c.SegmentIndexBytes <= 0 {
		c.SegmentIndexBytes = d.SegmentIndexBytes
	}
	// Room for at least one entry in each index.
	c.SegmentIndexBytes = max(c.SegmentIndexBytes, timeEntrySize)
	if c.IndexIntervalBytes < 0 {
		c.IndexIntervalBytes = 0
	}
	return c
}

func (c *Config) maxIndexEntries() int { return c.SegmentIndexBytes / offsetEntrySize }
func (c *Config) maxTimeEntries() int  { return c.SegmentIndexBytes / timeEntrySize }

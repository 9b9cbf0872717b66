package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// CleanerPartition is the log cleaner's view of one hosted partition of a
// compacted topic.
type CleanerPartition struct {
	Topic     string
	Partition int32
	// DirtyRatio is the share of the cleanable bytes never compacted, as
	// compared with min.cleanable.dirty.ratio; DirtyBytes its numerator.
	DirtyRatio float64
	DirtyBytes int64
	// Cleanings counts compaction passes since the broker started,
	// BytesCleaned the segment bytes they read and BytesReclaimed the
	// bytes they freed.
	Cleanings      int64
	BytesCleaned   int64
	BytesReclaimed int64
	// SinceLastClean is the time since the last pass ended, negative when
	// none ended since the broker started.
	SinceLastClean time.Duration
	// Uncleanable is set once a pass failed (until restart or a
	// successful pass).
	Uncleanable bool
}

// CleanerSummary is the log cleaner as a whole.
type CleanerSummary struct {
	Threads int
	// MaxDirtyRatio is the dirty ratio of the dirtiest compacted partition
	// at the last scheduling round.
	MaxDirtyRatio float64
	// SinceLastRun is the time since the last scheduling round, negative
	// when there was none.
	SinceLastRun time.Duration
	// Uncleanable counts the partitions a pass failed on.
	Uncleanable int
}

// Cleaner is the log cleaner as the metrics read it at each scrape (the
// broker's CleanerStats and CleanerSummary). Both calls read memory and
// segment sizes only; the slice is the caller's.
type Cleaner interface {
	CleanerPartitions() []CleanerPartition
	CleanerSummary() CleanerSummary
}

// WatchCleaner adds the log cleaner's state to the broker collector:
// per-partition dirty ratio, compaction counters and time since the last
// compaction, and the cleaner's summary.
func (c *BrokerCollector) WatchCleaner(cl Cleaner) { c.cleaner.Store(&cl) }

// The log cleaner's series. Their names are read by `plexus topic
// describe` (internal/cli/topic), which prints them for compacted topics.
const (
	CleanerDirtyRatio     = Namespace + "_log_cleaner_dirty_ratio"
	CleanerDirtyBytes     = Namespace + "_log_cleaner_dirty_bytes"
	CleanerCleanings      = Namespace + "_log_cleaner_cleanings_total"
	CleanerCleanedBytes   = Namespace + "_log_cleaner_cleaned_bytes_total"
	CleanerReclaimedBytes = Namespace + "_log_cleaner_reclaimed_bytes_total"
	CleanerSinceLastClean = Namespace + "_log_cleaner_seconds_since_last_clean"
	CleanerUncleanable    = Namespace + "_log_cleaner_uncleanable"
	// BrokerInfo carries the broker's cluster and node ids as labels, so
	// a reader of /metrics can tell which broker it scraped.
	BrokerInfo = Namespace + "_broker_info"
)

var (
	descCleanerDirtyRatio = prometheus.NewDesc(CleanerDirtyRatio,
		"Share of a compacted partition's cleanable bytes not yet compacted (compared with min.cleanable.dirty.ratio).", []string{"topic", "partition"}, nil)
	descCleanerDirtyBytes = prometheus.NewDesc(CleanerDirtyBytes,
		"Bytes of a compacted partition's cleanable segments not yet compacted.", []string{"topic", "partition"}, nil)
	descCleanerCleanings = prometheus.NewDesc(CleanerCleanings,
		"Compaction passes of a partition since the broker started.", []string{"topic", "partition"}, nil)
	descCleanerCleanedBytes = prometheus.NewDesc(CleanerCleanedBytes,
		"Segment bytes compaction passes read from a partition since the broker started: the bytes cleaned.", []string{"topic", "partition"}, nil)
	descCleanerReclaimed = prometheus.NewDesc(CleanerReclaimedBytes,
		"Bytes compaction freed on a partition since the broker started.", []string{"topic", "partition"}, nil)
	descCleanerSinceLast = prometheus.NewDesc(CleanerSinceLastClean,
		"Seconds since the last compaction pass of a partition ended (absent until one ends after the broker starts).", []string{"topic", "partition"}, nil)
	descCleanerUncleanable = prometheus.NewDesc(CleanerUncleanable,
		"1 when a compaction pass of the partition failed and the cleaner skips it until restart, else 0.", []string{"topic", "partition"}, nil)

	descCleanerThreads          = desc("log_cleaner_threads", "Log cleaner threads running (log.cleaner.threads; 0 when log.cleaner.enable is false).")
	descCleanerMaxDirty         = desc("log_cleaner_max_dirty_ratio", "Dirty ratio of the dirtiest compacted partition at the cleaner's last scheduling round.")
	descCleanerSinceRun         = desc("log_cleaner_seconds_since_last_run", "Seconds since the cleaner's last scheduling round (absent before the first).")
	descCleanerUncleanableParts = desc("log_cleaner_uncleanable_partitions", "Compacted partitions the cleaner skips because a pass on them failed.")

	descBrokerInfo = prometheus.NewDesc(BrokerInfo, "Always 1; the labels identify the broker that serves these metrics.", []string{"cluster_id", "node_id"}, nil)
)

var cleanerDescs = []*prometheus.Desc{
	descCleanerDirtyRatio, descCleanerDirtyBytes, descCleanerCleanings, descCleanerCleanedBytes, descCleanerReclaimed,
	descCleanerSinceLast, descCleanerUncleanable, descCleanerThreads, descCleanerMaxDirty, descCleanerSinceRun, descCleanerUncleanableParts,
}

// collectCleaner reports the cleaner's series, if one is watched.
func (c *BrokerCollector) collectCleaner(ch chan<- prometheus.Metric) {
	cl := c.cleaner.Load()
	if cl == nil {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	for _, p := range (*cl).CleanerPartitions() {
		idx := strconv.Itoa(int(p.Partition))
		gauge(descCleanerDirtyRatio, p.DirtyRatio, p.Topic, idx)
		gauge(descCleanerDirtyBytes, float64(p.DirtyBytes), p.Topic, idx)
		counter(descCleanerCleanings, float64(p.Cleanings), p.Topic, idx)
		counter(descCleanerCleanedBytes, float64(p.BytesCleaned), p.Topic, idx)
		counter(descCleanerReclaimed, float64(p.BytesReclaimed), p.Topic, idx)
		if p.SinceLastClean >= 0 {
			gauge(descCleanerSinceLast, p.SinceLastClean.Seconds(), p.Topic, idx)
		}
		gauge(descCleanerUncleanable, boolValue(p.Uncleanable), p.Topic, idx)
	}
	s := (*cl).CleanerSummary()
	gauge(descCleanerThreads, float64(s.Threads))
	gauge(descCleanerMaxDirty, s.MaxDirtyRatio)
	if s.SinceLastRun >= 0 {
		gauge(descCleanerSinceRun, s.SinceLastRun.Seconds())
	}
	gauge(descCleanerUncleanableParts, float64(s.Uncleanable))
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

package broker

// The log cleaner: background compaction of partitions whose cleanup.policy
// includes compact (Kafka's LogCleaner and LogCleanerManager).
//
// log.cleaner.threads goroutines each loop: pick the dirtiest compacted
// partition that is not being cleaned, clean it, and when none needs it
// sleep log.cleaner.backoff.ms (or until the broker stops). A partition
// needs cleaning when its dirty ratio, dirty bytes / (clean + dirty bytes)
// of its cleanable segments (internal/log, Dirtiness), exceeds
// min.cleanable.dirty.ratio; when its oldest uncleaned closed segment began
// more than max.compaction.lag.ms ago; or when the delete horizon of a
// tombstone or marker the last pass kept has passed (Kafka waits for new
// dirt to remove those; Plexus does not). The dirtiest goes first, those
// overdue by max.compaction.lag.ms before the rest.
//
// All passes share one Throttler, so their read plus write I/O stays under
// log.cleaner.io.max.bytes.per.second; each gets an equal share of
// log.cleaner.dedupe.buffer.size for its key map. A pass holds no
// partition or log lock while it reads or writes segments; appends and
// fetches go on. A pass that fails (other than being aborted) marks the
// partition uncleanable until the broker restarts or CleanNow is called
// for it, as Kafka does, and logs why.
//
// Close stops the cleaner before it closes the partitions: the goroutines
// are part of the broker's wait group and a pass in progress is cancelled.
//
// Retention (cleanup.policy delete) stays with retentionLoop in broker.go;
// a compact,delete topic gets both.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/plexus/plexus/internal/cluster"
	"github.com/plexus/plexus/internal/config"
	plog "github.com/plexus/plexus/internal/log"
	"github.com/plexus/plexus/internal/partition"
)

// CleanerPartitionStats is the log cleaner's view of one partition of a
// compacted topic, for metrics and `plexus topic describe`.
type CleanerPartitionStats struct {
	Topic     string
	Partition int32
	// DirtyRatio is the share of the cleanable bytes never cleaned, as
	// compared with min.cleanable.dirty.ratio; DirtyBytes and CleanBytes
	// are its parts, LogBytes the partition's size on disk.
	DirtyRatio             float64
	DirtyBytes, CleanBytes int64
	LogBytes               int64
	// FirstDirtyOffset is the cleaner checkpoint: offsets below it are
	// compacted.
	FirstDirtyOffset int64
	// Cleanings counts passes since the broker started; BytesRead and
	// BytesWritten their segment I/O ("bytes cleaned" is BytesRead);
	// BytesReclaimed what they freed.
	Cleanings                int64
	BytesRead, BytesWritten  int64
	BytesReclaimed           int64
	RecordsRead, RecordsKept int64
	// LastCleaned is when the last pass ended (zero: none since start),
	// TimeSinceLastClean the time since (-1 when none).
	LastCleaned        time.Time
	TimeSinceLastClean time.Duration
	LastDuration       time.Duration
	// Uncleanable is set after a pass failed; LastError says why.
	Uncleanable bool
	LastError   string
	Cleaning    bool // a pass is running now
}

// CleanerSummary is the cleaner as a whole.
type CleanerSummary struct {
	Threads int
	// MaxDirtyRatio is the dirty ratio of the dirtiest compacted partition
	// at the last scheduling round (Kafka's max-dirty-percent / 100).
	MaxDirtyRatio float64
	// TimeSinceLastRun is the time since the last scheduling round (-1
	// when none since start, or the cleaner is stopped).
	TimeSinceLastRun time.Duration
	// Uncleanable counts partitions a pass failed on.
	Uncleanable int
}

type cleanerKey struct {
	id  cluster.TopicID
	idx int32
}

type cleanerStat struct {
	cleanings, bytesRead, bytesWritten, reclaimed, recordsRead, recordsKept int64
	lastCleaned                                                             time.Time
	lastDuration                                                            time.Duration
	uncleanable                                                             bool
	lastErr                                                                 string
	deleteHorizon                                                           int64 // earliest horizon the last pass left, -1 none
	idleAt                                                                  int64 // log end offset at a pass that found nothing to clean, -1 none
	lastPass                                                                int64 // the time (Unix ms) the last pass ran at
}

// logCleaner is one broker's cleaner.
type logCleaner struct {
	b        *Broker
	threads  int
	throttle *plog.Throttler
	ctx      context.Context
	cancel   context.CancelFunc

	mu       sync.Mutex
	cond     *sync.Cond // signalled when a partition stops being busy
	busy     map[cleanerKey]bool
	stats    map[cleanerKey]*cleanerStat
	lastRun  time.Time
	maxDirty float64
}

// startCleaner starts the cleaner's goroutines (none with
// log.cleaner.enable=false or log.cleaner.threads=0; CleanNow still
// works). New calls it once the partitions are open.
func (b *Broker) startCleaner() {
	ctx, cancel := context.WithCancel(context.Background())
	c := &logCleaner{
		b: b, ctx: ctx, cancel: cancel,
		busy:  map[cleanerKey]bool{},
		stats: map[cleanerKey]*cleanerStat{},
		throttle: &plog.Throttler{
			Rate: func() float64 { return b.cfg.Double(config.LogCleanerIoMaxBytesPerSecond) },
		},
	}
	c.cond = sync.NewCond(&c.mu)
	b.cleaner.Store(c)
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		<-b.stop
		cancel()
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
		b.cleaner.Store(nil)
	}()
	if !b.cfg.Bool(config.LogCleanerEnable) {
		return
	}
	c.threads = b.cfg.Int(config.LogCleanerThreads)
	for i := 0; i < c.threads; i++ {
		b.wg.Add(1)
		go c.loop()
	}
}

func (c *logCleaner) loop() {
	defer c.b.wg.Done()
	for {
		cleaned := c.cleanFilthiest()
		if c.ctx.Err() != nil {
			return
		}
		if cleaned {
			continue
		}
		backoff := time.Duration(c.b.cfg.Long(config.LogCleanerBackoffMs)) * time.Millisecond
		t := time.NewTimer(max(backoff, time.Millisecond))
		select {
		case <-c.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// candidate is a partition the scheduler looked at.
type candidate struct {
	key   cleanerKey
	topic *cluster.Topic
	p     *partition.Partition
	tc    config.Topic
	dirt  plog.Dirtiness
	now   bool // overdue (max.compaction.lag.ms) or a delete horizon passed
}

// compacted lists the hosted partitions of compacted topics (of one topic
// when name is not empty).
func (c *logCleaner) compacted(name string) []candidate {
	var out []candidate
	img := c.b.store.Image()
	for id, t := range img.ByID {
		if name != "" && t.Name != name {
			continue
		}
		tc := c.b.cfg.Topic(t.Configs)
		if !tc.CleanupPolicy.Compact {
			continue
		}
		for _, p := range c.b.Partitions(id) {
			if p != nil {
				out = append(out, candidate{key: cleanerKey{id, p.Index}, topic: t, p: p, tc: tc})
			}
		}
	}
	return out
}

// needsCleaning is the scheduler's rule for one partition: whether it
// should be cleaned now, and whether it is urgent (a deadline passed:
// max.compaction.lag.ms, or the delete horizon the last pass, run at
// lastPass, left; one already past at that pass does not count, or a
// tombstone the pass could not reach would make it spin).
func needsCleaning(d plog.Dirtiness, tc config.Topic, horizon, lastPass int64, now time.Time) (clean, urgent bool) {
	ms := now.UnixMilli()
	lag := tc.MaxCompactionLagMs
	overdue := d.DirtyBytes > 0 && d.EarliestDirtyTimestamp > 0 && lag < math.MaxInt64 && d.EarliestDirtyTimestamp < ms-lag
	expired := horizon >= 0 && horizon <= ms && horizon >= lastPass && d.CleanableSegments > 0
	urgent = overdue || expired
	return urgent || d.DirtyBytes > 0 && d.Ratio > tc.MinCleanableDirtyRatio, urgent
}

// cleanFilthiest cleans the partition that needs it most, if any, and
// reports whether a pass cleaned something.
func (c *logCleaner) cleanFilthiest() bool {
	now := c.b.now()
	var best *candidate
	maxDirty := 0.0
	for _, cd := range c.compacted("") {
		c.mu.Lock()
		st := c.stats[cd.key]
		skip := c.busy[cd.key] || st != nil && st.uncleanable
		idle := st != nil && st.idleAt >= 0 && st.idleAt == cd.p.LogEndOffset()
		horizon, last := int64(-1), int64(0)
		if st != nil {
			horizon, last = st.deleteHorizon, st.lastPass
		}
		c.mu.Unlock()
		if skip {
			continue
		}
		d, err := cd.p.Dirtiness(cd.tc.MinCompactionLagMs, now)
		if err != nil {
			continue // closed or unreadable: a pass would say more
		}
		cd.dirt = d
		maxDirty = max(maxDirty, d.Ratio)
		clean, urgent := needsCleaning(d, cd.tc, horizon, last, now)
		// A partition whose last pass could not clean its dirt (an open
		// transaction holds it back) waits for the log to move.
		if !clean || idle && !urgent {
			continue
		}
		cd.now = urgent
		if best == nil || cd.now && !best.now || cd.now == best.now && d.Ratio > best.dirt.Ratio {
			best = &cd
		}
	}
	c.mu.Lock()
	c.lastRun, c.maxDirty = now, maxDirty
	if best == nil || c.busy[best.key] {
		c.mu.Unlock()
		return false
	}
	c.busy[best.key] = true
	c.mu.Unlock()
	cleaned, _ := c.clean(best)
	return cleaned
}

// clean runs one pass on a partition the caller marked busy, and clears
// the mark. It reports whether the pass cleaned something.
func (c *logCleaner) clean(cd *candidate) (bool, error) {
	defer func() {
		c.mu.Lock()
		delete(c.busy, cd.key)
		c.cond.Broadcast()
		c.mu.Unlock()
	}()
	threads := max(c.threads, 1)
	start := time.Now()
	passNow := c.b.now()
	res, err := cd.p.Clean(plog.CleanOptions{
		Now:                  passNow,
		DeleteRetentionMs:    cd.tc.DeleteRetentionMs,
		MinCompactionLagMs:   cd.tc.MinCompactionLagMs,
		MaxMapEntries:        int(min(c.b.cfg.Long(config.LogCleanerDedupeBufferSize)/int64(threads)/40, math.MaxInt32)),
		MaxBatchBytes:        int(max(cd.tc.MaxMessageBytes*16, 16<<20)),
		ProducerExpirationMs: int64(c.b.cfg.Int(config.ProducerIDExpirationMs)),
		Throttle:             c.throttle.Wait,
		Context:              c.ctx,
	})
	took := time.Since(start)
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.stats[cd.key]
	if st == nil {
		st = &cleanerStat{deleteHorizon: -1, idleAt: -1}
		c.stats[cd.key] = st
	}
	st.bytesRead += res.BytesRead
	st.bytesWritten += res.BytesWritten
	st.idleAt = -1
	switch {
	case err != nil && (errors.Is(err, plog.ErrCleanAborted) || errors.Is(err, plog.ErrClosed)):
		return false, err
	case err != nil:
		st.uncleanable, st.lastErr = true, err.Error()
		c.b.logger.Error("log cleaner: partition is uncleanable until restart", "topic", cd.topic.Name, "partition", cd.p.Index, "err", err)
		return false, err
	case !res.Cleaned:
		// Dirty by its measure, yet nothing the pass could clean (an open
		// transaction holds it back): not again until the log moves.
		st.idleAt = cd.p.LogEndOffset()
		return false, nil
	}
	st.uncleanable, st.lastErr = false, ""
	if res.CleanedTo <= res.FirstDirty {
		st.idleAt = cd.p.LogEndOffset() // the dirty section did not move
	}
	st.cleanings++
	st.reclaimed += res.SizeBefore - res.SizeAfter
	st.recordsRead += res.RecordsRead
	st.recordsKept += res.RecordsKept
	st.lastCleaned, st.lastDuration = c.b.now(), took
	st.deleteHorizon, st.lastPass = res.DeleteHorizon, passNow.UnixMilli()
	c.b.logger.Info("log cleaner: cleaned partition", "topic", cd.topic.Name, "partition", cd.p.Index,
		"dirty_ratio", fmt.Sprintf("%.2f", cd.dirt.Ratio), "cleaned_to", res.CleanedTo,
		"bytes", fmt.Sprintf("%d->%d", res.SizeBefore, res.SizeAfter), "took", took.Round(time.Millisecond))
	return true, nil
}

// CleanNow runs a cleaning pass at once on every partition of topic (of
// every compacted topic when topic is ""), whatever its dirty ratio, and
// waits for them: for tests and operators. A partition being cleaned is
// waited for first; an uncleanable one is tried again. It returns the
// passes' errors, and an error when the topic is not compacted.
func (b *Broker) CleanNow(ctx context.Context, topic string) error {
	c := b.cleaner.Load()
	if c == nil {
		return errors.New("broker: log cleaner stopped")
	}
	cds := c.compacted(topic)
	if topic != "" && len(cds) == 0 {
		return fmt.Errorf("broker: topic %q is not a hosted compacted topic", topic)
	}
	slices.SortFunc(cds, func(a, b candidate) int { return int(a.p.Index - b.p.Index) })
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer stop()
	var errs []error
	for i := range cds {
		cd := &cds[i]
		c.mu.Lock()
		for c.busy[cd.key] && c.ctx.Err() == nil && ctx.Err() == nil {
			c.cond.Wait()
		}
		if err := errors.Join(c.ctx.Err(), ctx.Err()); err != nil {
			c.mu.Unlock()
			return err
		}
		c.busy[cd.key] = true
		c.mu.Unlock()
		if d, err := cd.p.Dirtiness(cd.tc.MinCompactionLagMs, c.b.now()); err == nil {
			cd.dirt = d
		}
		if _, err := c.clean(cd); err != nil {
			errs = append(errs, fmt.Errorf("%s-%d: %w", cd.topic.Name, cd.p.Index, err))
		}
	}
	return errors.Join(errs...)
}

// CleanerStats describes every hosted partition of a compacted topic,
// sorted by topic and partition. The dirty ratio is measured now; the
// rest counts since the broker started.
func (b *Broker) CleanerStats() []CleanerPartitionStats {
	c := b.cleaner.Load()
	if c == nil {
		return nil
	}
	now := b.now()
	var out []CleanerPartitionStats
	for _, cd := range c.compacted("") {
		s := CleanerPartitionStats{Topic: cd.topic.Name, Partition: cd.p.Index, LogBytes: cd.p.Size(), TimeSinceLastClean: -1}
		if d, err := cd.p.Dirtiness(cd.tc.MinCompactionLagMs, now); err == nil {
			s.DirtyRatio, s.DirtyBytes, s.CleanBytes, s.FirstDirtyOffset = d.Ratio, d.DirtyBytes, d.CleanBytes, d.FirstDirty
		}
		c.mu.Lock()
		if st := c.stats[cd.key]; st != nil {
			s.Cleanings, s.BytesRead, s.BytesWritten, s.BytesReclaimed = st.cleanings, st.bytesRead, st.bytesWritten, st.reclaimed
			s.RecordsRead, s.RecordsKept = st.recordsRead, st.recordsKept
			s.LastCleaned, s.LastDuration = st.lastCleaned, st.lastDuration
			s.Uncleanable, s.LastError = st.uncleanable, st.lastErr
			if !st.lastCleaned.IsZero() {
				s.TimeSinceLastClean = now.Sub(st.lastCleaned)
			}
		}
		s.Cleaning = c.busy[cd.key]
		c.mu.Unlock()
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b CleanerPartitionStats) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition - b.Partition)
	})
	return out
}

// CleanerSummary describes the cleaner as a whole.
func (b *Broker) CleanerSummary() CleanerSummary {
	c := b.cleaner.Load()
	if c == nil {
		return CleanerSummary{TimeSinceLastRun: -1}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := CleanerSummary{Threads: c.threads, MaxDirtyRatio: c.maxDirty, TimeSinceLastRun: -1}
	if !c.lastRun.IsZero() {
		s.TimeSinceLastRun = b.now().Sub(c.lastRun)
	}
	for _, st := range c.stats {
		if st.uncleanable {
			s.Uncleanable++
		}
	}
	return s
}

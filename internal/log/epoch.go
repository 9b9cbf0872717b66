package log

// epochEntry says that the first batch written with leader epoch epoch has
// base offset start.
type epochEntry struct {
	epoch int32
	start int64
}

// epochCache is the leader-epoch cache: entries with strictly increasing
// epochs and non-decreasing start offsets, one per epoch that wrote to the
// log. Guarded by Log.mu.
type epochCache struct {
	es []epochEntry
}

func (c *epochCache) latest() int32 {
	if len(c.es) == 0 {
		return -1
	}
	return c.es[len(c.es)-1].epoch
}

// assign records that a batch with epoch begins at start. As in Kafka's
// append path, only an epoch above the latest is recorded; entries that
// would break monotonicity (start offsets at or after start) are dropped
// first, which only happens after the log was truncated under them.
func (c *epochCache) assign(epoch int32, start int64) bool {
	if epoch < 0 || epoch <= c.latest() {
		return false
	}
	for len(c.es) > 0 && c.es[len(c.es)-1].start >= start {
		c.es = c.es[:len(c.es)-1]
	}
	c.es = append(c.es, epochEntry{epoch: epoch, start: start})
	return true
}

// truncateFromEnd drops the epochs that start at or after end.
func (c *epochCache) truncateFromEnd(end int64) {
	for len(c.es) > 0 && c.es[len(c.es)-1].start >= end {
		c.es = c.es[:len(c.es)-1]
	}
}

// truncateFromStart forgets epochs wholly below the new log start offset;
// the epoch in effect at start is kept, moved to start (Kafka does the same,
// so the first entry always names the log's first offset).
func (c *epochCache) truncateFromStart(start int64) {
	i := 0
	for i < len(c.es) && c.es[i].start <= start {
		i++
	}
	if i == 0 {
		return
	}
	keep := c.es[i-1]
	keep.start = start
	c.es = append(c.es[:0], c.es[i-1:]...)
	c.es[0] = keep
}

// endOffsetFor answers OffsetForLeaderEpoch as Kafka's
// LeaderEpochFileCache.endOffsetFor does.
func (c *epochCache) endOffsetFor(epoch int32, logEnd int64) (int32, int64) {
	const undefined = -1
	if epoch == undefined || len(c.es) == 0 {
		return undefined, undefined
	}
	if epoch == c.latest() {
		return epoch, logEnd
	}
	// higher: the first entry with an epoch above the requested one.
	higher := len(c.es)
	for i, e := range c.es {
		if e.epoch > epoch {
			higher = i
			break
		}
	}
	if higher == len(c.es) {
		return undefined, undefined
	}
	if higher == 0 {
		// Below every known epoch: Kafka answers with the requested epoch and
		// the first known start offset, so that a follower truncates to the
		// leader's log start instead of falling back to its high watermark.
		return epoch, c.es[0].start
	}
	return c.es[higher-1].epoch, c.es[higher].start
}

package partition

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	plog "github.com/plexus/plexus/internal/log"
	"github.com/plexus/plexus/internal/records"
)

// Errors of the produce path's validation. The broker maps them to Kafka's
// codes; each wraps a message that names the problem.
var (
	ErrCorrupt          = errors.New("partition: corrupt batch")             // CORRUPT_MESSAGE
	ErrInvalidRecord    = errors.New("partition: invalid record")            // INVALID_RECORD
	ErrTooLarge         = errors.New("partition: batch too large")           // MESSAGE_TOO_LARGE
	ErrInvalidTimestamp = errors.New("partition: invalid timestamp")         // INVALID_TIMESTAMP
	ErrClosed           = errors.New("partition: closed")                    // NOT_LEADER_OR_FOLLOWER
	ErrNotDurable       = errors.New("partition: flush failed")              // KAFKA_STORAGE_ERROR
	ErrTimeout          = errors.New("partition: acknowledgement timed out") // REQUEST_TIMED_OUT
)

var scratchPool sync.Pool

// Config is what a partition reads from its topic's configuration.
type Config struct {
	Log                  plog.Config
	MaxMessageBytes      int
	LogAppendTime        bool  // message.timestamp.type=LogAppendTime
	TimestampBeforeMaxMs int64 // message.timestamp.before.max.ms
	TimestampAfterMaxMs  int64 // message.timestamp.after.max.ms
	Compact              bool  // cleanup.policy includes compact: keys are required
	WriteCaching         bool  // acknowledge and expose data before it is synced
	MinInsyncReplicas    int   // min.insync.replicas: acks=all fails when fewer replicas are in sync
	// Recompress is set when compression.type names a codec rather than
	// "producer": batches in another codec are recompressed with Codec at
	// Level (compression.<codec>.level; see records.CompressLevel).
	Recompress bool
	Codec      records.Codec
	Level      int
}

// Options open a partition.
type Options struct {
	Topic       string
	Index       int32
	TopicID     [16]byte
	LeaderEpoch int32
	FS          plog.FS
	Dir         string
	Config      Config
	Flusher     *Flusher
	// Foreign names more files the partition's owner keeps in Dir.
	Foreign []string
	// DeferSyncs opens the partition with its syncs deferred: the caller
	// makes what Open wrote durable with one SyncFS for many partitions,
	// then calls EndDeferredSyncs, before the partition takes appends.
	// Ignored where Flusher does not cover Dir (Flusher.Covers).
	DeferSyncs bool
	Logger     *slog.Logger
	Now        func() time.Time
}

// Partition is one hosted replica, always the leader on a single node.
type Partition struct {
	Topic   string
	Index   int32
	TopicID [16]byte

	log      *plog.Log
	fs       plog.FS
	dfs      *plog.DeferredFS
	endDefer func() // ends a phase of deferred syncs, nil outside one
	dir      string
	flusher  *Flusher
	logger   *slog.Logger
	now      func() time.Time
	cfg      atomic.Pointer[Config]
	epoch    atomic.Int32

	// mu is the append lock: validation against producer state, the log
	// append and the state update happen under it, in request order.
	mu        sync.Mutex
	producers producers
	closed    bool
	sinceSnap int64 // bytes appended since the last producer state snapshot
	snapping  bool  // a snapshot is being written
	haveSnap  bool  // a usable snapshot was on disk at open

	hwm atomic.Int64
	// unstable is the first offset of the oldest transaction holding the
	// last stable offset back (unstableNone without one); txns holds the
	// open transactions and the aborted index (txn.go).
	unstable atomic.Int64
	txns     txnIndex
	queued   atomic.Bool // in the flusher's queue
	flushMu  sync.Mutex  // one flush at a time per partition
	// ownFS: the directory is on another file system than the one the
	// flusher syncs as a whole, so the partition syncs its own files and
	// never defers them.
	ownFS bool

	// ackMu guards the acknowledgement queue and the watchers; the
	// flusher takes it to publish a new high watermark.
	ackMu    sync.Mutex
	acks     []*Ack
	gen      uint64 // bumped when the log loses unsynced data
	watchers map[*Watcher]struct{}
}

// Open opens (recovering) the partition's log.
func Open(o Options) (*Partition, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	// Every file access goes through a DeferredFS of the partition's own,
	// so that bulk operations (creating a topic's partitions, shutdown) can
	// skip this partition's syncs and make many partitions durable with one
	// file-system sync.
	dfs := plog.NewDeferredFS(o.FS)
	// On a file system the flusher's sync does not reach, every sync is
	// the partition's own.
	ownFS := o.Flusher != nil && o.Flusher.syncer != nil && !o.Flusher.Covers(o.FS, o.Dir)
	if ownFS {
		o.Logger.Warn("partition directory is not on the data directory's file system; it is synced on its own, without group commit across partitions", "topic", o.Topic, "partition", o.Index, "dir", o.Dir)
	}
	var endDefer func()
	if o.DeferSyncs && !ownFS {
		endDefer = dfs.Defer()
	}
	l, err := plog.Open(plog.Options{
		FS: dfs, Dir: o.Dir, Config: o.Config.Log, Now: o.Now,
		Logger:  o.Logger.With("partition", fmt.Sprintf("%s-%d", o.Topic, o.Index)),
		Foreign: append([]string{snapshotFile}, o.Foreign...),
	})
	if err != nil {
		if endDefer != nil {
			endDefer()
		}
		return nil, err
	}
	p := &Partition{
		Topic: o.Topic, Index: o.Index, TopicID: o.TopicID,
		log: l, fs: dfs, dfs: dfs, endDefer: endDefer, ownFS: ownFS, dir: o.Dir, flusher: o.Flusher, logger: o.Logger, now: o.Now,
		producers: make(producers),
		watchers:  make(map[*Watcher]struct{}),
	}
	cfg := o.Config
	p.cfg.Store(&cfg)
	p.epoch.Store(o.LeaderEpoch)
	p.unstable.Store(unstableNone)
	// Everything recovered is on disk; a clean close synced it and a
	// crash recovery kept only what validated.
	p.hwm.Store(l.EndOffset())
	if err := p.loadProducers(); err != nil {
		l.Close()
		return nil, err
	}
	// Every marker read back is durable.
	p.txnDurable(p.hwm.Load())
	return p, nil
}

// SetConfig applies a changed topic configuration.
func (p *Partition) SetConfig(c Config) {
	p.cfg.Store(&c)
	p.log.SetConfig(c.Log)
}

// Config returns the current configuration.
func (p *Partition) Config() Config { return *p.cfg.Load() }

// LeaderEpoch is the partition's current leader epoch.
func (p *Partition) LeaderEpoch() int32 { return p.epoch.Load() }

// HighWatermark is the end of what consumers may read.
func (p *Partition) HighWatermark() int64 { return p.hwm.Load() }

// LogStartOffset is the first offset still in the log.
func (p *Partition) LogStartOffset() int64 { return p.log.StartOffset() }

// LogEndOffset is the next offset to be assigned.
func (p *Partition) LogEndOffset() int64 { return p.log.EndOffset() }

// Size is the bytes the log holds on disk.
func (p *Partition) Size() int64 { return p.log.Size() }

// Log exposes the log for the broker's admin paths (DescribeLogDirs,
// retention, timestamps).
func (p *Partition) Log() *plog.Log { return p.log }

// AppendResult is what a produce response reports for one partition.
type AppendResult struct {
	BaseOffset     int64
	LogAppendTime  int64 // -1 unless the topic uses LogAppendTime
	LogStartOffset int64
	Duplicate      bool // a retry of a batch already in the log
	// RecordErrors are the indexes of records that failed validation,
	// with the reason (produce v8+ reports them).
	RecordErrors []RecordError
}

// RecordError names one invalid record of a rejected batch.
type RecordError struct {
	Index   int32
	Message string
}

// Append validates one batch and appends it. batch is patched in place
// (offsets, epoch, LogAppendTime). acks is the request's acks: for -1 the
// returned Ack completes when the batch is durable; for 0 and 1 no Ack is
// returned.
func (p *Partition) Append(batch records.Batch, acks int16) (AppendResult, *Ack, error) {
	res := AppendResult{BaseOffset: -1, LogAppendTime: -1, LogStartOffset: -1}
	cfg := p.cfg.Load()
	if len(batch) > cfg.MaxMessageBytes {
		return res, nil, fmt.Errorf("%w: batch of %d bytes exceeds max.message.bytes %d", ErrTooLarge, len(batch), cfg.MaxMessageBytes)
	}
	if err := batch.Check(); err != nil {
		if errors.Is(err, records.ErrUnsupportedMagic) {
			return res, nil, fmt.Errorf("%w: %v", ErrInvalidRecord, err)
		}
		return res, nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if batch.IsControl() {
		return res, nil, fmt.Errorf("%w: clients may not write control batches", ErrInvalidRecord)
	}
	if n := batch.NumRecords(); n == 0 || n != batch.LastOffsetDelta()+1 {
		return res, nil, fmt.Errorf("%w: %d records with last offset delta %d", ErrInvalidRecord, n, batch.LastOffsetDelta())
	}
	now := p.now().UnixMilli()
	if !cfg.LogAppendTime {
		if err := checkTimestamps(batch, now, cfg); err != nil {
			return res, nil, err
		}
	}
	if cfg.Compact || batch.Codec() == records.CodecNone {
		if rerrs, err := p.checkRecords(batch, cfg); err != nil {
			res.RecordErrors = rerrs
			return res, nil, err
		}
	}
	if cfg.Recompress && batch.Codec() != cfg.Codec {
		// The topic names its codec (compression.type): the stored batch
		// must use it, as in Kafka. Only such topics pay for it.
		out, _, err := records.Recompress(nil, nil, batch, cfg.Codec, cfg.Level, max(cfg.MaxMessageBytes*16, 16<<20))
		if err != nil {
			return res, nil, fmt.Errorf("%w: recompressing: %v", ErrCorrupt, err)
		}
		// The limit holds for what is stored, as Kafka checks it again
		// after recompressing: a batch that compressed well on the wire
		// may not fit once stored with the topic's codec.
		if len(out) > cfg.MaxMessageBytes {
			return res, nil, fmt.Errorf("%w: batch of %d bytes recompressed to %s takes %d bytes, over max.message.bytes %d", ErrTooLarge, len(batch), cfg.Codec, len(out), cfg.MaxMessageBytes)
		}
		batch = records.Batch(out)
	}

	pid := batch.ProducerID()
	txnl := batch.IsTransactional()
	if txnl && pid < 0 {
		return res, nil, fmt.Errorf("%w: a transactional batch without a producer id", ErrInvalidRecord)
	}

	p.mu.Lock()
	flush := false
	defer func() {
		p.mu.Unlock()
		// Outside the append lock: without a flusher the flush runs
		// here, and a failed one takes the lock to rebuild state.
		if flush {
			p.scheduleFlush()
		}
	}()
	if p.closed {
		return res, nil, ErrClosed
	}
	if pid >= 0 {
		dup, err := p.producers.check(pid, batch.ProducerEpoch(), batch.BaseSequence(), batch.LastSequence(), txnl)
		if err != nil {
			return res, nil, err
		}
		if dup != nil {
			res.BaseOffset = dup.firstOffset
			res.Duplicate = true
			res.LogStartOffset = p.log.StartOffset()
			if cfg.LogAppendTime {
				res.LogAppendTime = dup.timestamp
			}
			return res, p.ackFor(dup.lastOffset+1, acks, cfg), nil
		}
	}
	batch.SetPartitionLeaderEpoch(p.epoch.Load())
	ts := batch.MaxTimestamp()
	if cfg.LogAppendTime {
		batch.SetLogAppendTime(now)
		ts = now
		res.LogAppendTime = now
	}
	p.ackMu.Lock()
	gen := p.gen
	p.ackMu.Unlock()
	// A transaction opening here is registered before the append, so the
	// last stable offset can never pass its first batch (the flusher may
	// publish the batch as durable as soon as it is in the log).
	opening := int64(-1)
	if txnl {
		if e := p.producers[pid]; e == nil || e.txnFirst < 0 {
			opening = p.log.EndOffset()
			p.txnBegin(pid, opening)
		}
	}
	first, next, err := p.log.Append(batch)
	if err != nil {
		if opening >= 0 {
			p.txnCancel(pid, opening)
		}
		return res, nil, fmt.Errorf("%w: %v", ErrNotDurable, err)
	}
	if opening >= 0 && opening != first {
		// Cannot happen with one appender; keep the index truthful.
		p.txnCancel(pid, opening)
		p.txnBegin(pid, first)
	}
	if pid >= 0 {
		p.producers.record(pid, batch.ProducerEpoch(), txnl, batchMeta{
			firstSeq: batch.BaseSequence(), lastSeq: batch.LastSequence(),
			firstOffset: first, lastOffset: next - 1, timestamp: ts,
		})
		p.maybeSnapshot(len(batch))
	}
	res.BaseOffset = first
	res.LogStartOffset = p.log.StartOffset()
	var ack *Ack
	if acks == -1 && !cfg.WriteCaching {
		ack = p.registerAck(next, gen)
	}
	if cfg.WriteCaching {
		p.advance(next)
	}
	flush = true
	return res, ack, nil
}

// checkTimestamps applies message.timestamp.before/after.max.ms to the
// batch's first and largest timestamps; checking those bounds every
// record's timestamp without decompressing.
func checkTimestamps(b records.Batch, now int64, cfg *Config) error {
	lo, hi := b.BaseTimestamp(), b.MaxTimestamp()
	if hi < lo {
		lo, hi = hi, lo
	}
	// -1 is "no timestamp" (RecordBatch.NO_TIMESTAMP): Kafka skips such
	// records, so it bounds nothing here.
	if lo == -1 {
		lo = hi
	}
	if hi == -1 {
		return nil
	}
	// The distances are taken in uint64, where they cannot overflow: a
	// bound near Long.MAX (Kafka 3.x's default for both) must accept
	// every timestamp, not wrap round and refuse them all.
	if cfg.TimestampBeforeMaxMs >= 0 && lo < now && uint64(now)-uint64(lo) > uint64(cfg.TimestampBeforeMaxMs) {
		return fmt.Errorf("%w: timestamp %d is more than message.timestamp.before.max.ms=%d before the broker's time %d", ErrInvalidTimestamp, lo, cfg.TimestampBeforeMaxMs, now)
	}
	if cfg.TimestampAfterMaxMs >= 0 && hi > now && uint64(hi)-uint64(now) > uint64(cfg.TimestampAfterMaxMs) {
		return fmt.Errorf("%w: timestamp %d is more than message.timestamp.after.max.ms=%d after the broker's time %d", ErrInvalidTimestamp, hi, cfg.TimestampAfterMaxMs, now)
	}
	return nil
}

// checkRecords walks the records: their framing, offset deltas in order,
// and on compacted topics a key on every record. Compressed batches are
// only walked (decompressed) on compacted topics, where Kafka requires it.
func (p *Partition) checkRecords(b records.Batch, cfg *Config) ([]RecordError, error) {
	var scratch []byte
	if b.Codec() != records.CodecNone {
		if sp, ok := scratchPool.Get().(*[]byte); ok {
			scratch = *sp
		}
		defer func() {
			if cap(scratch) <= 8<<20 {
				scratch = scratch[:0]
				scratchPool.Put(&scratch)
			}
		}()
	}
	// A compression bomb stops at this bound instead of exhausting memory.
	it, scratch, err := b.Records(scratch, max(cfg.MaxMessageBytes*16, 16<<20))
	if err != nil {
		if errors.Is(err, records.ErrTooLarge) {
			return nil, fmt.Errorf("%w: records decompress beyond the allowed size", ErrTooLarge)
		}
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	var r records.Record
	var rerrs []RecordError
	for i := int32(0); it.Next(&r); i++ {
		if r.OffsetDelta != i {
			return nil, fmt.Errorf("%w: record %d has offset delta %d", ErrInvalidRecord, i, r.OffsetDelta)
		}
		if cfg.Compact && r.Key == nil {
			rerrs = append(rerrs, RecordError{Index: i, Message: "Compacted topic cannot accept message without key."})
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if rerrs != nil {
		return rerrs, fmt.Errorf("%w: compacted topic cannot accept a record without a key", ErrInvalidRecord)
	}
	return nil, nil
}

// Read appends to dst the stored batches from offset up to maxBytes (the
// first batch whole), not past the high watermark (readCommitted: the last
// stable offset).
func (p *Partition) Read(dst []byte, offset int64, maxBytes int, readCommitted bool) ([]byte, error) {
	limit := p.hwm.Load()
	if readCommitted {
		limit = p.LastStableOffset()
	}
	return p.log.Read(dst, offset, maxBytes, limit)
}

// DeleteRecords advances the log start offset (DeleteRecords). -1 means the
// high watermark. It returns the new log start offset.
func (p *Partition) DeleteRecords(offset int64) (int64, error) {
	hwm := p.hwm.Load()
	if offset == -1 {
		offset = hwm
	}
	if offset < 0 || offset > hwm {
		return -1, plog.ErrOffsetOutOfRange
	}
	if err := p.log.SetStartOffset(offset); err != nil {
		return -1, err
	}
	p.pruneAborted()
	p.notifyWatchers()
	return p.log.StartOffset(), nil
}

// Close flushes and closes the log; waiting acks complete or fail.
func (p *Partition) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.flushNow()
	// The flush made the whole log durable (or cut it back to what is),
	// so the state as of the log end can be recorded.
	// Skipped when nothing changed since the snapshot on disk, so that
	// closing thousands of idle partitions writes nothing.
	p.mu.Lock()
	var snap []byte
	if p.sinceSnap > 0 || (!p.haveSnap && p.log.EndOffset() > p.log.StartOffset()) {
		snap = p.encodeSnapshotLocked()
	}
	p.mu.Unlock()
	if snap != nil {
		if err := p.writeFile(snapshotFile, snap); err != nil {
			p.logger.Warn("writing producer state snapshot failed", "topic", p.Topic, "partition", p.Index, "err", err)
		}
	}
	err := p.log.Close()
	p.failAcks(ErrClosed)
	p.notifyWatchers()
	return err
}

// DeferSyncs starts a phase in which the partition's syncs do nothing, for
// closing many partitions and making them durable with one SyncFS. Only
// for when nothing will be acknowledged on the partition meanwhile.
func (p *Partition) DeferSyncs() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.endDefer == nil && !p.ownFS {
		p.endDefer = p.dfs.Defer()
	}
}

// EndDeferredSyncs ends the phase DeferSyncs or Options.DeferSyncs began;
// the caller has synced the file system since.
func (p *Partition) EndDeferredSyncs() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.endDefer != nil {
		p.endDefer()
		p.endDefer = nil
	}
}

// Delete closes the partition and removes its data.
func (p *Partition) Delete() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.failAcks(ErrClosed)
	p.notifyWatchers()
	return p.log.Delete()
}

// EnforceRetention deletes the segments that retention.ms and
// retention.bytes let go.
func (p *Partition) EnforceRetention() (int, error) {
	// Never past the high watermark: a segment is not retired before
	// consumers could read it.
	n, err := p.log.EnforceRetentionUpTo(p.hwm.Load())
	if n > 0 {
		p.pruneAborted()
		p.notifyWatchers()
	}
	return n, err
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch: the largest epoch at or
// below epoch and the offset where the next epoch starts (the log end for
// the current epoch).
func (p *Partition) EndOffsetForEpoch(epoch int32) (int32, int64) {
	if epoch == p.epoch.Load() {
		return epoch, p.log.EndOffset()
	}
	return p.log.EndOffsetForEpoch(epoch)
}

// ReadRegion is Read as a region of a segment file, sent from the page
// cache without copying (see log.ReadRegion); ok is false when the read
// must go through Read.
func (p *Partition) ReadRegion(offset int64, maxBytes int, readCommitted bool) (plog.Region, bool, error) {
	limit := p.hwm.Load()
	if readCommitted {
		limit = p.LastStableOffset()
	}
	return p.log.ReadRegion(offset, maxBytes, limit)
}

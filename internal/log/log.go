package log

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plexus/plexus/internal/records"
)

var (
	// ErrOffsetOutOfRange means an offset is below the log start offset or
	// above the log end offset.
	ErrOffsetOutOfRange = errors.New("log: offset out of range")
	// ErrClosed means the log was closed or deleted.
	ErrClosed = errors.New("log: closed")
)

// Options configure Open.
type Options struct {
	FS     FS     // nil: OS
	Dir    string // the partition's directory; created when missing
	Config Config
	// Logger receives one line per recovery action; nothing per batch.
	Logger *slog.Logger
	// Now is the clock (segment.ms without timestamps, retention.ms); nil
	// means time.Now.
	Now func() time.Time
	// Foreign names files in Dir that belong to the log's owner (the
	// partition's metadata and producer state): recovery leaves them
	// alone without remark.
	Foreign []string
}

// SegmentInfo describes one segment.
type SegmentInfo struct {
	BaseOffset   int64
	NextOffset   int64
	Size         int64
	MaxTimestamp int64 // -1 when the segment is empty
}

// Log is the durable segmented log of one partition. See doc.go for the
// files, their invariants and the lock order.
type Log struct {
	fs      FS
	dir     string
	logger  *slog.Logger
	foreign []string // files of the owner, left alone
	now     func() time.Time
	cfg     atomic.Pointer[Config]
	jitter  float64 // in [0, 1): this log's share of segment.jitter.ms

	// Lock order (a goroutine holding one may take those below it, never
	// those above):
	//
	//	cleanMu         a cleaning pass; Close and Delete wait for it
	//	flushMu         Flush, Close, Delete, truncations, a pass's swap
	//	metaMu          retention, SetStartOffset, truncations, Close, a pass's swap
	//	appendMu        Append, roll, truncations; retention for its roll
	//	ckptMu          writing the recovery point and epoch checkpoints
	//	segment.loadMu  loading one segment's indexes
	//	mu              the in-memory state; a leaf, never held across I/O
	//
	// Readers take only mu, briefly, and segment.loadMu when they find a
	// segment whose indexes are not in memory yet; they read files with no
	// lock held. The appender writes with appendMu alone and takes mu only
	// to publish what it wrote. doc.go says more.
	flushMu  sync.Mutex
	metaMu   sync.Mutex
	appendMu sync.Mutex
	mu       sync.RWMutex

	// cleanMu serialises cleaning passes (Clean); it comes before flushMu
	// in the lock order. Close and Delete close closing first, so that a
	// pass in progress stops at its next check, and then wait for cleanMu:
	// no cleaner file work follows Close.
	cleanMu   sync.Mutex
	closing   chan struct{}
	closeOnce sync.Once
	// firstDirty is the cleaner checkpoint: offsets below it were cleaned
	// (-1: no checkpoint). Written by Clean under cleanMu.
	firstDirty atomic.Int64
	// pendingSwaps are cleaned segments swapped in memory whose file work
	// failed half way; guarded by metaMu, finished by the next Clean, a
	// truncation or Close.
	pendingSwaps []*cleanedGroup

	// truncGen counts truncations; it changes under mu together with the
	// sizes it invalidates, before any file is cut. A reader loads it before
	// taking a committed size and checks it after reading: if it moved, the
	// bytes may mix old data with appends that refilled the cut range, and
	// the read starts over.
	truncGen atomic.Uint64

	// Owned by the appender (appendMu).
	marker    []byte // the clean-shutdown marker still on disk (nil: none), so that Close need not rewrite it
	needTrunc bool   // the active file may hold bytes past its size (a truncate failed)

	// Written with appendMu and mu held, so readable under either.
	active *segment // the last segment, where appends go
	end    int64    // log end offset
	closed bool

	// Owned by Flush (flushMu).
	flushBuf  []byte
	flushSegs []flushItem

	// ckptMu serialises writing the recovery point and epoch checkpoints,
	// which Flush and a roll may both do. lastRP is the recovery point on
	// disk (-1: unknown, rewrite it); rpLow, owned by appendMu, is a lower
	// value a truncation could not write, which a roll must write first.
	ckptMu sync.Mutex
	lastRP atomic.Int64
	rpLow  int64
	// epochsOnDisk is the epoch checkpoint's content on disk (nil:
	// unknown), under ckptMu: an unchanged cache is not rewritten, so
	// stopping a broker whose partitions took no writes writes nothing.
	epochsOnDisk []byte

	// pendingTrunc is the offset a failed flush could not truncate the log
	// to (-1: none): until a flush manages it, appends are refused so that
	// nothing lands on top of data the kernel may have dropped.
	pendingTrunc atomic.Int64

	// Guarded by mu.
	segs    []*segment // ascending base offsets; the last is active
	start   int64      // log start offset
	durable int64      // every offset below it is durable
	size    int64      // sum of segment sizes
	epochs  epochCache
	dirGen  uint64 // bumped when segment files are created or removed
	dirSync uint64 // dirGen as of the last SyncDir
}

func (l *Log) config() Config { return *l.cfg.Load() }

// SetConfig applies new settings; they take effect on the next append or
// retention run.
func (l *Log) SetConfig(c Config) {
	c = c.normalize()
	l.cfg.Store(&c)
}

// Open loads the log in opts.Dir, or creates an empty one, recovering from
// an unclean shutdown as doc.go describes.
func Open(opts Options) (*Log, error) {
	if opts.Dir == "" {
		return nil, errors.New("log: no directory")
	}
	l := &Log{fs: opts.FS, dir: opts.Dir, logger: opts.Logger, now: opts.Now, rpLow: -1, foreign: opts.Foreign,
		closing: make(chan struct{}), jitter: rand.Float64()}
	l.lastRP.Store(-1)
	l.firstDirty.Store(-1)
	l.pendingTrunc.Store(-1)
	if l.fs == nil {
		l.fs = OS
	}
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	l.logger = l.logger.With("dir", opts.Dir)
	if l.now == nil {
		l.now = time.Now
	}
	l.SetConfig(opts.Config)
	if err := l.load(); err != nil {
		for _, s := range l.segs {
			s.release()
		}
		return nil, err
	}
	return l, nil
}

// openSegment opens an existing or new segment file.
func (l *Log) openSegment(base int64, create bool) (*segment, error) {
	s := &segment{base: base, path: join(l.dir, segmentName(base, "")), next: base, created: l.now()}
	s.refs.Store(1)
	if !create {
		// Opened on first use: a log of many segments holds descriptors
		// only for those it reads or writes.
		s.log = &lazyFile{fs: l.fs, name: s.file(logExt)}
		return s, nil
	}
	f, err := l.fs.OpenFile(s.file(logExt), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	s.log = f
	if create {
		s.loaded, s.maxKnown, s.firstKnown = true, true, true
		s.firstTs = -1
	}
	return s, nil
}

// removeSegmentFiles unlinks a segment's files, the .log first so that a
// crash half way leaves only index files, which Open deletes as orphans.
// The segment is out of the list already; a read that still holds it
// finishes on the unlinked file, which is opened first if it was not yet.
func (l *Log) removeSegmentFiles(s *segment) error {
	if z, ok := s.log.(*lazyFile); ok && s.refs.Load() > 1 {
		z.get() // best effort: without it such a read reports a missing file
	}
	var first error
	for _, ext := range []string{logExt, indexExt, timeIndexExt} {
		if err := l.fs.Remove(s.file(ext)); err != nil && !isNotExist(err) && first == nil {
			first = err
		}
	}
	return first
}

// StartOffset is the log start offset: the first offset a read may ask for.
func (l *Log) StartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.start
}

// EndOffset is the log end offset: the offset the next append gets.
func (l *Log) EndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.end
}

// DurableOffset is the offset below which everything is durable.
func (l *Log) DurableOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.durable
}

// Size is the total size of the segment files in bytes.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.size
}

// LatestEpoch is the largest leader epoch a batch in the log carried, -1
// when none did.
func (l *Log) LatestEpoch() int32 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.epochs.latest()
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch with Kafka's semantics
// (LeaderEpochFileCache.endOffsetFor): for the latest epoch, (epoch, log end
// offset); for an older one, the largest known epoch not above it and the
// start offset of the next higher epoch; for an epoch below every known one,
// (epoch, start offset of the first known epoch); for an unknown higher
// epoch or an empty cache, (-1, -1).
func (l *Log) EndOffsetForEpoch(epoch int32) (leaderEpoch int32, endOffset int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.epochs.endOffsetFor(epoch, l.end)
}

// Segments describes the segments, oldest first. The returned slice is the
// caller's.
func (l *Log) Segments() []SegmentInfo {
	l.mu.RLock()
	segs := append([]*segment(nil), l.segs...)
	l.mu.RUnlock()
	for _, s := range segs {
		l.ensureMaxTs(s) // best effort: an error leaves MaxTimestamp -1
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]SegmentInfo, 0, len(segs))
	for _, s := range segs {
		info := SegmentInfo{BaseOffset: s.base, NextOffset: s.next, Size: s.size, MaxTimestamp: -1}
		if s.hasTs && s.size > 0 {
			info.MaxTimestamp = s.maxTs
		}
		out = append(out, info)
	}
	return out
}

// Close flushes the log, writes its indexes and checkpoints and the
// clean-shutdown marker, and closes its files. Reads in progress finish;
// every later call returns ErrClosed.
func (l *Log) Close() error {
	l.stopCleaning()
	defer l.cleanMu.Unlock()
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.metaMu.Lock()
	defer l.metaMu.Unlock()
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.RLock()
	closed := l.closed
	l.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	l.finishPendingSwaps()
	var err error
	if p := l.pendingTrunc.Load(); p >= 0 && l.end > p {
		// A failed flush could not cut the log back: do it now, or leave no
		// marker so that the next Open validates the tail.
		if err = l.truncateLocked(p); err != nil && !errors.As(err, new(appliedErr)) {
			err = fmt.Errorf("log: close: %w", err)
		} else {
			err = nil
			l.pendingTrunc.Store(-1)
		}
	}
	if err == nil {
		err = l.fixTail()
	}
	if err == nil {
		err = l.closeFlush()
	}
	l.mu.Lock()
	l.closed = true
	segs := l.segs
	l.segs = nil
	l.mu.Unlock()
	for _, s := range segs {
		s.release()
	}
	return err
}

// closeFlush makes everything durable and leaves the marker. Caller holds
// flushMu, metaMu and appendMu.
func (l *Log) closeFlush() error {
	l.mu.Lock()
	active := l.segs[len(l.segs)-1]
	active.appendTime(active.base)
	l.mu.Unlock()
	if _, err := l.flush(true); err != nil {
		return err
	}
	if err := l.writeCheckpoints(); err != nil {
		return err
	}
	l.mu.RLock()
	m := cleanMarker{end: l.end, activeBase: active.base, activeSize: active.size}
	l.mu.RUnlock()
	if b := m.encode(); !bytes.Equal(b, l.marker) {
		return writeAtomic(l.fs, l.dir, cleanShutdownFile, b)
	}
	return nil // the marker Open found still describes the log
}

// Delete closes the log without flushing it and removes its directory.
func (l *Log) Delete() error {
	l.stopCleaning()
	defer l.cleanMu.Unlock()
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.metaMu.Lock()
	defer l.metaMu.Unlock()
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	segs := l.segs
	l.segs = nil
	l.closed = true
	l.mu.Unlock()
	for _, s := range segs {
		s.release()
	}
	if err := l.fs.RemoveAll(l.dir); err != nil {
		return fmt.Errorf("log: delete %s: %w", l.dir, err)
	}
	return nil
}

// stopCleaning makes a cleaning pass in progress give up and waits for it;
// it returns holding cleanMu.
func (l *Log) stopCleaning() {
	l.closeOnce.Do(func() { close(l.closing) })
	l.cleanMu.Lock()
}

// removeMarker deletes the clean-shutdown marker before the first change
// to the log, so that a crash after it is recovered as unclean. Caller
// holds appendMu.
func (l *Log) removeMarker() error {
	if l.marker == nil {
		return nil
	}
	if err := l.fs.Remove(join(l.dir, cleanShutdownFile)); err != nil && !isNotExist(err) {
		return fmt.Errorf("log: remove clean-shutdown marker: %w", err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return fmt.Errorf("log: remove clean-shutdown marker: %w", err)
	}
	l.marker = nil
	return nil
}

// corrupt wraps records.ErrCorrupt with where it was found.
func corrupt(s *segment, pos int64, format string, args ...any) error {
	return fmt.Errorf("log: %s at %d: %w: %s", s.file(logExt), pos, records.ErrCorrupt, fmt.Sprintf(format, args...))
}

// asCorrupt marks a torn batch found where the log expected whole ones
// (a trusted segment) as corruption, the error callers map.
func asCorrupt(err error) error {
	if errors.Is(err, records.ErrTruncated) && !errors.Is(err, records.ErrCorrupt) {
		return fmt.Errorf("%w: %w", records.ErrCorrupt, err)
	}
	return err
}

package log

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/plexus/plexus/internal/records"
)

// The log cleaner: compaction of the closed segments of a log, keeping the
// latest record of every key. doc.go, Compaction, describes what it keeps,
// the files it writes and how a crash is recovered; this file holds the
// pass itself, cleaner_filter.go what happens to one batch,
// cleaner_scan.go the transaction and producer bookkeeping.

// ErrCleanAborted means a cleaning pass gave up: the log was closed, the
// caller's context ended, or the log changed under the pass (retention, a
// truncation) so that its result no longer applies. Nothing was changed.
var ErrCleanAborted = errors.New("log: cleaning aborted")

// CleanOptions configure one cleaning pass.
type CleanOptions struct {
	// UpTo is the offset the pass may not clean at or beyond: the last
	// stable offset (so at most the high watermark). Only whole segments
	// below it, below the active segment and below the durable offset are
	// cleaned; the pass also stops before the first batch of any
	// transaction still open in the log.
	UpTo int64
	// Now is the time of the pass (delete horizons, compaction lag); zero
	// means the log's clock.
	Now time.Time
	// DeleteRetentionMs (delete.retention.ms) is how long a tombstone, and
	// a transaction marker whose transaction's data is gone, survive after
	// the pass that first keeps them.
	DeleteRetentionMs int64
	// MinCompactionLagMs (min.compaction.lag.ms): a segment holding a
	// record newer than this is not cleaned, nor any after it.
	MinCompactionLagMs int64
	// MaxMapEntries bounds the key map, which takes about 40 bytes per
	// distinct key of the dirty section (log.cleaner.dedupe.buffer.size).
	// When it fills, the pass cleans what it mapped and the next pass goes
	// on from there. Zero means 4 Mi entries.
	MaxMapEntries int
	// MaxBatchBytes bounds the decompressed size of one batch; zero means
	// 64 MiB.
	MaxBatchBytes int
	// ProducerExpirationMs (producer.id.expiration.ms): the last batch of
	// an idempotent or transactional producer stays, emptied if need be,
	// until the producer has written nothing for this long; zero keeps it
	// for good.
	ProducerExpirationMs int64
	// Throttle, when set, is called with the bytes the pass read or wrote
	// since its last call (a few hundred KiB at a time) and may sleep to
	// keep the cleaner's I/O under a rate (see Throttler). An error ends
	// the pass.
	Throttle func(ctx context.Context, n int) error
	// Context ends the pass early; nil means none.
	Context context.Context
}

// CleanResult says what a pass did.
type CleanResult struct {
	// Cleaned is false when there was nothing cleanable.
	Cleaned bool
	// FirstDirty is where the dirty (never cleaned) section began, and
	// CleanedTo the new cleaner checkpoint: every offset below it is clean.
	FirstDirty, CleanedTo int64
	// Through is the end of what this pass cleaned: the key rules were
	// applied to every record below it (records after it in a rewritten
	// segment were kept as they were).
	Through int64
	// SegmentsBefore and SegmentsAfter count the segments replaced and
	// those that replaced them.
	SegmentsBefore, SegmentsAfter int
	// SizeBefore and SizeAfter are their sizes in bytes.
	SizeBefore, SizeAfter int64
	// BytesRead and BytesWritten count the pass's I/O on segment data.
	BytesRead, BytesWritten int64
	// RecordsRead and RecordsKept count the records of the replaced
	// segments and those kept.
	RecordsRead, RecordsKept int64
	// DeleteHorizon is the earliest delete horizon (Unix ms) of a
	// tombstone or marker left in the cleaned segments, -1 when none: a
	// pass after it removes them.
	DeleteHorizon int64
	// RewroteTo is the end of the segments the pass rewrote, from the log
	// start, and AbortMarkers the offsets, ascending, of the ABORT markers
	// still in them: an aborted transaction below RewroteTo whose marker
	// is not listed has no batch left, and readers no longer need to hear
	// of it (Kafka drops it from the cleaned segment's .txnindex).
	RewroteTo    int64
	AbortMarkers []int64
}

// cleanedGroup is one output segment of a pass and the segments it
// replaces.
type cleanedGroup struct {
	srcs  []*segment
	sizes []int64 // sizes of srcs when planned
	base  int64   // base offset of srcs[0] and of the output
	end   int64   // the segment after the group starts here
	f     File    // the output, opened as its .cleaned name
	seg   *segment
	// Progress of the file work after the swap (finishPendingSwaps).
	step int
}

const cleanedSuffix = ".cleaned"

func (g *cleanedGroup) cleanedPath(dir string) string {
	return join(dir, segmentName(g.base, logExt)+cleanedSuffix)
}

func (g *cleanedGroup) swapPath(dir string) string {
	return join(dir, swapName(g.base, g.end))
}

// swapName is the name of a cleaned segment between its commit and its
// completion: base offset and the end of the range of segments it
// replaces, "<base>-<end>.log.swap". The range cannot be read from the
// batches, whose offsets compaction leaves sparse.
func swapName(base, end int64) string {
	return segmentName(base, "") + "-" + segmentName(end, logExt+".swap")
}

// parseSwapName parses a name made by swapName.
func parseSwapName(name string) (base, end int64, ok bool) {
	rest, found := strings.CutSuffix(name, logExt+".swap")
	if !found || len(rest) != 41 || rest[20] != '-' {
		return 0, 0, false
	}
	base, ok1 := parseSegmentName(rest[:20], "")
	end, ok2 := parseSegmentName(rest[21:], "")
	if !ok1 || !ok2 || end <= base {
		return 0, 0, false
	}
	return base, end, true
}

// cleanerCheckpointFile holds the cleaner checkpoint (encodeOffset).
const cleanerCheckpointFile = "cleaner-offset-checkpoint"

// CleanerCheckpoint is the offset below which the log was cleaned, -1
// when it never was.
func (l *Log) CleanerCheckpoint() int64 { return l.firstDirty.Load() }

// cleanPass is the state of one pass.
type cleanPass struct {
	l     *Log
	o     CleanOptions
	ctx   context.Context
	now   int64 // Unix ms
	c     Config
	start int64
	res   CleanResult

	gen       uint64 // Log.truncGen when the pass began
	throttled int    // bytes not yet reported to Throttle
	buf       []byte
	scratch   []byte
}

// io accounts n bytes of segment I/O, and throttles.
func (p *cleanPass) io(n int, write bool) error {
	if write {
		p.res.BytesWritten += int64(n)
	} else {
		p.res.BytesRead += int64(n)
	}
	p.throttled += n
	if p.throttled < 256<<10 {
		return p.checkDone()
	}
	return p.flushThrottle()
}

func (p *cleanPass) flushThrottle() error {
	n := p.throttled
	p.throttled = 0
	if p.o.Throttle != nil && n > 0 {
		if err := p.o.Throttle(p.ctx, n); err != nil {
			return fmt.Errorf("%w: %v", ErrCleanAborted, err)
		}
	}
	return p.checkDone()
}

func (p *cleanPass) checkDone() error {
	select {
	case <-p.l.closing:
		return fmt.Errorf("%w: %w", ErrCleanAborted, ErrClosed)
	case <-p.ctx.Done():
		return fmt.Errorf("%w: %v", ErrCleanAborted, p.ctx.Err())
	default:
		return nil
	}
}

// meteredFile counts the bytes read through it.
type meteredFile struct {
	File
	p   *cleanPass
	err error
}

func (f *meteredFile) ReadAt(b []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(b, off)
	if ierr := f.p.io(n, false); ierr != nil && f.err == nil {
		f.err = ierr
	}
	return n, err
}

// Clean runs one cleaning (compaction) pass over the closed segments of
// the log: for every key only the latest record survives, tombstones and
// transaction markers go once their delete horizon passed, records of
// aborted transactions go, and small segments are merged up to
// segment.bytes. See doc.go, Compaction. Appends, reads and flushes go on
// meanwhile; the pass holds no lock while it reads or writes segments.
// Only one pass runs at a time per log.
func (l *Log) Clean(o CleanOptions) (CleanResult, error) {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	p := &cleanPass{l: l, o: o, ctx: o.Context, c: l.config()}
	p.res.DeleteHorizon = -1
	if p.ctx == nil {
		p.ctx = context.Background()
	}
	// Close and Delete also end a throttled wait.
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	go func() {
		select {
		case <-l.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	p.ctx = ctx
	if o.Now.IsZero() {
		o.Now = l.now()
	}
	p.now = o.Now.UnixMilli()
	if p.o.MaxMapEntries <= 0 {
		p.o.MaxMapEntries = 4 << 20
	}
	if p.o.MaxBatchBytes <= 0 {
		p.o.MaxBatchBytes = 64 << 20
	}
	if err := p.checkDone(); err != nil {
		return p.res, err
	}
	l.flushMu.Lock()
	l.metaMu.Lock()
	err := l.finishPendingSwaps()
	l.metaMu.Unlock()
	l.flushMu.Unlock()
	if err != nil {
		// A new pass would commit swap files over the unfinished ones.
		return p.res, err
	}
	res, err := p.run()
	if err != nil && !errors.Is(err, ErrCleanAborted) && !errors.Is(err, ErrClosed) {
		l.logger.Warn("log cleaning failed", "reason", err.Error())
	}
	return res, err
}

func (p *cleanPass) run() (CleanResult, error) {
	l := p.l
	gen := l.truncGen.Load()
	p.gen = gen
	segs, start, err := l.snapshot()
	if err != nil {
		return p.res, err
	}
	defer releaseAll(segs)
	res, err := p.runOn(segs, start)
	if err != nil && !errors.Is(err, ErrCleanAborted) && l.changedUnder(segs, gen) {
		// A truncation or retention cut what the pass was reading: not the
		// log's fault.
		err = fmt.Errorf("%w: the log changed during the pass: %v", ErrCleanAborted, err)
	}
	return res, err
}

// changedUnder says whether a truncation ran since gen or a segment of
// segs left the log.
func (l *Log) changedUnder(segs []*segment, gen uint64) bool {
	if l.truncGen.Load() != gen {
		return true
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, s := range segs {
		if s.deleted {
			return true
		}
	}
	return false
}

func (p *cleanPass) runOn(segs []*segment, start int64) (CleanResult, error) {
	l := p.l
	p.start = start
	l.mu.RLock()
	end, durable, activeBase := l.end, l.durable, l.active.base
	l.mu.RUnlock()
	if len(segs) < 2 {
		return p.res, nil // only the active segment
	}

	// The txn/producer bookkeeping of the whole log: aborted
	// transactions, the first offset of open ones, each producer's last
	// batch.
	st, err := p.scanTxns(segs)
	if err != nil {
		return p.res, err
	}

	bound := min(p.o.UpTo, end, durable, activeBase, st.openFirst)
	// Recovery trusts segments below the checkpointed recovery point; a
	// cleaned segment is never above it, so recovery never has to
	// validate one (and tell its gaps from lost data).
	if rp := l.lastRP.Load(); rp >= 0 {
		bound = min(bound, rp)
	} else {
		bound = start
	}
	fd := l.firstDirty.Load()
	if fd < start || fd > end {
		fd = start
	}
	p.res.FirstDirty = fd
	if p.o.MinCompactionLagMs > 0 {
		for i, s := range segs[:len(segs)-1] {
			if segs[i+1].base <= fd {
				continue
			}
			ts, err := l.largestTimestamp(s)
			if err != nil {
				return p.res, err
			}
			if ts > p.now-p.o.MinCompactionLagMs {
				bound = min(bound, s.base)
				break
			}
		}
	}
	// Cleanable: the leading segments that end at or before bound.
	k := 0
	for k < len(segs)-1 && segs[k+1].base <= bound {
		k++
	}
	if k == 0 {
		return p.res, nil
	}
	cleanEnd := segs[k].base
	for _, s := range segs[:k] {
		if err := l.ensureLoaded(s); err != nil {
			return p.res, err
		}
	}
	sizes := make([]int64, k)
	l.mu.RLock()
	for i, s := range segs[:k] {
		sizes[i] = s.size
	}
	l.mu.RUnlock()

	// The key map of the dirty section [fd, cleanEnd).
	km := newKeyMap(p.o.MaxMapEntries)
	mapEnd := cleanEnd // with no dirty section, the clean one is recopied (delete horizons)
	if fd < cleanEnd {
		if mapEnd, err = p.buildMap(segs[:k], sizes, fd, cleanEnd, st, km); err != nil {
			return p.res, err
		}
	}

	// Segments to rewrite: every cleanable one that starts below mapEnd,
	// grouped so that no output exceeds segment.bytes or its indexes.
	j := 0
	for j < k && segs[j].base < mapEnd {
		j++
	}
	groups := p.group(segs[:j], sizes[:j], segs[j].base)
	st.resetCleaning()
	f := &filter{p: p, km: km, mapEnd: mapEnd, txn: st, now: p.now}
	for _, g := range groups {
		if err := p.cleanGroup(g, f); err != nil {
			p.discard(groups)
			return p.res, err
		}
	}
	if err := p.flushThrottle(); err != nil {
		p.discard(groups)
		return p.res, err
	}
	if err := l.swapIn(groups, p.gen); err != nil {
		p.discard(groups)
		return p.res, err
	}
	p.res.Cleaned = true
	p.res.CleanedTo = max(fd, mapEnd)
	p.res.Through = mapEnd
	p.res.RewroteTo = start
	if len(groups) > 0 {
		p.res.RewroteTo = groups[len(groups)-1].end
	}
	p.res.SegmentsBefore = j
	p.res.SegmentsAfter = len(groups)
	l.mu.RLock()
	for i := range groups {
		p.res.SizeBefore += sum(groups[i].sizes)
		p.res.SizeAfter += groups[i].seg.size
	}
	l.mu.RUnlock()
	l.firstDirty.Store(p.res.CleanedTo)
	if err := writeAtomic(l.fs, l.dir, cleanerCheckpointFile, encodeOffset(p.res.CleanedTo)); err != nil {
		// The next pass cleans the same section again: harmless.
		l.logger.Warn("could not write the cleaner checkpoint", "reason", err.Error())
	}
	l.logger.Info("cleaned log", "first_dirty", fd, "cleaned_to", p.res.CleanedTo,
		"segments", fmt.Sprintf("%d->%d", j, len(groups)), "bytes", fmt.Sprintf("%d->%d", p.res.SizeBefore, p.res.SizeAfter),
		"records", fmt.Sprintf("%d->%d", p.res.RecordsRead, p.res.RecordsKept))
	return p.res, nil
}

func sum(xs []int64) (s int64) {
	for _, x := range xs {
		s += x
	}
	return s
}

// group splits segs into runs whose sizes, index sizes and offset spans
// fit one segment, as Kafka's groupSegmentsBySize does. after is the base
// of the segment that follows the last of segs.
func (p *cleanPass) group(segs []*segment, sizes []int64, after int64) []*cleanedGroup {
	maxSize := min(p.c.SegmentBytes, maxSegmentBytes)
	l := p.l
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []*cleanedGroup
	for i := 0; i < len(segs); {
		g := &cleanedGroup{srcs: []*segment{segs[i]}, sizes: []int64{sizes[i]}, base: segs[i].base}
		size, idx, tidx := sizes[i], len(segs[i].idx), len(segs[i].tidx)
		i++
		for i < len(segs) {
			next := after
			if i+1 < len(segs) {
				next = segs[i+1].base
			}
			s := segs[i]
			if size+sizes[i] > maxSize || idx+len(s.idx) > p.c.maxIndexEntries() ||
				tidx+len(s.tidx) > p.c.maxTimeEntries() || next-1-g.base > math.MaxInt32 {
				break
			}
			g.srcs = append(g.srcs, s)
			g.sizes = append(g.sizes, sizes[i])
			size, idx, tidx = size+sizes[i], idx+len(s.idx), tidx+len(s.tidx)
			i++
		}
		if i < len(segs) {
			g.end = segs[i].base
		} else {
			g.end = after
		}
		out = append(out, g)
	}
	return out
}

// discard removes the outputs of a pass that does not swap them in.
func (p *cleanPass) discard(groups []*cleanedGroup) {
	for _, g := range groups {
		if g.f != nil {
			g.f.Close()
			g.f = nil
			p.l.fs.Remove(g.cleanedPath(p.l.dir))
		}
	}
}

// buildMap maps every key of the dirty section [fd, cleanEnd) to its
// latest offset. It returns the end of what it mapped: cleanEnd, or the
// base offset of the first batch that did not fit the map.
func (p *cleanPass) buildMap(segs []*segment, sizes []int64, fd, cleanEnd int64, st *txnState, km *keyMap) (int64, error) {
	st.resetCleaning()
	var r records.Record
	for i, s := range segs {
		next := cleanEnd
		if i+1 < len(segs) {
			next = segs[i+1].base
		}
		if next <= fd {
			continue
		}
		var from int64
		p.l.mu.RLock()
		if fd > s.base {
			if e, ok := lookupOffset(s.idx, uint32(min(fd-s.base, math.MaxUint32))); ok {
				from = int64(e.pos)
			}
		}
		p.l.mu.RUnlock()
		cf := &meteredFile{File: s.log, p: p}
		sc := newScanner(cf, from, sizes[i], p.buf[:0])
		for {
			b, pos, _, err := sc.next(true)
			if cf.err != nil {
				return 0, cf.err
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return 0, fmt.Errorf("log: clean %s at %d: %w", s.file(logExt), pos, asCorrupt(err))
			}
			if err := b.Check(); err != nil {
				return 0, fmt.Errorf("log: clean %s at %d: %w", s.file(logExt), pos, err)
			}
			if b.IsControl() {
				st.onControl(b, controlType(b))
				continue
			}
			if st.onData(b) || b.LastOffset() < fd || b.LastOffset() < p.start {
				continue // aborted, or already clean
			}
			if km.len() > 0 && km.len()+int(b.NumRecords()) > km.max {
				p.buf = sc.buf
				return b.BaseOffset(), nil
			}
			it, scratch, err := b.Records(p.scratch, p.o.MaxBatchBytes)
			p.scratch = scratch
			if err != nil {
				return 0, fmt.Errorf("log: clean %s: batch at offset %d: %w", s.file(logExt), b.BaseOffset(), err)
			}
			prev := int32(-1)
			for it.Next(&r) {
				if r.OffsetDelta <= prev || r.OffsetDelta > b.LastOffsetDelta() {
					return 0, fmt.Errorf("log: clean %s: batch at offset %d: %w", s.file(logExt), b.BaseOffset(), errRecordOffsets)
				}
				prev = r.OffsetDelta
				off := b.BaseOffset() + int64(r.OffsetDelta)
				if r.Key != nil && off >= fd {
					km.put(r.Key, off)
				}
			}
			if err := it.Err(); err != nil {
				return 0, fmt.Errorf("log: clean %s: batch at offset %d: %w", s.file(logExt), b.BaseOffset(), err)
			}
		}
		p.buf = sc.buf
	}
	return cleanEnd, nil
}

// cleanGroup writes the cleaned form of g's segments to its .cleaned file
// and syncs it.
func (p *cleanPass) cleanGroup(g *cleanedGroup, f *filter) error {
	l := p.l
	name := g.cleanedPath(l.dir)
	out, err := l.fs.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("log: clean: %w", err)
	}
	g.f = out
	seg := &segment{base: g.base, path: join(l.dir, segmentName(g.base, "")), log: out, next: g.end, created: l.now()}
	seg.refs.Store(1)
	seg.loaded, seg.maxKnown, seg.firstKnown, seg.idxStale = true, true, true, true
	seg.firstTs = -1
	seg.txnSum = newSummary(l.truncGen.Load())
	g.seg = seg
	w := &segWriter{p: p, f: out, seg: seg}
	for i, s := range g.srcs {
		cf := &meteredFile{File: s.log, p: p}
		sc := newScanner(cf, 0, g.sizes[i], p.buf[:0])
		for {
			b, pos, _, err := sc.next(true)
			if cf.err != nil {
				return cf.err
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("log: clean %s at %d: %w", s.file(logExt), pos, asCorrupt(err))
			}
			if err := b.Check(); err != nil {
				return fmt.Errorf("log: clean %s at %d: %w", s.file(logExt), pos, err)
			}
			if err := f.batch(b, w); err != nil {
				return fmt.Errorf("log: clean %s: batch at offset %d: %w", s.file(logExt), b.BaseOffset(), err)
			}
		}
		p.buf = sc.buf
	}
	if err := w.flush(); err != nil {
		return err
	}
	seg.appendTime(seg.base)
	seg.txnSum.size = seg.size
	if err := out.Sync(); err != nil {
		return fmt.Errorf("log: clean: sync %s: %w", name, err)
	}
	seg.synced = seg.size
	return nil
}

// segWriter appends batches to a cleaned segment through a buffer,
// keeping its indexes as the appender would.
type segWriter struct {
	p    *cleanPass
	f    File
	seg  *segment
	buf  []byte
	done int64 // bytes written to the file
}

const cleanWriteChunk = 1 << 20

// add appends b. horizon says whether its delete horizon still governs
// something in it (a tombstone or a marker), so that the pass reports it.
func (w *segWriter) add(b records.Batch, ctl int16, horizon bool) error {
	s := w.seg
	pos := s.size
	if pos == 0 {
		s.firstTs = b.MaxTimestamp()
	}
	if int64(len(b)) > maxSegmentBytes-pos {
		return fmt.Errorf("%w: cleaned segment would exceed %d bytes", records.ErrTooLarge, maxSegmentBytes)
	}
	s.add(s.base, b.BaseOffset(), pos, len(b), b.MaxTimestamp(), &w.p.c)
	s.size += int64(len(b))
	s.txnSum.add(b, ctl)
	if ctl == ctlAbort && b.NumRecords() > 0 { // not a marker emptied to keep producer state
		w.p.res.AbortMarkers = append(w.p.res.AbortMarkers, b.BaseOffset())
	}
	if horizon && b.HasDeleteHorizon() {
		if h := b.BaseTimestamp(); w.p.res.DeleteHorizon < 0 || h < w.p.res.DeleteHorizon {
			w.p.res.DeleteHorizon = h
		}
	}
	w.buf = append(w.buf, b...)
	if len(w.buf) >= cleanWriteChunk {
		return w.flush()
	}
	return nil
}

func (w *segWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	if _, err := w.f.WriteAt(w.buf, w.done); err != nil {
		return fmt.Errorf("log: clean: write %s: %w", w.seg.file(logExt)+cleanedSuffix, err)
	}
	w.done += int64(len(w.buf))
	n := len(w.buf)
	w.buf = w.buf[:0]
	return w.p.io(n, true)
}

// swapIn replaces the groups' source segments by the cleaned ones, in
// memory and on disk. The commit point is the directory sync after the
// .cleaned files are renamed to their swap names: before it a crash
// leaves the old segments, after it recovery finishes the swap (see
// doc.go, Compaction). It holds flushMu (no flush writes index files of
// the segments going away) and metaMu (no retention or truncation runs),
// never appendMu, and does no segment data I/O.
func (l *Log) swapIn(groups []*cleanedGroup, gen uint64) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.metaMu.Lock()
	defer l.metaMu.Unlock()
	select {
	case <-l.closing:
		return fmt.Errorf("%w: %w", ErrCleanAborted, ErrClosed)
	default:
	}
	// A truncation since the pass began may have changed what it read of
	// the tail (transaction markers): the pass starts over.
	l.mu.RLock()
	intact := !l.closed && l.truncGen.Load() == gen && l.sourcesIntact(groups)
	l.mu.RUnlock()
	if !intact {
		return fmt.Errorf("%w: the log changed during the pass", ErrCleanAborted)
	}
	var err error
	n := 0
	for ; n < len(groups); n++ {
		g := groups[n]
		if err = l.fs.Rename(g.cleanedPath(l.dir), g.swapPath(l.dir)); err != nil {
			break
		}
	}
	if err == nil {
		err = l.fs.SyncDir(l.dir)
	}
	if err != nil {
		// Not committed: put back what was renamed. A crash meanwhile may
		// still find swap files, each complete and valid, which recovery
		// swaps in: the same log, cleaned.
		for _, g := range groups[:n] {
			l.fs.Rename(g.swapPath(l.dir), g.cleanedPath(l.dir))
		}
		return fmt.Errorf("log: clean: commit: %w", err)
	}

	// Committed. Swap in memory: readers that hold an old segment finish
	// on it (its file stays open), later ones find the new one.
	for _, g := range groups {
		for _, s := range g.srcs {
			if z, ok := s.log.(*lazyFile); ok {
				z.get() // a reader holding it must not open the new file by name
			}
		}
	}
	l.mu.Lock()
	first := slices.Index(l.segs, groups[0].srcs[0])
	var segs []*segment
	segs = append(segs, l.segs[:first]...)
	for _, g := range groups {
		segs = append(segs, g.seg)
		l.size += g.seg.size
		for _, s := range g.srcs {
			l.size -= s.size
			s.deleted = true
		}
	}
	last := groups[len(groups)-1].srcs
	rest := l.segs[slices.Index(l.segs, last[len(last)-1])+1:]
	l.segs = append(segs, rest...)
	l.dirGen++
	l.checkInvariants()
	l.mu.Unlock()
	for _, g := range groups {
		g.f = nil // owned by the segment now
	}
	l.pendingSwaps = append(l.pendingSwaps, groups...)
	return l.finishPendingSwaps()
}

// sourcesIntact says whether every group's sources are still in the list,
// consecutive, at the size they were cleaned at, and not active. Caller
// holds mu.
func (l *Log) sourcesIntact(groups []*cleanedGroup) bool {
	i := slices.Index(l.segs, groups[0].srcs[0])
	if i < 0 {
		return false
	}
	for _, g := range groups {
		for k, s := range g.srcs {
			if i >= len(l.segs)-1 || l.segs[i] != s || s.size != g.sizes[k] || s.deleted {
				return false
			}
			i++
		}
		if l.segs[i].base != g.end {
			return false
		}
	}
	return true
}

// finishPendingSwaps does the file work of swapped-in cleaned segments:
// remove the files of the segments they replace (the first one's index
// files only: its .log is replaced by a rename), rename the swap file to
// the segment name, write the new indexes. Each step is retried on the
// next call when it fails. Caller holds metaMu, and flushMu or cleanMu
// with no flush able to see the old segments (they are out of the list).
func (l *Log) finishPendingSwaps() error {
	var first error
	keep := l.pendingSwaps[:0]
	for _, g := range l.pendingSwaps {
		if err := l.finishSwap(g); err != nil {
			if first == nil {
				first = fmt.Errorf("log: clean: finish swap of %s: %w", segmentName(g.base, logExt), err)
			}
			keep = append(keep, g)
			continue
		}
		for _, s := range g.srcs {
			s.release()
		}
		g.srcs = nil
	}
	clear(l.pendingSwaps[len(keep):])
	l.pendingSwaps = keep
	if first != nil {
		l.logger.Warn("cleaned segment swap incomplete; recovery or the next pass finishes it", "reason", first.Error())
	}
	return first
}

func (l *Log) finishSwap(g *cleanedGroup) error {
	for g.step < swapDone {
		var err error
		switch g.step {
		case swapRemove:
			for i, s := range g.srcs {
				exts := []string{logExt, indexExt, timeIndexExt}
				if i == 0 {
					exts = exts[1:]
				}
				for _, ext := range exts {
					if err = l.fs.Remove(s.file(ext)); err != nil && !isNotExist(err) {
						return err
					}
				}
			}
			err = nil
		case swapSyncRemoved, swapSyncRenamed:
			// The index files named like the new segment must be gone for
			// good before the new .log takes the name.
			err = l.fs.SyncDir(l.dir)
		case swapRename:
			err = l.fs.Rename(g.swapPath(l.dir), g.seg.file(logExt))
		case swapIndex:
			l.writeSwappedIndex(g.seg)
		}
		if err != nil {
			return err
		}
		g.step++
	}
	return nil
}

// The file work after a swap, in order.
const (
	swapRemove = iota
	swapSyncRemoved
	swapRename
	swapSyncRenamed
	swapIndex
	swapDone
)

// writeSwappedIndex writes the index files of a cleaned segment, best
// effort: a flush writes them otherwise, and a missing index is rebuilt.
func (l *Log) writeSwappedIndex(s *segment) {
	l.mu.RLock()
	idx := appendOffsetEntries(nil, s.idx)
	tidx := appendTimeEntries(nil, s.tidx)
	ni, nt, gone := len(s.idx), len(s.tidx), s.deleted
	l.mu.RUnlock()
	if gone {
		return
	}
	if l.writeIndex(s.file(indexExt), idx, 0) != nil || l.writeIndex(s.file(timeIndexExt), tidx, 0) != nil {
		return
	}
	l.mu.Lock()
	if !s.deleted {
		s.idxWritten, s.tidxWritten, s.idxStale = ni, nt, false
	}
	l.mu.Unlock()
}

package log

import (
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"github.com/plexus/plexus/internal/records"
)

// walkBatches reads the batches of f in [from, size), adding each to x as
// the appender would, and returns where the valid batches end and the
// offset after the last one. expect is the smallest base offset the first
// batch may have. With validate, each batch must also pass Check (CRC).
//
// It stops at the first batch that is torn, corrupt, or out of order, with
// an error wrapping records.ErrTruncated or records.ErrCorrupt; any other
// error is an I/O error, after which nothing may be truncated.
func walkBatches(f File, segBase int64, x *indexState, from, size, expect int64, c *Config, validate bool, buf []byte, fn func(records.Batch)) (validEnd, next int64, err error) {
	sc := newScanner(f, from, size, buf)
	next = expect
	for {
		b, pos, n, err := sc.next(validate)
		if err == io.EOF {
			return size, next, nil
		}
		if err != nil {
			return pos, next, err
		}
		if validate {
			if err := b.Check(); err != nil {
				if errors.Is(err, records.ErrUnsupportedMagic) {
					err = fmt.Errorf("%w: %v", records.ErrCorrupt, err)
				}
				return pos, next, err
			}
		}
		base, last := b.BaseOffset(), b.LastOffset()
		switch {
		case b.LastOffsetDelta() < 0:
			return pos, next, fmt.Errorf("%w: negative last offset delta", records.ErrCorrupt)
		case base < next:
			return pos, next, fmt.Errorf("%w: base offset %d, expected at least %d", records.ErrCorrupt, base, next)
		case last-segBase > math.MaxInt32 || last < base:
			return pos, next, fmt.Errorf("%w: offsets %d..%d do not fit segment %d", records.ErrCorrupt, base, last, segBase)
		case pos+int64(n) > math.MaxUint32:
			return pos, next, fmt.Errorf("%w: segment larger than 4 GiB", records.ErrCorrupt)
		}
		x.add(segBase, base, pos, n, b.MaxTimestamp(), c)
		if fn != nil {
			fn(b)
		}
		next = last + 1
	}
}

func isDataError(err error) bool {
	return errors.Is(err, records.ErrCorrupt) || errors.Is(err, records.ErrTruncated)
}

// load builds the in-memory log from the directory. See doc.go, Recovery.
func (l *Log) load() error {
	if err := MkdirDurable(l.fs, l.dir); err != nil {
		return fmt.Errorf("log: %w", err)
	}
	bases, err := l.tidyDir()
	if err != nil {
		return err
	}
	c := l.config()

	marker, markerErr := readCleanMarker(l.fs, l.dir)
	startCk := l.readOffsetCheckpoint(startCheckpointFile)
	rp := l.readOffsetCheckpoint(recoveryCheckpointFile)
	l.firstDirty.Store(l.readOffsetCheckpoint(cleanerCheckpointFile))
	var epochs []epochEntry
	var epochsErr, epochsBytes = error(nil), []byte(nil)
	if b, err := readFile(l.fs, join(l.dir, epochCheckpointFile), checkpointLimit); err != nil {
		epochsErr = err
	} else if epochs, err = decodeEpochs(b); err != nil {
		epochsErr = err
	} else {
		epochsBytes = b
	}

	// A new log: no segment and no checkpoint on disk. Its one empty
	// segment needs no validation, and absent checkpoints say what written
	// ones would (offset 0, no epochs), so none are written until there is
	// something to record: a topic of thousands of partitions is created
	// with a folder and two files per partition instead of seven.
	fresh := len(bases) == 0 && isNotExist(markerErr) && isNotExist(epochsErr) &&
		l.absent(startCheckpointFile) && l.absent(recoveryCheckpointFile)

	dirty := false // files changed: everything is synced before Open returns
	for _, b := range bases {
		s, err := l.openSegment(b, false)
		if err != nil {
			return fmt.Errorf("log: open segment: %w", err)
		}
		l.segs = append(l.segs, s)
		if s.size, err = s.log.Size(); err != nil {
			return fmt.Errorf("log: %w", err)
		}
		s.synced = s.size // unless validation finds otherwise
	}
	if len(l.segs) == 0 {
		s, err := l.openSegment(max(startCk, 0), true)
		if err != nil {
			return fmt.Errorf("log: create segment: %w", err)
		}
		l.segs = append(l.segs, s)
		dirty = true
		markerErr = errors.New("no segments")
	}
	// An empty segment before the last holds nothing (a roll never leaves
	// one): it would only open a range of offsets without data.
	for i := 0; i < len(l.segs)-1; i++ {
		if s := l.segs[i]; s.size == 0 {
			l.logger.Warn("deleting empty segment", "segment", s.file(logExt))
			if err := l.dropSegment(s); err != nil {
				return err
			}
			l.segs = slices.Delete(l.segs, i, i+1)
			i--
			dirty = true
		}
	}
	for i, s := range l.segs[:len(l.segs)-1] {
		s.next = l.segs[i+1].base
	}
	active := l.segs[len(l.segs)-1]

	clean := markerErr == nil && marker.activeBase == active.base && marker.activeSize == active.size
	if markerErr == nil && !clean {
		l.logger.Warn("clean-shutdown marker does not match the segments; recovering", "marker", string(marker.encode()))
	} else if markerErr != nil && !isNotExist(markerErr) && len(bases) > 0 {
		l.logger.Warn("unreadable clean-shutdown marker; recovering", "reason", markerErr.Error())
	}
	if clean {
		if err := l.checkActive(active, marker.end, &c); err != nil {
			if !isDataError(err) {
				return err
			}
			l.logger.Warn("active segment disagrees with the clean-shutdown marker; recovering", "segment", active.file(logExt), "reason", err.Error())
			clean = false
		}
	}

	// Segments from validateFrom on are checked batch by batch; those before
	// are trusted as the last checkpointed recovery point vouches for them.
	validateFrom := len(l.segs)
	if !clean && !fresh {
		validateFrom = 0
		for i, s := range l.segs {
			if s.base <= rp {
				validateFrom = i
			}
		}
		dirty = true
	}

	l.epochs.es = epochs
	if epochsErr != nil {
		l.epochs.es = nil
		if !isNotExist(epochsErr) || l.segs[0].size > 0 || len(l.segs) > 1 {
			// A log that never checkpointed (new, then a crash) has no
			// epoch file by design; otherwise its loss is worth a line.
			if !isNotExist(epochsErr) || rp >= 0 {
				l.logger.Warn("rebuilding leader epoch cache from the batches", "reason", epochsErr.Error())
			}
			for i, s := range l.segs[:validateFrom] {
				if err := l.scanEpochs(s); err != nil {
					if !isDataError(err) {
						return err
					}
					// Trusted, yet not valid: validate from here on.
					l.logger.Warn("segment is corrupt; validating it", "segment", s.file(logExt), "reason", err.Error())
					validateFrom, clean = i, false
					break
				}
			}
			dirty = true
		}
	}
	if validateFrom < len(l.segs) {
		l.epochs.truncateFromEnd(l.segs[validateFrom].base)
		if err := l.validate(validateFrom, &c); err != nil {
			return err
		}
	}
	active = l.segs[len(l.segs)-1]
	l.end = active.next
	if clean {
		l.end = marker.end
	}
	l.epochs.truncateFromEnd(l.end)

	l.start = max(startCk, l.segs[0].base)
	if l.start > l.end {
		// The start offset was checkpointed past what survived: nothing below
		// it may be served, so the log restarts empty there.
		l.logger.Warn("log start offset is past the recovered end; restarting empty", "start", l.start, "end", l.end)
		if err := l.resetTo(l.start); err != nil {
			return err
		}
		dirty = true
	}
	for len(l.segs) > 1 && l.segs[0].next <= l.start {
		s := l.segs[0]
		l.logger.Info("deleting segment below the log start offset", "segment", s.file(logExt), "start", l.start)
		if err := l.dropSegment(s); err != nil {
			return err
		}
		l.segs = l.segs[1:]
		dirty = true
	}
	l.epochs.truncateFromStart(l.start)
	l.active = l.segs[len(l.segs)-1]
	for _, s := range l.segs {
		l.size += s.size
	}
	l.durable = l.end
	l.checkInvariants()
	if !dirty {
		if markerErr == nil {
			l.marker = marker.encode()
		}
		l.lastRP.Store(l.end)
		if rp != l.end {
			l.lastRP.Store(-1) // the file says otherwise: rewrite it
		}
		l.epochsOnDisk = epochsBytes
		return nil
	}
	if markerErr == nil || !isNotExist(markerErr) {
		l.fs.Remove(join(l.dir, cleanShutdownFile))
	}
	l.dirGen++
	if _, err := l.flush(true); err != nil {
		return err
	}
	if fresh {
		l.lastRP.Store(l.end)
		return nil
	}
	return l.writeCheckpoints()
}

// absent reports whether the log's folder has no file name.
func (l *Log) absent(name string) bool {
	_, err := l.fs.Stat(join(l.dir, name))
	return isNotExist(err)
}

// tidyDir lists the directory, finishes or undoes what a crash interrupted
// and returns the base offsets of the segments, ascending.
func (l *Log) tidyDir() ([]int64, error) {
	names, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	var bases []int64
	indexes := map[string]int64{}
	var swaps []string
	changed := false
	for _, name := range names {
		if b, ok := parseSegmentName(name, logExt); ok {
			bases = append(bases, b)
			continue
		}
		if b, ok := parseSegmentName(name, indexExt); ok {
			indexes[name] = b
			continue
		}
		if b, ok := parseSegmentName(name, timeIndexExt); ok {
			indexes[name] = b
			continue
		}
		switch {
		case name == epochCheckpointFile || name == startCheckpointFile ||
			name == recoveryCheckpointFile || name == cleanShutdownFile || name == cleanerCheckpointFile ||
			slices.Contains(l.foreign, name):
		case strings.HasSuffix(name, ".deleted") || strings.HasSuffix(name, ".cleaned") || strings.HasSuffix(name, tmpSuffix):
			l.logger.Info("removing leftover file", "file", name)
			if err := l.fs.Remove(join(l.dir, name)); err != nil {
				return nil, fmt.Errorf("log: %w", err)
			}
			changed = true
		case strings.HasSuffix(name, logExt+".swap"):
			swaps = append(swaps, name)
		case strings.HasSuffix(name, ".swap"):
			// Index swaps are rebuilt from the swapped-in segment.
			l.logger.Info("removing leftover file", "file", name)
			if err := l.fs.Remove(join(l.dir, name)); err != nil {
				return nil, fmt.Errorf("log: %w", err)
			}
			changed = true
		default:
			l.logger.Warn("ignoring unknown file", "file", name)
		}
	}
	for _, name := range swaps {
		var err error
		if bases, err = l.completeSwap(name, bases); err != nil {
			return nil, err
		}
		changed = true
	}
	for name, b := range indexes {
		if !slices.Contains(bases, b) {
			l.logger.Info("removing index of a missing segment", "file", name)
			if err := l.fs.Remove(join(l.dir, name)); err != nil && !isNotExist(err) {
				return nil, fmt.Errorf("log: %w", err)
			}
			changed = true
		}
	}
	slices.Sort(bases)
	if changed {
		if err := l.fs.SyncDir(l.dir); err != nil {
			return nil, fmt.Errorf("log: %w", err)
		}
	}
	return bases, nil
}

// completeSwap finishes replacing segments by a .log.swap file, which a
// segment rewrite (compaction) creates complete and synced before renaming
// it to .swap: it replaces every segment whose base offset falls in its
// range. A swap file that does not hold valid batches is removed instead.
func (l *Log) completeSwap(name string, bases []int64) ([]int64, error) {
	path := join(l.dir, name)
	if base, end, ok := parseSwapName(name); ok {
		return l.completeRangeSwap(name, base, end, bases)
	}
	base, ok := parseSegmentName(strings.TrimSuffix(name, ".swap"), logExt)
	if !ok {
		l.logger.Warn("ignoring unknown file", "file", name)
		return bases, nil
	}
	f, err := l.fs.OpenFile(path, 0, 0)
	if err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	size, err := f.Size()
	var next int64
	var valid int64
	if err == nil {
		c := l.config()
		var x indexState
		valid, next, err = walkBatches(f, base, &x, 0, size, base, &c, true, nil, nil)
	}
	f.Close()
	if err != nil && !isDataError(err) {
		return nil, fmt.Errorf("log: %w", err)
	}
	if err != nil || valid == 0 {
		l.logger.Warn("removing invalid swap file", "file", name, "valid_bytes", valid)
		return bases, l.fs.Remove(path)
	}
	kept := bases[:0]
	for _, b := range bases {
		if b >= base && b < next {
			l.logger.Info("removing segment replaced by a swap file", "segment", segmentName(b, logExt), "swap", name)
			for _, ext := range []string{logExt, indexExt, timeIndexExt} {
				if err := l.fs.Remove(join(l.dir, segmentName(b, ext))); err != nil && !isNotExist(err) {
					return nil, fmt.Errorf("log: %w", err)
				}
			}
			continue
		}
		kept = append(kept, b)
	}
	if err := l.fs.Rename(path, join(l.dir, segmentName(base, logExt))); err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	l.logger.Info("completed segment swap", "segment", segmentName(base, logExt))
	return append(kept, base), nil
}

// completeRangeSwap finishes a swap the cleaner committed: the swap file
// replaces every segment whose base offset lies in [base, end), whatever
// batches it holds (compaction leaves offsets sparse, so the file's
// batches do not tell the range). It was synced before it got its name,
// so it is complete; it may be empty.
func (l *Log) completeRangeSwap(name string, base, end int64, bases []int64) ([]int64, error) {
	kept := bases[:0]
	for _, b := range bases {
		if b >= base && b < end {
			l.logger.Info("removing segment replaced by a cleaned segment", "segment", segmentName(b, logExt), "swap", name)
			for _, ext := range []string{logExt, indexExt, timeIndexExt} {
				if err := l.fs.Remove(join(l.dir, segmentName(b, ext))); err != nil && !isNotExist(err) {
					return nil, fmt.Errorf("log: %w", err)
				}
			}
			continue
		}
		kept = append(kept, b)
	}
	// The removals must be durable before the new file takes the name of
	// the first old segment, whose index files would otherwise come back.
	if err := l.fs.SyncDir(l.dir); err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	if err := l.fs.Rename(join(l.dir, name), join(l.dir, segmentName(base, logExt))); err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	l.logger.Info("completed cleaned segment swap", "segment", segmentName(base, logExt), "replaced_up_to", end)
	return append(kept, base), nil
}

func readCleanMarker(fsys FS, dir string) (cleanMarker, error) {
	b, err := readFile(fsys, join(dir, cleanShutdownFile), checkpointLimit)
	if err != nil {
		return cleanMarker{}, err
	}
	return decodeCleanMarker(b)
}

// readOffsetCheckpoint returns the offset in a checkpoint, or -1 when it is
// missing or unreadable (logged).
func (l *Log) readOffsetCheckpoint(name string) int64 {
	v, err := readOffset(l.fs, l.dir, name)
	if err != nil {
		if !isNotExist(err) {
			l.logger.Warn("ignoring unreadable checkpoint", "file", name, "reason", err.Error())
		}
		return -1
	}
	return v
}

// checkActive is the cheap check of a cleanly closed active segment: its
// indexes load and agree with it, and the batches after the last index
// entry end exactly at the file's end and at the marker's end offset.
func (l *Log) checkActive(s *segment, end int64, c *Config) error {
	if end < s.base || end-s.base > math.MaxUint32 {
		return fmt.Errorf("%w: marker end offset %d", records.ErrCorrupt, end)
	}
	idx, tidx, err := loadIndexes(l.fs, s, s.size, max(end, s.base+1))
	var x indexState
	from, expect := int64(0), s.base
	if err != nil {
		l.logger.Warn("rebuilding segment index", "segment", s.file(logExt), "reason", err.Error())
		s.idxStale = true
	} else {
		x = indexState{idx: idx, tidx: tidx}
		if n := len(tidx); n > 0 {
			x.hasTs, x.maxTs, x.maxTsOff = true, tidx[n-1].ts, s.base+int64(tidx[n-1].rel)
		}
		if n := len(idx); n > 0 {
			from, expect = int64(idx[n-1].pos), s.base+int64(idx[n-1].rel)
		}
		s.idxWritten, s.tidxWritten = len(idx), len(tidx)
	}
	validEnd, next, err := walkBatches(s.log, s.base, &x, from, s.size, expect, c, true, make([]byte, 0, 8192), nil)
	if err != nil {
		return err
	}
	if validEnd != s.size || next != end && s.size > 0 || s.size == 0 && end != s.base {
		return fmt.Errorf("%w: batches end at offset %d, marker says %d", records.ErrCorrupt, next, end)
	}
	s.indexState = x
	s.next = end
	s.loaded, s.maxKnown = true, true
	return nil
}

// validate checks the segments from index i on batch by batch, truncating
// at the first bad batch and dropping every segment after it.
func (l *Log) validate(i int, c *Config) error {
	first := i
	expect := l.segs[i].base
	for ; i < len(l.segs); i++ {
		s := l.segs[i]
		if s.base < expect {
			return l.dropFrom(i, fmt.Sprintf("overlaps the previous segment, which ends at offset %d", expect))
		}
		var x indexState
		first := true
		validEnd, next, err := walkBatches(s.log, s.base, &x, 0, s.size, s.base, c, true, nil, func(b records.Batch) {
			if first {
				s.firstTs, s.firstKnown, first = b.MaxTimestamp(), true, false
			}
			l.epochs.assign(b.PartitionLeaderEpoch(), b.BaseOffset())
		})
		if err != nil && !isDataError(err) {
			return fmt.Errorf("log: recover %s: %w", s.file(logExt), err)
		}
		s.indexState = x
		s.loaded, s.maxKnown, s.idxStale = true, true, true
		s.idxWritten, s.tidxWritten = 0, 0
		s.next = next
		// What a killed process left may sit in the page cache only: the
		// recovered log is synced before Open returns.
		s.synced = 0
		if first {
			s.firstTs, s.firstKnown = -1, true
		}
		if err != nil {
			l.logger.Warn("truncating segment at the first invalid batch", "segment", s.file(logExt),
				"position", validEnd, "bytes_truncated", s.size-validEnd, "reason", err.Error())
			if terr := s.log.Truncate(validEnd); terr != nil {
				return fmt.Errorf("log: recover %s: %w", s.file(logExt), terr)
			}
			s.size = validEnd
			if err := l.dropFrom(i+1, "follows a truncated segment"); err != nil {
				return err
			}
		}
		// An empty segment holds nothing a reader needs, and one that does
		// not start where the data before it ends would leave a range of
		// offsets that no read can get past.
		// Below the cleaner checkpoint, compaction leaves such gaps: an
		// empty active segment there is where the log ends.
		if s.size == 0 && len(l.segs) > 1 && (i < len(l.segs)-1 || s.base != expect && s.base > l.firstDirty.Load()) {
			l.logger.Warn("deleting empty segment", "segment", s.file(logExt))
			if err := l.dropSegment(s); err != nil {
				return err
			}
			l.segs = slices.Delete(l.segs, i, i+1)
			i--
			continue
		}
		expect = next
	}
	// Validated segments that are not the last end where the next begins,
	// and, no longer active, get their final time index entry.
	for j := max(first-1, 0); j < len(l.segs)-1; j++ {
		l.segs[j].next = l.segs[j+1].base
		l.segs[j].appendTime(l.segs[j].base)
	}
	return nil
}

// dropFrom deletes segments i and later during recovery.
func (l *Log) dropFrom(i int, reason string) error {
	for _, s := range l.segs[i:] {
		l.logger.Warn("deleting segment", "segment", s.file(logExt), "size", s.size, "reason", reason)
		if err := l.dropSegment(s); err != nil {
			return err
		}
	}
	l.segs = l.segs[:i]
	return nil
}

func (l *Log) dropSegment(s *segment) error {
	err := l.removeSegmentFiles(s)
	s.release()
	if err != nil {
		return fmt.Errorf("log: %w", err)
	}
	return nil
}

// resetTo replaces every segment by one empty segment at base.
func (l *Log) resetTo(base int64) error {
	for _, s := range l.segs {
		if err := l.dropSegment(s); err != nil {
			return err
		}
	}
	l.segs = nil
	s, err := l.openSegment(base, true)
	if err != nil {
		return fmt.Errorf("log: %w", err)
	}
	l.segs = []*segment{s}
	l.end = base
	l.epochs.es = nil
	return nil
}

// scanEpochs feeds the leader epochs of a segment's batches to the cache.
func (l *Log) scanEpochs(s *segment) error {
	sc := newScanner(s.log, 0, s.size, nil)
	for {
		b, _, _, err := sc.next(false)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("log: rebuild leader epochs from %s: %w", s.file(logExt), err)
		}
		l.epochs.assign(b.PartitionLeaderEpoch(), b.BaseOffset())
	}
}

// MkdirDurable creates dir and any missing parents, and syncs the parent
// of each directory it created so that the new entries survive a crash.
func MkdirDurable(fsys FS, dir string) error {
	var created []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := fsys.Stat(d); err == nil {
			break
		} else if !isNotExist(err) {
			return err
		}
		created = append(created, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if len(created) == 0 {
		return nil
	}
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i := len(created) - 1; i >= 0; i-- {
		if err := fsys.SyncDir(filepath.Dir(created[i])); err != nil {
			return err
		}
	}
	return nil
}

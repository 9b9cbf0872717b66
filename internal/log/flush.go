package log

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
)

// flushItem is one segment a flush makes durable.
type flushItem struct {
	s    *segment
	size int64 // bytes of the segment to make durable
	// Index entries to write, when the segment's index files are due:
	// encoded in flushBuf[idxAt:tidxAt] and [tidxAt:end], to be written at
	// entry idxFrom and tidxFrom of the files.
	writeIdx          bool
	idxFrom, idxTo    int
	tidxFrom, tidxTo  int
	idxAt, tidxAt, at int
}

// Flush makes everything appended so far durable and returns the offset
// below which the log is durable: the log end offset as it was when the
// flush started. Appends that run concurrently are covered by the next
// Flush (group commit).
//
// When a sync fails the log is truncated back to the last durable offset
// (the kernel may have dropped the data after it, and it was never
// acknowledged), and Flush returns that offset with the error. Every append
// at or beyond it is lost; callers waiting on those offsets must fail.
// Later appends and flushes work once the fault clears.
func (l *Log) Flush() (durable int64, err error) {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	if p := l.pendingTrunc.Load(); p >= 0 {
		if err := l.truncateAfterFailure(p); err != nil {
			return p, err
		}
	}
	d, err := l.flush(false)
	if err == nil || errors.Is(err, ErrClosed) {
		return d, err
	}
	l.logger.Error("flush failed; truncating to the last durable offset", "durable", d, "reason", err.Error())
	if terr := l.truncateAfterFailure(d); terr != nil {
		l.logger.Error("could not truncate after a failed flush; appends wait for a flush that can", "reason", terr.Error())
	}
	return d, fmt.Errorf("log: flush %s: %w", l.dir, err)
}

// truncateAfterFailure cuts the log back to d, the durable offset, after a
// failed sync. If it cannot, appends are refused until a flush can.
// Caller holds flushMu.
func (l *Log) truncateAfterFailure(d int64) error {
	l.metaMu.Lock()
	defer l.metaMu.Unlock()
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return ErrClosed
	}
	var err error
	if l.end > d {
		err = l.truncateLocked(d)
	}
	var applied appliedErr
	if err != nil && !errors.As(err, &applied) {
		l.pendingTrunc.Store(d)
		return fmt.Errorf("log: truncate to durable offset %d: %w", d, err)
	}
	if err != nil {
		l.logger.Warn("truncated to the durable offset; the files catch up later", "durable", d, "reason", err.Error())
	}
	l.pendingTrunc.Store(-1)
	return nil
}

// flush syncs every segment with unsynced bytes and, for segments that are
// no longer active (or all of them), writes and syncs their index files;
// then syncs the directory if files came or went. Caller holds flushMu.
func (l *Log) flush(all bool) (int64, error) {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return 0, ErrClosed
	}
	end := l.end
	active := l.segs[len(l.segs)-1]
	items := l.flushSegs[:0]
	buf := l.flushBuf[:0]
	for _, s := range l.segs {
		it := flushItem{s: s, size: s.size}
		if (s != active || all) && s.loaded && (s.idxStale || s.idxWritten < len(s.idx) || s.tidxWritten < len(s.tidx)) {
			it.writeIdx = true
			it.idxFrom, it.tidxFrom = s.idxWritten, s.tidxWritten
			if s.idxStale {
				it.idxFrom, it.tidxFrom = 0, 0
			}
			it.idxTo, it.tidxTo = len(s.idx), len(s.tidx)
			it.idxAt = len(buf)
			buf = appendOffsetEntries(buf, s.idx[it.idxFrom:it.idxTo])
			it.tidxAt = len(buf)
			buf = appendTimeEntries(buf, s.tidx[it.tidxFrom:it.tidxTo])
			it.at = len(buf)
		}
		if s.synced < s.size || it.writeIdx {
			s.acquire()
			items = append(items, it)
		}
	}
	dirGen := l.dirGen
	needDir := l.dirGen != l.dirSync
	rollFlush := active.base > l.lastRP.Load()
	l.mu.RUnlock()
	l.flushSegs, l.flushBuf = items, buf

	var err error
	for _, it := range items {
		if it.writeIdx {
			if err = l.writeIndex(it.s.file(indexExt), buf[it.idxAt:it.tidxAt], int64(it.idxFrom)*offsetEntrySize); err != nil {
				break
			}
			if err = l.writeIndex(it.s.file(timeIndexExt), buf[it.tidxAt:it.at], int64(it.tidxFrom)*timeEntrySize); err != nil {
				break
			}
		}
		if err = it.s.log.Sync(); err != nil {
			break
		}
		if it.writeIdx {
			// Retention or a truncation may have removed the segment while
			// its index files were being written: they marked it first and
			// unlink after, so whichever of the two comes second removes
			// the files.
			l.mu.RLock()
			gone := it.s.deleted
			l.mu.RUnlock()
			if gone {
				l.fs.Remove(it.s.file(indexExt))
				l.fs.Remove(it.s.file(timeIndexExt))
			}
		}
	}
	if err == nil && needDir {
		err = l.fs.SyncDir(l.dir)
	}
	l.mu.Lock()
	if err == nil {
		for _, it := range items {
			s := it.s
			s.synced = max(s.synced, min(it.size, s.size))
			if it.writeIdx {
				s.idxWritten, s.tidxWritten, s.idxStale = it.idxTo, it.tidxTo, false
			}
		}
		l.dirSync = max(l.dirSync, dirGen)
		l.durable = max(l.durable, end)
		l.checkInvariants()
	}
	durable := l.durable
	l.mu.Unlock()
	for i := range items {
		items[i].s.release()
		items[i] = flushItem{}
	}
	if err != nil {
		return durable, err
	}
	if rollFlush && !all {
		// Segments rolled since the recovery point was last checkpointed are
		// durable now, indexes included: move it up so that recovery after a
		// crash validates only the active segment. Failing here costs only a
		// longer recovery.
		if err := l.writeCheckpoints(); err != nil {
			l.logger.Warn("could not checkpoint the recovery point", "reason", err.Error())
		}
	}
	return end, nil
}

// writeIndex writes entries at byte at of an index file, cutting off
// whatever the file held from there on, and syncs it.
func (l *Log) writeIndex(name string, entries []byte, at int64) error {
	f, err := l.fs.OpenFile(name, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	err = f.Truncate(at)
	if err == nil && len(entries) > 0 {
		_, err = f.WriteAt(entries, at)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeCheckpoints writes the leader epoch cache and then the recovery
// point (the durable offset): recovery trusts the epochs below the
// recovery point's segment, so they must be on disk before it moves.
func (l *Log) writeCheckpoints() error {
	l.ckptMu.Lock()
	defer l.ckptMu.Unlock()
	l.mu.RLock()
	es := slices.Clone(l.epochs.es)
	rp := l.durable
	l.mu.RUnlock()
	// What is on disk already is not written again.
	if b := encodeEpochs(es); !bytes.Equal(b, l.epochsOnDisk) {
		if err := writeAtomic(l.fs, l.dir, epochCheckpointFile, b); err != nil {
			return err // the old file, and epochsOnDisk, still hold
		}
		l.epochsOnDisk = b
	}
	if rp != l.lastRP.Load() {
		if err := writeAtomic(l.fs, l.dir, recoveryCheckpointFile, encodeOffset(rp)); err != nil {
			return err // the old file, and lastRP, still hold
		}
		l.lastRP.Store(rp)
	}
	return nil
}

// lowerRecoveryPoint makes the recovery point at most o before data below
// it is rewritten: a truncation followed by appends and a roll must not
// leave unsynced segments below a recovery point that vouches for them.
// When the write fails the appender writes it before its next roll.
func (l *Log) lowerRecoveryPoint(o int64) error {
	l.ckptMu.Lock()
	defer l.ckptMu.Unlock()
	if l.lastRP.Load() <= o {
		return nil
	}
	if err := writeAtomic(l.fs, l.dir, recoveryCheckpointFile, encodeOffset(o)); err != nil {
		l.rpLow = o
		return err
	}
	l.lastRP.Store(o)
	return nil
}

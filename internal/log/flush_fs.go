package log

import (
	"errors"
	"fmt"
)

// FSFlush is a flush of one log whose syncs are replaced by one SyncFS of
// the whole file system, shared with other logs: the caller prepares the
// flush of many logs, syncs the file system once, and finishes each.
// Between PrepareFlush and Finish the log's flush lock is held, so appends
// go on but other flushes, truncations and Close wait.
type FSFlush struct {
	l     *Log
	end   int64
	items []fsFlushItem
}

type fsFlushItem struct {
	s    *segment
	size int64
}

// PrepareFlush captures what a flush must make durable, if a file-system
// sync is all it needs: segment data only. When segments were rolled (their
// index files are due) or files came or went (the directory must be
// synced), ok is false and nothing is held: call Flush instead.
func (l *Log) PrepareFlush() (f *FSFlush, ok bool) {
	l.flushMu.Lock()
	if l.pendingTrunc.Load() >= 0 {
		l.flushMu.Unlock()
		return nil, false
	}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		l.flushMu.Unlock()
		return nil, false
	}
	active := l.segs[len(l.segs)-1]
	simple := l.dirGen == l.dirSync && active.base <= l.lastRP.Load()
	f = &FSFlush{l: l, end: l.end}
	for _, s := range l.segs {
		if !simple {
			break
		}
		if s != active && s.loaded && (s.idxStale || s.idxWritten < len(s.idx) || s.tidxWritten < len(s.tidx)) {
			simple = false
			break
		}
		if s.synced < s.size {
			s.acquire()
			f.items = append(f.items, fsFlushItem{s: s, size: s.size})
		}
	}
	l.mu.RUnlock()
	if !simple {
		for _, it := range f.items {
			it.s.release()
		}
		l.flushMu.Unlock()
		return nil, false
	}
	return f, true
}

// Finish completes the flush after the file-system sync returned syncErr,
// with Flush's results: the durable offset, and on failure the log cut back
// to it.
func (f *FSFlush) Finish(syncErr error) (durable int64, err error) {
	l := f.l
	defer l.flushMu.Unlock()
	l.mu.Lock()
	if syncErr == nil {
		for _, it := range f.items {
			it.s.synced = max(it.s.synced, min(it.size, it.s.size))
		}
		l.durable = max(l.durable, f.end)
		l.checkInvariants()
	}
	durable = l.durable
	l.mu.Unlock()
	for _, it := range f.items {
		it.s.release()
	}
	if syncErr == nil {
		return f.end, nil
	}
	if errors.Is(syncErr, ErrClosed) {
		return durable, syncErr
	}
	l.logger.Error("file system sync failed; truncating to the last durable offset", "durable", durable, "reason", syncErr.Error())
	if terr := l.truncateAfterFailure(durable); terr != nil {
		l.logger.Error("could not truncate after a failed flush; appends wait for a flush that can", "reason", terr.Error())
	}
	return durable, fmt.Errorf("log: flush %s: %w", l.dir, syncErr)
}

// Empty reports whether the flush has no data to make durable.
func (f *FSFlush) Empty() bool { return len(f.items) == 0 }

package partition

import (
	"sync"
	"sync/atomic"
	"time"

	plog "github.com/plexus/plexus/internal/log"
)

// Flusher makes appended batches durable for every partition of a broker.
// A partition with unsynced appends is in the queue at most once; appends
// that land while its flush runs queue it again, so each sync covers
// everything appended before it started (group commit).
//
// Where the file system can be synced as a whole (Linux syncfs), one
// goroutine runs flush rounds: it takes every queued partition, prepares
// their flushes, syncs the file system once and completes them all. One
// journal commit then covers any number of partitions, where a sync per
// partition file costs one each (on ext4 about six times the wall time and
// seven times the kernel CPU at 100 partitions). Elsewhere a pool of
// goroutines syncs partitions one by one.
type Flusher struct {
	mu     sync.Mutex
	cond   *sync.Cond
	queue  []*Partition
	spare  []*Partition
	head   int
	closed bool
	wg     sync.WaitGroup

	syncer plog.FileSystemSyncer // nil: sync partitions one by one
	dir    string                // the data directory SyncFS syncs

	rootOnce sync.Once // looks up root: the file system holding dir
	root     uint64
	rootOK   bool

	// observe, when set, receives the duration of every sync.
	observe atomic.Pointer[func(time.Duration)]
}

// NewFlusher starts the flusher for partitions stored under dir on fs.
// workers is the pool size when fs cannot sync the whole file system.
func NewFlusher(workers int, fs plog.FS, dir string) *Flusher {
	f := &Flusher{dir: dir}
	f.cond = sync.NewCond(&f.mu)
	if plog.SupportsSyncFS(fs) {
		f.syncer = fs.(plog.FileSystemSyncer)
		f.wg.Add(1)
		go f.rounds()
		return f
	}
	workers = max(workers, 1)
	f.wg.Add(workers)
	for i := 0; i < workers; i++ {
		go f.run()
	}
	return f
}

// Covers reports whether the flusher's file-system sync makes what is
// written under dir durable: it syncs file systems as a whole and dir is
// on the one it syncs. A partition elsewhere (a mount point or a link to
// another disk inside the data directory) is synced on its own, and must
// not defer its syncs to a SyncFS of the data directory.
func (f *Flusher) Covers(fsys plog.FS, dir string) bool {
	if f == nil || f.syncer == nil {
		return false
	}
	root, ok := f.rootFS(fsys)
	if !ok {
		return false
	}
	id, ok := plog.FileSystemOf(fsys, dir)
	return ok && id == root
}

// rootFS identifies the file system the flusher syncs, looked up once:
// thousands of partitions open at a time.
func (f *Flusher) rootFS(fsys plog.FS) (uint64, bool) {
	f.rootOnce.Do(func() { f.root, f.rootOK = plog.FileSystemOf(fsys, f.dir) })
	return f.root, f.rootOK
}

// Observe sets a function that receives the duration of every sync
// (fsync latency metrics).
func (f *Flusher) Observe(fn func(time.Duration)) { f.observe.Store(&fn) }

func (f *Flusher) observed(d time.Duration) {
	if f == nil {
		return
	}
	if fn := f.observe.Load(); fn != nil {
		(*fn)(d)
	}
}

func (f *Flusher) enqueue(p *Partition) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		// After Close the caller flushes synchronously.
		p.flushNow()
		return
	}
	f.queue = append(f.queue, p)
	f.mu.Unlock()
	f.cond.Signal()
}

// run is a pool worker: one partition at a time, each synced on its own.
func (f *Flusher) run() {
	defer f.wg.Done()
	for {
		f.mu.Lock()
		for f.head == len(f.queue) && !f.closed {
			f.cond.Wait()
		}
		if f.head == len(f.queue) {
			f.mu.Unlock()
			return
		}
		p := f.queue[f.head]
		f.queue[f.head] = nil
		f.head++
		if f.head == len(f.queue) {
			f.queue, f.head = f.queue[:0], 0
		}
		f.mu.Unlock()
		p.flushNow()
	}
}

// rounds takes everything queued, flushes it with one file-system sync,
// and repeats.
func (f *Flusher) rounds() {
	defer f.wg.Done()
	var ready []*Partition
	var flushes []*plog.FSFlush
	for {
		f.mu.Lock()
		for len(f.queue) == 0 && !f.closed {
			f.cond.Wait()
		}
		if len(f.queue) == 0 {
			f.mu.Unlock()
			return
		}
		batch := f.queue
		f.queue, f.spare = f.spare[:0], nil
		f.mu.Unlock()

		ready, flushes = ready[:0], flushes[:0]
		for _, p := range batch {
			p.flushMu.Lock()
			p.queued.Store(false)
			var fl *plog.FSFlush
			ok := !p.ownFS
			if ok {
				fl, ok = p.log.PrepareFlush()
			}
			if !ok {
				// Not on the synced file system, or a roll or a new
				// file (index files and the directory need syncing
				// too): a full flush of its own.
				p.flushLocked()
				p.flushMu.Unlock()
				continue
			}
			ready = append(ready, p)
			flushes = append(flushes, fl)
		}
		if len(ready) > 0 {
			var err error
			start := time.Now()
			err = f.syncer.SyncFS(f.dir)
			f.observed(time.Since(start))
			for i, p := range ready {
				durable, ferr := flushes[i].Finish(err)
				p.flushed(durable, ferr)
				p.flushMu.Unlock()
				ready[i], flushes[i] = nil, nil
			}
		}
		clear(batch)
		f.mu.Lock()
		f.spare = batch[:0]
		f.mu.Unlock()
	}
}

// Close flushes what is queued and stops the flusher.
func (f *Flusher) Close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.cond.Broadcast()
	f.wg.Wait()
}

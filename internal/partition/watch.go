package partition

// Watcher is a waiting fetch: one channel shared by every partition the
// fetch reads, signalled when any of them has news (new durable data, a
// moved log start, a closed partition). It is how long polls wake on
// appends instead of polling.
type Watcher struct {
	C chan struct{}
}

// NewWatcher returns a watcher with a one-slot channel, so a signal is
// never lost and never blocks the partition.
func NewWatcher() *Watcher { return &Watcher{C: make(chan struct{}, 1)} }

// Watch registers w until Unwatch.
func (p *Partition) Watch(w *Watcher) {
	p.ackMu.Lock()
	p.watchers[w] = struct{}{}
	p.ackMu.Unlock()
}

// Unwatch removes w.
func (p *Partition) Unwatch(w *Watcher) {
	p.ackMu.Lock()
	delete(p.watchers, w)
	p.ackMu.Unlock()
}

func (p *Partition) notifyWatchers() {
	p.ackMu.Lock()
	p.wakeLocked()
	p.ackMu.Unlock()
}

func (p *Partition) wakeLocked() {
	for w := range p.watchers {
		select {
		case w.C <- struct{}{}:
		default:
		}
	}
}

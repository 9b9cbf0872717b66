package broker

// Incremental fetch sessions (KIP-227).
//
// A consumer that fetches many partitions opens a session with a full fetch
// (epoch 0); the broker remembers the partitions and their fetch offsets
// and returns a session id. Later fetches (epoch 1, 2, ...) name only the
// partitions whose fetch offset changed, plus the ones to forget, and the
// response carries only partitions with news: records, an error, or a
// moved high watermark, last stable offset or log start offset. Epoch -1
// is a sessionless full fetch and closes a session it names.

import (
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/plexus/plexus/internal/cluster"
)

// fetchKey names one partition of a session: by topic id (Fetch v13+) or
// by name (older versions).
type fetchKey struct {
	id    cluster.TopicID
	name  string
	index int32
}

// fetchPart is what a session remembers of one partition.
type fetchPart struct {
	key         fetchKey
	offset      int64
	maxBytes    int32
	leaderEpoch int32
	// What the last response told the client, to detect news.
	hwm, lso, logStart int64
	sent               bool
}

type fetchSession struct {
	id    int32
	epoch int32 // the epoch the next request must carry
	parts []*fetchPart
	byKey map[fetchKey]*fetchPart
	used  uint64    // LRU clock
	last  time.Time // when last used, for eviction
	busy  bool
}

type fetchSessions struct {
	mu    sync.Mutex
	slots int
	m     map[int32]*fetchSession
	clock uint64
	now   func() time.Time
}

// sessionIdle is how long a session must go unused before a new one may
// evict it from a full cache: Kafka's eviction window (120 s).
const sessionIdle = 120 * time.Second

// newFetchSessions makes a cache of slots sessions; 0 keeps none, so
// every fetch goes without one.
func newFetchSessions(slots int) *fetchSessions {
	return &fetchSessions{slots: slots, m: make(map[int32]*fetchSession), now: time.Now}
}

// create opens a session. When the cache is full it evicts the least
// recently used session, but only one idle for sessionIdle: evicting a
// session in use would send its client back to full fetches, which would
// evict another, and so on, as Kafka's cache avoids too. It returns nil
// when no slot can be freed; the fetch is then answered without a session
// (session id 0), and the client keeps fetching in full.
func (fs *fetchSessions) create() *fetchSession {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	now := fs.now()
	if len(fs.m) >= fs.slots {
		var lru *fetchSession
		for _, s := range fs.m {
			if !s.busy && (lru == nil || s.used < lru.used) {
				lru = s
			}
		}
		if lru == nil || now.Sub(lru.last) < sessionIdle {
			return nil
		}
		delete(fs.m, lru.id)
	}
	s := &fetchSession{epoch: 1, byKey: make(map[fetchKey]*fetchPart), busy: true}
	for {
		s.id = rand.Int32N(math.MaxInt32-1) + 1
		if _, taken := fs.m[s.id]; !taken {
			break
		}
	}
	fs.clock++
	s.used, s.last = fs.clock, now
	fs.m[s.id] = s
	return s
}

// acquire looks a session up for an incremental fetch and marks it busy;
// busy reports that another request holds it (the session is not taken).
func (fs *fetchSessions) acquire(id int32) (s *fetchSession, busy bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	s = fs.m[id]
	if s == nil || s.busy {
		return s, s != nil
	}
	s.busy = true
	fs.clock++
	s.used, s.last = fs.clock, fs.now()
	return s, false
}

func (fs *fetchSessions) release(s *fetchSession) {
	fs.mu.Lock()
	s.busy = false
	fs.mu.Unlock()
}

func (fs *fetchSessions) remove(id int32) {
	fs.mu.Lock()
	delete(fs.m, id)
	fs.mu.Unlock()
}

// upsert adds a partition or updates its fetch position.
func (s *fetchSession) upsert(k fetchKey, offset int64, maxBytes, leaderEpoch int32) {
	if p := s.byKey[k]; p != nil {
		p.offset, p.maxBytes, p.leaderEpoch = offset, maxBytes, leaderEpoch
		return
	}
	p := &fetchPart{key: k, offset: offset, maxBytes: maxBytes, leaderEpoch: leaderEpoch}
	s.byKey[k] = p
	s.parts = append(s.parts, p)
}

func (s *fetchSession) forget(k fetchKey) {
	if _, ok := s.byKey[k]; !ok {
		return
	}
	delete(s.byKey, k)
	for i, p := range s.parts {
		if p.key == k {
			s.parts = append(s.parts[:i], s.parts[i+1:]...)
			return
		}
	}
}

// rotate moves the partitions that returned data to the back, so that
// under a response size limit the others get their turn next time.
func (s *fetchSession) rotate(returned map[*fetchPart]bool) {
	if len(returned) == 0 || len(returned) == len(s.parts) {
		return
	}
	out := make([]*fetchPart, 0, len(s.parts))
	for _, p := range s.parts {
		if !returned[p] {
			out = append(out, p)
		}
	}
	for _, p := range s.parts {
		if returned[p] {
			out = append(out, p)
		}
	}
	s.parts = out
}

func nextEpoch(e int32) int32 {
	if e == math.MaxInt32 {
		return 1
	}
	return e + 1
}

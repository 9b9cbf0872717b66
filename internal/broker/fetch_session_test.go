package broker

import (
	"testing"
	"time"
)

// A full cache evicts only a session idle for Kafka's eviction window:
// before that a new session is refused (its fetch goes without one), so
// that sessions in use are not pushed out in a cascade of full fetches.
func TestFetchSessionEvictsOnlyIdle(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	fs := newFetchSessions(2)
	fs.now = func() time.Time { return now }
	open := func() *fetchSession {
		s := fs.create()
		if s != nil {
			fs.release(s)
		}
		return s
	}
	a, b := open(), open()
	if a == nil || b == nil {
		t.Fatal("the first two sessions were refused")
	}
	now = now.Add(sessionIdle - time.Second)
	if s, _ := fs.acquire(b.id); s == nil {
		t.Fatal("session b lost")
	} else {
		fs.release(s) // b is used; a is not
	}
	if c := open(); c != nil {
		t.Fatalf("session %d created by evicting one used %v ago", c.id, sessionIdle-time.Second)
	}
	now = now.Add(2 * time.Second) // a idle past the window, b one second
	c := open()
	if c == nil {
		t.Fatal("no session created though one was idle past the window")
	}
	if s, _ := fs.acquire(a.id); s != nil {
		t.Error("the idle session a survived the eviction")
	}
	if s, _ := fs.acquire(b.id); s == nil {
		t.Error("the recently used session b was evicted")
	}
}

// max.incremental.fetch.session.cache.slots=0 keeps no sessions: every
// fetch goes without one, as in Kafka.
func TestFetchSessionsNone(t *testing.T) {
	if s := newFetchSessions(0).create(); s != nil {
		t.Fatalf("session %d created with no slots", s.id)
	}
}

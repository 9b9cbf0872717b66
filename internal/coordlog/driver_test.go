package coordlog

import (
	"sync"
	"testing"
	"time"
)

// machine is a state machine for the driver's tests: it answers a request
// with its id doubled, notes appends and ticks, and has one deadline.
type machine struct {
	appended []uint64
	ticks    int
	due      time.Time // zero: none
}

type output struct {
	replies []uint64 // ids to answer
	appends []uint64 // tokens to append (nil acks: durable at once)
}

func newTestDriver(t *testing.T, now func() time.Time) (*Driver[*machine, output, uint64], *machine) {
	m := &machine{}
	var d *Driver[*machine, output, uint64]
	d = NewDriver[*machine, output, uint64](m, now, Hooks[*machine, output]{
		Execute: func(o output) {
			for _, id := range o.replies {
				d.Reply(id, 2*id)
			}
			for _, tok := range o.appends {
				d.Appending(0, tok, nil)
			}
		},
		ErrorCode: func(error) int16 { return -1 },
		Appended: func(m *machine, _ time.Time, token uint64, code int16) output {
			if code != 0 {
				t.Errorf("append %d: code %d", token, code)
			}
			m.appended = append(m.appended, token)
			return output{}
		},
		Tick: func(m *machine, _ time.Time) output {
			m.ticks++
			m.due = time.Time{}
			return output{}
		},
		Next: func(m *machine) (time.Time, bool) { return m.due, !m.due.IsZero() },
	})
	t.Cleanup(func() { d.Close(func(*machine, time.Time) output { return output{} }) })
	return d, m
}

// eventually polls cond under the driver's lock.
func eventually(t *testing.T, d *Driver[*machine, output, uint64], what string, cond func(m *machine) bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		ok := false
		d.Locked(func(m *machine, _ bool) { ok = cond(m) })
		if ok {
			return
		}
	}
	t.Fatalf("never: %s", what)
}

func TestDriverRepliesAppendsAndTicks(t *testing.T) {
	d, _ := newTestDriver(t, time.Now)
	// A request answered at once.
	_, ch := d.Start(func(_ *machine, _ time.Time, id uint64) output { return output{replies: []uint64{id}} })
	if r, ok := d.Wait(ch, nil); !ok || r != 2 {
		t.Fatalf("reply %d, %v; want 2", r, ok)
	}
	// A request answered by a later event.
	id2, ch2 := d.Start(func(*machine, time.Time, uint64) output { return output{} })
	d.Event(func(*machine, time.Time) output { return output{replies: []uint64{id2}} })
	if r, ok := d.Wait(ch2, nil); !ok || r != 2*id2 {
		t.Fatalf("reply %d, %v; want %d", r, ok, 2*id2)
	}
	// Appends are reported in order.
	d.Event(func(*machine, time.Time) output { return output{appends: []uint64{5, 6, 7}} })
	eventually(t, d, "appends 5, 6, 7 reported", func(m *machine) bool { return len(m.appended) == 3 })
	d.Locked(func(m *machine, _ bool) {
		if m.appended[0] != 5 || m.appended[1] != 6 || m.appended[2] != 7 {
			t.Fatalf("appended %v, want [5 6 7]", m.appended)
		}
	})
	// A deadline set by an event is run by the timer loop.
	d.Event(func(m *machine, now time.Time) output { m.due = now; return output{} })
	eventually(t, d, "the deadline ticked", func(m *machine) bool { return m.ticks == 1 })
}

// A waiting request gives up when its client goes or the driver stops;
// after the stop nothing more runs.
func TestDriverWaitEnds(t *testing.T) {
	d, _ := newTestDriver(t, time.Now)
	gone := make(chan struct{})
	_, ch := d.Start(func(*machine, time.Time, uint64) output { return output{} })
	close(gone)
	if _, ok := d.Wait(ch, gone); ok {
		t.Fatal("a reply though none was sent")
	}

	_, ch = d.Start(func(*machine, time.Time, uint64) output { return output{} })
	var wg sync.WaitGroup
	wg.Add(1)
	var ok bool
	go func() {
		defer wg.Done()
		_, ok = d.Wait(ch, nil)
	}()
	shutdown := false
	d.Close(func(*machine, time.Time) output { shutdown = true; return output{} })
	wg.Wait()
	if ok || !shutdown {
		t.Fatalf("after Close: reply %v, shutdown ran %v", ok, shutdown)
	}
	if _, ch := d.Start(func(*machine, time.Time, uint64) output { return output{} }); ch != nil {
		t.Fatal("a request started after Close")
	}
	ran := false
	d.Event(func(*machine, time.Time) output { ran = true; return output{} })
	d.Locked(func(_ *machine, stopped bool) {
		if ran || !stopped {
			t.Fatalf("after Close: event ran %v, stopped %v", ran, stopped)
		}
	})
}

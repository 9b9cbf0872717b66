package coordlog

import (
	"sync"
	"testing"
)

// Appends complete in the order they were added on each partition, and
// after runs once the completions it follows are reported.
func TestOrderPerPartition(t *testing.T) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[int32][]uint64{}
	reported := 0
	all := make(chan struct{})
	const parts, per = 4, 200
	q := New(stop, &wg, func(token uint64, err error) {
		if err != nil {
			t.Errorf("token %d: %v", token, err)
		}
		mu.Lock()
		got[int32(token%parts)] = append(got[int32(token%parts)], token)
		reported++
		mu.Unlock()
	}, func() {
		mu.Lock()
		defer mu.Unlock()
		if reported == parts*per {
			select {
			case <-all:
			default:
				close(all)
			}
		}
	})
	for i := uint64(0); i < parts*per; i++ {
		q.Add(int32(i%parts), i, nil)
	}
	<-all
	close(stop)
	wg.Wait()
	for p := int32(0); p < parts; p++ {
		tokens := got[p]
		if len(tokens) != per {
			t.Fatalf("partition %d: %d completions, want %d", p, len(tokens), per)
		}
		for i := 1; i < len(tokens); i++ {
			if tokens[i] <= tokens[i-1] {
				t.Fatalf("partition %d: token %d completed after %d", p, tokens[i], tokens[i-1])
			}
		}
	}
}

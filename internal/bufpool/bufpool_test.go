package bufpool

import "testing"

func TestGetPutClasses(t *testing.T) {
	for _, n := range []int{0, 1, 1023, 1024, 1025, 4096, 5000, 1 << 20, 1<<26 + 1} {
		b := Get(n)
		if len(b) != n {
			t.Fatalf("Get(%d) has len %d", n, len(b))
		}
		if n <= 1<<26 && cap(b)&(cap(b)-1) != 0 {
			t.Fatalf("Get(%d) cap %d is not a class size", n, cap(b))
		}
		Put(b)
	}
}

func TestReuse(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		b := Get(3000)
		Put(b)
	})
	// sync.Pool boxes the slice header once per Put; the buffer itself
	// must not be reallocated.
	if allocs > 1 {
		t.Fatalf("Get/Put allocates %v per run", allocs)
	}
}

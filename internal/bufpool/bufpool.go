// Package bufpool holds byte buffers in power-of-two size classes so that
// request frames and response encodings are reused instead of allocated per
// request.
package bufpool

import (
	"math/bits"
	"sync"
)

const (
	minShift = 10 // 1 KiB
	maxShift = 26 // 64 MiB; larger buffers are allocated and dropped
)

var classes [maxShift - minShift + 1]sync.Pool

func class(n int) int {
	if n <= 1<<minShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minShift
}

// Get returns a buffer of length n. Its contents are undefined. The caller
// owns it until it passes it to Put.
func Get(n int) []byte {
	c := class(n)
	if c >= len(classes) {
		return make([]byte, n)
	}
	if p, ok := classes[c].Get().(*[]byte); ok {
		return (*p)[:n]
	}
	return make([]byte, n, 1<<(c+minShift))
}

// Put returns a buffer obtained from Get (or any buffer whose capacity is a
// class size). The caller must not touch it afterwards.
func Put(b []byte) {
	c := cap(b)
	if c < 1<<minShift || c&(c-1) != 0 {
		return
	}
	i := class(c)
	if i >= len(classes) {
		return
	}
	b = b[:0]
	classes[i].Put(&b)
}

package bench

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Payload kinds: what fills a record's value after its 8-byte time stamp.
const (
	PayloadRandom     = "random"      // random bytes: incompressible
	PayloadHalfRandom = "half-random" // first half random, second half repeated text: compresses to about half
	PayloadZeros      = "zeros"       // all zero: compresses to almost nothing
)

// stampLen is the size of the time stamp at the start of every value of
// at least this size: the record's intended (or actual) send time in
// nanoseconds since the Unix epoch, big endian. It is how produce
// callbacks and the e2e consumer know when a record was due.
const stampLen = 8

func checkPayload(kind string) error {
	switch kind {
	case PayloadRandom, PayloadHalfRandom, PayloadZeros:
		return nil
	}
	return fmt.Errorf("--payload %q: use %s, %s or %s", kind, PayloadRandom, PayloadHalfRandom, PayloadZeros)
}

// filler is repeated in the compressible half of half-random payloads.
const filler = "plexus benchmark payload: the quick brown fox jumps over the lazy dog 0123456789. "

// FillPayload fills b according to kind, using rng for random bytes.
func FillPayload(b []byte, kind string, rng *rand.ChaCha8) {
	switch kind {
	case PayloadZeros:
		clear(b)
	case PayloadHalfRandom:
		h := len(b) / 2
		_, _ = rng.Read(b[:h])
		for i := h; i < len(b); i += copy(b[i:], filler) {
		}
	default:
		_, _ = rng.Read(b)
	}
}

// PutStamp writes t into the first 8 bytes of v; shorter values are left
// alone.
func PutStamp(v []byte, t time.Time) {
	if len(v) >= stampLen {
		binary.BigEndian.PutUint64(v, uint64(t.UnixNano()))
	}
}

// Stamp reads the time written by PutStamp; ok is false for a value too
// short to hold one.
func Stamp(v []byte) (t time.Time, ok bool) {
	if len(v) < stampLen {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v))), true
}

// recordPool recycles records, their values and key buffers: a record
// comes back once its produce promise has run, when franz-go no longer
// refers to it, so a run allocates only as many records as are in flight
// at once and the client spends its CPU on producing, not on garbage.
type recordPool struct {
	topic   string
	size    int
	payload string
	keyed   bool
	pool    sync.Pool
}

func newRecordPool(topic string, size int, payload string, keyed bool) *recordPool {
	p := &recordPool{topic: topic, size: size, payload: payload, keyed: keyed}
	seed := [32]byte{}
	binary.LittleEndian.PutUint64(seed[:], uint64(time.Now().UnixNano()))
	var mu sync.Mutex
	rng := rand.NewChaCha8(seed)
	p.pool.New = func() any {
		v := make([]byte, size)
		mu.Lock()
		FillPayload(v, payload, rng)
		mu.Unlock()
		r := &kgo.Record{Topic: topic, Value: v}
		if keyed {
			r.Key = make([]byte, 0, 24)
		}
		return r
	}
	return p
}

// get returns a record with the pool's topic and a value of the pool's
// size; its key is nil, or an empty buffer to append to if the pool is
// keyed (a non-nil empty key would be hashed, sending every record to
// one partition).
func (p *recordPool) get() *kgo.Record {
	r := p.pool.Get().(*kgo.Record)
	key := r.Key
	if key != nil {
		key = key[:0]
	}
	*r = kgo.Record{Topic: p.topic, Value: r.Value, Key: key}
	return r
}

func (p *recordPool) put(r *kgo.Record) { p.pool.Put(r) }

// AppendKey appends the key of number n of a keyspace: "k" and n in
// decimal, so keys are short, distinct and cheap to make.
func AppendKey(dst []byte, n int64) []byte {
	return strconv.AppendInt(append(dst, 'k'), n, 10)
}

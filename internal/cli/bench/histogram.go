package bench

import (
	"math"
	"math/bits"
	"time"
)

// Histogram counts non-negative durations in log-linear buckets, as
// HdrHistogram does: values below 2*subBuckets are exact; above, every
// power of two is split into subBuckets equal buckets, so a bucket is at
// most 1/subBuckets (0.8%) wide relative to its values. It never
// allocates after New and holds about 57 KiB whatever the range (0 to
// 2^63-1 ns). Not safe for concurrent use.
type Histogram struct {
	counts   []uint64
	total    uint64
	min, max int64
	sum      float64
}

const (
	subBucketBits = 7
	subBuckets    = 1 << subBucketBits                           // buckets per power of two above 2*subBuckets
	exactBelow    = 2 * subBuckets                               // values below this have a bucket each
	numBuckets    = exactBelow + (63-subBucketBits-1)*subBuckets // bits.Len64 of an int64 is at most 63
)

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	return &Histogram{counts: make([]uint64, numBuckets), min: math.MaxInt64}
}

// bucketOf maps a value to its bucket index.
func bucketOf(v int64) int {
	if v < exactBelow {
		return int(v)
	}
	u := uint64(v)
	shift := bits.Len64(u) - subBucketBits - 1 // >= 1, top = u>>shift in [subBuckets, 2*subBuckets)
	top := u >> uint(shift)
	return exactBelow + (shift-1)*subBuckets + int(top-subBuckets)
}

// bucketHigh is the largest value that falls in bucket i.
func bucketHigh(i int) int64 {
	if i < exactBelow {
		return int64(i)
	}
	shift := (i-exactBelow)/subBuckets + 1
	top := uint64((i-exactBelow)%subBuckets + subBuckets)
	hi := (top+1)<<uint(shift) - 1
	if hi > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(hi)
}

// Record adds one value; negative values count as 0.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)]++
	h.total++
	h.sum += float64(v)
	if v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
}

// Merge adds every value of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.total == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// Count is the number of values recorded.
func (h *Histogram) Count() uint64 { return h.total }

// Max is the largest value recorded, exactly (0 when empty).
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Min is the smallest value recorded, exactly (0 when empty).
func (h *Histogram) Min() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.min)
}

// Mean is the exact mean of the values recorded.
func (h *Histogram) Mean() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.total))
}

// Percentile returns the value at or below which q percent (0 to 100) of
// the recorded values lie: the highest value of the bucket holding the
// value of rank ceil(q/100*count), but never above Max. 100 gives Max
// and an empty histogram gives 0.
func (h *Histogram) Percentile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	if q >= 100 {
		return time.Duration(h.max)
	}
	rank := uint64(math.Ceil(q / 100 * float64(h.total)))
	if rank < 1 {
		rank = 1
	}
	var cum uint64
	for i, c := range h.counts {
		cum += c
		if cum >= rank {
			return time.Duration(min(bucketHigh(i), h.max))
		}
	}
	return time.Duration(h.max)
}

package log

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/plexus/plexus/internal/records"
)

// A region is always a prefix of what Read returns for the same query,
// made of whole batches and holding at least the first one, within
// maxBytes (or the first batch's size), with NextOffset between its last
// offset and the next batch. Checked on random logs and queries, on disk
// and in memory.
func TestReadRegionMatchesRead(t *testing.T) {
	for _, fsName := range []string{"mem", "os"} {
		t.Run(fsName, func(t *testing.T) {
			var fsys FS = NewMemFS()
			dir := "/region"
			if fsName == "os" {
				fsys, dir = OS, t.TempDir()
			}
			rng := rand.New(rand.NewPCG(7, 11))
			c := smallConfig()
			c.SegmentBytes = 64 << 10
			l, err := Open(Options{FS: fsys, Dir: dir, Config: c, Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			for i := 0; i < 400; i++ {
				mustAppend(t, l, makeBatch(t, batchSpec{records: 1 + rng.IntN(8), valueSz: rng.IntN(700), ts: int64(i)}))
			}
			mustFlush(t, l)
			end := l.EndOffset()
			served := 0
			for q := 0; q < 2000; q++ {
				offset := rng.Int64N(end + 1)
				maxBytes := 1 + rng.IntN(20<<10)
				limit := end
				if rng.IntN(3) == 0 {
					limit = rng.Int64N(end + 1)
				}
				want, werr := l.Read(nil, offset, maxBytes, limit)
				r, ok, err := l.ReadRegion(offset, maxBytes, limit)
				if err != nil || werr != nil {
					if (err == nil) != (werr == nil) {
						t.Fatalf("offset %d: region error %v, read error %v", offset, err, werr)
					}
					continue
				}
				if !ok {
					continue
				}
				served++
				got := make([]byte, r.Len)
				if _, err := r.ReadAt(got, 0); err != nil && r.Len > 0 {
					t.Fatal(err)
				}
				r.Release()
				if !bytes.HasPrefix(want, got) {
					t.Fatalf("offset %d max %d limit %d: region of %d bytes is not a prefix of Read's %d", offset, maxBytes, limit, len(got), len(want))
				}
				if len(want) == 0 {
					if len(got) != 0 {
						t.Fatalf("offset %d: region has %d bytes where Read has none", offset, len(got))
					}
					continue
				}
				first, _, err := records.Next(want)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) < len(first) || len(got) > max(maxBytes, len(first)) {
					t.Fatalf("offset %d max %d: region of %d bytes, first batch %d", offset, maxBytes, len(got), len(first))
				}
				var last int64
				for rest := got; len(rest) > 0; {
					b, r2, err := records.Next(rest)
					if err != nil {
						t.Fatalf("offset %d: region ends inside a batch: %v", offset, err)
					}
					last, rest = b.LastOffset(), r2
				}
				if r.NextOffset <= last {
					t.Fatalf("offset %d: next offset %d is not past the region's last %d", offset, r.NextOffset, last)
				}
				if len(got) < len(want) {
					nb, _, _ := records.Next(want[len(got):])
					if r.NextOffset > nb.BaseOffset() {
						t.Fatalf("offset %d: next offset %d is past the next batch at %d", offset, r.NextOffset, nb.BaseOffset())
					}
				}
			}
			if served < 1000 {
				t.Fatalf("only %d of 2000 queries were served as regions", served)
			}
		})
	}
}

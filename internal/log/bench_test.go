package log

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchBatch is a batch of 16 records of 1 KiB: about 16 KiB.
func benchBatch(b *testing.B) []byte {
	return makeBatch(b, batchSpec{records: 16, valueSz: 1024, ts: 1_700_000_000_000, epoch: 1})
}

func benchFS(b *testing.B, kind string) (FS, string) {
	if kind == "os" {
		return OS, b.TempDir() + "/p0"
	}
	return NewMemFS(), "/p0"
}

func BenchmarkAppend(b *testing.B) {
	for _, kind := range []string{"mem", "os"} {
		b.Run(kind, func(b *testing.B) {
			fsys, dir := benchFS(b, kind)
			c := DefaultConfig()
			c.SegmentBytes = 64 << 20
			c.RetentionBytes = 128 << 20
			l, err := Open(Options{FS: fsys, Dir: dir, Config: c})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			batch := benchBatch(b)
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, _, err := l.Append(batch); err != nil {
					b.Fatal(err)
				}
				if i%4096 == 4095 {
					// Keep the disk footprint bounded; not part of the measure.
					b.StopTimer()
					if _, err := l.EnforceRetention(); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
			}
		})
	}
}

func BenchmarkRead(b *testing.B) {
	for _, kind := range []string{"mem", "os"} {
		for _, maxBytes := range []int{16 << 10, 1 << 20} {
			b.Run(fmt.Sprintf("%s/max=%dKiB", kind, maxBytes>>10), func(b *testing.B) {
				fsys, dir := benchFS(b, kind)
				c := DefaultConfig()
				c.SegmentBytes = 16 << 20
				l, err := Open(Options{FS: fsys, Dir: dir, Config: c})
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				batch := benchBatch(b)
				for i := 0; i < 4096; i++ { // 64 MiB over 4 segments
					if _, _, err := l.Append(batch); err != nil {
						b.Fatal(err)
					}
				}
				end := l.EndOffset()
				rng := rand.New(rand.NewPCG(1, 1))
				dst := make([]byte, 0, maxBytes+len(batch))
				var n int64
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					out, err := l.Read(dst[:0], rng.Int64N(end), maxBytes, end)
					if err != nil {
						b.Fatal(err)
					}
					n += int64(len(out))
				}
				b.SetBytes(n / int64(b.N))
			})
		}
	}
}

func BenchmarkFlush(b *testing.B) {
	fsys, dir := benchFS(b, "os")
	c := DefaultConfig()
	c.SegmentBytes = 64 << 20
	c.RetentionBytes = 128 << 20
	l, err := Open(Options{FS: fsys, Dir: dir, Config: c})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	batch := benchBatch(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := l.Append(batch); err != nil {
			b.Fatal(err)
		}
		if _, err := l.Flush(); err != nil {
			b.Fatal(err)
		}
		if i%4096 == 4095 {
			b.StopTimer()
			l.EnforceRetention()
			b.StartTimer()
		}
	}
}

// BenchmarkOpenClean opens a cleanly closed log of 8 segments.
func BenchmarkOpenClean(b *testing.B) {
	for _, kind := range []string{"mem", "os"} {
		b.Run(kind, func(b *testing.B) {
			fsys, dir := benchFS(b, kind)
			c := DefaultConfig()
			c.SegmentBytes = 1 << 20
			l, err := Open(Options{FS: fsys, Dir: dir, Config: c})
			if err != nil {
				b.Fatal(err)
			}
			batch := benchBatch(b)
			for i := 0; i < 512; i++ {
				l.Append(batch)
			}
			if err := l.Close(); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				l, err := Open(Options{FS: fsys, Dir: dir, Config: c})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := l.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

package records

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"testing"
)

// FuzzBatch walks arbitrary bytes as a sequence of batches: framing,
// header accessors, Check, and the records of every batch. Nothing may
// panic, and for uncompressed batches nothing may allocate: every length is
// bounded by the bytes present.
func FuzzBatch(f *testing.F) {
	for _, c := range codecs {
		h := NewHeader()
		h.Codec = c
		f.Add(build(f, h, testRecords()[:3]))
	}
	b := valid(f)
	f.Add(append(bytes.Clone([]byte(b)), b[:40]...))
	f.Add([]byte(b[:HeaderSize]))
	var empty Builder
	empty.Reset(NewHeader())
	eb, _ := empty.AppendTo(nil)
	f.Add(eb)
	f.Fuzz(func(t *testing.T, data []byte) {
		clean := true // no error met: then nothing may be allocated at all
		walk := func() {
			var r Record
			for rest := data; len(rest) > 0; {
				b, next, err := Next(rest)
				if err != nil {
					if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupportedMagic) {
						t.Fatalf("Next: unexpected error %v", err)
					}
					clean = false
					return
				}
				if len(b) > len(rest) || len(b) < HeaderSize {
					t.Fatalf("Next returned %d bytes of %d", len(b), len(rest))
				}
				if b.Check() != nil {
					clean = false
				}
				_, _, _ = b.LastOffset(), b.LastSequence(), b.Codec()
				_, _, _ = b.IsControl(), b.IsTransactional(), b.HasDeleteHorizon()
				if b.Codec() == CodecNone {
					it := NewRecordIter(b.RecordsSection(), b.NumRecords())
					for it.Next(&r) {
						r.EachHeader(func(k, v []byte) {})
					}
					if it.Err() != nil {
						clean = false
					}
				}
				rest = next
			}
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		walk()
		runtime.ReadMemStats(&after)
		// Errors allocate their message; nothing else may, whatever lengths
		// the bytes claim. (The counters are process-wide, hence the slack
		// and the averaging.)
		if n := after.TotalAlloc - before.TotalAlloc; n > 16<<10 {
			t.Fatalf("walking %d bytes allocated %d bytes", len(data), n)
		}
		if clean {
			if n := testing.AllocsPerRun(20, walk); n != 0 {
				t.Fatalf("walking %d valid bytes allocated %.1f times", len(data), n)
			}
		}
		// Compressed batches: decompression stays within its limit.
		for rest := data; len(rest) > 0; {
			b, next, err := Next(rest)
			if err != nil {
				break
			}
			it, scratch, err := b.Records(nil, 4096)
			if len(scratch) > 4096 {
				t.Fatalf("Records decompressed %d bytes, max 4096", len(scratch))
			}
			if err == nil {
				var r Record
				for it.Next(&r) {
				}
			}
			rest = next
		}
	})
}

// FuzzDecompress feeds each codec arbitrary bytes with a small limit: it
// must never return more than the limit, and must agree with itself when
// the limit is raised.
func FuzzDecompress(f *testing.F) {
	data := bytes.Repeat([]byte("plexus "), 200)
	for _, c := range codecs {
		comp, err := Compress(nil, c, data)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(byte(c), uint16(100), comp)
		f.Add(byte(c), uint16(len(data)), comp)
	}
	f.Add(byte(CodecSnappy), uint16(2000), xerial(data[:500], data[500:]))
	f.Add(byte(CodecSnappy), uint16(10), binary.AppendUvarint(nil, 1<<31))
	f.Fuzz(func(t *testing.T, codec byte, max uint16, src []byte) {
		c := Codec(codec % 6)
		prefix := []byte("dst")
		out, err := Decompress(bytes.Clone(prefix), c, src, int(max))
		if !bytes.HasPrefix(out, prefix) {
			t.Fatalf("dst prefix lost")
		}
		if n := len(out) - len(prefix); n > int(max) {
			t.Fatalf("%s: %d bytes out, max %d", c, n, max)
		}
		if err != nil {
			if len(out) != len(prefix) {
				t.Fatalf("%s: error %v with %d bytes out", c, err, len(out)-len(prefix))
			}
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("%s: unexpected error %v", c, err)
			}
			return
		}
		again, err := Decompress(nil, c, src, int(max)+1000)
		if err != nil || !bytes.Equal(again, out[len(prefix):]) {
			t.Fatalf("%s: a larger limit gives %d bytes, %v", c, len(again), err)
		}
	})
}

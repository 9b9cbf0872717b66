package records

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
)

var codecs = []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd}

type testRecord struct {
	key, value []byte
	headers    []Header
	ts         int64
	delta      int32
}

func testRecords() []testRecord {
	return []testRecord{
		{key: []byte("k0"), value: []byte("v0"), ts: 1000, delta: 0},
		{key: nil, value: []byte("null key"), ts: 1001, delta: 1},
		{key: []byte("null value"), value: nil, ts: 999, delta: 2},
		{key: []byte{}, value: []byte{}, ts: 1500, delta: 3,
			headers: []Header{{Key: []byte("h1"), Value: []byte("x")}, {Key: []byte("h2"), Value: nil}}},
		{key: []byte("big"), value: bytes.Repeat([]byte("0123456789"), 2000), ts: 1200, delta: 4},
	}
}

func build(t testing.TB, h BatchHeader, recs []testRecord) []byte {
	t.Helper()
	var b Builder
	b.Reset(h)
	for _, r := range recs {
		b.Add(r.delta, r.ts, r.key, r.value, r.headers)
	}
	out, err := b.AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBuilderRoundTrip(t *testing.T) {
	for _, c := range codecs {
		t.Run(c.String(), func(t *testing.T) {
			h := NewHeader()
			h.Codec = c
			h.BaseTimestamp = 1000
			h.ProducerID, h.ProducerEpoch, h.BaseSequence = 42, 3, 7
			h.LeaderEpoch = 9
			h.BaseOffset = 100
			h.Transactional = true
			recs := testRecords()
			raw := build(t, h, recs)
			b, rest, err := Next(append(raw, 1, 2, 3))
			if err != nil || len(rest) != 3 {
				t.Fatalf("Next: %v, rest %d", err, len(rest))
			}
			if err := b.Check(); err != nil {
				t.Fatal(err)
			}
			if b.Codec() != c || !b.IsTransactional() || b.IsControl() || b.LogAppendTime() {
				t.Fatalf("attributes %x", b.Attributes())
			}
			if b.BaseOffset() != 100 || b.LastOffset() != 104 || b.NumRecords() != 5 || b.PartitionLeaderEpoch() != 9 {
				t.Fatalf("offsets %d..%d count %d epoch %d", b.BaseOffset(), b.LastOffset(), b.NumRecords(), b.PartitionLeaderEpoch())
			}
			if b.BaseTimestamp() != 1000 || b.MaxTimestamp() != 1500 {
				t.Fatalf("timestamps %d %d", b.BaseTimestamp(), b.MaxTimestamp())
			}
			if b.ProducerID() != 42 || b.ProducerEpoch() != 3 || b.BaseSequence() != 7 || b.LastSequence() != 11 {
				t.Fatalf("producer %d %d %d %d", b.ProducerID(), b.ProducerEpoch(), b.BaseSequence(), b.LastSequence())
			}
			it, _, err := b.Records(nil, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			var r Record
			for i, want := range recs {
				if !it.Next(&r) {
					t.Fatalf("record %d missing: %v", i, it.Err())
				}
				if r.OffsetDelta != want.delta || r.TimestampDelta != want.ts-1000 ||
					!bytes.Equal(r.Key, want.key) || (r.Key == nil) != (want.key == nil) ||
					!bytes.Equal(r.Value, want.value) || (r.Value == nil) != (want.value == nil) {
					t.Fatalf("record %d: %+v", i, r)
				}
				var hs []Header
				r.EachHeader(func(k, v []byte) { hs = append(hs, Header{k, v}) })
				if len(hs) != len(want.headers) {
					t.Fatalf("record %d: %d headers", i, len(hs))
				}
				for j := range hs {
					if !bytes.Equal(hs[j].Key, want.headers[j].Key) || !bytes.Equal(hs[j].Value, want.headers[j].Value) ||
						(hs[j].Value == nil) != (want.headers[j].Value == nil) {
						t.Fatalf("record %d header %d: %q=%q", i, j, hs[j].Key, hs[j].Value)
					}
				}
			}
			if it.Next(&r) || it.Err() != nil {
				t.Fatalf("iteration did not end cleanly: %v", it.Err())
			}
			// Too small a limit is refused rather than allocated.
			if c != CodecNone {
				if _, _, err := b.Records(nil, 100); !errors.Is(err, ErrTooLarge) {
					t.Fatalf("Records with a small max: %v", err)
				}
			}
		})
	}
}

func TestBuilderNoAllocPerRecord(t *testing.T) {
	var b Builder
	b.Reset(NewHeader())
	key, value := []byte("key"), make([]byte, 100)
	hs := []Header{{Key: []byte("h"), Value: []byte("v")}}
	for i := 0; i < 100; i++ { // grow the buffer first
		b.Add(int32(i), 1, key, value, hs)
	}
	b.Reset(NewHeader())
	allocs := testing.AllocsPerRun(100, func() { b.Add(0, 1, key, value, hs) })
	if allocs != 0 {
		t.Fatalf("Add allocates %.1f times per record", allocs)
	}
}

// valid returns a fresh uncompressed batch for corruption tests.
func valid(t testing.TB) Batch {
	h := NewHeader()
	h.BaseTimestamp = 10
	return Batch(build(t, h, testRecords()[:3]))
}

func TestCheckCatchesCorruption(t *testing.T) {
	cases := []struct {
		name    string
		corrupt func(b Batch) Batch
		want    error
	}{
		{"valid", func(b Batch) Batch { return b }, nil},
		{"crc field", func(b Batch) Batch { b[17] ^= 1; return b }, ErrCorrupt},
		{"attributes", func(b Batch) Batch { b[22] ^= 0x20; return b }, ErrCorrupt},
		{"last offset delta", func(b Batch) Batch { b[26]++; return b }, ErrCorrupt},
		{"max timestamp", func(b Batch) Batch { b[42]++; return b }, ErrCorrupt},
		{"record byte", func(b Batch) Batch { b[len(b)-1] ^= 0xff; return b }, ErrCorrupt},
		{"length too long", func(b Batch) Batch { binary.BigEndian.PutUint32(b[8:], uint32(len(b))); return b }, ErrCorrupt},
		{"length too short", func(b Batch) Batch { binary.BigEndian.PutUint32(b[8:], uint32(len(b)-13)); return b }, ErrCorrupt},
		{"truncated", func(b Batch) Batch { return b[:len(b)-1] }, ErrCorrupt},
		{"below header", func(b Batch) Batch { return b[:HeaderSize-1] }, ErrCorrupt},
		{"magic 1", func(b Batch) Batch { b[16] = 1; return b }, ErrUnsupportedMagic},
		{"magic 3", func(b Batch) Batch { b[16] = 3; return b }, ErrCorrupt},
		{"negative count", func(b Batch) Batch { binary.BigEndian.PutUint32(b[57:], 0xffffffff); b.UpdateCRC(); return b }, ErrCorrupt},
		{"count above deltas", func(b Batch) Batch { binary.BigEndian.PutUint32(b[57:], 4); b.UpdateCRC(); return b }, ErrCorrupt},
		{"negative delta", func(b Batch) Batch { binary.BigEndian.PutUint32(b[23:], 0xffffffff); b.UpdateCRC(); return b }, ErrCorrupt},
		{"codec 5", func(b Batch) Batch { b[22] |= 5; b.UpdateCRC(); return b }, ErrCorrupt},
		{"max delta is fine", func(b Batch) Batch {
			binary.BigEndian.PutUint32(b[23:], math.MaxInt32)
			b.UpdateCRC()
			return b
		}, nil},
		{"base offset and epoch are outside the CRC", func(b Batch) Batch {
			b.SetBaseOffset(77)
			b.SetPartitionLeaderEpoch(5)
			return b
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.corrupt(valid(t)).Check()
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Check = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestPeekAndNext(t *testing.T) {
	b := valid(t)
	two := append(append([]byte(nil), b...), b...)
	cases := []struct {
		name     string
		buf      []byte
		wantSize int
		wantErr  error
	}{
		{"whole", b, len(b), nil},
		{"two", two, len(b), nil},
		{"short header", b[:16], 0, ErrTruncated},
		{"header only", b[:HeaderSize], len(b), ErrTruncated},
		{"length below header", func() []byte { c := bytes.Clone(b); binary.BigEndian.PutUint32(c[8:], 10); return c }(), 0, ErrCorrupt},
		{"negative length", func() []byte { c := bytes.Clone(b); binary.BigEndian.PutUint32(c[8:], 0x80000000); return c }(), 0, ErrCorrupt},
		{"old magic", func() []byte { c := bytes.Clone(b); c[16] = 0; return c }(), 0, ErrUnsupportedMagic},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, size, err := Peek(tc.buf)
			if size != tc.wantSize || !errors.Is(err, tc.wantErr) || tc.wantErr == nil && err != nil {
				t.Fatalf("Peek = %d, %v; want %d, %v", size, err, tc.wantSize, tc.wantErr)
			}
			nb, rest, err := Next(tc.buf)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || nb != nil || len(rest) != len(tc.buf) {
					t.Fatalf("Next = %d, %d, %v", len(nb), len(rest), err)
				}
				return
			}
			if err != nil || len(nb) != len(b) || cap(nb) != len(b) || len(rest) != len(tc.buf)-len(b) {
				t.Fatalf("Next = %d (cap %d), %d, %v", len(nb), cap(nb), len(rest), err)
			}
		})
	}
}

func TestSetLogAppendTime(t *testing.T) {
	for _, c := range codecs {
		h := NewHeader()
		h.Codec = c
		h.BaseTimestamp = 10
		b := Batch(build(t, h, testRecords()))
		b.SetLogAppendTime(1_700_000_000_000)
		if err := b.Check(); err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if !b.LogAppendTime() || b.MaxTimestamp() != 1_700_000_000_000 || b.Codec() != c || b.BaseTimestamp() != 10 {
			t.Fatalf("%s: attributes %x max %d", c, b.Attributes(), b.MaxTimestamp())
		}
	}
}

func TestLastSequenceWraps(t *testing.T) {
	b := valid(t) // last offset delta 2
	for _, tc := range []struct{ base, want int32 }{{-1, -1}, {0, 2}, {math.MaxInt32 - 1, 0}, {math.MaxInt32, 1}} {
		binary.BigEndian.PutUint32(b[53:], uint32(tc.base))
		if got := b.LastSequence(); got != tc.want {
			t.Errorf("LastSequence(base %d) = %d, want %d", tc.base, got, tc.want)
		}
	}
}

func vi(v int64) []byte { return binary.AppendVarint(nil, v) }

func withLen(body []byte) []byte { return append(vi(int64(len(body))), body...) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestRecordIterMalformed(t *testing.T) {
	okBody := cat([]byte{0}, vi(5), vi(0), vi(1), []byte("k"), vi(1), []byte("v"), vi(0))
	cases := []struct {
		name  string
		buf   []byte
		count int32
		ok    int // records returned before the end
		bad   bool
	}{
		{"one good", withLen(okBody), 1, 1, false},
		{"two good", cat(withLen(okBody), withLen(okBody)), 2, 2, false},
		{"empty", nil, 0, 0, false},
		{"missing record", withLen(okBody), 2, 1, true},
		{"extra bytes after last", cat(withLen(okBody), []byte{1}), 1, 1, true},
		{"bad length varint", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 1, 0, true},
		{"negative length", cat(vi(-3), okBody), 1, 0, true},
		{"length beyond buffer", cat(vi(int64(len(okBody)+1)), okBody), 1, 0, true},
		{"empty body", withLen(nil), 1, 0, true},
		{"truncated timestamp", withLen([]byte{0, 0x80}), 1, 0, true},
		{"negative offset delta", withLen(cat([]byte{0}, vi(0), vi(-1), vi(-1), vi(-1), vi(0))), 1, 0, true},
		{"offset delta too big", withLen(cat([]byte{0}, vi(0), vi(1<<31), vi(-1), vi(-1), vi(0))), 1, 0, true},
		{"key beyond body", withLen(cat([]byte{0}, vi(0), vi(0), vi(10), []byte("k"))), 1, 0, true},
		{"key length -2", withLen(cat([]byte{0}, vi(0), vi(0), vi(-2), vi(-1), vi(0))), 1, 0, true},
		{"value missing", withLen(cat([]byte{0}, vi(0), vi(0), vi(-1))), 1, 0, true},
		{"header count missing", withLen(cat([]byte{0}, vi(0), vi(0), vi(-1), vi(-1))), 1, 0, true},
		{"negative header count", withLen(cat([]byte{0}, vi(0), vi(0), vi(-1), vi(-1), vi(-1))), 1, 0, true},
		{"header count beyond body", withLen(cat([]byte{0}, vi(0), vi(0), vi(-1), vi(-1), vi(100), vi(1), []byte("h"), vi(-1))), 1, 0, true},
		{"null header key", withLen(cat([]byte{0}, vi(0), vi(0), vi(-1), vi(-1), vi(1), vi(-1), vi(-1))), 1, 0, true},
		{"null header value ok", withLen(cat([]byte{0}, vi(0), vi(0), vi(-1), vi(-1), vi(1), vi(1), []byte("h"), vi(-1))), 1, 1, false},
		{"trailing byte in record", withLen(cat(okBody, []byte{7})), 1, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			it := NewRecordIter(tc.buf, tc.count)
			var r Record
			n := 0
			for it.Next(&r) {
				n++
			}
			if n != tc.ok || (it.Err() != nil) != tc.bad {
				t.Fatalf("%d records, err %v; want %d, bad=%v", n, it.Err(), tc.ok, tc.bad)
			}
			if tc.bad && !errors.Is(it.Err(), ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", it.Err())
			}
			if it.Next(&r) {
				t.Fatal("Next after the end returned a record")
			}
		})
	}
}

func xerial(chunks ...[]byte) []byte {
	out := append([]byte(nil), xerialMagic...)
	out = binary.BigEndian.AppendUint32(out, 1)
	out = binary.BigEndian.AppendUint32(out, 1)
	for _, c := range chunks {
		enc := snappy.Encode(nil, c)
		out = binary.BigEndian.AppendUint32(out, uint32(len(enc)))
		out = append(out, enc...)
	}
	return out
}

func TestXerialSnappy(t *testing.T) {
	a, b := bytes.Repeat([]byte("abc"), 1000), bytes.Repeat([]byte("xyz"), 700)
	framed := xerial(a, b)
	got, err := Decompress([]byte("pre"), CodecSnappy, framed, 1<<20)
	if err != nil || !bytes.Equal(got, append([]byte("pre"), append(a, b...)...)) {
		t.Fatalf("xerial decode: %v, %d bytes", err, len(got))
	}
	if got, err := Decompress(nil, CodecSnappy, xerial(), 10); err != nil || len(got) != 0 {
		t.Fatalf("empty xerial stream: %v %d", err, len(got))
	}
	if _, err := Decompress(nil, CodecSnappy, framed, len(a)+len(b)-1); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
	bad := map[string][]byte{
		"short header":       framed[:12],
		"short chunk length": framed[:18],
		"chunk overruns":     framed[:len(framed)-1],
		"bad block":          append(bytes.Clone(framed[:20]), 0xff, 0xff, 0xff, 0xff),
	}
	for name, in := range bad {
		got, err := Decompress([]byte("pre"), CodecSnappy, in, 1<<20)
		if !errors.Is(err, ErrCorrupt) || string(got) != "pre" {
			t.Errorf("%s: %v, %q", name, err, got)
		}
	}
}

func TestDecompressLimit(t *testing.T) {
	data := bytes.Repeat([]byte("compressible "), 10000)
	for _, c := range codecs {
		t.Run(c.String(), func(t *testing.T) {
			comp, err := Compress(nil, c, data)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decompress([]byte("x"), c, comp, len(data))
			if err != nil || !bytes.Equal(got[1:], data) {
				t.Fatalf("at the limit: %v", err)
			}
			for _, max := range []int{0, 1, 100, len(data) - 1} {
				got, err := Decompress([]byte("x"), c, comp, max)
				if !errors.Is(err, ErrTooLarge) || string(got) != "x" {
					t.Fatalf("max %d: %v, %d bytes", max, err, len(got))
				}
			}
			if c != CodecNone {
				if _, err := Decompress(nil, c, comp[:len(comp)/2], len(data)); err == nil {
					t.Fatal("truncated input decoded")
				}
			}
		})
	}
	if _, err := Decompress(nil, Codec(6), nil, 10); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("unknown codec: %v", err)
	}
}

// A zstd frame whose header declares a window over 64 MiB is refused: the
// decoder allocates the declared window whole, so the cap bounds what one
// batch can make the broker allocate. Kafka (libzstd's default limit)
// accepts up to 128 MiB, which only streaming compressors at the ultra
// levels declare; docs/compatibility.md lists the difference.
func TestZstdWindowCap(t *testing.T) {
	data := bytes.Repeat([]byte("compressible "), 200000) // over one block, so the frame is streamed
	for _, c := range []struct {
		window int
		ok     bool
	}{{8 << 20, true}, {64 << 20, true}, {128 << 20, false}} {
		var buf bytes.Buffer
		zw, err := zstd.NewWriter(&buf, zstd.WithWindowSize(c.window), zstd.WithEncoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		zw.Write(data)
		zw.Close()
		var h zstd.Header
		if err := h.Decode(buf.Bytes()); err != nil || h.WindowSize != uint64(c.window) {
			t.Fatalf("frame header: window %d, %v; want %d declared", h.WindowSize, err, c.window)
		}
		got, err := Decompress(nil, CodecZstd, buf.Bytes(), len(data))
		if c.ok && (err != nil || !bytes.Equal(got, data)) {
			t.Fatalf("window %d MiB: %v", c.window>>20, err)
		}
		if !c.ok && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("window %d MiB: %v, want ErrCorrupt", c.window>>20, err)
		}
	}
}

// CompressLevel honours Kafka's levels: every level decodes back, and the
// lowest compresses less than the highest, which is what an operator who
// sets compression.<codec>.level expects.
func TestCompressLevel(t *testing.T) {
	// Text with some variety, so that levels make a difference.
	var data []byte
	for i := range 20000 {
		data = fmt.Appendf(data, "record %d of topic orders, customer %d, amount %d.%02d\n", i, i*7919%1000, i*31%997, i%100)
	}
	for _, c := range []struct {
		codec    Codec
		low, max int
		levels   []int
	}{
		{CodecGzip, 1, 9, []int{-1, 0, 1, 5, 9}},
		{CodecLZ4, 1, 17, []int{0, 1, 9, 10, 17}},
		{CodecZstd, -5, 22, []int{-5, 0, 1, 3, 6, 10, 22}},
	} {
		for _, level := range c.levels {
			comp, err := CompressLevel(nil, c.codec, data, level)
			if err != nil {
				t.Fatalf("%s level %d: %v", c.codec, level, err)
			}
			got, err := Decompress(nil, c.codec, comp, len(data))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s level %d: round trip: %v", c.codec, level, err)
			}
		}
		low, _ := CompressLevel(nil, c.codec, data, c.low)
		high, _ := CompressLevel(nil, c.codec, data, c.max)
		if len(low) <= len(high) {
			t.Errorf("%s: level %d gave %d bytes, level %d %d; want the higher level smaller", c.codec, c.low, len(low), c.max, len(high))
		}
	}
}

func TestCodecString(t *testing.T) {
	for _, c := range append(codecs, 7) {
		if c.String() == "" {
			t.Fatal("empty name")
		}
	}
	if fmt.Sprint(Codec(7)) != "codec(7)" {
		t.Fatal(fmt.Sprint(Codec(7)))
	}
}

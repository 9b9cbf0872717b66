package log

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/plexus/plexus/internal/records"
)

// fuzzFiles lays out a fuzz input as a partition directory:
//
//	byte 0      flags: bit 0 clean-shutdown marker, bit 1 second segment,
//	            bit 2 recovery point checkpoint, bit 3 epoch checkpoint
//	bytes 1-2   length of the .index file
//	bytes 3-4   length of the .timeindex file
//	then        .index, .timeindex, and the rest is the .log
func fuzzFiles(t testing.TB, data []byte) (*MemFS, byte) {
	fs := NewMemFS()
	if err := fs.MkdirAll(testDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if len(data) < 5 {
		return fs, 0
	}
	flags := data[0]
	ilen, tlen := int(binary.BigEndian.Uint16(data[1:])), int(binary.BigEndian.Uint16(data[3:]))
	data = data[5:]
	take := func(n int) []byte {
		n = min(n, len(data))
		b := data[:n]
		data = data[n:]
		return b
	}
	idx, tidx := take(ilen), take(tlen)
	logData := data
	write := func(name string, b []byte) { writeTestFile(t, fs, testDir+"/"+name, b) }
	write(segmentName(0, indexExt), idx)
	write(segmentName(0, timeIndexExt), tidx)
	write(segmentName(0, logExt), logData)
	active, activeSize := int64(0), int64(len(logData))
	if flags&2 != 0 {
		// A second segment holding the same bytes: its offsets clash with
		// the first one's unless the bytes happen to fit.
		active = 1 + int64(len(logData))%7
		write(segmentName(active, logExt), logData)
	}
	if flags&1 != 0 {
		end := active
		if n := len(logData); n >= 8 {
			end += int64(binary.BigEndian.Uint16(logData[n-2:]))
		}
		write(cleanShutdownFile, cleanMarker{end: end, activeBase: active, activeSize: activeSize}.encode())
	}
	if flags&4 != 0 {
		write(recoveryCheckpointFile, encodeOffset(int64(flags>>4)))
	}
	if flags&8 != 0 {
		write(epochCheckpointFile, encodeEpochs([]epochEntry{{epoch: int32(flags >> 4), start: 0}}))
	}
	return fs, flags
}

// validLog is a valid segment of a few batches, with the files a clean
// Close leaves, laid out as fuzzFiles reads it.
func validLog(t testing.TB, flags byte, tear int) []byte {
	fs := NewMemFS()
	c := smallConfig()
	c.IndexIntervalBytes = 100
	c.SegmentBytes = 1 << 20
	l := openLog(t, fs, c)
	for i := 0; i < 6; i++ {
		mustAppend(t, l, makeBatch(t, batchSpec{records: 1 + i%3, valueSz: 20 * i, ts: int64(1000 * i), epoch: int32(i / 2)}))
	}
	mustClose(t, l)
	idx := readTestFile(t, fs, segFile(0, indexExt))
	tidx := readTestFile(t, fs, segFile(0, timeIndexExt))
	seg := readTestFile(t, fs, segFile(0, logExt))
	seg = seg[:len(seg)-tear]
	out := []byte{flags}
	out = binary.BigEndian.AppendUint16(out, uint16(len(idx)))
	out = binary.BigEndian.AppendUint16(out, uint16(len(tidx)))
	out = append(out, idx...)
	out = append(out, tidx...)
	return append(out, seg...)
}

// FuzzRecover opens a directory made of arbitrary segment and index
// files. Open must succeed (MemFS never fails), and unless a clean
// shutdown marker vouches for the segment, everything the log then serves
// must be valid batches in offset order; appends and a reopen must work.
func FuzzRecover(f *testing.F) {
	f.Add(validLog(f, 0, 0))
	f.Add(validLog(f, 1, 0))
	f.Add(validLog(f, 0, 7))
	f.Add(validLog(f, 4|8|0x10, 0))
	f.Add(validLog(f, 2, 0))
	f.Add(validLog(f, 3, 1))
	f.Add([]byte{0, 0, 8, 0, 12, 0, 0, 0, 1, 0, 0, 0, 2})
	c := smallConfig()
	c.IndexIntervalBytes = 100
	f.Fuzz(func(t *testing.T, data []byte) {
		fs, flags := fuzzFiles(t, data)
		l, err := Open(Options{FS: fs, Dir: testDir, Config: c, Logger: slogTo(discard{})})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		// A clean-shutdown marker or a recovery point past the first
		// segment makes Open trust segments without reading them; then only
		// reads may fail, and only with corruption errors.
		trusted := flags&1 != 0 || flags&4 != 0 && flags>>4 > 0
		start, end := l.StartOffset(), l.EndOffset()
		if start > end {
			t.Fatalf("start %d > end %d", start, end)
		}
		prev := int64(-1)
		for off := start; off < end; {
			buf, err := l.Read(nil, off, 1<<16, math.MaxInt64)
			if err != nil {
				if trusted && errors.Is(err, records.ErrCorrupt) {
					break
				}
				t.Fatalf("Read(%d): %v", off, err)
			}
			if len(buf) == 0 {
				if trusted {
					break
				}
				t.Fatalf("Read(%d) returned nothing below end %d", off, end)
			}
			for len(buf) > 0 {
				b, rest, err := records.Next(buf)
				if err != nil {
					t.Fatalf("Read(%d) returned bad framing: %v", off, err)
				}
				if err := b.Check(); err != nil && !trusted {
					t.Fatalf("Read(%d) returned a batch that fails Check: %v", off, err)
				}
				if b.BaseOffset() <= prev || b.LastOffset() < off {
					if !trusted {
						t.Fatalf("Read(%d) returned offsets %d..%d after %d", off, b.BaseOffset(), b.LastOffset(), prev)
					}
				}
				prev = max(prev, b.LastOffset())
				off = max(off, b.LastOffset()+1)
				buf = rest
			}
		}
		l.FindTimestamp(nil, 1000)
		l.MaxTimestampBatch(nil)
		l.Segments()
		first, _, err := l.Append(makeBatch(t, batchSpec{records: 2, ts: 5}))
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		if first != end {
			t.Fatalf("append at %d, end was %d", first, end)
		}
		if err := l.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		l, err = Open(Options{FS: fs, Dir: testDir, Config: c, Logger: slogTo(discard{})})
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		if l.EndOffset() != end+2 || l.StartOffset() != start {
			t.Fatalf("reopen: start %d end %d, want %d %d", l.StartOffset(), l.EndOffset(), start, end+2)
		}
		l.Close()
	})
}

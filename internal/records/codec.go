package records

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// ErrTooLarge means a records section would decompress to more than the
// caller allowed: a compression bomb, or simply a batch larger than the
// broker accepts.
var ErrTooLarge = errors.New("records: decompressed size exceeds the limit")

// The broker only decompresses where it must (validation of compacted
// topics, timestamp lookups inside a batch, compaction); produce and fetch
// pass compressed bytes through untouched.

var (
	gzipReaders = sync.Pool{}
	zstdReaders = sync.Pool{}
	lz4Readers  = sync.Pool{New: func() any { return lz4.NewReader(nil) }}
	// zstdEncoders holds one encoder per klauspost level, made on first
	// use: EncodeAll may be called concurrently on one encoder.
	zstdEncoders [zstd.SpeedBestCompression + 1]struct {
		once sync.Once
		enc  *zstd.Encoder
	}
)

// Decompress appends the decompressed form of src (a records section
// compressed with c) to dst. Output beyond max bytes stops decompression with
// ErrTooLarge, whatever the input claims, so a small hostile batch cannot
// make the broker allocate more than max.
func Decompress(dst []byte, c Codec, src []byte, max int) ([]byte, error) {
	switch c {
	case CodecNone:
		if len(src) > max {
			return dst, ErrTooLarge
		}
		return append(dst, src...), nil
	case CodecGzip:
		zr, _ := gzipReaders.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(bytes.NewReader(src))
		} else {
			err = zr.Reset(bytes.NewReader(src))
		}
		if err != nil {
			return dst, fmt.Errorf("%w: gzip: %v", ErrCorrupt, err)
		}
		defer gzipReaders.Put(zr)
		return readLimited(dst, zr, max)
	case CodecSnappy:
		return decodeSnappy(dst, src, max)
	case CodecLZ4:
		zr := lz4Readers.Get().(*lz4.Reader)
		zr.Reset(bytes.NewReader(src))
		defer lz4Readers.Put(zr)
		return readLimited(dst, zr, max)
	case CodecZstd:
		zr, _ := zstdReaders.Get().(*zstd.Decoder)
		var err error
		if zr == nil {
			zr, err = zstd.NewReader(bytes.NewReader(src), zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
				// A hostile frame may declare a huge window; producers use a few MiB.
				zstd.WithDecoderMaxWindow(64<<20))
		} else {
			err = zr.Reset(bytes.NewReader(src))
		}
		if err != nil {
			return dst, fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
		}
		defer zstdReaders.Put(zr)
		return readLimited(dst, zr, max)
	}
	return dst, fmt.Errorf("%w: unknown codec %d", ErrCorrupt, c)
}

// readLimited reads r to its end into dst, failing once more than
// maxSize bytes arrive. It never grows dst beyond maxSize+1 new bytes, so a
// compression bomb costs at most that much memory.
func readLimited(dst []byte, r io.Reader, maxSize int) ([]byte, error) {
	start := len(dst)
	limit := start + maxSize + 1 // one byte past the limit proves an overflow
	for stalls := 0; ; {
		if len(dst) == cap(dst) {
			nb := make([]byte, len(dst), min(max(2*cap(dst), start+512), limit))
			copy(nb, dst)
			dst = nb
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if len(dst)-start > maxSize {
			return dst[:start], ErrTooLarge
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst[:start], fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		if n == 0 {
			if stalls++; stalls > 100 {
				return dst[:start], fmt.Errorf("%w: %v", ErrCorrupt, io.ErrNoProgress)
			}
		}
	}
}

// xerialMagic starts the framing that the Java client's snappy-java stream
// writes; other clients send raw snappy blocks. Both are accepted.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

func decodeSnappy(dst, src []byte, max int) ([]byte, error) {
	if !bytes.HasPrefix(src, xerialMagic) {
		return snappyBlock(dst, src, max)
	}
	// Xerial framing: magic (8), version (4), compatible version (4), then
	// chunks of a 4-byte big-endian length and a raw snappy block.
	if len(src) < 16 {
		return dst, fmt.Errorf("%w: short xerial snappy header", ErrCorrupt)
	}
	src = src[16:]
	start := len(dst)
	for len(src) > 0 {
		if len(src) < 4 {
			return dst[:start], fmt.Errorf("%w: short xerial snappy chunk", ErrCorrupt)
		}
		n := binary.BigEndian.Uint32(src)
		src = src[4:]
		if uint64(n) > uint64(len(src)) {
			return dst[:start], fmt.Errorf("%w: xerial snappy chunk overruns", ErrCorrupt)
		}
		var err error
		if dst, err = snappyBlock(dst, src[:n], max-(len(dst)-start)); err != nil {
			return dst[:start], err
		}
		src = src[n:]
	}
	return dst, nil
}

func snappyBlock(dst, src []byte, max int) ([]byte, error) {
	n, err := snappy.DecodedLen(src)
	if err != nil {
		return dst, fmt.Errorf("%w: snappy: %v", ErrCorrupt, err)
	}
	if n > max {
		return dst, ErrTooLarge
	}
	start := len(dst)
	dst = grow(dst, n)
	if _, err := snappy.Decode(dst[start:start+n], src); err != nil {
		return dst[:start], fmt.Errorf("%w: snappy: %v", ErrCorrupt, err)
	}
	return dst[:start+n], nil
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b[:len(b)+n]
	}
	nb := make([]byte, len(b)+n, 2*cap(b)+n)
	copy(nb, b)
	return nb
}

var lz4Levels = []lz4.CompressionLevel{lz4.Level1, lz4.Level2, lz4.Level3, lz4.Level4, lz4.Level5, lz4.Level6, lz4.Level7, lz4.Level8, lz4.Level9}

// Compress appends src compressed with c, at the codec's default level, to
// dst. Snappy is written as a raw block, which every client reads.
func Compress(dst []byte, c Codec, src []byte) ([]byte, error) {
	return CompressLevel(dst, c, src, 0)
}

// CompressLevel is Compress at a level, with Kafka's meaning per codec
// (compression.gzip.level 1-9, compression.lz4.level 1-17,
// compression.zstd.level up to 22); 0, or gzip's -1, is the codec's
// default. lz4 levels above 9 compress as 9, the highest this lz4 package
// has; zstd levels map to the encoder's four speeds as its
// EncoderLevelFromZstd says.
func CompressLevel(dst []byte, c Codec, src []byte, level int) ([]byte, error) {
	switch c {
	case CodecNone:
		return append(dst, src...), nil
	case CodecGzip:
		var buf bytes.Buffer
		if level == 0 {
			level = gzip.DefaultCompression
		}
		w, err := gzip.NewWriterLevel(&buf, level)
		if err != nil {
			return dst, err
		}
		if _, err := w.Write(src); err != nil {
			return dst, err
		}
		if err := w.Close(); err != nil {
			return dst, err
		}
		return append(dst, buf.Bytes()...), nil
	case CodecSnappy:
		return append(dst, snappy.Encode(nil, src)...), nil
	case CodecLZ4:
		var buf bytes.Buffer
		w := lz4.NewWriter(&buf)
		if level > 0 {
			if err := w.Apply(lz4.CompressionLevelOption(lz4Levels[min(level, len(lz4Levels))-1])); err != nil {
				return dst, err
			}
		}
		if _, err := w.Write(src); err != nil {
			return dst, err
		}
		if err := w.Close(); err != nil {
			return dst, err
		}
		return append(dst, buf.Bytes()...), nil
	case CodecZstd:
		speed := zstd.SpeedDefault
		if level != 0 {
			speed = zstd.EncoderLevelFromZstd(level)
		}
		e := &zstdEncoders[speed]
		e.once.Do(func() {
			e.enc, _ = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(speed))
		})
		return e.enc.EncodeAll(src, dst), nil
	}
	return dst, fmt.Errorf("records: unknown codec %d", c)
}

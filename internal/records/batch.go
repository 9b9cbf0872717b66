package records

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
)

// HeaderSize is the size of a v2 batch header, up to and including the
// record count.
const HeaderSize = 61

// lengthPrefix is the number of bytes before the batch length field counts:
// base offset and the length field itself.
const lengthPrefix = 12

// Attribute bits.
const (
	codecMask        = 0x07
	timestampTypeBit = 0x08
	transactionalBit = 0x10
	controlBit       = 0x20
	deleteHorizonBit = 0x40
)

// Codec is the compression of a batch's records section.
type Codec int8

const (
	CodecNone   Codec = 0
	CodecGzip   Codec = 1
	CodecSnappy Codec = 2
	CodecLZ4    Codec = 3
	CodecZstd   Codec = 4
)

func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLZ4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", int8(c))
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors returned when bytes are not a valid batch. ErrCorrupt and
// ErrTruncated are distinct so that log recovery can tell a torn tail
// (truncated) from garbage (corrupt); both end a recovered log.
var (
	// ErrTruncated means the bytes end before the batch they begin does.
	ErrTruncated = errors.New("records: truncated batch")
	// ErrCorrupt means the bytes cannot be a valid v2 batch: bad length,
	// magic, CRC or record count.
	ErrCorrupt = errors.New("records: corrupt batch")
	// ErrUnsupportedMagic means the batch is a v0/v1 message set.
	ErrUnsupportedMagic = errors.New("records: unsupported magic (only v2 batches are accepted)")
)

// Batch is a view over exactly one encoded v2 batch. It does not own its
// bytes; setters write through to them.
type Batch []byte

func (b Batch) BaseOffset() int64           { return int64(binary.BigEndian.Uint64(b[0:])) }
func (b Batch) Length() int32               { return int32(binary.BigEndian.Uint32(b[8:])) }
func (b Batch) PartitionLeaderEpoch() int32 { return int32(binary.BigEndian.Uint32(b[12:])) }
func (b Batch) Magic() int8                 { return int8(b[16]) }
func (b Batch) CRC() uint32                 { return binary.BigEndian.Uint32(b[17:]) }
func (b Batch) Attributes() int16           { return int16(binary.BigEndian.Uint16(b[21:])) }
func (b Batch) LastOffsetDelta() int32      { return int32(binary.BigEndian.Uint32(b[23:])) }
func (b Batch) BaseTimestamp() int64        { return int64(binary.BigEndian.Uint64(b[27:])) }
func (b Batch) MaxTimestamp() int64         { return int64(binary.BigEndian.Uint64(b[35:])) }
func (b Batch) ProducerID() int64           { return int64(binary.BigEndian.Uint64(b[43:])) }
func (b Batch) ProducerEpoch() int16        { return int16(binary.BigEndian.Uint16(b[51:])) }
func (b Batch) BaseSequence() int32         { return int32(binary.BigEndian.Uint32(b[53:])) }
func (b Batch) NumRecords() int32           { return int32(binary.BigEndian.Uint32(b[57:])) }
func (b Batch) LastOffset() int64           { return b.BaseOffset() + int64(b.LastOffsetDelta()) }
func (b Batch) Codec() Codec                { return Codec(b.Attributes() & codecMask) }
func (b Batch) LogAppendTime() bool         { return b.Attributes()&timestampTypeBit != 0 }
func (b Batch) IsTransactional() bool       { return b.Attributes()&transactionalBit != 0 }
func (b Batch) IsControl() bool             { return b.Attributes()&controlBit != 0 }
func (b Batch) HasDeleteHorizon() bool      { return b.Attributes()&deleteHorizonBit != 0 }

// LastSequence is the sequence number of the last record, wrapping as Kafka
// does at MaxInt32.
func (b Batch) LastSequence() int32 {
	seq := b.BaseSequence()
	if seq < 0 {
		return seq
	}
	return int32((int64(seq) + int64(b.LastOffsetDelta())) % (1 << 31))
}

// RecordsSection is the bytes after the header: the records, compressed when
// Codec is not none.
func (b Batch) RecordsSection() []byte { return b[HeaderSize:] }

// SetBaseOffset patches the base offset; the CRC does not cover it.
func (b Batch) SetBaseOffset(o int64) { binary.BigEndian.PutUint64(b[0:], uint64(o)) }

// SetPartitionLeaderEpoch patches the leader epoch; the CRC does not cover it.
func (b Batch) SetPartitionLeaderEpoch(e int32) { binary.BigEndian.PutUint32(b[12:], uint32(e)) }

// SetLogAppendTime stamps the batch with the broker's time: the timestamp
// type bit is set and max timestamp becomes ts, as Kafka does. The CRC is
// recomputed because both fields are covered by it.
func (b Batch) SetLogAppendTime(ts int64) {
	attrs := uint16(b.Attributes()) | timestampTypeBit
	binary.BigEndian.PutUint16(b[21:], attrs)
	binary.BigEndian.PutUint64(b[35:], uint64(ts))
	b.UpdateCRC()
}

// ComputeCRC returns the CRC-32C of bytes 21 onwards.
func (b Batch) ComputeCRC() uint32 { return crc32.Checksum(b[21:], castagnoli) }

// UpdateCRC recomputes and stores the CRC.
func (b Batch) UpdateCRC() { binary.BigEndian.PutUint32(b[17:], b.ComputeCRC()) }

// Peek reads the base offset and total size of the batch that buf begins
// with, checking only what can be checked from the first 17 bytes. It
// returns ErrTruncated when buf is too short to tell, or shorter than the
// batch it begins; the size is returned in that case too when known, so a
// reader can fetch the rest.
func Peek(buf []byte) (baseOffset int64, size int, err error) {
	if len(buf) < 17 {
		return 0, 0, ErrTruncated
	}
	length := int32(binary.BigEndian.Uint32(buf[8:]))
	if length < HeaderSize-lengthPrefix {
		return 0, 0, fmt.Errorf("%w: batch length %d is below the header size", ErrCorrupt, length)
	}
	if buf[16] != 2 {
		if buf[16] < 2 {
			return 0, 0, ErrUnsupportedMagic
		}
		return 0, 0, fmt.Errorf("%w: magic %d", ErrCorrupt, buf[16])
	}
	if int64(length)+lengthPrefix > int64(math.MaxInt) {
		return 0, 0, fmt.Errorf("%w: batch length %d", ErrCorrupt, length)
	}
	size = int(length) + lengthPrefix
	baseOffset = int64(binary.BigEndian.Uint64(buf))
	if len(buf) < size {
		return baseOffset, size, ErrTruncated
	}
	return baseOffset, size, nil
}

// Next splits the batch that buf begins with from the rest, checking its
// framing (length and magic) but not its CRC. The batch is a view into buf
// whose capacity ends with it, so appending to it cannot overwrite the next.
func Next(buf []byte) (Batch, []byte, error) {
	_, size, err := Peek(buf)
	if err != nil {
		return nil, buf, err
	}
	return Batch(buf[:size:size]), buf[size:], nil
}

// Check verifies everything about a batch that can be verified without
// decompressing it: magic, CRC, and that the header's counts agree with
// each other. It is what the produce path and log recovery run on every
// batch.
func (b Batch) Check() error {
	if len(b) < HeaderSize {
		return fmt.Errorf("%w: %d bytes is below the header size", ErrCorrupt, len(b))
	}
	if int(b.Length())+lengthPrefix != len(b) {
		return fmt.Errorf("%w: batch length %d does not match %d bytes", ErrCorrupt, b.Length(), len(b))
	}
	if b.Magic() != 2 {
		if b.Magic() < 2 {
			return ErrUnsupportedMagic
		}
		return fmt.Errorf("%w: magic %d", ErrCorrupt, b.Magic())
	}
	if got, want := b.ComputeCRC(), b.CRC(); got != want {
		return fmt.Errorf("%w: crc %08x, computed %08x", ErrCorrupt, want, got)
	}
	n := b.NumRecords()
	if n < 0 || b.LastOffsetDelta() < 0 {
		return fmt.Errorf("%w: record count %d, last offset delta %d", ErrCorrupt, n, b.LastOffsetDelta())
	}
	// A producer's batch has offset deltas 0..n-1; compaction may leave
	// fewer records than deltas, never more.
	if int64(n) > int64(b.LastOffsetDelta())+1 {
		return fmt.Errorf("%w: %d records but last offset delta %d", ErrCorrupt, n, b.LastOffsetDelta())
	}
	if c := b.Codec(); c > CodecZstd {
		return fmt.Errorf("%w: unknown compression codec %d", ErrCorrupt, c)
	}
	return nil
}

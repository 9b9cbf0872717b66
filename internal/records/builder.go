package records

import (
	"encoding/binary"
)

// BatchHeader holds the header fields a Builder writes. Offsets and the
// leader epoch are left for the log to assign.
type BatchHeader struct {
	Codec          Codec
	LogAppendTime  bool
	Transactional  bool
	Control        bool
	BaseTimestamp  int64
	ProducerID     int64
	ProducerEpoch  int16
	BaseSequence   int32
	LeaderEpoch    int32
	BaseOffset     int64
	DeleteHorizon  bool
	LastOffsetHint int32 // when >= 0 and more than the records give, kept as the last offset delta
}

// NewHeader returns a header for a non-idempotent, uncompressed batch.
func NewHeader() BatchHeader {
	return BatchHeader{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, LastOffsetHint: -1}
}

// Builder encodes records into one v2 batch. The zero value is not usable;
// start with Reset.
type Builder struct {
	h         BatchHeader
	body      []byte
	count     int32
	lastDelta int32
	maxTS     int64
}

// Reset starts a new batch with header h, keeping buffers.
func (b *Builder) Reset(h BatchHeader) {
	b.h = h
	b.body = b.body[:0]
	b.count = 0
	b.lastDelta = 0
	b.maxTS = h.BaseTimestamp
}

// Header is one record header for Add.
type Header struct {
	Key   []byte
	Value []byte
}

// Add appends a record. Timestamps are absolute; offsetDelta is the record's
// offset relative to the batch base offset.
func (b *Builder) Add(offsetDelta int32, timestamp int64, key, value []byte, headers []Header) {
	// The length prefix comes first, so the record's size is worked out
	// before it is written; nothing is allocated per record.
	tsDelta := timestamp - b.h.BaseTimestamp
	size := 1 + varintLen(tsDelta) + varintLen(int64(offsetDelta)) +
		varBytesLen(key) + varBytesLen(value) + varintLen(int64(len(headers)))
	for _, h := range headers {
		size += varBytesLen(h.Key) + varBytesLen(h.Value)
	}
	b.body = binary.AppendVarint(b.body, int64(size))
	b.body = append(b.body, 0) // attributes
	b.body = binary.AppendVarint(b.body, tsDelta)
	b.body = binary.AppendVarint(b.body, int64(offsetDelta))
	b.body = appendVarBytes(b.body, key)
	b.body = appendVarBytes(b.body, value)
	b.body = binary.AppendVarint(b.body, int64(len(headers)))
	for _, h := range headers {
		b.body = appendVarBytes(b.body, h.Key)
		b.body = appendVarBytes(b.body, h.Value)
	}
	b.count++
	if offsetDelta > b.lastDelta {
		b.lastDelta = offsetDelta
	}
	if timestamp > b.maxTS {
		b.maxTS = timestamp
	}
}

func varintLen(v int64) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutVarint(buf[:], v)
}

func varBytesLen(v []byte) int {
	if v == nil {
		return varintLen(-1)
	}
	return varintLen(int64(len(v))) + len(v)
}

// AddRaw appends a record already encoded (length prefix included), for
// callers that copy records from another batch.
func (b *Builder) AddRaw(encoded []byte, offsetDelta int32, timestamp int64) {
	b.body = append(b.body, encoded...)
	b.count++
	if offsetDelta > b.lastDelta {
		b.lastDelta = offsetDelta
	}
	if timestamp > b.maxTS {
		b.maxTS = timestamp
	}
}

// Count is the number of records added since Reset.
func (b *Builder) Count() int32 { return b.count }

func appendVarBytes(dst, v []byte) []byte {
	if v == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(v)))
	return append(dst, v...)
}

// AppendTo appends the finished batch to dst.
func (b *Builder) AppendTo(dst []byte) ([]byte, error) {
	start := len(dst)
	dst = append(dst, make([]byte, HeaderSize)...)
	var err error
	if dst, err = Compress(dst, b.h.Codec, b.body); err != nil {
		return dst[:start], err
	}
	batch := Batch(dst[start:])
	binary.BigEndian.PutUint64(batch[0:], uint64(b.h.BaseOffset))
	binary.BigEndian.PutUint32(batch[8:], uint32(len(batch)-lengthPrefix))
	binary.BigEndian.PutUint32(batch[12:], uint32(b.h.LeaderEpoch))
	batch[16] = 2
	attrs := uint16(b.h.Codec) & codecMask
	if b.h.LogAppendTime {
		attrs |= timestampTypeBit
	}
	if b.h.Transactional {
		attrs |= transactionalBit
	}
	if b.h.Control {
		attrs |= controlBit
	}
	if b.h.DeleteHorizon {
		attrs |= deleteHorizonBit
	}
	binary.BigEndian.PutUint16(batch[21:], attrs)
	last := b.lastDelta
	if b.h.LastOffsetHint > last {
		last = b.h.LastOffsetHint
	}
	binary.BigEndian.PutUint32(batch[23:], uint32(last))
	binary.BigEndian.PutUint64(batch[27:], uint64(b.h.BaseTimestamp))
	binary.BigEndian.PutUint64(batch[35:], uint64(b.maxTS))
	binary.BigEndian.PutUint64(batch[43:], uint64(b.h.ProducerID))
	binary.BigEndian.PutUint16(batch[51:], uint16(b.h.ProducerEpoch))
	binary.BigEndian.PutUint32(batch[53:], uint32(b.h.BaseSequence))
	binary.BigEndian.PutUint32(batch[57:], uint32(b.count))
	batch.UpdateCRC()
	return dst, nil
}

// Recompress appends to dst a copy of b whose records section is
// compressed with c at level (see CompressLevel) instead (the topic's
// compression.type differs from the producer's), keeping every header
// field; the CRC is recomputed. Records decompress into scratch, bounded
// by max bytes. It returns dst and the grown scratch.
func Recompress(dst, scratch []byte, b Batch, c Codec, level, max int) ([]byte, []byte, error) {
	raw := b.RecordsSection()
	if b.Codec() != CodecNone {
		var err error
		if scratch, err = Decompress(scratch[:0], b.Codec(), raw, max); err != nil {
			return dst, scratch, err
		}
		raw = scratch
	}
	start := len(dst)
	dst = append(dst, b[:HeaderSize]...)
	var err error
	if dst, err = CompressLevel(dst, c, raw, level); err != nil {
		return dst[:start], scratch, err
	}
	out := Batch(dst[start:])
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-lengthPrefix))
	attrs := uint16(out.Attributes())&^codecMask | uint16(c)&codecMask
	binary.BigEndian.PutUint16(out[21:], attrs)
	out.UpdateCRC()
	return dst, scratch, nil
}

package records

import (
	"encoding/binary"
	"fmt"
)

// Record is one record, its byte fields aliasing the records section it was
// read from. Key and Value are nil when null.
type Record struct {
	Attributes     int8
	TimestampDelta int64
	OffsetDelta    int32
	Key            []byte
	Value          []byte
	// Headers is the raw header section: HeaderCount headers, each a
	// varint-string key and varint-bytes value. Use EachHeader to walk it.
	HeaderCount int32
	Headers     []byte
}

// RecordIter walks the records of an uncompressed records section in place.
// Every length is bounded by the bytes that remain, so it is safe on
// untrusted input.
type RecordIter struct {
	buf  []byte
	left int32
	err  error
}

// NewRecordIter walks count records in buf.
func NewRecordIter(buf []byte, count int32) RecordIter {
	return RecordIter{buf: buf, left: count}
}

// Next fills r with the next record and reports whether there was one. When
// it returns false, Err says whether the section ended cleanly.
func (it *RecordIter) Next(r *Record) bool {
	if it.err != nil || it.left <= 0 {
		if it.err == nil && it.left == 0 && len(it.buf) != 0 {
			it.err = fmt.Errorf("%w: %d bytes after the last record", ErrCorrupt, len(it.buf))
		}
		it.left = -1
		return false
	}
	it.left--
	length, n := binary.Varint(it.buf)
	if n <= 0 || length < 0 || length > int64(len(it.buf)-n) {
		it.err = fmt.Errorf("%w: bad record length", ErrCorrupt)
		return false
	}
	body := it.buf[n : n+int(length)]
	it.buf = it.buf[n+int(length):]
	if err := parseRecord(body, r); err != nil {
		it.err = err
		return false
	}
	return true
}

// Err is the error that stopped iteration, nil after a clean end.
func (it *RecordIter) Err() error { return it.err }

var errRecord = fmt.Errorf("%w: malformed record", ErrCorrupt)

func parseRecord(b []byte, r *Record) error {
	if len(b) < 1 {
		return errRecord
	}
	r.Attributes = int8(b[0])
	b = b[1:]
	var n int
	r.TimestampDelta, n = binary.Varint(b)
	if n <= 0 {
		return errRecord
	}
	b = b[n:]
	od, n := binary.Varint(b)
	if n <= 0 || od < 0 || od > 1<<31-1 {
		return errRecord
	}
	r.OffsetDelta = int32(od)
	b = b[n:]
	if r.Key, b = varBytes(b); b == nil {
		return errRecord
	}
	if r.Value, b = varBytes(b); b == nil {
		return errRecord
	}
	hc, n := binary.Varint(b)
	if n <= 0 || hc < 0 || hc > int64(len(b)) {
		return errRecord
	}
	r.HeaderCount = int32(hc)
	r.Headers = b[n:]
	// Walk the headers once so that a record is either wholly valid or
	// rejected; EachHeader can then trust them.
	rest := r.Headers
	for i := int64(0); i < hc; i++ {
		var k, v []byte
		if k, rest = varBytes(rest); rest == nil || k == nil {
			return errRecord
		}
		if v, rest = varBytes(rest); rest == nil {
			return errRecord
		}
		_ = v
	}
	if len(rest) != 0 {
		return errRecord
	}
	return nil
}

// varBytes reads a varint-length byte field. A negative length is null
// (nil field). The returned rest is nil when the field is malformed, and an
// empty non-nil slice when the field ends the input.
func varBytes(b []byte) (field, rest []byte) {
	l, n := binary.Varint(b)
	if n <= 0 || l > int64(len(b)-n) {
		return nil, nil
	}
	if l < 0 {
		if l != -1 {
			return nil, nil
		}
		return nil, b[n:]
	}
	end := n + int(l)
	return b[n:end:end], b[end:]
}

// EachHeader calls fn for every header of a record that Next accepted.
func (r *Record) EachHeader(fn func(key, value []byte)) {
	rest := r.Headers
	for i := int32(0); i < r.HeaderCount; i++ {
		var k, v []byte
		k, rest = varBytes(rest)
		v, rest = varBytes(rest)
		fn(k, v)
	}
}

// Records returns an iterator over the batch's records, decompressing into
// scratch when the batch is compressed (at most max bytes). The returned
// slice is scratch grown as needed, for the caller to reuse.
func (b Batch) Records(scratch []byte, max int) (RecordIter, []byte, error) {
	sec := b.RecordsSection()
	if c := b.Codec(); c != CodecNone {
		var err error
		if scratch, err = Decompress(scratch[:0], c, sec, max); err != nil {
			return RecordIter{}, scratch, err
		}
		sec = scratch
	}
	return NewRecordIter(sec, b.NumRecords()), scratch, nil
}

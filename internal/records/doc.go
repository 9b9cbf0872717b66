// Package records reads and patches Kafka record batches (magic v2) as byte
// slices, without decoding them into structs.
//
// A batch on the wire and on disk is laid out as follows (big endian):
//
//	offset  size  field
//	     0     8  base offset            patched by the broker on append
//	     8     4  batch length           bytes after this field (total = length + 12)
//	    12     4  partition leader epoch patched by the broker on append
//	    16     1  magic                  always 2
//	    17     4  CRC-32C                covers bytes 21 .. end
//	    21     2  attributes             bits 0-2 codec, 3 timestamp type,
//	                                     4 transactional, 5 control, 6 delete horizon
//	    23     4  last offset delta
//	    27     8  base timestamp
//	    35     8  max timestamp
//	    43     8  producer id
//	    51     2  producer epoch
//	    53     4  base sequence
//	    57     4  record count
//	    61     …  records, compressed as a whole when the codec is not none
//
// Because the CRC starts at byte 21, the broker assigns offsets and leader
// epochs by patching the first 21 bytes in place; only a change to the max
// timestamp (LogAppendTime) requires recomputing the CRC.
//
// Each record inside the (decompressed) records section is:
//
//	length varint, attributes int8, timestamp delta varlong, offset delta
//	varint, key varint-bytes, value varint-bytes, header count varint, then
//	per header key varint-string and value varint-bytes.
//
// Nothing in this package allocates per record: Batch is a view over the
// caller's bytes, and RecordIter walks records in place.
package records

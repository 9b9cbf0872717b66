// Package log is the durable segmented log of one partition: batches as
// they arrived (after offset assignment), split into segment files, with
// sparse offset and time indexes, crash recovery, retention and truncation.
// Every file access goes through FS, so tests run the log on MemFS (and
// simulate power loss with CrashClone) or on FaultFS (and fail the disk).
//
// # Files
//
// A partition's directory holds, as Kafka lays it out:
//
//	00000000000000000000.log        segment: batches byte for byte
//	00000000000000000000.index      its sparse offset index
//	00000000000000000000.timeindex  its time index
//	00000000000000004810.log        the next segment, base offset 4810
//	...
//	leader-epoch-checkpoint         epoch -> first offset, Kafka's text format
//	log-start-offset                set by DeleteRecords (and by a reset)
//	recovery-point                  offset below which recovery trusts segments
//	clean-shutdown                  written by Close, removed before the next change
//	cleaner-offset-checkpoint       offset below which the cleaner compacted the log
//
// A new log writes only its first .log until it has something to record:
// its indexes and checkpoints appear at the first roll or Close, and until
// then their absence says what they would (offset 0, no epochs). The other
// way round, Close rewrites no checkpoint, and no marker, whose content on
// disk is already what it would write: a log that took no change since it
// opened cleanly closes without writing a file.
//
// A segment is named after its base offset, zero padded to 20 digits. Its
// .log is a plain concatenation of v2 batches (see internal/records):
//
//	pos 0                      pos p                         size
//	+--------------------------+-----------------------------+
//	| batch base=B ...         | batch base=B+k ...          |
//	+--------------------------+-----------------------------+
//
// The .index holds 8-byte entries, big endian, one every
// index.interval.bytes of batches (an entry goes in before a batch when more
// than that many bytes were appended since the previous entry):
//
//	+----------------------+----------------------+
//	| relative offset u32  | file position u32    |   batch base offset - segment
//	+----------------------+----------------------+   base, and where the batch starts
//
// The .timeindex holds 12-byte entries, appended at the same moments when
// the segment's largest timestamp grew since the previous entry, and once
// more when the segment stops being active (roll, Close), so its last entry
// always holds the segment's largest timestamp:
//
//	+------------------------------+----------------------+
//	| max timestamp so far i64     | relative offset u32  |   base offset of the first
//	+------------------------------+----------------------+   batch reaching it
//
// Invariants: segments' base offsets increase and each segment's batches
// lie in [its base, the next segment's base); batches in a segment have
// strictly increasing offsets; index entries are strictly increasing in
// both fields and point inside their segment; time entries strictly
// increase in timestamp and never decrease in offset. Positions fit in 32
// bits, so segment.bytes is capped at 2 GiB.
//
// Indexes live in memory too. A segment's index files are written and
// synced when it stops being active (the flush after a roll) and at Close;
// the active segment's indexes reach disk only then, and recovery rebuilds
// them otherwise. Segments loaded after a clean shutdown read their indexes
// lazily, on their first read, so opening many partitions reads no
// segment data.
//
// # Durability
//
// Append writes with one pwrite and publishes the new size to readers; it
// makes nothing durable. Flush syncs every segment with unsynced bytes,
// writes the index files of segments rolled since the last flush, syncs the
// directory if segment files came or went, and reports the log end offset
// it started from as durable. PrepareFlush and FSFlush.Finish split a
// simple flush (no roll, no new or removed file) around a sync the caller
// makes of the whole file system (Linux syncfs), so one sync covers many
// logs; a flush that is not simple is left to Flush. After a flush that
// covered a roll it checkpoints the leader epochs and then the recovery
// point (in that order: recovery trusts the epochs below the recovery
// point). A failed sync
// truncates the log back to the last durable offset and reports the error;
// Append failures cut the partial write off. Checkpoints are written to a
// .tmp file, synced, renamed over the old one and the directory synced.
//
// # Recovery
//
// Open first tidies the directory: .deleted, .cleaned and .tmp files are
// removed, a swap file (a complete rewritten segment, see Compaction)
// replaces the segments in its offset range, index files without a .log
// are removed, unknown files are logged and left alone.
//
// With a clean-shutdown marker that matches the directory (active segment
// base offset and size), segments are trusted: only the active segment's
// indexes are loaded and checked (sorted, inside the file, last entry
// naming the batch it points at; an index that disagrees is rebuilt), and
// the batch headers after its last index entry are walked to find the log
// end offset, which must equal the marker's.
//
// Otherwise every segment from the one holding the recovery point on is
// validated batch by batch: framing, Check (CRC), base offset at or after
// the previous batch's last offset + 1, offsets that fit the segment. The
// segment is truncated at the first torn or bad batch and every later
// segment deleted; their indexes are rebuilt; each action is logged with
// the segment, the bytes cut and the reason. Leader epochs at or beyond the
// first validated segment are dropped from the checkpoint and re-learnt
// from the batches (the whole cache is rebuilt when the checkpoint is
// missing or malformed). A log start offset checkpointed beyond what
// survived restarts the log empty at that offset. The recovered log is
// synced before Open returns, so it is entirely durable.
//
// # Compaction
//
// Clean compacts the closed segments of a log, as Kafka's log cleaner does.
// The cleaner checkpoint divides the log into a clean section (compacted
// before) and a dirty one. A pass may clean whole segments below the first
// uncleanable offset: the smallest of the caller's bound (the last stable
// offset, at most the high watermark), the first offset of any transaction
// still open in the log, the durable offset, the checkpointed recovery
// point, the active segment's base and, with min.compaction.lag.ms, the
// base of the first segment holding a younger record. Dirtiness reports the
// dirty ratio, dirty bytes / (clean + dirty bytes) of the cleanable
// segments, which the caller compares with min.cleanable.dirty.ratio.
//
// A pass maps every key of the dirty section to the offset of its latest
// record (two 64-bit hashes per key; when the map is full the pass stops
// mapping at a batch boundary and what it did not map stays as it is),
// then rewrites every cleanable segment from the log start, in groups no
// larger than segment.bytes (and the index limits), each group into one
// new segment named after its first segment. Batches are kept byte for
// byte when all their records stay; otherwise rebuilt with the same codec,
// base and last offset, producer id, epoch, base sequence and leader
// epoch. What goes: a record whose key has a later record in the map, a
// record without a key, a tombstone whose batch's delete horizon passed,
// the records of aborted transactions (found from the batches: a
// producer's transactional batches followed by its ABORT marker), a
// transaction marker once a pass found none of its transaction's batches
// and its horizon passed, and a batch left empty unless it is its
// producer's last and the producer has not expired
// (producer.id.expiration.ms): its header then stays, empty, for the
// producer's sequence and epoch. A batch that keeps a tombstone, or a
// marker whose data is gone, and has no delete horizon gets one: attribute
// bit 6 set and the base timestamp set to the time of the pass +
// delete.retention.ms (Kafka's KIP-534 layout; record timestamps stay, as
// deltas from it). A pass reads and writes segments holding no lock but
// its own (cleanMu), reports its I/O to the caller's Throttle, and stops
// at once when the log closes.
//
// Swapping the new segments in is crash safe:
//
//  1. write each group's segment as <base>.log.cleaned and sync it;
//  2. under flushMu and metaMu, check that the segments it replaces are
//     still there and unchanged and that no truncation ran (else give up,
//     removing the .cleaned files), rename each to <base>-<end>.log.swap, where [base, end) is
//     the range of segments it replaces, and sync the directory: the
//     commit point;
//  3. swap the segments in memory;
//  4. remove the old segments' files (of the first one only its index
//     files), sync the directory, rename the swap file to <base>.log,
//     sync the directory, write the new index files.
//
// Recovery removes .cleaned files (a pass that did not commit) and
// finishes any swap file: it removes the segments whose base offset lies
// in its range and renames it. A pass therefore never commits over an
// unfinished swap, and cleaned segments are synced and below the recovery
// point, so recovery never validates one; should it have to (a lost
// recovery point), an empty active segment after a cleaned one whose
// batches end early is kept, since below the cleaner checkpoint such gaps
// are compaction's, not lost data. The checkpoint is written after the
// swap; a crash before that makes the next pass redo the work.
//
// A read that started in a replaced segment finishes on it (its file stays
// open while the read holds it); one that reaches its end without finding
// its offset looks again from where that segment ended, in the segment
// that now holds those offsets.
//
// # Concurrency
//
// One goroutine appends at a time; Flush, Read, retention, SetStartOffset,
// truncation, cleaning and the accessors may run from any goroutine. Locks,
// in the order they are taken (a goroutine holding one may take those
// after it):
//
//	cleanMu         one cleaning pass at a time; Close and Delete wait for it
//	flushMu         Flush, PrepareFlush until FSFlush.Finish (held across the
//	                caller's file-system sync), Close, Delete, TruncateTo,
//	                TruncateFullyAndStartAt, a cleaning pass's start (to
//	                finish an earlier swap) and its swap
//	metaMu          EnforceRetention, SetStartOffset, truncations, Close,
//	                a cleaning pass's swap
//	appendMu        Append, roll, truncations; retention only for the roll
//	ckptMu          writing the recovery point and epoch checkpoints
//	segment.loadMu  loading one segment's indexes from disk
//	mu (RWMutex)    in-memory state: segment list, sizes, offsets, indexes,
//	                epochs; a leaf, never held across file I/O
//
// Readers take mu briefly to find the segment, its committed size and an
// index position, take a reference on the segment, and read with no lock
// held; they never look past the committed size. Segment files deleted by
// retention are unlinked at once and closed when their last reference
// goes, so a racing read finishes on the old file. Truncation bumps a
// generation counter before it changes a file; a read that sees the counter
// move reads again, so it never returns bytes that truncation and a later
// append replaced.
package log

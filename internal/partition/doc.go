// Package partition is one replica of one partition: the log it owns, the
// offsets consumers see, the producers writing to it, and the requests
// waiting on it.
//
// Offsets of a partition, from low to high:
//
//	log start ≤ last stable (LSO) ≤ high watermark (HWM) ≤ log end (LEO)
//
// The log end offset is the next offset to assign. The high watermark is
// the end of what is durable, as the write policy defines it: with
// write.caching off (the default) it advances only when a flush has made
// batches durable, so a consumer never sees a record that a crash could
// take back, and an acks=all produce is acknowledged at the same moment.
// The last stable offset is the first offset of the oldest open
// transaction, or the high watermark when there is none.
//
// # Producers and transactions
//
// Each producer id seen in the partition has its epoch, the sequence
// ranges and offsets of its last five batches (a retry of one of them is
// answered with its original offset and not written again), the
// coordinator epoch of its last marker, and the first offset of its open
// transaction. Kafka's rules apply on append: a retry is recognised first;
// an older epoch is INVALID_PRODUCER_EPOCH; a new epoch starts at sequence
// 0; within an epoch sequences are contiguous (OUT_OF_ORDER_SEQUENCE_NUMBER
// otherwise); a producer with an open transaction may only write
// transactional batches (INVALID_TXN_STATE). Batches without sequence
// numbers come from this broker's group coordinator (transactional offset
// commits) and only have their epoch checked. Producers idle for
// producer.id.expiration.ms without an open transaction are forgotten.
//
// A transaction opens in the partition with its producer's first
// transactional batch and closes with a marker (WriteMarker): a control
// batch with one control record, key {int16 0, int16 type: 0 abort,
// 1 commit}, value {int16 0, int32 coordinator epoch}. A marker must not go
// back in epoch; with transactions version 2 it must be above the
// producer's (the coordinator bumped it), except a retry of a marker
// already written. An open transaction holds the last stable offset at its
// first offset until its marker is durable, so read_committed readers
// never pass data whose outcome a crash could change. Aborted transactions
// form the aborted index, {producer id, first offset, marker offset} in
// marker order, which a read_committed fetch reports for the range it
// returns; entries below the log start offset are dropped.
//
// The producer state, open transactions and aborted index are a function
// of the log: they are rebuilt by replaying batch headers (and markers'
// control records). The producer-state file (snapshot.go) bounds that
// replay; it holds the state as of a durable offset, and open reads the
// snapshot and replays the batches after it. A flush that fails (the log
// drops its unsynced tail) rebuilds the state the same way.
//
// Appends are serialised by the partition's append lock; reads never take
// it. The transaction index has its own mutex, a leaf taken under the
// append lock or ackMu and never the other way round.
//
// A partition with unsynced appends is queued with the Flusher once, and
// one sync covers every batch appended before it starts (group commit).
// Where syncfs reports every error (Linux 5.17 and later) one Flusher
// goroutine runs rounds: it prepares every queued partition's flush,
// syncs the data directory's file system once and completes them all.
// Elsewhere a small pool syncs partitions one by one. A partition whose
// directory is on another file system (ownFS), or whose flush must write
// index files or sync its directory, gets a full flush of its own in the
// round. Waiting fetches and produce acknowledgements are woken by the
// partition when the high watermark moves, never by polling.
package partition

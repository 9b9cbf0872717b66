// Package txn is the transaction coordinator: transactional ids, their
// producer ids and epochs, the state of their transactions, and the commit
// and abort markers that end them. Its state lives in the compacted
// internal topic __transaction_state.
//
// # Shape
//
// Machine is a deterministic state machine, as the group coordinator's is:
// every event (a request, a durable append, markers written, a timer, a
// record loaded) is a method that takes the time and returns an Output:
// records to append to __transaction_state, marker jobs, and replies. It
// reads no clock and does no I/O, so its tests drive time by hand.
// Coordinator is the driver: a mutex around the Machine, a timer
// goroutine, one goroutine per __transaction_state partition that reports
// durable appends in order, one goroutine per marker job, and a loader.
// A transition is applied only once its record is durable, and a request
// is answered only then.
//
// # States
//
// Kafka's, with Kafka's numbers (they are written in the log):
//
//	state                 event                                         next
//	(none)                InitProducerId                                Empty
//	Empty, Complete*      InitProducerId (epoch bumped, or a new id)    Empty
//	Empty, Complete*      AddPartitionsToTxn, AddOffsetsToTxn,          Ongoing
//	                      a TV2 write to a new partition
//	Ongoing               more partitions                               Ongoing
//	Ongoing               EndTxn(commit)                                PrepareCommit
//	Ongoing               EndTxn(abort), timeout, InitProducerId        PrepareAbort
//	Empty, Complete*      EndTxn(abort) with TV2 (nothing to abort)     PrepareAbort
//	PrepareCommit/Abort   every marker durable                          CompleteCommit/Abort
//
// PrepareEpochFence is never written: fencing an open transaction bumps
// the epoch and writes PrepareAbort with it, and the new producer is told
// CONCURRENT_TRANSACTIONS until the abort completes. Dead is never written
// either: an expired transactional id gets a tombstone.
//
// Two transaction versions are served side by side, chosen by the request
// versions a client sends (KIP-890 part 2): with version 1 (EndTxn < v5)
// partitions are added with AddPartitionsToTxn and AddOffsetsToTxn and the
// epoch stays across transactions; with version 2 (EndTxn v5, Produce v12,
// TxnOffsetCommit v5) a write adds its partition itself, and every EndTxn
// bumps the epoch (markers carry the bumped epoch, partitions require it to
// be above the producer's) and returns it; an epoch about to be exhausted
// rotates to a new producer id. The coordinator's own aborts (timeouts,
// fencing) use the finalized transaction.version (2).
//
// # Writes and markers
//
// A transactional write (a produce batch, a transactional offset commit)
// is admitted by the Machine before it is appended (Admit): the producer
// id and epoch must be the transaction's, and the partition in the
// transaction (KIP-890 part 1) or, with version 2, added on the spot. An
// admitted write is in flight until Release. Markers are handed to the
// driver only when no write of the transaction is in flight, so a marker
// never lands before data of the transaction it ends (Kafka's verification
// guard solves the same race across brokers). The driver writes a marker
// to every partition (Partition.WriteMarker), retries until each is
// durable (a partition that is gone needs none), tells the group
// coordinator about __consumer_offsets partitions (their transactional
// offsets become visible or vanish), and reports the job done; the Machine
// then writes CompleteCommit or CompleteAbort. A write that joins a
// transaction whose previous one is still ending waits (up to a second)
// rather than fail, since version 2 clients start the next transaction as
// soon as EndTxn answers.
//
// # Records of __transaction_state
//
// A transactional id lives in partition abs(javaHashCode(id)) % partitions,
// as in Kafka. The topic is created, compacted, on the first
// FindCoordinator for a transactional id and loaded at startup; while a
// partition loads its ids answer COORDINATOR_LOAD_IN_PROGRESS. Records are
// Kafka's (kmsg's TxnMetadataKey and TxnMetadataValue):
//
//	key    int16 version 0 | string transactional id
//	value  int16 version 1 | int64 producer id | int16 epoch | int32 timeout ms |
//	       int8 state | [topic, [int32 partition]] | int64 last update ms |
//	       int64 start ms | tags: 0 previous producer id, 1 next producer id,
//	       2 client transaction version
//
// A null value is a tombstone. The epoch before the last bump is not
// written (as in Kafka), so a retried InitProducerId that spans a restart
// may be fenced. After loading, transactions in PrepareCommit or
// PrepareAbort write their markers again; open ones are aborted by the
// timeout check like any other.
//
// # Timers
//
// Every transaction.abort.timed.out.transaction.cleanup.interval.ms the
// transactions open for longer than their timeout are fenced and aborted;
// every transaction.remove.expired.transaction.cleanup.interval.ms the ids
// without a transaction and idle for transactional.id.expiration.ms are
// removed. A completion whose append failed is retried after a backoff.
package txn

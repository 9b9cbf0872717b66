// Package group is the group coordinator: consumer groups of the classic
// protocol (JoinGroup/SyncGroup with client-side assignment, KIP-345 static
// members, KIP-394 member ids) and of the consumer protocol of KIP-848
// (ConsumerGroupHeartbeat with server-side assignment), their committed
// offsets, and the transactional offsets the transaction coordinator will
// drive.
//
// # Shape
//
// Machine is a deterministic state machine. Every event (a request, a timer
// firing, an append becoming durable, a metadata change, a loaded record)
// is a method that takes the current time and returns an Output: batches to
// append to __consumer_offsets and replies to send. It reads no clock,
// starts no goroutine and does no I/O, so its tests (script_test.go and
// testdata/*.txt) drive time by hand. Timers are a heap inside the machine;
// the driver asks NextDeadline and calls Tick.
//
// Coordinator runs the Machine on a coordlog.Driver: one mutex around the
// Machine, a timer goroutine, a goroutine per __consumer_offsets partition
// that waits for appends to become durable (in offset order) and reports
// them with Appended; it adds the loader. A request's reply that depends
// on records (a commit, the leader's SyncGroup, a group change) is only
// released by Appended, so nothing is acknowledged before it is durable.
// Lock order: the driver's mutex, then a partition's locks
// (Partition.Append is called with it held so that records reach the log
// in the Machine's order); partitions never call back into the
// coordinator.
//
// # State in __consumer_offsets
//
// A group lives in partition abs(javaHashCode(groupID)) % partitions, as in
// Kafka. The topic is created, compacted, on the first FindCoordinator and
// loaded on startup; while a partition loads, its groups answer
// COORDINATOR_LOAD_IN_PROGRESS. Every record is Kafka's: the key starts
// with an int16 record type (the "key version" of the old records), the
// value with an int16 version; a null value is a tombstone.
//
//	type  key fields              value                                  written when
//	0,1   group topic partition   OffsetCommitValue v3 (v1 with expiry)   an offset is committed
//	2     group                   GroupMetadataValue v3                   a classic generation is
//	                                                                      synced, emptied, or a
//	                                                                      static member replaced
//	3     group                   ConsumerGroupMetadataValue v0           the group epoch moves
//	                              (epoch; tag 0: metadata hash)
//	5     group member            ConsumerGroupMemberMetadataValue v0     a member's subscription
//	                                                                      or client info changes
//	6     group                   TargetAssignmentMetadataValue v0        a target is computed
//	7     group member            TargetAssignmentMemberValue v0          a member's target changes
//	8     group member            CurrentMemberAssignmentValue v0         a member's epoch, state
//	                              (tag 0 per topic: assignment epochs)    or partitions change
//	16    group regex             RegularExpressionValue v0               a regex resolves anew
//
// Keys are non-flexible (int16 type, then int16-length strings, an int32
// partition); the KIP-848 values are flexible version 0: compact strings
// and arrays, a uuid per topic, tagged fields at the end:
//
//	CurrentMemberAssignmentValue
//	+---------+-------------+---------------+-------+------------+------------+------+
//	| int16 0 | int32 epoch | int32 prev    | int8  | [topic]    | [topic]    | tags |
//	| version |             | epoch         | state | assigned   | revoking   |      |
//	+---------+-------------+---------------+-------+------------+------------+------+
//	topic = uuid id, [int32] partitions, tags (0: [int32] assignment epochs)
//
// Record type 4 (subscription metadata, written by Kafka before 4.1) and the
// share and streams group records are read and ignored. A transactional
// offset commit is a transactional batch of type-1 records; it takes
// effect when a commit marker for its producer follows in the partition
// (CompleteTxn at run time, ReplayTxnMarker when loading).
//
// # Invariants
//
//   - A reply to a request whose effect is written is sent only after the
//     records are durable; a failed append answers with Kafka's mapping of
//     the error (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, ...).
//   - Replaying every durable record gives the same consumer groups,
//     offsets and settled (Stable or Empty) classic groups as the live
//     machine (checked at the end of every script test).
//   - In a consumer group a partition has at most one owner: a member is
//     given a partition only once no other member has it assigned or
//     pending revocation.
//   - Every parked request (JoinGroup, SyncGroup) is answered exactly once:
//     by the rebalance, by an error when its member is removed or replaced,
//     or NOT_COORDINATOR at shutdown.
package group

package config

import (
	"math"
	"sort"
	"strconv"
)

// Key describes one setting: its Kafka name, type, default, valid values,
// where it applies and how it may change.
type Key struct {
	Name string
	Type Type
	// Default is the canonical default value; meaningless when NoDefault.
	Default string
	// NoDefault marks a setting that is unset unless configured (Kafka's null
	// default), such as log.retention.ms, which then falls back to its
	// lower-priority synonyms.
	NoDefault bool
	// DefaultFrom names another broker setting whose value an unset setting
	// takes (advertised.listeners takes listeners).
	DefaultFrom string
	Doc         string
	// Topic is true for a topic config (settable per topic by CreateTopics
	// and AlterConfigs); Broker for a broker setting. A few Kafka settings,
	// such as compression.type, are both under the same name.
	Topic  bool
	Broker bool
	// BrokerSynonyms (topic configs only) are the broker settings that supply
	// the topic's default, highest priority first, as in Kafka.
	BrokerSynonyms []BrokerSynonym
	// ReadOnly (broker settings only) means the value is fixed at startup: it
	// cannot be changed with AlterConfigs. Topic configs are never read-only.
	ReadOnly bool
	// Sensitive values are never returned by Describe.
	Sensitive bool
	// PlexusOnly marks a setting that Kafka does not have.
	PlexusOnly bool
	// Ignored marks a setting that Plexus accepts, validates and describes
	// for compatibility but that has no effect.
	Ignored bool

	rule rule
}

// BrokerSynonym is a broker setting that supplies a topic config's default.
// Its value is multiplied by Scale to convert it to the topic config's unit
// (log.retention.hours has Scale 3600000 for retention.ms); a negative value
// converts to -1.
type BrokerSynonym struct {
	Name  string
	Scale int64
}

// ValidValues describes the valid values in words, or "" for any value of
// the key's type.
func (k *Key) ValidValues() string {
	if k.rule == nil {
		return ""
	}
	return k.rule.describe()
}

// Validate reports whether value is valid for k, with the reason if not.
func (k *Key) Validate(value string) error {
	_, _, err := k.normalize(value)
	return err
}

// normalize parses and checks value, returning its canonical string and its
// parsed form.
func (k *Key) normalize(value string) (string, any, error) {
	s, v, reason := parse(k.Type, value)
	if reason == "" && k.rule != nil {
		reason = k.rule.check(v)
	}
	if reason != "" {
		return "", nil, &Error{Key: k.Name, Value: value, Reason: reason, Err: ErrInvalid}
	}
	return s, v, nil
}

const (
	msPerMinute = 60 * 1000
	msPerHour   = 60 * msPerMinute
)

var (
	maxLong   = strconv.FormatInt(math.MaxInt64, 10)
	maxInt    = strconv.FormatInt(math.MaxInt32, 10)
	maxDouble = formatDouble(math.MaxFloat64)
)

func syn(names ...string) []BrokerSynonym {
	s := make([]BrokerSynonym, len(names))
	for i, n := range names {
		s[i] = BrokerSynonym{Name: n, Scale: 1}
	}
	return s
}

// table is THE list of settings. Kafka's defaults and ranges are those of
// Kafka 4.x unless the doc says otherwise.
var table = []Key{
	// ---- topic configs ----
	{Name: CleanupPolicy, Type: TypeList, Default: "delete", rule: listOf{"compact", "delete"}, Topic: true,
		BrokerSynonyms: syn(LogCleanupPolicy),
		Doc:            "What happens to old segments: delete removes them by retention.ms/retention.bytes, compact keeps the latest record per key; both may be given, and an empty list means neither (data is kept for ever)."},
	{Name: CompressionGzipLevel, Type: TypeInt, Default: "-1", rule: betweenOr(1, 9, -1), Topic: true, Broker: true,
		BrokerSynonyms: syn(CompressionGzipLevel),
		Doc:            "Gzip level used when compression.type=gzip makes the broker recompress (-1: the codec's default)."},
	{Name: CompressionLz4Level, Type: TypeInt, Default: "9", rule: between(1, 17), Topic: true, Broker: true,
		BrokerSynonyms: syn(CompressionLz4Level),
		Doc:            "LZ4 level used when compression.type=lz4 makes the broker recompress; levels above 9 compress as 9, the highest of the lz4 encoder Plexus uses."},
	{Name: CompressionType, Type: TypeString, Default: "producer",
		rule:  oneOf{"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"},
		Topic: true, Broker: true, BrokerSynonyms: syn(CompressionType),
		Doc: "Codec of batches as stored: producer keeps the producer's codec untouched; any other value makes the broker recompress batches that differ."},
	{Name: CompressionZstdLevel, Type: TypeInt, Default: "3", rule: between(-131072, 22), Topic: true, Broker: true,
		BrokerSynonyms: syn(CompressionZstdLevel),
		Doc:            "Zstandard level used when compression.type=zstd makes the broker recompress; Plexus's zstd encoder has four speeds, for levels below 3 (but 0, which means the default, 3), 3-5, 6-9 and 10 up."},
	{Name: DeleteRetentionMs, Type: TypeLong, Default: "86400000", rule: atLeast(0), Topic: true,
		BrokerSynonyms: syn(LogCleanerDeleteRetentionMs),
		Doc:            "How long a tombstone (null value) survives compaction, so that readers starting from the beginning see the delete."},
	{Name: FileDeleteDelayMs, Type: TypeLong, Default: "60000", rule: atLeast(0), Topic: true, Ignored: true,
		BrokerSynonyms: syn(LogSegmentDeleteDelayMs),
		Doc:            "Delay between a segment leaving the log and its files being removed from disk. Plexus needs none: a segment's files are unlinked at once and freed when the last read using them ends."},
	{Name: FlushMessages, Type: TypeLong, Default: maxLong, rule: atLeast(1), Topic: true, Ignored: true,
		BrokerSynonyms: syn(LogFlushIntervalMessages),
		Doc:            "Sync after this many records. Plexus syncs every append as soon as it can, with write.caching=true too, so no record waits this long."},
	{Name: FlushMs, Type: TypeLong, Default: maxLong, rule: atLeast(0), Topic: true, Ignored: true,
		BrokerSynonyms: syn(LogFlushIntervalMs, LogFlushSchedulerIntervalMs),
		Doc:            "Sync when the oldest unsynced record is this old. Plexus syncs every append as soon as it can, with write.caching=true too, so no record waits this long."},
	{Name: FollowerReplicationThrottledReplicas, Type: TypeList, Default: "", rule: throttledReplicas{}, Topic: true, Ignored: true,
		Doc: "Replicas whose replication is throttled on the follower side. Accepted for tool compatibility; Plexus does not throttle replication."},
	{Name: IndexIntervalBytes, Type: TypeInt, Default: "4096", rule: atLeast(0), Topic: true,
		BrokerSynonyms: syn(LogIndexIntervalBytes),
		Doc:            "Bytes of batches between two offset-index entries; smaller means a larger index and shorter scans."},
	{Name: LeaderReplicationThrottledReplicas, Type: TypeList, Default: "", rule: throttledReplicas{}, Topic: true, Ignored: true,
		Doc: "Replicas whose replication is throttled on the leader side. Accepted for tool compatibility; Plexus does not throttle replication."},
	{Name: LocalRetentionBytes, Type: TypeLong, Default: "-2", rule: atLeast(-2), Topic: true, Ignored: true,
		BrokerSynonyms: syn(LogLocalRetentionBytes),
		Doc:            "Tiered storage: bytes kept on local disk (-2: retention.bytes). Plexus has no tiered storage."},
	{Name: LocalRetentionMs, Type: TypeLong, Default: "-2", rule: atLeast(-2), Topic: true, Ignored: true,
		BrokerSynonyms: syn(LogLocalRetentionMs),
		Doc:            "Tiered storage: time kept on local disk (-2: retention.ms). Plexus has no tiered storage."},
	{Name: MaxCompactionLagMs, Type: TypeLong, Default: maxLong, rule: atLeast(1), Topic: true,
		BrokerSynonyms: syn(LogCleanerMaxCompactionLagMs),
		Doc:            "Longest time a record may stay uncompacted: a compacted log's active segment rolls after this long even before segment.ms, as in Kafka, and a segment older than this is compacted whatever the dirty ratio."},
	{Name: MaxMessageBytes, Type: TypeInt, Default: "1048588", rule: atLeast(0), Topic: true,
		BrokerSynonyms: syn(MessageMaxBytes),
		Doc:            "Largest record batch the broker accepts, measured as stored (after compression)."},
	{Name: MessageDownconversionEnable, Type: TypeBoolean, Default: "true", Topic: true, Ignored: true,
		BrokerSynonyms: syn(LogMessageDownconversionEnable),
		Doc:            "Deprecated in Kafka 4 and a no-op there too: only record format v2 exists, so nothing is down-converted."},
	{Name: MessageTimestampAfterMaxMs, Type: TypeLong, Default: "3600000", rule: atLeast(0), Topic: true,
		BrokerSynonyms: syn(LogMessageTimestampAfterMaxMs),
		Doc:            "With CreateTime, reject a batch whose timestamp is more than this far ahead of the broker's clock."},
	{Name: MessageTimestampBeforeMaxMs, Type: TypeLong, Default: maxLong, rule: atLeast(0), Topic: true,
		BrokerSynonyms: syn(LogMessageTimestampBeforeMaxMs),
		Doc:            "With CreateTime, reject a batch whose timestamp is more than this far behind the broker's clock."},
	{Name: MessageTimestampType, Type: TypeString, Default: "CreateTime", rule: oneOf{"CreateTime", "LogAppendTime"}, Topic: true,
		BrokerSynonyms: syn(LogMessageTimestampType),
		Doc:            "CreateTime keeps the producer's timestamps; LogAppendTime stamps each batch with the broker's clock on append."},
	{Name: MinCleanableDirtyRatio, Type: TypeDouble, Default: "0.5", rule: floatRange{0, 1}, Topic: true,
		BrokerSynonyms: syn(LogCleanerMinCleanableRatio),
		Doc:            "Compaction starts when the uncompacted share of the log exceeds this ratio (or max.compaction.lag.ms forces it)."},
	{Name: MinCompactionLagMs, Type: TypeLong, Default: "0", rule: atLeast(0), Topic: true,
		BrokerSynonyms: syn(LogCleanerMinCompactionLagMs),
		Doc:            "Shortest time a record stays uncompacted, so readers can see every update younger than this."},
	{Name: MinInsyncReplicas, Type: TypeInt, Default: "1", rule: atLeast(1), Topic: true, Broker: true,
		BrokerSynonyms: syn(MinInsyncReplicas),
		Doc:            "With acks=all, fewer in-sync replicas than this makes produce fail with NOT_ENOUGH_REPLICAS."},
	{Name: Preallocate, Type: TypeBoolean, Default: "false", Topic: true, Ignored: true,
		BrokerSynonyms: syn(LogPreallocate),
		Doc:            "Preallocate a new segment file to segment.bytes. Plexus segment files grow as they are written; the file system allocates their blocks."},
	{Name: RemoteLogCopyDisable, Type: TypeBoolean, Default: "false", Topic: true, Ignored: true,
		Doc: "Tiered storage: stop copying segments to remote storage. Plexus has no tiered storage."},
	{Name: RemoteLogDeleteOnDisable, Type: TypeBoolean, Default: "false", Topic: true, Ignored: true,
		Doc: "Tiered storage: delete remote data when tiering is disabled. Plexus has no tiered storage."},
	{Name: RemoteStorageEnable, Type: TypeBoolean, Default: "false", Topic: true,
		Doc: "Tiered storage for the topic. Plexus has no tiered storage and rejects true, as Kafka does when tiering is off on the broker."},
	{Name: RetentionBytes, Type: TypeLong, Default: "-1", Topic: true,
		BrokerSynonyms: syn(LogRetentionBytes),
		Doc:            "With cleanup.policy delete, remove the oldest segments while the partition stays at least this large without them, so it may exceed this by up to one segment, as in Kafka (-1: no size limit)."},
	{Name: RetentionMs, Type: TypeLong, Default: "604800000", rule: atLeast(-1), Topic: true,
		BrokerSynonyms: []BrokerSynonym{{LogRetentionMs, 1}, {LogRetentionMinutes, msPerMinute}, {LogRetentionHours, msPerHour}},
		Doc:            "With cleanup.policy delete, remove a segment once its newest record is older than this (-1: no time limit)."},
	{Name: SegmentBytes, Type: TypeInt, Default: "1073741824", rule: atLeast(1 << 20), Topic: true,
		BrokerSynonyms: syn(LogSegmentBytes),
		Doc:            "Size at which the active segment is rolled; retention and compaction work a whole segment at a time. Minimum 1 MiB, as in Kafka 4."},
	{Name: SegmentIndexBytes, Type: TypeInt, Default: "10485760", rule: atLeast(4), Topic: true,
		BrokerSynonyms: syn(LogIndexSizeMaxBytes),
		Doc:            "Maximum size of a segment's offset index; a full index rolls the segment."},
	{Name: SegmentJitterMs, Type: TypeLong, Default: "0", rule: atLeast(0), Topic: true,
		BrokerSynonyms: []BrokerSynonym{{LogRollJitterMs, 1}, {LogRollJitterHours, msPerHour}},
		Doc:            "Random amount, up to this, subtracted from segment.ms so that partitions do not all roll at once. Plexus draws it per partition each time the partition opens; Kafka draws it per segment."},
	{Name: SegmentMs, Type: TypeLong, Default: "604800000", rule: atLeast(1), Topic: true,
		BrokerSynonyms: []BrokerSynonym{{LogRollMs, 1}, {LogRollHours, msPerHour}},
		Doc:            "Roll the active segment when its first record is this old, so that time retention and compaction can reach it."},
	{Name: UncleanLeaderElectionEnable, Type: TypeBoolean, Default: "false", Topic: true, Broker: true, Ignored: true,
		BrokerSynonyms: syn(UncleanLeaderElectionEnable),
		Doc:            "Allow a replica outside the ISR to become leader when no in-sync replica is left, losing acknowledged records. Plexus runs as one node for now: there is no other replica to elect."},
	{Name: WriteCaching, Type: TypeBoolean, Default: "false", Topic: true, Broker: true, PlexusOnly: true,
		BrokerSynonyms: syn(WriteCaching),
		Doc: "false: an acks=all produce is acknowledged only after its batch is fsynced (group commit) and the high watermark covers only fsynced data. " +
			"true: acknowledged, and readable by consumers, once in the page cache; the sync still follows as soon as it can, but a power loss can lose acknowledged records. " +
			"Always false for __consumer_offsets and __transaction_state."},

	// ---- broker settings that supply topic defaults ----
	{Name: LogCleanupPolicy, Type: TypeList, Default: "delete", rule: listOf{"compact", "delete"}, Broker: true,
		Doc: "Default cleanup.policy."},
	{Name: LogCleanerDeleteRetentionMs, Type: TypeLong, Default: "86400000", rule: atLeast(0), Broker: true,
		Doc: "Default delete.retention.ms."},
	{Name: LogSegmentDeleteDelayMs, Type: TypeLong, Default: "60000", rule: atLeast(0), Broker: true, Ignored: true,
		Doc: "Default file.delete.delay.ms."},
	{Name: LogFlushIntervalMessages, Type: TypeLong, Default: maxLong, rule: atLeast(1), Broker: true, Ignored: true,
		Doc: "Default flush.messages."},
	{Name: LogFlushIntervalMs, Type: TypeLong, NoDefault: true, rule: atLeast(0), Broker: true, Ignored: true,
		Doc: "Default flush.ms; when unset, log.flush.scheduler.interval.ms is used."},
	{Name: LogFlushSchedulerIntervalMs, Type: TypeLong, Default: maxLong, Broker: true, ReadOnly: true, Ignored: true,
		Doc: "Default flush.ms when log.flush.interval.ms is unset."},
	{Name: LogIndexIntervalBytes, Type: TypeInt, Default: "4096", rule: atLeast(0), Broker: true,
		Doc: "Default index.interval.bytes."},
	{Name: LogLocalRetentionBytes, Type: TypeLong, Default: "-2", rule: atLeast(-2), Broker: true, Ignored: true,
		Doc: "Default local.retention.bytes (tiered storage; no effect in Plexus)."},
	{Name: LogLocalRetentionMs, Type: TypeLong, Default: "-2", rule: atLeast(-2), Broker: true, Ignored: true,
		Doc: "Default local.retention.ms (tiered storage; no effect in Plexus)."},
	{Name: LogCleanerMaxCompactionLagMs, Type: TypeLong, Default: maxLong, rule: atLeast(1), Broker: true,
		Doc: "Default max.compaction.lag.ms."},
	{Name: MessageMaxBytes, Type: TypeInt, Default: "1048588", rule: atLeast(0), Broker: true,
		Doc: "Default max.message.bytes: the largest record batch accepted, after compression."},
	{Name: LogMessageDownconversionEnable, Type: TypeBoolean, Default: "true", Broker: true, Ignored: true,
		Doc: "Default message.downconversion.enable (a no-op, as in Kafka 4)."},
	{Name: LogMessageTimestampAfterMaxMs, Type: TypeLong, Default: "3600000", rule: atLeast(0), Broker: true,
		Doc: "Default message.timestamp.after.max.ms."},
	{Name: LogMessageTimestampBeforeMaxMs, Type: TypeLong, Default: maxLong, rule: atLeast(0), Broker: true,
		Doc: "Default message.timestamp.before.max.ms."},
	{Name: LogMessageTimestampType, Type: TypeString, Default: "CreateTime", rule: oneOf{"CreateTime", "LogAppendTime"}, Broker: true,
		Doc: "Default message.timestamp.type."},
	{Name: LogCleanerMinCleanableRatio, Type: TypeDouble, Default: "0.5", rule: floatRange{0, 1}, Broker: true,
		Doc: "Default min.cleanable.dirty.ratio."},
	{Name: LogCleanerMinCompactionLagMs, Type: TypeLong, Default: "0", rule: atLeast(0), Broker: true,
		Doc: "Default min.compaction.lag.ms."},
	{Name: LogPreallocate, Type: TypeBoolean, Default: "false", Broker: true, Ignored: true,
		Doc: "Default preallocate."},
	{Name: LogRetentionBytes, Type: TypeLong, Default: "-1", Broker: true,
		Doc: "Default retention.bytes."},
	{Name: LogRetentionMs, Type: TypeLong, NoDefault: true, rule: retentionUnits, Broker: true,
		Doc: "Default retention.ms; when unset, log.retention.minutes, then log.retention.hours, is used."},
	{Name: LogRetentionMinutes, Type: TypeInt, NoDefault: true, rule: retentionUnits, Broker: true, ReadOnly: true,
		Doc: "Default retention.ms in minutes, used when log.retention.ms is unset."},
	{Name: LogRetentionHours, Type: TypeInt, Default: "168", rule: retentionUnits, Broker: true, ReadOnly: true,
		Doc: "Default retention.ms in hours, used when log.retention.ms and log.retention.minutes are unset."},
	{Name: LogSegmentBytes, Type: TypeInt, Default: "1073741824", rule: atLeast(1 << 20), Broker: true,
		Doc: "Default segment.bytes."},
	{Name: LogIndexSizeMaxBytes, Type: TypeInt, Default: "10485760", rule: atLeast(4), Broker: true,
		Doc: "Default segment.index.bytes."},
	{Name: LogRollJitterMs, Type: TypeLong, NoDefault: true, rule: atLeast(0), Broker: true,
		Doc: "Default segment.jitter.ms; when unset, log.roll.jitter.hours is used."},
	{Name: LogRollJitterHours, Type: TypeInt, Default: "0", rule: atLeast(0), Broker: true, ReadOnly: true,
		Doc: "Default segment.jitter.ms in hours, used when log.roll.jitter.ms is unset."},
	{Name: LogRollMs, Type: TypeLong, NoDefault: true, rule: atLeast(1), Broker: true,
		Doc: "Default segment.ms; when unset, log.roll.hours is used."},
	{Name: LogRollHours, Type: TypeInt, Default: "168", rule: atLeast(1), Broker: true, ReadOnly: true,
		Doc: "Default segment.ms in hours, used when log.roll.ms is unset."},

	// ---- node, listeners, storage ----
	{Name: NodeID, Type: TypeInt, Default: "0", rule: atLeast(0), Broker: true, ReadOnly: true,
		Doc: "This node's id in the cluster. Kafka has no default (-1); Plexus defaults to 0 for a single node."},
	{Name: LogDirs, Type: TypeString, Default: "./plexus-data", rule: oneDir{}, Broker: true, ReadOnly: true,
		Doc: "Directory holding all partition data and the metadata log. Plexus uses exactly one directory."},
	{Name: Listeners, Type: TypeString, Default: "127.0.0.1:9092", rule: hostPorts{}, Broker: true, ReadOnly: true,
		Doc: "Address the Kafka protocol listener binds, as host:port (flag --listen). Only the first of a list is used."},
	{Name: AdvertisedListeners, Type: TypeString, NoDefault: true, DefaultFrom: Listeners, rule: hostPorts{advertised: true}, Broker: true, ReadOnly: true,
		Doc: "Address given to clients in Metadata responses, as host:port; defaults to listeners, with a wildcard host given as 127.0.0.1 (flag --advertise). Only the first of a list is used."},
	{Name: AdminListeners, Type: TypeString, Default: "127.0.0.1:9644", rule: hostPorts{allowEmpty: true}, Broker: true, ReadOnly: true, PlexusOnly: true,
		Doc: "Address of the admin HTTP endpoint (/metrics, /healthz), as host:port; empty disables it (flag --admin-listen)."},
	{Name: AdminPprofEnable, Type: TypeBoolean, Default: "true", Broker: true, ReadOnly: true, PlexusOnly: true,
		Doc: "Serve Go's runtime profiles (CPU, heap, goroutines) under /debug/pprof/ on the admin endpoint, for go tool pprof. " +
			"The admin endpoint binds loopback by default; turn this off when it is reachable by hosts that should not profile the broker."},

	// ---- topics ----
	{Name: AutoCreateTopicsEnable, Type: TypeBoolean, Default: "true", Broker: true, ReadOnly: true,
		Doc: "Create a topic when a client asks for metadata of one that does not exist (a produce to a missing topic gets UNKNOWN_TOPIC_OR_PARTITION, as in Kafka)."},
	{Name: NumPartitions, Type: TypeInt, Default: "1", rule: atLeast(1), Broker: true, ReadOnly: true,
		Doc: "Partitions of an auto-created topic, and of CreateTopics with partitions -1."},
	{Name: DefaultReplicationFactor, Type: TypeInt, Default: "1", rule: atLeast(1), Broker: true, ReadOnly: true,
		Doc: "Replication factor of an auto-created topic, and of CreateTopics with replication factor -1."},
	{Name: DeleteTopicEnable, Type: TypeBoolean, Default: "true", Broker: true, ReadOnly: true,
		Doc: "Allow DeleteTopics; when false it fails with TOPIC_DELETION_DISABLED."},

	// ---- consumer groups ----
	{Name: OffsetsTopicNumPartitions, Type: TypeInt, Default: "50", rule: atLeast(1), Broker: true, ReadOnly: true,
		Doc: "Partitions of __consumer_offsets; fixed once the topic exists."},
	{Name: OffsetsTopicReplicationFactor, Type: TypeShort, Default: "3", rule: atLeast(1), Broker: true, ReadOnly: true, Ignored: true,
		Doc: "Replication factor of __consumer_offsets when it is created. Plexus runs as one node for now: the topic has one replica."},
	{Name: OffsetsTopicSegmentBytes, Type: TypeInt, Default: "104857600", rule: atLeast(1 << 20), Broker: true, ReadOnly: true,
		Doc: "segment.bytes of __consumer_offsets, kept small so compaction and loading stay quick. At least 1 MiB, segment.bytes's minimum."},
	{Name: OffsetsRetentionMinutes, Type: TypeInt, Default: "10080", rule: atLeast(1), Broker: true, ReadOnly: true,
		Doc: "How long committed offsets are kept, as in Kafka: for a group with no members, this long after it became empty; " +
			"for a group with members, a partition's offset this long after its last commit once the group no longer subscribes to its topic."},
	{Name: OffsetsRetentionCheckIntervalMs, Type: TypeLong, Default: "600000", rule: atLeast(1), Broker: true, ReadOnly: true,
		Doc: "How often expired committed offsets are looked for."},
	{Name: OffsetMetadataMaxBytes, Type: TypeInt, Default: "4096", Broker: true, ReadOnly: true,
		Doc: "Largest metadata string accepted with a committed offset; longer fails with OFFSET_METADATA_TOO_LARGE."},
	{Name: GroupInitialRebalanceDelayMs, Type: TypeInt, Default: "3000", rule: atLeast(0), Broker: true, ReadOnly: true,
		Doc: "Classic protocol: how long the first rebalance of a new group waits for more members to join."},
	{Name: GroupMinSessionTimeoutMs, Type: TypeInt, Default: "6000", Broker: true, ReadOnly: true,
		Doc: "Classic protocol: smallest session timeout a member may ask for."},
	{Name: GroupMaxSessionTimeoutMs, Type: TypeInt, Default: "1800000", Broker: true, ReadOnly: true,
		Doc: "Classic protocol: largest session timeout a member may ask for."},
	{Name: GroupMaxSize, Type: TypeInt, Default: maxInt, rule: atLeast(1), Broker: true, ReadOnly: true,
		Doc: "Classic protocol: most members one group may have."},
	{Name: GroupConsumerHeartbeatIntervalMs, Type: TypeInt, Default: "5000", rule: atLeast(1), Broker: true, ReadOnly: true,
		Doc: "Consumer protocol (KIP-848): heartbeat interval given to members."},
	{Name: GroupConsumerMinHeartbeatIntervalMs, Type: TypeInt, Default: "5000", rule: atLeast(1), Broker: true, ReadOnly: true,
		Doc: "Consumer protocol: smallest value group.consumer.heartbeat.interval.ms may take. Kafka also bounds per-group configs with it; Plexus has none."},
	{Name: GroupConsumerMaxHeartbeatIntervalMs, Type: TypeInt, Default: "15000", rule: atLeast(1), Broker: true, ReadOnly: true,
		Doc: "Consumer protocol: largest value group.consumer.heartbeat.interval.ms may take. Kafka also bounds per-group configs with it; Plexus has none."},
	{Name: GroupConsumerSessionTimeoutMs, Type: TypeInt, Default: "45000", rule: atLeast(1), Broker: true, ReadOnly: true,
		Doc: "Consumer protocol: a member that has not heartbeated for this long is removed."},
	{Name: GroupConsumerMinSessionTimeoutMs, Type: TypeInt, Default: "45000", rule: atLeast(1), Broker: true, ReadOnly: true,
		Doc: "Consumer protocol: smallest value group.consumer.session.timeout.ms may take. Kafka also bounds per-group configs with it; Plexus has none."},
	{Name: GroupConsumerMaxSessionTimeoutMs, Type: TypeInt, Default: "60000", rule: atLeast(1), Broker: true, ReadOnly: true,
		Doc: "Consumer protocol: largest value group.consumer.session.timeout.ms may take. Kafka also bounds per-group configs with it; Plexus has none."},
	{Name: GroupConsumerMaxSize, Type: TypeInt, Default: maxInt, rule: atLeast(1), Broker: true, ReadOnly: true,
		Doc: "Consumer protocol: most members one group may have."},
	{Name: GroupConsumerAssignors, Type: TypeList, Default: "uniform,range", rule: listOf{"uniform", "range"}, Broker: true, ReadOnly: true,
		Doc: "Consumer protocol: server-side assignors by name, the first being the default. Kafka's default names the same two assignors by class."},

	// ---- transactions and producer ids ----
	{Name: TransactionStateLogNumPartitions, Type: TypeInt, Default: "50", rule: atLeast(1), Broker: true, ReadOnly: true,
		Doc: "Partitions of __transaction_state; fixed once the topic exists."},
	{Name: TransactionStateLogSegmentBytes, Type: TypeInt, Default: "104857600", rule: atLeast(1 << 20), Broker: true, ReadOnly: true,
		Doc: "segment.bytes of __transaction_state. At least 1 MiB, segment.bytes's minimum."},
	{Name: TransactionStateLogReplicationFactor, Type: TypeShort, Default: "3", rule: atLeast(1), Broker: true, ReadOnly: true, Ignored: true,
		Doc: "Replication factor of __transaction_state when it is created. Plexus runs as one node for now: there are no followers."},
	{Name: TransactionStateLogMinIsr, Type: TypeInt, Default: "2", rule: atLeast(1), Broker: true, ReadOnly: true, Ignored: true,
		Doc: "min.insync.replicas of __transaction_state. Plexus runs as one node for now: there are no followers."},
	{Name: TransactionalIDExpirationMs, Type: TypeInt, Default: "604800000", rule: atLeast(1), Broker: true, ReadOnly: true,
		Doc: "A transactional id with no transaction status update for this long is expired."},
	{Name: TransactionMaxTimeoutMs, Type: TypeInt, Default: "900000", rule: atLeast(1), Broker: true, ReadOnly: true,
		Doc: "Largest transaction timeout a producer may ask for in InitProducerId."},
	{Name: TransactionAbortTimedOutTransactionCleanupIntervalMs, Type: TypeInt, Default: "10000", rule: atLeast(1), Broker: true, ReadOnly: true,
		Doc: "How often transactions past their timeout are looked for and aborted."},
	{Name: TransactionRemoveExpiredTransactionCleanupIntervalMs, Type: TypeInt, Default: "3600000", rule: atLeast(1), Broker: true, ReadOnly: true,
		Doc: "How often expired transactional ids are looked for and removed."},
	{Name: ProducerIDExpirationMs, Type: TypeInt, Default: "86400000", rule: atLeast(1), Broker: true,
		Doc: "A partition forgets an idempotent producer's state once the producer has been idle this long."},

	// ---- network ----
	{Name: SocketRequestMaxBytes, Type: TypeInt, Default: "104857600", rule: atLeast(1), Broker: true, ReadOnly: true,
		Doc: "Largest request frame accepted; a larger size prefix closes the connection before anything is allocated."},
	{Name: QueuedMaxRequestBytes, Type: TypeLong, Default: "268435456", rule: minusOneOrAtLeast(1), Broker: true, ReadOnly: true,
		Doc: "Bytes of requests read but not yet answered, across all connections, before reading pauses (-1, Kafka's unbounded, is taken as 256 MiB). " +
			"Kafka defaults to -1; Plexus bounds it at 256 MiB so that many clients sending large requests cannot exhaust memory. " +
			"When positive it must be at least socket.request.max.bytes."},
	{Name: MaxConnections, Type: TypeInt, Default: maxInt, rule: atLeast(0), Broker: true,
		Doc: "Most client connections the broker keeps open; further ones are closed on accept (0: no limit). A change made while the broker runs is stored but takes effect at the next start; Kafka applies it at once."},
	{Name: ConnectionsMaxIdleMs, Type: TypeLong, Default: "600000", Broker: true, ReadOnly: true,
		Doc: "Close a connection that has been idle this long; also the longest one request may take to arrive or one response to be written. 0 or less: 10 minutes."},
	{Name: NumIoThreads, Type: TypeInt, Default: "8", rule: atLeast(1), Broker: true, Ignored: true,
		Doc: "Kafka's request handler threads. Plexus serves each connection on its own goroutines, so this is accepted and ignored."},
	{Name: NumNetworkThreads, Type: TypeInt, Default: "3", rule: atLeast(1), Broker: true, Ignored: true,
		Doc: "Kafka's network threads. Plexus serves each connection on its own goroutines, so this is accepted and ignored."},
	{Name: FetchMaxBytes, Type: TypeInt, Default: "57671680", rule: atLeast(1024), Broker: true, ReadOnly: true,
		Doc: "Upper bound on the bytes one Fetch response carries, whatever the client asks for."},

	// ---- retention and compaction ----
	{Name: MaxIncrementalFetchSessionCacheSlots, Type: TypeInt, Default: "1000", rule: atLeast(0), Broker: true, ReadOnly: true,
		Doc: "Most incremental fetch sessions (KIP-227) the broker keeps; 0: none. When full, a new session evicts the least recently used one only if it has been idle 120 s, as in Kafka; otherwise the fetch goes without a session."},
	{Name: LogRetentionCheckIntervalMs, Type: TypeLong, Default: "300000", rule: atLeast(1), Broker: true, ReadOnly: true,
		Doc: "How often partitions are checked for segments to delete by retention."},
	{Name: LogCleanerEnable, Type: TypeBoolean, Default: "true", Broker: true, ReadOnly: true,
		Doc: "Run the log cleaner, which compacts topics with cleanup.policy compact (including __consumer_offsets)."},
	// Kafka's per-broker replication quotas. kafka-reassign-partitions.sh
	// --throttle sets the first two on every broker involved before it
	// moves anything, so refusing them would stop the tool.
	{Name: LeaderReplicationThrottledRate, Type: TypeLong, Default: maxLong, rule: atLeast(0), Broker: true, Ignored: true,
		Doc: "Replication bytes per second a leader may send for throttled replicas. Accepted for tool compatibility; Plexus does not throttle replication."},
	{Name: FollowerReplicationThrottledRate, Type: TypeLong, Default: maxLong, rule: atLeast(0), Broker: true, Ignored: true,
		Doc: "Replication bytes per second a follower may fetch for throttled replicas. Accepted for tool compatibility; Plexus does not throttle replication."},
	{Name: ReplicaAlterLogDirsIoMaxBytesPerSecond, Type: TypeLong, Default: maxLong, rule: atLeast(0), Broker: true, Ignored: true,
		Doc: "Bytes per second for moving replicas between log directories. Accepted for tool compatibility; Plexus has one log directory."},
	{Name: LogCleanerThreads, Type: TypeInt, Default: "1", rule: atLeast(0), Broker: true,
		Doc: "Number of concurrent compactions. A change made while the broker runs is stored but takes effect at the next start; Kafka resizes the cleaner at once."},
	{Name: LogCleanerIoMaxBytesPerSecond, Type: TypeDouble, Default: maxDouble, Broker: true,
		Doc: "Read plus write rate limit of all compactions together, in bytes per second."},
	{Name: LogCleanerDedupeBufferSize, Type: TypeLong, Default: "134217728", Broker: true,
		Doc: "Memory for the key-to-offset maps of all compactions together; must exceed 1 MiB per cleaner thread."},
	{Name: LogCleanerBackoffMs, Type: TypeLong, Default: "15000", rule: atLeast(0), Broker: true,
		Doc: "How long the cleaner sleeps when no log needs compacting."},

	// ---- replication ----
	{Name: ReplicaLagTimeMaxMs, Type: TypeLong, Default: "30000", Broker: true, ReadOnly: true, Ignored: true,
		Doc: "A follower that has not caught up to the leader's end within this long leaves the ISR. Plexus runs as one node for now: there are no followers."},
	{Name: ReplicaFetchMaxBytes, Type: TypeInt, Default: "1048576", rule: atLeast(0), Broker: true, ReadOnly: true, Ignored: true,
		Doc: "Bytes a follower asks for per partition in one fetch (a larger first batch is still returned whole). Plexus runs as one node for now: there are no followers."},
	{Name: ReplicaFetchMinBytes, Type: TypeInt, Default: "1", Broker: true, ReadOnly: true, Ignored: true,
		Doc: "Bytes a follower's fetch waits for before the leader answers. Plexus runs as one node for now: there are no followers."},
	{Name: ReplicaFetchWaitMaxMs, Type: TypeInt, Default: "500", Broker: true, ReadOnly: true, Ignored: true,
		Doc: "Longest a follower's fetch waits at the leader; at most replica.lag.time.max.ms. Plexus runs as one node for now: there are no followers."},
	{Name: ReplicaFetchResponseMaxBytes, Type: TypeInt, Default: "10485760", rule: atLeast(0), Broker: true, ReadOnly: true, Ignored: true,
		Doc: "Bytes a follower asks for in one fetch response across all partitions. Plexus runs as one node for now: there are no followers."},
}

// index maps a name to its entry in table.
var index = func() map[string]*Key {
	m := make(map[string]*Key, len(table))
	for i := range table {
		k := &table[i]
		if _, dup := m[k.Name]; dup {
			panic("config: duplicate key " + k.Name)
		}
		if k.Type == TypePassword {
			k.Sensitive = true
		}
		m[k.Name] = k
	}
	return m
}()

// chainHead maps the first broker synonym of a multi-synonym chain
// (log.retention.ms, log.roll.ms, ...) to its topic config, so that reading
// the broker setting resolves the chain as Kafka's broker does.
var chainHead = func() map[string]*Key {
	m := map[string]*Key{}
	for i := range table {
		k := &table[i]
		if k.Topic && len(k.BrokerSynonyms) > 1 {
			m[k.BrokerSynonyms[0].Name] = k
		}
	}
	return m
}()

// brokerFamily maps each member of a multi-synonym chain to the whole chain
// (Kafka's brokerConfigSynonyms), used to list synonyms of broker settings.
var brokerFamily = func() map[string][]string {
	m := map[string][]string{}
	for _, t := range chainHead {
		names := make([]string, len(t.BrokerSynonyms))
		for i, s := range t.BrokerSynonyms {
			names[i] = s.Name
		}
		for _, n := range names {
			m[n] = names
		}
	}
	return m
}()

// Lookup returns the setting named name.
func Lookup(name string) (Key, bool) {
	k, ok := index[name]
	if !ok {
		return Key{}, false
	}
	return k.clone(), true
}

// clone copies k without sharing the table's slices.
func (k *Key) clone() Key {
	c := *k
	c.BrokerSynonyms = append([]BrokerSynonym(nil), k.BrokerSynonyms...)
	return c
}

// Keys returns every setting, sorted by name. The caller owns the slice.
func Keys() []Key {
	out := make([]Key, len(table))
	for i := range table {
		out[i] = table[i].clone()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// unsupported names Kafka settings that Plexus deliberately does not take,
// with what to do instead. They are still errors, with a better hint.
var unsupported = map[string]string{
	"broker.id":                               "Plexus uses node.id",
	"log.dir":                                 "Plexus uses log.dirs (one directory)",
	"process.roles":                           "every Plexus node is both broker and controller; remove it",
	"controller.quorum.voters":                "not a Plexus setting; remove it",
	"controller.quorum.bootstrap.servers":     "not a Plexus setting; remove it",
	"controller.listener.names":               "not a Plexus setting; remove it",
	"listener.security.protocol.map":          "Plexus listeners take host:port; remove it",
	"inter.broker.listener.name":              "not a Plexus setting; remove it",
	"zookeeper.connect":                       "Kafka 4 and Plexus have no ZooKeeper; remove it",
	"message.format.version":                  "removed in Kafka 4.0: only record format v2 exists; remove it",
	"log.message.format.version":              "removed in Kafka 4.0: only record format v2 exists; remove it",
	"message.timestamp.difference.max.ms":     "removed in Kafka 4.0; use message.timestamp.before.max.ms and message.timestamp.after.max.ms",
	"log.message.timestamp.difference.max.ms": "removed in Kafka 4.0; use log.message.timestamp.before.max.ms and log.message.timestamp.after.max.ms",
}

package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Topic is the effective configuration of one topic, typed, as the broker's
// log, partition and produce paths read it. Obtain it with Broker.Topic.
type Topic struct {
	CleanupPolicy        Cleanup
	CompressionType      string // producer, uncompressed, gzip, snappy, lz4 or zstd
	CompressionGzipLevel int
	CompressionLz4Level  int
	CompressionZstdLevel int

	RetentionMs    int64 // -1: no time limit
	RetentionBytes int64 // -1 (any negative): no size limit
	// LocalRetentionMs/Bytes are resolved: -2 takes RetentionMs/Bytes.
	LocalRetentionMs    int64
	LocalRetentionBytes int64

	SegmentBytes       int64
	SegmentMs          int64
	SegmentJitterMs    int64
	SegmentIndexBytes  int64
	IndexIntervalBytes int64
	FileDeleteDelayMs  int64
	Preallocate        bool

	MaxMessageBytes             int64
	MessageTimestampType        TimestampType
	MessageTimestampBeforeMaxMs int64
	MessageTimestampAfterMaxMs  int64

	MinInsyncReplicas           int
	UncleanLeaderElectionEnable bool

	DeleteRetentionMs      int64
	MinCompactionLagMs     int64
	MaxCompactionLagMs     int64
	MinCleanableDirtyRatio float64

	// WriteCaching false: acks=all waits for fsync. FlushMessages and FlushMs
	// bound the unflushed tail when it is true.
	WriteCaching  bool
	FlushMessages int64
	FlushMs       int64

	RemoteStorageEnable                  bool
	RemoteLogCopyDisable                 bool
	RemoteLogDeleteOnDisable             bool
	MessageDownconversionEnable          bool
	LeaderReplicationThrottledReplicas   []string
	FollowerReplicationThrottledReplicas []string
}

// Cleanup is the parsed cleanup.policy list. Both false (an empty
// list) keeps data forever.
type Cleanup struct{ Delete, Compact bool }

func (p Cleanup) String() string {
	var s []string
	if p.Compact {
		s = append(s, "compact")
	}
	if p.Delete {
		s = append(s, "delete")
	}
	return strings.Join(s, ",")
}

// TimestampType is the parsed message.timestamp.type.
type TimestampType struct{ LogAppendTime bool }

func (t TimestampType) String() string {
	if t.LogAppendTime {
		return "LogAppendTime"
	}
	return "CreateTime"
}

// Topic returns the effective configuration of a topic with the given
// overrides (its DYNAMIC_TOPIC_CONFIG entries), resolved with Kafka's
// precedence: the override, then this broker's dynamic setting, the dynamic
// cluster default, the static setting (each through the broker synonym chain,
// log.retention.ms before log.retention.minutes before log.retention.hours,
// converted to the topic's unit), then the default. Overrides are expected to
// have passed ValidateTopic; an unknown or invalid one is skipped. The result
// shares no memory with the Broker.
func (b *Broker) Topic(overrides map[string]string) Topic {
	s := b.load()
	t := s.base
	if len(overrides) == 0 {
		t.LeaderReplicationThrottledReplicas = clone(t.LeaderReplicationThrottledReplicas)
		t.FollowerReplicationThrottledReplicas = clone(t.FollowerReplicationThrottledReplicas)
		return t
	}
	return s.topic(overrides)
}

func clone(s []string) []string { return append([]string(nil), s...) }

func (s *snapshot) topic(overrides map[string]string) Topic {
	var t Topic
	for i := range table {
		k := &table[i]
		if !k.Topic {
			continue
		}
		v, _, _ := s.topicValue(k, overrides)
		t.set(k, v)
	}
	if t.LocalRetentionMs == -2 {
		t.LocalRetentionMs = t.RetentionMs
	}
	if t.LocalRetentionBytes == -2 {
		t.LocalRetentionBytes = t.RetentionBytes
	}
	return t
}

// set stores canonical value v of topic config k in its field.
func (t *Topic) set(k *Key, v string) {
	n, _ := strconv.ParseInt(v, 10, 64)
	b := v == "true"
	switch k.Name {
	case CleanupPolicy:
		t.CleanupPolicy = Cleanup{}
		for _, p := range strings.Split(v, ",") {
			switch p {
			case "delete":
				t.CleanupPolicy.Delete = true
			case "compact":
				t.CleanupPolicy.Compact = true
			}
		}
	case CompressionType:
		t.CompressionType = v
	case CompressionGzipLevel:
		t.CompressionGzipLevel = int(n)
	case CompressionLz4Level:
		t.CompressionLz4Level = int(n)
	case CompressionZstdLevel:
		t.CompressionZstdLevel = int(n)
	case RetentionMs:
		t.RetentionMs = n
	case RetentionBytes:
		t.RetentionBytes = n
	case LocalRetentionMs:
		t.LocalRetentionMs = n
	case LocalRetentionBytes:
		t.LocalRetentionBytes = n
	case SegmentBytes:
		t.SegmentBytes = n
	case SegmentMs:
		t.SegmentMs = n
	case SegmentJitterMs:
		t.SegmentJitterMs = n
	case SegmentIndexBytes:
		t.SegmentIndexBytes = n
	case IndexIntervalBytes:
		t.IndexIntervalBytes = n
	case FileDeleteDelayMs:
		t.FileDeleteDelayMs = n
	case Preallocate:
		t.Preallocate = b
	case MaxMessageBytes:
		t.MaxMessageBytes = n
	case MessageTimestampType:
		t.MessageTimestampType = TimestampType{LogAppendTime: v == "LogAppendTime"}
	case MessageTimestampBeforeMaxMs:
		t.MessageTimestampBeforeMaxMs = n
	case MessageTimestampAfterMaxMs:
		t.MessageTimestampAfterMaxMs = n
	case MinInsyncReplicas:
		t.MinInsyncReplicas = int(n)
	case UncleanLeaderElectionEnable:
		t.UncleanLeaderElectionEnable = b
	case DeleteRetentionMs:
		t.DeleteRetentionMs = n
	case MinCompactionLagMs:
		t.MinCompactionLagMs = n
	case MaxCompactionLagMs:
		t.MaxCompactionLagMs = n
	case MinCleanableDirtyRatio:
		t.MinCleanableDirtyRatio, _ = strconv.ParseFloat(v, 64)
	case WriteCaching:
		t.WriteCaching = b
	case FlushMessages:
		t.FlushMessages = n
	case FlushMs:
		t.FlushMs = n
	case RemoteStorageEnable:
		t.RemoteStorageEnable = b
	case RemoteLogCopyDisable:
		t.RemoteLogCopyDisable = b
	case RemoteLogDeleteOnDisable:
		t.RemoteLogDeleteOnDisable = b
	case MessageDownconversionEnable:
		t.MessageDownconversionEnable = b
	case LeaderReplicationThrottledReplicas:
		t.LeaderReplicationThrottledReplicas = splitList(v)
	case FollowerReplicationThrottledReplicas:
		t.FollowerReplicationThrottledReplicas = splitList(v)
	default:
		panic("config: topic config without a Topic field: " + k.Name)
	}
}

func splitList(v string) []string {
	if v == "" {
		return []string{}
	}
	return strings.Split(v, ",")
}

// ValidateTopic checks topic overrides as CreateTopics and AlterConfigs
// receive them: every name must be a topic config and every value valid for
// it, and the values must agree with each other (min.compaction.lag.ms at
// most max.compaction.lag.ms). Each error names the key and the reason; the
// broker answers INVALID_CONFIG.
func ValidateTopic(overrides map[string]string) error {
	var errs []error
	parsed := map[string]string{}
	for name, raw := range overrides {
		k, ok := index[name]
		if !ok || !k.Topic {
			errs = append(errs, unknownError(name, scopeTopic))
			continue
		}
		canon, _, err := k.normalize(raw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		parsed[name] = canon
	}
	if v := parsed[RemoteStorageEnable]; v == "true" {
		errs = append(errs, &Error{Key: RemoteStorageEnable, Value: overrides[RemoteStorageEnable], Err: ErrInvalid,
			Reason: "tiered storage is not available in Plexus"})
	}
	lo, hi := parsed[MinCompactionLagMs], parsed[MaxCompactionLagMs]
	if lo != "" || hi != "" {
		if lo == "" {
			lo = index[MinCompactionLagMs].Default
		}
		if hi == "" {
			hi = index[MaxCompactionLagMs].Default
		}
		l, _ := strconv.ParseInt(lo, 10, 64)
		h, _ := strconv.ParseInt(hi, 10, 64)
		if l > h {
			errs = append(errs, &Error{Key: MinCompactionLagMs, Err: ErrInvalid,
				Reason: fmt.Sprintf("%d is greater than %s (%d)", l, MaxCompactionLagMs, h)})
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errors.Join(sortErrors(errs)...)
}

package group

// The records of __consumer_offsets: keys and values in Kafka's own
// encodings (see doc.go for the layouts). Offset commits and classic group
// metadata use kmsg's types; the KIP-848 records are encoded here, in
// Kafka's flexible-version format, because kmsg does not carry them.

import (
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Record types: the int16 that starts every key. Kafka calls it the key
// version for the old records and the record type (apiKey) for the
// coordinator records of Kafka 4.
const (
	typeOffsetCommitV0          int16 = 0
	typeOffsetCommit            int16 = 1
	typeGroupMetadata           int16 = 2
	typeConsumerGroupMetadata   int16 = 3
	typeConsumerGroupPartitions int16 = 4 // written by Kafka before 4.1; read and ignored
	typeConsumerGroupMember     int16 = 5
	typeTargetAssignmentMeta    int16 = 6
	typeTargetAssignmentMember  int16 = 7
	typeCurrentAssignment       int16 = 8
	typeRegularExpression       int16 = 16
)

// ErrBadRecord marks a __consumer_offsets record that cannot be decoded.
var ErrBadRecord = errors.New("group: malformed __consumer_offsets record")

// Record is one key and value of __consumer_offsets; a nil Value is a
// tombstone.
type Record struct {
	Key   []byte
	Value []byte
}

// RecordKey is a decoded key.
type RecordKey struct {
	Type      int16
	Group     string
	Topic     string // offset commits
	Partition int32  // offset commits
	Member    string // KIP-848 member records
	Regex     string // regular expression records
}

func appendKeyString(dst []byte, s string) []byte { return kbin.AppendString(dst, s) }

// encodeKey encodes a key. Keys are never flexible.
func encodeKey(k RecordKey) []byte {
	dst := kbin.AppendInt16(nil, k.Type)
	dst = appendKeyString(dst, k.Group)
	switch k.Type {
	case typeOffsetCommitV0, typeOffsetCommit:
		dst = appendKeyString(dst, k.Topic)
		dst = kbin.AppendInt32(dst, k.Partition)
	case typeConsumerGroupMember, typeTargetAssignmentMember, typeCurrentAssignment:
		dst = appendKeyString(dst, k.Member)
	case typeRegularExpression:
		dst = appendKeyString(dst, k.Regex)
	}
	return dst
}

// decodeKey decodes a key. Unknown record types (share and streams groups)
// decode with only Type and ok=false so that loading skips them.
func decodeKey(b []byte) (k RecordKey, ok bool, err error) {
	if len(b) < 2 {
		return k, false, fmt.Errorf("%w: key of %d bytes", ErrBadRecord, len(b))
	}
	r := kbin.Reader{Src: b}
	k.Type = r.Int16()
	switch k.Type {
	case typeOffsetCommitV0, typeOffsetCommit:
		k.Group, k.Topic, k.Partition = r.String(), r.String(), r.Int32()
	case typeGroupMetadata, typeConsumerGroupMetadata, typeConsumerGroupPartitions, typeTargetAssignmentMeta:
		k.Group = r.String()
	case typeConsumerGroupMember, typeTargetAssignmentMember, typeCurrentAssignment:
		k.Group, k.Member = r.String(), r.String()
	case typeRegularExpression:
		k.Group, k.Regex = r.String(), r.String()
	default:
		return k, false, nil
	}
	if err := r.Complete(); err != nil {
		return k, false, fmt.Errorf("%w: key type %d: %v", ErrBadRecord, k.Type, err)
	}
	return k, true, nil
}

// ---- offset commits and classic groups (kmsg types) ----

func offsetCommitRecord(group, topic string, partition int32, o offsetValue) Record {
	key := encodeKey(RecordKey{Type: typeOffsetCommit, Group: group, Topic: topic, Partition: partition})
	v := kmsg.NewOffsetCommitValue()
	v.Version = 3
	if o.expireTimestamp >= 0 {
		// Version 1 is the only one with an explicit expiry (OffsetCommit
		// v2-v4 with a retention time); it has no leader epoch.
		v.Version = 1
		v.ExpireTimestamp = o.expireTimestamp
	}
	v.Offset, v.LeaderEpoch, v.Metadata, v.CommitTimestamp = o.offset, o.leaderEpoch, o.metadata, o.commitTimestamp
	return Record{Key: key, Value: v.AppendTo(nil)}
}

func offsetTombstone(group, topic string, partition int32) Record {
	return Record{Key: encodeKey(RecordKey{Type: typeOffsetCommit, Group: group, Topic: topic, Partition: partition})}
}

func decodeOffsetValue(b []byte) (offsetValue, error) {
	var v kmsg.OffsetCommitValue
	if err := v.ReadFrom(b); err != nil {
		return offsetValue{}, fmt.Errorf("%w: offset commit value: %v", ErrBadRecord, err)
	}
	o := offsetValue{offset: v.Offset, leaderEpoch: -1, metadata: v.Metadata, commitTimestamp: v.CommitTimestamp, expireTimestamp: -1}
	if v.Version >= 3 {
		o.leaderEpoch = v.LeaderEpoch
	}
	if v.Version == 1 {
		o.expireTimestamp = v.ExpireTimestamp
	}
	return o, nil
}

func groupMetadataKey(group string) []byte {
	return encodeKey(RecordKey{Type: typeGroupMetadata, Group: group})
}

// ---- KIP-848 records ----

// topicPartitions is one topic's partitions in a KIP-848 record, with the
// epoch at which each was assigned (KIP-1251, tagged) when known.
type topicPartitions struct {
	TopicID    [16]byte
	Partitions []int32
	Epochs     []int32 // nil, or aligned with Partitions
}

type cgMetadataValue struct {
	Epoch        int32
	MetadataHash int64 // tag 0
}

type cgMemberValue struct {
	InstanceID         *string
	RackID             *string
	ClientID           string
	ClientHost         string
	SubscribedTopics   []string
	SubscribedRegex    *string
	RebalanceTimeoutMs int32
	ServerAssignor     *string
}

type cgTargetMetaValue struct {
	AssignmentEpoch int32
}

type cgTargetMemberValue struct {
	Partitions []topicPartitions
}

type cgCurrentValue struct {
	MemberEpoch         int32
	PreviousMemberEpoch int32
	State               int8
	Assigned            []topicPartitions
	PendingRevocation   []topicPartitions
}

type cgRegexValue struct {
	Topics    []string
	Version   int64
	Timestamp int64
}

// writer builds a flexible (version 0) value.
type writer struct{ b []byte }

func newValue() *writer            { return &writer{b: kbin.AppendInt16(nil, 0)} }
func (w *writer) i8(v int8)        { w.b = kbin.AppendInt8(w.b, v) }
func (w *writer) i32(v int32)      { w.b = kbin.AppendInt32(w.b, v) }
func (w *writer) i64(v int64)      { w.b = kbin.AppendInt64(w.b, v) }
func (w *writer) str(s string)     { w.b = kbin.AppendCompactString(w.b, s) }
func (w *writer) nstr(s *string)   { w.b = kbin.AppendCompactNullableString(w.b, s) }
func (w *writer) arr(n int)        { w.b = kbin.AppendCompactArrayLen(w.b, n) }
func (w *writer) noTags()          { w.b = kbin.AppendUvarint(w.b, 0) }
func (w *writer) uuid(id [16]byte) { w.b = kbin.AppendUuid(w.b, id) }
func (w *writer) strs(ss []string) {
	w.arr(len(ss))
	for _, s := range ss {
		w.str(s)
	}
}
func (w *writer) i32s(vs []int32) {
	w.arr(len(vs))
	for _, v := range vs {
		w.i32(v)
	}
}
func (w *writer) tag(tag uint32, v []byte) {
	w.b = kbin.AppendUvarint(w.b, tag)
	w.b = kbin.AppendUvarint(w.b, uint32(len(v)))
	w.b = append(w.b, v...)
}

func (w *writer) tps(tps []topicPartitions) {
	w.arr(len(tps))
	for _, tp := range tps {
		w.uuid(tp.TopicID)
		w.i32s(tp.Partitions)
		if tp.Epochs == nil {
			w.noTags()
			continue
		}
		var ev []byte
		ev = kbin.AppendCompactArrayLen(ev, len(tp.Epochs))
		for _, e := range tp.Epochs {
			ev = kbin.AppendInt32(ev, e)
		}
		w.b = kbin.AppendUvarint(w.b, 1)
		w.tag(0, ev)
	}
}

func (v cgMetadataValue) encode() []byte {
	w := newValue()
	w.i32(v.Epoch)
	if v.MetadataHash == 0 {
		w.noTags()
	} else {
		w.b = kbin.AppendUvarint(w.b, 1)
		w.tag(0, kbin.AppendInt64(nil, v.MetadataHash))
	}
	return w.b
}

func (v cgMemberValue) encode() []byte {
	w := newValue()
	w.nstr(v.InstanceID)
	w.nstr(v.RackID)
	w.str(v.ClientID)
	w.str(v.ClientHost)
	w.strs(v.SubscribedTopics)
	w.nstr(v.SubscribedRegex)
	w.i32(v.RebalanceTimeoutMs)
	w.nstr(v.ServerAssignor)
	w.noTags()
	return w.b
}

func (v cgTargetMetaValue) encode() []byte {
	w := newValue()
	w.i32(v.AssignmentEpoch)
	w.noTags()
	return w.b
}

func (v cgTargetMemberValue) encode() []byte {
	w := newValue()
	w.arr(len(v.Partitions))
	for _, tp := range v.Partitions {
		w.uuid(tp.TopicID)
		w.i32s(tp.Partitions)
		w.noTags()
	}
	w.noTags()
	return w.b
}

func (v cgCurrentValue) encode() []byte {
	w := newValue()
	w.i32(v.MemberEpoch)
	w.i32(v.PreviousMemberEpoch)
	w.i8(v.State)
	w.tps(v.Assigned)
	w.tps(v.PendingRevocation)
	w.noTags()
	return w.b
}

func (v cgRegexValue) encode() []byte {
	w := newValue()
	w.strs(v.Topics)
	w.i64(v.Version)
	w.i64(v.Timestamp)
	w.noTags()
	return w.b
}

// reader decodes a flexible value with every length bounded by the bytes
// that remain.
type reader struct {
	r   kbin.Reader
	bad bool
}

func openValue(b []byte) (*reader, error) {
	rd := &reader{r: kbin.Reader{Src: b}}
	if v := rd.r.Int16(); !rd.r.Ok() || v != 0 {
		return nil, fmt.Errorf("%w: value version %d", ErrBadRecord, v)
	}
	return rd, nil
}

func (rd *reader) n() int {
	n := rd.r.CompactArrayLen()
	if n < 0 || int(n) > len(rd.r.Src) {
		rd.bad = true
		return 0
	}
	return int(n)
}

func (rd *reader) strs() []string {
	n := rd.n()
	out := make([]string, 0, n)
	for i := 0; i < n && rd.r.Ok(); i++ {
		out = append(out, rd.r.CompactString())
	}
	return out
}

func (rd *reader) i32s() []int32 {
	n := rd.n()
	out := make([]int32, 0, n)
	for i := 0; i < n && rd.r.Ok(); i++ {
		out = append(out, rd.r.Int32())
	}
	return out
}

// tags walks tagged fields, calling fn with each tag's own reader.
func (rd *reader) tags(fn func(tag uint32, r *reader)) {
	n := rd.r.Uvarint()
	for i := uint32(0); i < n && rd.r.Ok(); i++ {
		tag := rd.r.Uvarint()
		size := rd.r.Uvarint()
		if int64(size) > int64(len(rd.r.Src)) {
			rd.bad = true
			return
		}
		span := rd.r.Span(int(size))
		if fn != nil {
			sub := &reader{r: kbin.Reader{Src: span}}
			fn(tag, sub)
			if sub.bad || !sub.r.Ok() {
				rd.bad = true
			}
		}
	}
}

func (rd *reader) tps() []topicPartitions {
	n := rd.n()
	out := make([]topicPartitions, 0, n)
	for i := 0; i < n && rd.r.Ok() && !rd.bad; i++ {
		tp := topicPartitions{TopicID: rd.r.Uuid(), Partitions: rd.i32s()}
		rd.tags(func(tag uint32, sub *reader) {
			if tag == 0 {
				tp.Epochs = sub.i32s()
			}
		})
		if tp.Epochs != nil && len(tp.Epochs) != len(tp.Partitions) {
			tp.Epochs = nil
		}
		out = append(out, tp)
	}
	return out
}

func (rd *reader) done(what string) error {
	if rd.bad || !rd.r.Ok() {
		return fmt.Errorf("%w: %s", ErrBadRecord, what)
	}
	return nil
}

func decodeCGMetadata(b []byte) (v cgMetadataValue, err error) {
	rd, err := openValue(b)
	if err != nil {
		return v, err
	}
	v.Epoch = rd.r.Int32()
	rd.tags(func(tag uint32, sub *reader) {
		if tag == 0 {
			v.MetadataHash = sub.r.Int64()
		}
	})
	return v, rd.done("consumer group metadata")
}

func decodeCGMember(b []byte) (v cgMemberValue, err error) {
	rd, err := openValue(b)
	if err != nil {
		return v, err
	}
	v.InstanceID = rd.r.CompactNullableString()
	v.RackID = rd.r.CompactNullableString()
	v.ClientID = rd.r.CompactString()
	v.ClientHost = rd.r.CompactString()
	v.SubscribedTopics = rd.strs()
	v.SubscribedRegex = rd.r.CompactNullableString()
	v.RebalanceTimeoutMs = rd.r.Int32()
	v.ServerAssignor = rd.r.CompactNullableString()
	rd.tags(nil) // tag 0 is the classic member metadata of migrated members
	return v, rd.done("consumer group member")
}

func decodeCGTargetMeta(b []byte) (v cgTargetMetaValue, err error) {
	rd, err := openValue(b)
	if err != nil {
		return v, err
	}
	v.AssignmentEpoch = rd.r.Int32()
	rd.tags(nil)
	return v, rd.done("target assignment metadata")
}

func decodeCGTargetMember(b []byte) (v cgTargetMemberValue, err error) {
	rd, err := openValue(b)
	if err != nil {
		return v, err
	}
	v.Partitions = rd.tps()
	rd.tags(nil)
	return v, rd.done("target assignment member")
}

func decodeCGCurrent(b []byte) (v cgCurrentValue, err error) {
	rd, err := openValue(b)
	if err != nil {
		return v, err
	}
	v.MemberEpoch = rd.r.Int32()
	v.PreviousMemberEpoch = rd.r.Int32()
	v.State = rd.r.Int8()
	v.Assigned = rd.tps()
	v.PendingRevocation = rd.tps()
	rd.tags(nil)
	return v, rd.done("current member assignment")
}

func decodeCGRegex(b []byte) (v cgRegexValue, err error) {
	rd, err := openValue(b)
	if err != nil {
		return v, err
	}
	v.Topics = rd.strs()
	v.Version = rd.r.Int64()
	v.Timestamp = rd.r.Int64()
	rd.tags(nil)
	return v, rd.done("regular expression")
}

// toTopicPartitions turns an assignment into record form, sorted by topic
// id and partition, with assignment epochs when epochs is non-nil.
func toTopicPartitions(a assignment, epochs map[tidp]int32) []topicPartitions {
	out := make([]topicPartitions, 0, len(a))
	for id, ps := range a {
		tp := topicPartitions{TopicID: id, Partitions: slices.Sorted(keysOf(ps))}
		if epochs != nil {
			tp.Epochs = make([]int32, len(tp.Partitions))
			for i, p := range tp.Partitions {
				tp.Epochs[i] = epochs[tidp{id, p}]
			}
		}
		out = append(out, tp)
	}
	slices.SortFunc(out, func(a, b topicPartitions) int { return compareID(a.TopicID, b.TopicID) })
	return out
}

func fromTopicPartitions(tps []topicPartitions) (assignment, map[tidp]int32) {
	a := assignment{}
	var epochs map[tidp]int32
	for _, tp := range tps {
		for i, p := range tp.Partitions {
			a.add(tp.TopicID, p)
			if tp.Epochs != nil {
				if epochs == nil {
					epochs = map[tidp]int32{}
				}
				epochs[tidp{tp.TopicID, p}] = tp.Epochs[i]
			}
		}
	}
	return a, epochs
}

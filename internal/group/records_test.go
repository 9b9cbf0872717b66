package group

import (
	"reflect"
	"testing"
)

func TestRecordRoundTrip(t *testing.T) {
	s := func(v string) *string { return &v }
	id := [16]byte{1, 2, 3}
	for _, tc := range []struct {
		name string
		enc  []byte
		dec  func([]byte) (any, error)
		want any
	}{
		{"metadata", cgMetadataValue{Epoch: 7, MetadataHash: -5}.encode(), func(b []byte) (any, error) { return decodeCGMetadata(b) }, cgMetadataValue{Epoch: 7, MetadataHash: -5}},
		{"metadata-nohash", cgMetadataValue{Epoch: 7}.encode(), func(b []byte) (any, error) { return decodeCGMetadata(b) }, cgMetadataValue{Epoch: 7}},
		{"member", cgMemberValue{InstanceID: s("i"), ClientID: "c", ClientHost: "/h", SubscribedTopics: []string{"a", "b"}, SubscribedRegex: s("x.*"), RebalanceTimeoutMs: 5, ServerAssignor: s("uniform")}.encode(),
			func(b []byte) (any, error) { return decodeCGMember(b) },
			cgMemberValue{InstanceID: s("i"), ClientID: "c", ClientHost: "/h", SubscribedTopics: []string{"a", "b"}, SubscribedRegex: s("x.*"), RebalanceTimeoutMs: 5, ServerAssignor: s("uniform")}},
		{"target-meta", cgTargetMetaValue{AssignmentEpoch: 3}.encode(), func(b []byte) (any, error) { return decodeCGTargetMeta(b) }, cgTargetMetaValue{AssignmentEpoch: 3}},
		{"target-member", cgTargetMemberValue{Partitions: []topicPartitions{{TopicID: id, Partitions: []int32{0, 2}}}}.encode(),
			func(b []byte) (any, error) { return decodeCGTargetMember(b) }, cgTargetMemberValue{Partitions: []topicPartitions{{TopicID: id, Partitions: []int32{0, 2}}}}},
		{"current", cgCurrentValue{MemberEpoch: 4, PreviousMemberEpoch: 3, State: 1, Assigned: []topicPartitions{{TopicID: id, Partitions: []int32{1}, Epochs: []int32{4}}}, PendingRevocation: []topicPartitions{{TopicID: id, Partitions: []int32{2}}}}.encode(),
			func(b []byte) (any, error) { return decodeCGCurrent(b) },
			cgCurrentValue{MemberEpoch: 4, PreviousMemberEpoch: 3, State: 1, Assigned: []topicPartitions{{TopicID: id, Partitions: []int32{1}, Epochs: []int32{4}}}, PendingRevocation: []topicPartitions{{TopicID: id, Partitions: []int32{2}}}}},
		{"regex", cgRegexValue{Topics: []string{"a"}, Version: 9, Timestamp: 10}.encode(), func(b []byte) (any, error) { return decodeCGRegex(b) }, cgRegexValue{Topics: []string{"a"}, Version: 9, Timestamp: 10}},
	} {
		got, err := tc.dec(tc.enc)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Fatalf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
	for _, k := range []RecordKey{
		{Type: typeOffsetCommit, Group: "g", Topic: "t", Partition: 3},
		{Type: typeGroupMetadata, Group: "g"},
		{Type: typeConsumerGroupMetadata, Group: "g"},
		{Type: typeConsumerGroupMember, Group: "g", Member: "m"},
		{Type: typeTargetAssignmentMeta, Group: "g"},
		{Type: typeTargetAssignmentMember, Group: "g", Member: "m"},
		{Type: typeCurrentAssignment, Group: "g", Member: "m"},
		{Type: typeRegularExpression, Group: "g", Regex: "a.*"},
	} {
		got, ok, err := decodeKey(encodeKey(k))
		if err != nil || !ok || got != k {
			t.Fatalf("key %+v: got %+v %v %v", k, got, ok, err)
		}
	}
	o := offsetValue{offset: 5, leaderEpoch: 2, metadata: "m", commitTimestamp: 9, expireTimestamp: -1}
	got, err := decodeOffsetValue(offsetCommitRecord("g", "t", 0, o).Value)
	if err != nil || got != o {
		t.Fatalf("offset value: %+v %v", got, err)
	}
	o.expireTimestamp, o.leaderEpoch = 99, -1
	got, err = decodeOffsetValue(offsetCommitRecord("g", "t", 0, o).Value)
	if err != nil || got != o {
		t.Fatalf("offset value v1: %+v %v", got, err)
	}
}

// The exact bytes of a KIP-848 key: int16 record type, then the fields.
func TestKeyLayout(t *testing.T) {
	got := encodeKey(RecordKey{Type: typeCurrentAssignment, Group: "g", Member: "m"})
	want := []byte{0, 8, 0, 1, 'g', 0, 1, 'm'}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestPartitionFor(t *testing.T) {
	for _, tc := range []struct {
		group string
		n     int32
		want  int32
	}{
		{"", 50, 0},
		{"test", 50, 3556498 % 50},        // "test".hashCode() = 3556498
		{"polygenelubricants", 50, 0},     // hashCode() = Integer.MIN_VALUE
		{"console-consumer-12345", 50, 6}, // hashCode() = 158455506
		{"é", 7, 233 % 7},
		{"😀grp", 50, 36}, // a surrogate pair: Java hashes UTF-16 units
	} {
		if got := PartitionFor(tc.group, tc.n); got != tc.want {
			t.Errorf("PartitionFor(%q, %d) = %d, want %d", tc.group, tc.n, got, tc.want)
		}
	}
}

// FuzzDecodeRecord feeds arbitrary keys and values to the decoders used
// when loading __consumer_offsets: they must fail cleanly, never panic or
// allocate beyond the input.
func FuzzDecodeRecord(f *testing.F) {
	id := [16]byte{9}
	f.Add(encodeKey(RecordKey{Type: typeCurrentAssignment, Group: "g", Member: "m"}), cgCurrentValue{MemberEpoch: 1, Assigned: []topicPartitions{{TopicID: id, Partitions: []int32{1, 2}, Epochs: []int32{1, 1}}}}.encode())
	f.Add(encodeKey(RecordKey{Type: typeConsumerGroupMember, Group: "g", Member: "m"}), cgMemberValue{ClientID: "c", SubscribedTopics: []string{"t"}}.encode())
	f.Add(encodeKey(RecordKey{Type: typeConsumerGroupMetadata, Group: "g"}), cgMetadataValue{Epoch: 1, MetadataHash: 2}.encode())
	f.Add(encodeKey(RecordKey{Type: typeTargetAssignmentMember, Group: "g", Member: "m"}), cgTargetMemberValue{Partitions: []topicPartitions{{TopicID: id, Partitions: []int32{0}}}}.encode())
	f.Add(encodeKey(RecordKey{Type: typeRegularExpression, Group: "g", Regex: "x"}), cgRegexValue{Topics: []string{"x"}}.encode())
	f.Add(encodeKey(RecordKey{Type: typeOffsetCommit, Group: "g", Topic: "t"}), offsetCommitRecord("g", "t", 0, offsetValue{offset: 1, expireTimestamp: -1}).Value)
	f.Add([]byte{0, 2, 0, 1, 'g'}, []byte{0, 3, 0, 0})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		m := NewMachine(DefaultConfig(), nil)
		m.SetOffsetsTopic(m.now, 1, true)
		_ = m.Replay(0, 0, -1, Record{Key: key, Value: value})
		_ = m.Replay(0, 1, 5, Record{Key: key, Value: value})
		_ = m.Replay(0, 2, -1, Record{Key: key})
		m.LoadDone(m.now, 0)
		parseSubscriptionTopics(value)
	})
}

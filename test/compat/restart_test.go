package compat

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestFranzRestart: everything acknowledged before a clean restart is
// there after it, byte for byte at the same offsets, and the metadata
// (topic ids, partition counts, configs, deletions, log start offsets)
// survives too.
func TestFranzRestart(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := ctxFor(t)
	_, adm := franzAdmin(t, b.Addr)
	ids := map[string]kadm.TopicID{
		"r-three":   createTopicFranz(t, adm, "r-three", 3, map[string]*string{"retention.ms": kadm.StringPtr("7200000")}),
		"r-grown":   createTopicFranz(t, adm, "r-grown", 1, nil),
		"r-lat":     createTopicFranz(t, adm, "r-lat", 1, map[string]*string{"message.timestamp.type": kadm.StringPtr("LogAppendTime")}),
		"r-gone":    createTopicFranz(t, adm, "r-gone", 1, nil),
		"r-trimmed": createTopicFranz(t, adm, "r-trimmed", 1, nil),
	}
	if r, err := adm.UpdatePartitions(ctx, 2, "r-grown"); err != nil || r["r-grown"].Err != nil {
		t.Fatalf("create partitions: %v %v", err, r["r-grown"].Err)
	}

	want := map[string]map[int32][]rec{}
	produce := func(topic string, p int32, codec kgo.CompressionCodec, recs []rec) {
		t.Helper()
		cl := franzClient(t, b.Addr, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(codec))
		defer cl.Close()
		if want[topic] == nil {
			want[topic] = map[int32][]rec{}
		}
		next := int64(len(want[topic][p]))
		var krs []*kgo.Record
		for i, r := range recs {
			r.Offset = next + int64(i)
			want[topic][p] = append(want[topic][p], r)
			krs = append(krs, toKgo(topic, r))
		}
		if err := cl.ProduceSync(ctx, krs...).FirstErr(); err != nil {
			t.Fatalf("produce to %s/%d: %v", topic, p, err)
		}
	}
	codecs := []kgo.CompressionCodec{kgo.NoCompression(), kgo.GzipCompression(), kgo.ZstdCompression()}
	for p := int32(0); p < 3; p++ {
		for round := range 3 {
			produce("r-three", p, codecs[round], sampleRecords(fmt.Sprintf("three-%d-%d", p, round), p, 7, int64(round)*100_000))
		}
	}
	produce("r-grown", 1, kgo.SnappyCompression(), sampleRecords("grown", 1, 5, 0))
	produce("r-lat", 0, kgo.Lz4Compression(), sampleRecords("lat", 0, 5, 0))
	produce("r-gone", 0, kgo.NoCompression(), sampleRecords("gone", 0, 2, 0))
	produce("r-trimmed", 0, kgo.NoCompression(), sampleRecords("trimmed", 0, 10, 0))
	os := make(kadm.Offsets)
	os.Add(kadm.Offset{Topic: "r-trimmed", Partition: 0, At: 6})
	if r, err := adm.DeleteRecords(ctx, os); err != nil || r["r-trimmed"][0].Err != nil {
		t.Fatalf("delete records: %v", err)
	}
	if r, err := adm.DeleteTopic(ctx, "r-gone"); err != nil || r.Err != nil {
		t.Fatalf("delete topic: %v %v", err, r.Err)
	}
	delete(ids, "r-gone")
	// LogAppendTime records as stored (broker time) before the restart.
	latBefore := franzRead(t, b.Addr, "r-lat", 0, 0, 5)
	tsBefore := listOffsetRaw(t, franzClient(t, b.Addr), "r-three", 1, baseTime+100_000+1500)

	b.Restart()
	cl, adm2 := franzAdmin(t, b.Addr)

	for topic, id := range ids {
		if got := topicID(t, cl, topic); got != id {
			t.Errorf("%s: topic id %x after the restart, %x before", topic, got, id)
		}
	}
	if md := metadataOf(t, cl, "r-gone"); md.ErrorCode == 0 {
		t.Errorf("deleted topic r-gone is back after the restart")
	}
	if md := metadataOf(t, cl, "r-grown"); len(md.Partitions) != 2 {
		t.Errorf("r-grown has %d partitions after the restart, want 2", len(md.Partitions))
	}
	for topic, parts := range want {
		if topic == "r-gone" || topic == "r-lat" {
			continue
		}
		for p, recs := range parts {
			from := int64(0)
			if topic == "r-trimmed" {
				from = 6
			}
			lo, hi := offsetsOf(t, cl, topic, p)
			if lo != from || hi != int64(len(recs)) {
				t.Errorf("%s/%d after the restart: offsets [%d, %d), want [%d, %d)", topic, p, lo, hi, from, len(recs))
			}
			got := franzRead(t, b.Addr, topic, p, from, len(recs)-int(from))
			checkRecords(t, fmt.Sprintf("%s/%d after the restart", topic, p), got, recs[from:], exact)
		}
	}
	latAfter := franzRead(t, b.Addr, "r-lat", 0, 0, 5)
	checkRecords(t, "LogAppendTime records after the restart", latAfter, latBefore, exact)
	if got := listOffsetRaw(t, cl, "r-three", 1, baseTime+100_000+1500); got.Offset != tsBefore.Offset || got.Timestamp != tsBefore.Timestamp || got.Offset != 9 {
		t.Errorf("offset by timestamp after the restart: %d at %d; before: %d at %d; want 9", got.Offset, got.Timestamp, tsBefore.Offset, tsBefore.Timestamp)
	}
	rcs, err := adm2.DescribeTopicConfigs(ctx, "r-three")
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := rcs.On("r-three", nil)
	found := false
	for _, c := range rc.Configs {
		if c.Key == "retention.ms" {
			found = true
			if c.Value == nil || *c.Value != "7200000" || c.Source != srcDynamicTopic {
				t.Errorf("retention.ms after the restart = %s source %d, want \"7200000\" DYNAMIC_TOPIC_CONFIG", strPtr(c.Value), c.Source)
			}
		}
	}
	if !found {
		t.Errorf("retention.ms not described after the restart")
	}

	// Appends continue where they stopped.
	produce("r-three", 2, kgo.ZstdCompression(), sampleRecords("after", 2, 3, 500_000))
	got := franzRead(t, b.Addr, "r-three", 2, 0, len(want["r-three"][2]))
	checkRecords(t, "r-three/2 after producing post-restart", got, want["r-three"][2], exact)
}

package compaction

import (
	"errors"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/plexus/plexus/internal/brokertest"
	"github.com/plexus/plexus/internal/records"
)

// TestCompactionFranz: versions of keys written by franz-go, compressed,
// to a topic that turns compacted at run time; after a forced clean a
// reader sees each key once with its latest value; tombstones go on the
// pass after their delete horizon (delete.retention.ms=0: the next one).
func TestCompactionFranz(t *testing.T) {
	for _, codec := range []struct {
		name string
		c    kgo.CompressionCodec
	}{{"none", kgo.NoCompression()}, {"gzip", kgo.GzipCompression()}, {"snappy", kgo.SnappyCompression()},
		{"lz4", kgo.Lz4Compression()}, {"zstd", kgo.ZstdCompression()}} {
		t.Run(codec.name, func(t *testing.T) {
			b := startBroker(t)
			topic := topicName("franz-" + codec.name)
			// Created with the delete policy; made compacted by AlterConfigs.
			cfg := compactedConfigs("delete.retention.ms", "0")
			cfg["cleanup.policy"] = "delete"
			cfg["retention.ms"] = "-1"
			createTopic(t, b.Addr, topic, cfg)
			w := newWorkload(40, 12, 5)
			produceFranz(t, b.Addr, topic, w, kgo.ProducerBatchCompression(codec.c))
			ctx := ctxFor(t)
			if err := b.Broker.CleanNow(ctx, topic); err == nil {
				t.Fatal("CleanNow cleaned a topic with cleanup.policy=delete")
			}
			adm := kadm.NewClient(newClient(t, b.Addr))
			resp, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "cleanup.policy", Value: kadm.StringPtr("compact")}}, topic)
			if err == nil {
				_, err = resp.On(topic, nil)
			}
			if err != nil {
				t.Fatalf("alter cleanup.policy: %v", err)
			}
			before := b.Broker.PartitionByName(topic, 0).Size()
			if err := b.Broker.CleanNow(ctx, topic); err != nil {
				t.Fatalf("CleanNow: %v", err)
			}
			checkCompacted(t, readAllFranz(t, b.Addr, topic), w.expected(false))
			if err := b.Broker.CleanNow(ctx, topic); err != nil {
				t.Fatalf("CleanNow: %v", err)
			}
			checkCompacted(t, readAllFranz(t, b.Addr, topic), w.expected(true))
			after := b.Broker.PartitionByName(topic, 0).Size()
			if after*3 > before {
				t.Fatalf("log size %d -> %d", before, after)
			}
			// The stats the metrics and the CLI show.
			var found bool
			for _, s := range b.Broker.CleanerStats() {
				if s.Topic == topic {
					found = true
					if s.Cleanings != 2 || s.BytesRead == 0 || s.BytesReclaimed <= 0 || s.TimeSinceLastClean < 0 || s.DirtyRatio != 0 || s.Uncleanable {
						t.Fatalf("stats %+v", s)
					}
				}
			}
			if !found {
				t.Fatal("no cleaner stats for the topic")
			}
			// A restart keeps it so.
			b.Restart()
			checkCompacted(t, readAllFranz(t, b.Addr, topic), w.expected(true))
		})
	}
}

// TestBackgroundCleaner: with a short log.cleaner.backoff.ms the cleaner
// compacts on its own once the dirty ratio passes the threshold.
//
// The records are written while min.compaction.lag.ms keeps them all out
// of reach, then the lag is lifted: were the cleaner free to run while
// they arrive (a slow machine), it could clean the first rounds and leave
// the last ones below the 0.5 threshold, correctly never cleaning them.
func TestBackgroundCleaner(t *testing.T) {
	b := startBroker(t, brokertest.WithConfig("log.cleaner.enable", "true", "log.cleaner.backoff.ms", "20"))
	topic := topicName("background")
	createTopic(t, b.Addr, topic, compactedConfigs("min.cleanable.dirty.ratio", "0.5", "min.compaction.lag.ms", "86400000"))
	w := newWorkload(30, 8, 3)
	produceFranz(t, b.Addr, topic, w)
	for _, s := range b.Broker.CleanerStats() {
		if s.Topic == topic && s.Cleanings > 0 {
			t.Fatalf("cleaned records younger than min.compaction.lag.ms: %+v", s)
		}
	}
	adm := kadm.NewClient(newClient(t, b.Addr))
	if _, err := adm.AlterTopicConfigs(ctxFor(t), []kadm.AlterConfig{{Name: "min.compaction.lag.ms", Value: kadm.StringPtr("0")}}, topic); err != nil {
		t.Fatal(err)
	}
	eventually(t, "background cleaning", func() error {
		for _, s := range b.Broker.CleanerStats() {
			if s.Topic == topic && s.Cleanings > 0 && s.DirtyRatio == 0 {
				return nil
			}
		}
		return errors.New("not cleaned yet")
	})
	checkCompacted(t, readAllFranz(t, b.Addr, topic), w.expected(false))
	if sum := b.Broker.CleanerSummary(); sum.Threads != 1 || sum.Uncleanable != 0 || sum.TimeSinceLastRun < 0 {
		t.Fatalf("summary %+v", sum)
	}
}

// TestCompactedTopicRejectsKeylessRecords: a record without a key is
// INVALID_RECORD on a compacted topic, and accepted once the topic is not
// compacted.
func TestCompactedTopicRejectsKeylessRecords(t *testing.T) {
	b := startBroker(t)
	topic := topicName("keyless")
	createTopic(t, b.Addr, topic, compactedConfigs())
	ctx := ctxFor(t)
	cl := newClient(t, b.Addr, kgo.DefaultProduceTopic(topic), kgo.RecordRetries(0))
	err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("no key")}).FirstErr()
	if !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("keyless record on a compacted topic: %v, want INVALID_RECORD", err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte("k"), Value: []byte("keyed")}).FirstErr(); err != nil {
		t.Fatalf("keyed record: %v", err)
	}
	adm := kadm.NewClient(newClient(t, b.Addr))
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "cleanup.policy", Value: kadm.StringPtr("delete")}}, topic); err != nil {
		t.Fatal(err)
	}
	eventually(t, "keyless record accepted after the policy change", func() error {
		return cl.ProduceSync(ctx, &kgo.Record{Value: []byte("no key")}).FirstErr()
	})
}

// TestConsumerOffsetsBounded: committing the same offsets thousands of
// times grows __consumer_offsets by megabytes; cleaning takes it back to
// one record per key, and the group's offsets survive a restart that
// replays the compacted log.
func TestConsumerOffsetsBounded(t *testing.T) {
	b := startBroker(t, brokertest.WithConfig("offsets.topic.num.partitions", "1", "offsets.topic.segment.bytes", strconv.Itoa(1<<20)))
	ctx := ctxFor(t)
	const parts = 100
	topic := topicName("committed")
	adm := kadm.NewClient(newClient(t, b.Addr))
	if _, err := adm.CreateTopic(ctx, parts, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	const group = "bounded-group"
	const commits = 300
	for i := 1; i <= commits; i++ {
		var os kadm.Offsets
		for p := int32(0); p < parts; p++ {
			os.Add(kadm.Offset{Topic: topic, Partition: p, At: int64(i*1000) + int64(p), LeaderEpoch: -1, Metadata: "some commit metadata"})
		}
		resp, err := adm.CommitOffsets(ctx, group, os)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	p := b.Broker.PartitionByName("__consumer_offsets", 0)
	if p == nil {
		t.Fatal("no __consumer_offsets-0")
	}
	before := p.Size()
	if segs := p.Log().Segments(); len(segs) < 3 || before < 2<<20 {
		t.Fatalf("%d bytes in %d segments: not enough to roll", before, len(segs))
	}
	if err := b.Broker.CleanNow(ctx, "__consumer_offsets"); err != nil {
		t.Fatal(err)
	}
	segs := p.Log().Segments()
	active := segs[len(segs)-1].BaseOffset
	closed := 0
	for off := p.LogStartOffset(); off < active; {
		buf, err := p.Read(nil, off, 1<<20, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(buf) == 0 {
			break
		}
		for len(buf) > 0 {
			bt, rest, err := records.Next(buf)
			if err != nil {
				t.Fatal(err)
			}
			if bt.BaseOffset() < active {
				closed += int(bt.NumRecords())
			}
			off, buf = bt.LastOffset()+1, rest
		}
	}
	if closed > parts {
		t.Fatalf("%d records left below the active segment, want at most %d (one per key)", closed, parts)
	}
	after := p.Size()
	if after > segs[len(segs)-1].Size+64<<10 {
		t.Fatalf("__consumer_offsets: %d bytes before cleaning, %d after (active segment %d)", before, after, segs[len(segs)-1].Size)
	}
	b.Restart()
	adm = kadm.NewClient(newClient(t, b.Addr))
	fetched, err := adm.FetchOffsets(ctxFor(t), group)
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < parts; p++ {
		o, ok := fetched.Lookup(topic, p)
		if !ok || o.Err != nil || o.At != int64(commits*1000)+int64(p) {
			t.Fatalf("partition %d: committed offset %+v after the restart, want %d", p, o, commits*1000+int(p))
		}
	}
}

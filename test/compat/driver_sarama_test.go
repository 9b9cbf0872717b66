package compat

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func TestClientSarama(t *testing.T) {
	t.Parallel()
	clientSuite(t, func(t *testing.T, addr string) driver {
		d := &saramaDriver{t: t, addrs: []string{addr}}
		adm, err := sarama.NewClusterAdmin(d.addrs, d.config())
		if err != nil {
			t.Fatalf("sarama.NewClusterAdmin: %v", err)
		}
		t.Cleanup(func() { adm.Close() })
		d.adm = adm
		return d
	})
}

// saramaDriver speaks IBM/sarama: SyncProducer, Consumer, ClusterAdmin,
// and Broker.Fetch for a raw fetch.
type saramaDriver struct {
	t     *testing.T
	addrs []string
	adm   sarama.ClusterAdmin
}

func (d *saramaDriver) config() *sarama.Config {
	c := sarama.NewConfig()
	c.Version = sarama.V4_0_0_0
	c.ClientID = "compat-sarama"
	c.Metadata.RefreshFrequency = 0
	c.Metadata.Retry.Backoff = 20 * time.Millisecond
	c.Admin.Timeout = 10 * time.Second
	c.Admin.Retry.Backoff = 20 * time.Millisecond
	c.Consumer.Return.Errors = true
	c.Consumer.MaxWaitTime = 50 * time.Millisecond
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Producer.Retry.Backoff = 20 * time.Millisecond
	return c
}

// sarama reads a null key, value or header value as nil and an empty one
// as an empty slice, and writes them back the same way.
func (d *saramaDriver) modes() (nullModes, nullModes) { return exact, exact }

func (d *saramaDriver) createTopic(_ context.Context, topic string, partitions int32, configs map[string]string) error {
	entries := map[string]*string{}
	for k, v := range configs {
		entries[k] = sp(v)
	}
	return d.adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1, ConfigEntries: entries}, false)
}

func (d *saramaDriver) listTopics(context.Context) (map[string]int, error) {
	all, err := d.adm.ListTopics()
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for name, td := range all {
		out[name] = int(td.NumPartitions)
	}
	return out, nil
}

func (d *saramaDriver) describeTopic(_ context.Context, topic string) (topicMeta, error) {
	mds, err := d.adm.DescribeTopics([]string{topic})
	if err != nil {
		return topicMeta{}, err
	}
	if len(mds) != 1 {
		return topicMeta{}, fmt.Errorf("%d topics described", len(mds))
	}
	m := mds[0]
	if m.Err != sarama.ErrNoError {
		return topicMeta{}, m.Err
	}
	md := topicMeta{ID: m.Uuid, HasID: true}
	md.Partitions = make([]partMeta, len(m.Partitions))
	for _, p := range m.Partitions {
		if p.ID < 0 || int(p.ID) >= len(m.Partitions) {
			return topicMeta{}, fmt.Errorf("partition %d out of range", p.ID)
		}
		md.Partitions[p.ID] = partMeta{Partition: p.ID, Leader: p.Leader, Replicas: p.Replicas, ISR: p.Isr}
	}
	return md, nil
}

func saramaCodec(c string) sarama.CompressionCodec {
	switch c {
	case "gzip":
		return sarama.CompressionGZIP
	case "snappy":
		return sarama.CompressionSnappy
	case "lz4":
		return sarama.CompressionLZ4
	case "zstd":
		return sarama.CompressionZSTD
	}
	return sarama.CompressionNone
}

func saramaAcks(a string) sarama.RequiredAcks {
	switch a {
	case "0":
		return sarama.NoResponse
	case "1":
		return sarama.WaitForLocal
	}
	return sarama.WaitForAll
}

// bytesOrNil keeps a nil slice as a nil Encoder (a null key or value).
func bytesOrNil(b []byte) sarama.Encoder {
	if b == nil {
		return nil
	}
	return sarama.ByteEncoder(b)
}

func (d *saramaDriver) produce(_ context.Context, topic, codec, acks string, recs []rec) ([]int64, error) {
	c := d.config()
	c.Producer.Compression = saramaCodec(codec)
	c.Producer.RequiredAcks = saramaAcks(acks)
	// Let the records of one call form one batch per partition.
	c.Producer.Flush.Messages = len(recs)
	c.Producer.Flush.Frequency = 50 * time.Millisecond
	p, err := sarama.NewSyncProducer(d.addrs, c)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	msgs := make([]*sarama.ProducerMessage, len(recs))
	for i, r := range recs {
		m := &sarama.ProducerMessage{Topic: topic, Partition: r.Partition, Key: bytesOrNil(r.Key), Value: bytesOrNil(r.Value), Timestamp: time.UnixMilli(r.Timestamp)}
		for _, h := range r.Headers {
			m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
		}
		msgs[i] = m
	}
	if err := p.SendMessages(msgs); err != nil {
		return nil, err
	}
	if acks == "0" {
		return nil, nil
	}
	out := make([]int64, len(msgs))
	for i, m := range msgs {
		out[i] = m.Offset
	}
	return out, nil
}

func (d *saramaDriver) consume(ctx context.Context, topic string, partition int32, from int64, n int) ([]rec, error) {
	c, err := sarama.NewConsumer(d.addrs, d.config())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	pc, err := c.ConsumePartition(topic, partition, from)
	if err != nil {
		return nil, err
	}
	defer pc.Close()
	var out []rec
	for len(out) < n {
		select {
		case m := <-pc.Messages():
			r := rec{Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Timestamp: m.Timestamp.UnixMilli(), Codec: -1, TimestampType: -1}
			for _, h := range m.Headers {
				r.Headers = append(r.Headers, hdr{string(h.Key), h.Value})
			}
			out = append(out, r)
		case err := <-pc.Errors():
			return out, err
		case <-ctx.Done():
			return out, fmt.Errorf("got %d of %d records: %w", len(out), n, ctx.Err())
		}
	}
	return out, nil
}

func (d *saramaDriver) listOffset(_ context.Context, topic string, partition int32, spec int64) (int64, int64, error) {
	if spec == -3 {
		// sarama's ListOffsets stops at v6; max timestamp needs v7.
		return 0, 0, errUnsupported("ListOffsets max timestamp (-3)")
	}
	res, err := d.adm.ListOffsets(map[string]map[int32]int64{topic: {partition: spec}}, nil)
	if err != nil {
		return 0, 0, err
	}
	r := res[topic][partition]
	if r == nil {
		return 0, 0, fmt.Errorf("no result for %s/%d", topic, partition)
	}
	if r.Err != nil && !errors.Is(r.Err, sarama.ErrNoError) {
		return 0, 0, r.Err
	}
	return r.Offset, r.Timestamp, nil
}

func (d *saramaDriver) deleteRecords(_ context.Context, topic string, partition int32, before int64) (int64, error) {
	// sarama's DeleteRecords does not return the low watermark.
	return unknown, d.adm.DeleteRecords(topic, map[int32]int64{partition: before})
}

// fetchAt checks both what sarama's consumer says about the offset and the
// error of a raw Fetch at it.
func (d *saramaDriver) fetchAt(_ context.Context, topic string, partition int32, offset int64) error {
	cl, err := sarama.NewClient(d.addrs, d.config())
	if err != nil {
		return err
	}
	defer cl.Close()
	b, err := cl.Leader(topic, partition)
	if err != nil {
		return err
	}
	// v12 is what sarama's consumer sends for Kafka >= 2.7 (see
	// TestSaramaFetchV11 for v11).
	req := &sarama.FetchRequest{Version: 12, MaxWaitTime: 100, MinBytes: 1, MaxBytes: 1 << 20, Isolation: sarama.ReadUncommitted}
	req.AddBlock(topic, partition, offset, 1<<20, -1)
	resp, err := b.Fetch(req)
	if err != nil {
		return err
	}
	blk := resp.GetBlock(topic, partition)
	if blk == nil {
		return fmt.Errorf("fetch response has no block for %s/%d", topic, partition)
	}
	if blk.Err != sarama.ErrNoError {
		c, err := sarama.NewConsumerFromClient(cl)
		if err != nil {
			return err
		}
		defer c.Close()
		if _, cerr := c.ConsumePartition(topic, partition, offset); !errors.Is(cerr, sarama.ErrOffsetOutOfRange) {
			return fmt.Errorf("raw fetch: %w; but ConsumePartition returned %v", blk.Err, cerr)
		}
		return blk.Err
	}
	return nil
}

func (d *saramaDriver) alterIncremental(_ context.Context, topic string, ops []alterOp) error {
	entries := map[string]sarama.IncrementalAlterConfigsEntry{}
	for _, o := range ops {
		if o.Delete {
			entries[o.Name] = sarama.IncrementalAlterConfigsEntry{Operation: sarama.IncrementalAlterConfigsOperationDelete}
		} else {
			entries[o.Name] = sarama.IncrementalAlterConfigsEntry{Operation: sarama.IncrementalAlterConfigsOperationSet, Value: sp(o.Value)}
		}
	}
	return d.adm.IncrementalAlterConfig(sarama.TopicResource, topic, entries, false)
}

func (d *saramaDriver) alterLegacy(_ context.Context, topic string, set map[string]string) error {
	entries := map[string]*string{}
	for k, v := range set {
		entries[k] = sp(v)
	}
	return d.adm.AlterConfig(sarama.TopicResource, topic, entries, false)
}

func (d *saramaDriver) describeConfigs(_ context.Context, topic string, synonyms bool) (map[string]cfgEntry, error) {
	res, err := d.adm.DescribeConfigs([]*sarama.ConfigResource{{Type: sarama.TopicResource, Name: topic}}, sarama.DescribeConfigsOptions{IncludeSynonyms: synonyms})
	if err != nil {
		return nil, err
	}
	if len(res) != 1 {
		return nil, fmt.Errorf("%d resources described", len(res))
	}
	if res[0].ErrorCode != 0 {
		return nil, sarama.KError(res[0].ErrorCode)
	}
	out := map[string]cfgEntry{}
	for _, c := range res[0].Configs {
		e := cfgEntry{Name: c.Name, Value: sp(c.Value), Source: int8(c.Source)}
		if !synonyms && len(c.Synonyms) > 0 {
			return nil, fmt.Errorf("describe configs without synonyms: %s came with %d synonyms", c.Name, len(c.Synonyms))
		}
		for _, s := range c.Synonyms {
			e.Synonyms = append(e.Synonyms, cfgSyn{Name: s.ConfigName, Value: sp(s.ConfigValue), Source: int8(s.Source)})
		}
		out[c.Name] = e
	}
	return out, nil
}

func (d *saramaDriver) createPartitions(_ context.Context, topic string, total int32) error {
	return d.adm.CreatePartitions(topic, total, nil, false)
}

func (d *saramaDriver) deleteTopic(_ context.Context, topic string) error {
	return d.adm.DeleteTopic(topic)
}

func (d *saramaDriver) errCode(err error) int16 {
	var ke sarama.KError
	if errors.As(err, &ke) {
		return int16(ke)
	}
	return -1
}

// TestSaramaFetchV11: sarama configured for Kafka 2.3-2.6 fetches with v11,
// where records are non-compact bytes. A partition with nothing to return
// (idle, or an error) must come back as an empty record set: sarama reads
// the size and takes that many bytes, and a null (-1) fails the whole
// response ("invalid byteslice length").
func TestSaramaFetchV11(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	_, adm := franzAdmin(t, b.Addr)
	createTopicFranz(t, adm, "v11", 1, nil)
	d := &saramaDriver{t: t, addrs: []string{b.Addr}}
	ctx := ctxFor(t)
	if _, err := d.produce(ctx, "v11", "none", "all", sampleRecords("v11", 0, 2, 0)); err != nil {
		t.Fatal(err)
	}
	c := d.config()
	c.Version = sarama.V2_6_0_0
	cl, err := sarama.NewClient(d.addrs, c)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	br, err := cl.Leader("v11", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		offset  int64
		records int
		code    sarama.KError
	}{{"data", 0, 2, sarama.ErrNoError}, {"idle", 2, 0, sarama.ErrNoError}, {"out-of-range", 9, 0, sarama.ErrOffsetOutOfRange}} {
		t.Run(tc.name, func(t *testing.T) {
			req := &sarama.FetchRequest{Version: 11, MaxWaitTime: 0, MinBytes: 1, MaxBytes: 1 << 20}
			req.AddBlock("v11", 0, tc.offset, 1<<20, -1)
			resp, err := br.Fetch(req)
			if err != nil {
				t.Fatalf("fetch v11 at %d: %v (the response did not decode)", tc.offset, err)
			}
			blk := resp.GetBlock("v11", 0)
			if blk == nil {
				t.Fatalf("fetch v11 at %d: no block", tc.offset)
			}
			n := 0
			for _, rs := range blk.RecordsSet {
				if rs.RecordBatch != nil {
					n += len(rs.RecordBatch.Records)
				}
			}
			if blk.Err != tc.code || n != tc.records {
				t.Errorf("fetch v11 at %d: %v with %d records, want %v with %d", tc.offset, blk.Err, n, tc.code, tc.records)
			}
		})
	}
}

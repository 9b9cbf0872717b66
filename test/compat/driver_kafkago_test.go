package compat

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"
)

func TestClientKafkaGo(t *testing.T) {
	t.Parallel()
	clientSuite(t, func(t *testing.T, addr string) driver {
		return &kafkaGoDriver{addr: addr, cl: &kafka.Client{Addr: kafka.TCP(addr), Timeout: 10 * time.Second}}
	})
}

// kafkaGoDriver speaks segmentio/kafka-go: Writer and Reader for data,
// Client for admin calls and a raw Fetch.
type kafkaGoDriver struct {
	addr string
	cl   *kafka.Client
}

// kafka-go's Writer writes nil as null and an empty slice as empty (the
// produce scenario checks that through franz-go), but its Reader returns
// an empty key, value or header value as nil, like a null one.
func (d *kafkaGoDriver) modes() (nullModes, nullModes) {
	return nullModes{nullAsEmpty, nullAsEmpty, nullAsEmpty}, exact
}

func (d *kafkaGoDriver) limit(what string) string {
	if what == "synonyms" {
		// protocol/describeconfigs Request.Split builds the request it
		// sends without IncludeSynonyms, so Client.DescribeConfigs
		// never asks for them.
		return "kafka-go's Client.DescribeConfigs drops IncludeSynonyms (describeconfigs.Request.Split)"
	}
	return ""
}

func (d *kafkaGoDriver) createTopic(ctx context.Context, topic string, partitions int32, configs map[string]string) error {
	tc := kafka.TopicConfig{Topic: topic, NumPartitions: int(partitions), ReplicationFactor: 1}
	for k, v := range configs {
		tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: v})
	}
	resp, err := d.cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{tc}})
	if err != nil {
		return err
	}
	return resp.Errors[topic]
}

func (d *kafkaGoDriver) listTopics(ctx context.Context) (map[string]int, error) {
	resp, err := d.cl.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, t := range resp.Topics {
		out[t.Name] = len(t.Partitions)
	}
	return out, nil
}

func (d *kafkaGoDriver) describeTopic(ctx context.Context, topic string) (topicMeta, error) {
	resp, err := d.cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return topicMeta{}, err
	}
	if len(resp.Topics) != 1 {
		return topicMeta{}, fmt.Errorf("%d topics in metadata", len(resp.Topics))
	}
	t := resp.Topics[0]
	if t.Error != nil {
		return topicMeta{}, t.Error
	}
	ids := func(bs []kafka.Broker) []int32 {
		var out []int32
		for _, b := range bs {
			out = append(out, int32(b.ID))
		}
		return out
	}
	var md topicMeta // kafka-go's Metadata (v8 at most) has no topic ids
	for _, p := range t.Partitions {
		md.Partitions = append(md.Partitions, partMeta{Partition: int32(p.ID), Leader: int32(p.Leader.ID), Replicas: ids(p.Replicas), ISR: ids(p.Isr)})
	}
	sort.Slice(md.Partitions, func(i, j int) bool { return md.Partitions[i].Partition < md.Partitions[j].Partition })
	return md, nil
}

func kafkaGoCodec(c string) kafka.Compression {
	switch c {
	case "gzip":
		return kafka.Gzip
	case "snappy":
		return kafka.Snappy
	case "lz4":
		return kafka.Lz4
	case "zstd":
		return kafka.Zstd
	}
	return 0
}

func kafkaGoAcks(a string) kafka.RequiredAcks {
	switch a {
	case "0":
		return kafka.RequireNone
	case "1":
		return kafka.RequireOne
	}
	return kafka.RequireAll
}

func (d *kafkaGoDriver) produce(ctx context.Context, topic, codec, acks string, recs []rec) ([]int64, error) {
	w := &kafka.Writer{
		Addr:  kafka.TCP(d.addr),
		Topic: topic,
		// The scenario names each record's partition.
		Balancer:     kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { return m.Partition }),
		BatchSize:    len(recs),
		BatchTimeout: 20 * time.Millisecond,
		RequiredAcks: kafkaGoAcks(acks),
		Compression:  kafkaGoCodec(codec),
	}
	defer w.Close()
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		m := kafka.Message{Partition: int(r.Partition), Key: r.Key, Value: r.Value, Time: time.UnixMilli(r.Timestamp)}
		for _, h := range r.Headers {
			m.Headers = append(m.Headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
		msgs[i] = m
	}
	// The Writer reports no offsets.
	return nil, w.WriteMessages(ctx, msgs...)
}

func (d *kafkaGoDriver) consume(ctx context.Context, topic string, partition int32, from int64, n int) ([]rec, error) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{d.addr}, Topic: topic, Partition: int(partition),
		MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 50 * time.Millisecond,
		// Fail instead of retrying forever when the broker errors.
		MaxAttempts: 3,
	})
	defer r.Close()
	if err := r.SetOffset(from); err != nil {
		return nil, err
	}
	var out []rec
	for len(out) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return out, fmt.Errorf("after %d of %d records: %w", len(out), n, err)
		}
		rc := rec{Partition: int32(m.Partition), Offset: m.Offset, Key: m.Key, Value: m.Value, Timestamp: m.Time.UnixMilli(), Codec: -1, TimestampType: -1}
		for _, h := range m.Headers {
			rc.Headers = append(rc.Headers, hdr{h.Key, h.Value})
		}
		out = append(out, rc)
	}
	return out, nil
}

func (d *kafkaGoDriver) listOffset(ctx context.Context, topic string, partition int32, spec int64) (int64, int64, error) {
	if spec == -3 {
		// kafka-go's ListOffsets stops at v5; max timestamp needs v7.
		return 0, 0, errUnsupported("ListOffsets max timestamp (-3)")
	}
	resp, err := d.cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: {{Partition: int(partition), Timestamp: spec}}}})
	if err != nil {
		return 0, 0, err
	}
	ps := resp.Topics[topic]
	if len(ps) != 1 {
		return 0, 0, fmt.Errorf("%d partitions listed", len(ps))
	}
	p := ps[0]
	if p.Error != nil {
		return 0, 0, p.Error
	}
	switch spec {
	case kafka.FirstOffset:
		return p.FirstOffset, unknown, nil
	case kafka.LastOffset:
		return p.LastOffset, unknown, nil
	}
	if len(p.Offsets) != 1 {
		return 0, 0, fmt.Errorf("%d offsets listed for one timestamp: %v", len(p.Offsets), p.Offsets)
	}
	// kafka-go replaces the timestamp of the response with the one
	// requested (listoffsets.Response.Merge), so it is not reported.
	for off := range p.Offsets {
		return off, unknown, nil
	}
	panic("unreachable")
}

func (d *kafkaGoDriver) deleteRecords(context.Context, string, int32, int64) (int64, error) {
	return 0, errUnsupported("DeleteRecords")
}

func (d *kafkaGoDriver) fetchAt(ctx context.Context, topic string, partition int32, offset int64) error {
	resp, err := d.cl.Fetch(ctx, &kafka.FetchRequest{Topic: topic, Partition: int(partition), Offset: offset, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond})
	if err != nil {
		return err
	}
	return resp.Error
}

func (d *kafkaGoDriver) alterIncremental(ctx context.Context, topic string, ops []alterOp) error {
	res := kafka.IncrementalAlterConfigsRequestResource{ResourceType: kafka.ResourceTypeTopic, ResourceName: topic}
	for _, o := range ops {
		c := kafka.IncrementalAlterConfigsRequestConfig{Name: o.Name, Value: o.Value, ConfigOperation: kafka.ConfigOperationSet}
		if o.Delete {
			c.ConfigOperation, c.Value = kafka.ConfigOperationDelete, ""
		}
		res.Configs = append(res.Configs, c)
	}
	resp, err := d.cl.IncrementalAlterConfigs(ctx, &kafka.IncrementalAlterConfigsRequest{Resources: []kafka.IncrementalAlterConfigsRequestResource{res}})
	if err != nil {
		return err
	}
	if len(resp.Resources) != 1 {
		return fmt.Errorf("%d resources in the response", len(resp.Resources))
	}
	return resp.Resources[0].Error
}

func (d *kafkaGoDriver) alterLegacy(ctx context.Context, topic string, set map[string]string) error {
	res := kafka.AlterConfigRequestResource{ResourceType: kafka.ResourceTypeTopic, ResourceName: topic}
	for k, v := range set {
		res.Configs = append(res.Configs, kafka.AlterConfigRequestConfig{Name: k, Value: v})
	}
	resp, err := d.cl.AlterConfigs(ctx, &kafka.AlterConfigsRequest{Resources: []kafka.AlterConfigRequestResource{res}})
	if err != nil {
		return err
	}
	for _, e := range resp.Errors {
		if e != nil {
			return e
		}
	}
	return nil
}

func (d *kafkaGoDriver) describeConfigs(ctx context.Context, topic string, synonyms bool) (map[string]cfgEntry, error) {
	resp, err := d.cl.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{
		Resources:       []kafka.DescribeConfigRequestResource{{ResourceType: kafka.ResourceTypeTopic, ResourceName: topic}},
		IncludeSynonyms: synonyms,
	})
	if err != nil {
		return nil, err
	}
	if len(resp.Resources) != 1 {
		return nil, fmt.Errorf("%d resources described", len(resp.Resources))
	}
	if err := resp.Resources[0].Error; err != nil {
		return nil, err
	}
	out := map[string]cfgEntry{}
	for _, c := range resp.Resources[0].ConfigEntries {
		if !synonyms && len(c.ConfigSynonyms) > 0 {
			return nil, fmt.Errorf("describe configs without synonyms: %s came with %d synonyms", c.ConfigName, len(c.ConfigSynonyms))
		}
		e := cfgEntry{Name: c.ConfigName, Value: sp(c.ConfigValue), Source: c.ConfigSource}
		for _, s := range c.ConfigSynonyms {
			e.Synonyms = append(e.Synonyms, cfgSyn{Name: s.ConfigName, Value: sp(s.ConfigValue), Source: s.ConfigSource})
		}
		out[c.ConfigName] = e
	}
	return out, nil
}

func (d *kafkaGoDriver) createPartitions(ctx context.Context, topic string, total int32) error {
	resp, err := d.cl.CreatePartitions(ctx, &kafka.CreatePartitionsRequest{Topics: []kafka.TopicPartitionsConfig{{Name: topic, Count: total}}})
	if err != nil {
		return err
	}
	return resp.Errors[topic]
}

func (d *kafkaGoDriver) deleteTopic(ctx context.Context, topic string) error {
	resp, err := d.cl.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}})
	if err != nil {
		return err
	}
	return resp.Errors[topic]
}

func (d *kafkaGoDriver) errCode(err error) int16 {
	var ke kafka.Error
	if errors.As(err, &ke) {
		return int16(ke)
	}
	return -1
}

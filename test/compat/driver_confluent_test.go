package compat

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

func TestClientConfluent(t *testing.T) {
	t.Parallel()
	clientSuite(t, func(t *testing.T, addr string) driver {
		adm, err := kafka.NewAdminClient(confluentConfig(addr, nil))
		if err != nil {
			t.Fatalf("kafka.NewAdminClient: %v", err)
		}
		t.Cleanup(adm.Close)
		return &confluentDriver{t: t, addr: addr, adm: adm}
	})
}

// confluentConfig is librdkafka's configuration for the tests: short
// timeouts so that a failing test fails fast and clients close quickly.
func confluentConfig(addr string, extra kafka.ConfigMap) *kafka.ConfigMap {
	c := kafka.ConfigMap{
		"bootstrap.servers":                  addr,
		"client.id":                          "compat-confluent",
		"socket.timeout.ms":                  10000,
		"socket.connection.setup.timeout.ms": 10000,
		"reconnect.backoff.ms":               20,
		"reconnect.backoff.max.ms":           200,
		"retry.backoff.ms":                   20,
		"topic.metadata.refresh.interval.ms": 60000,
		"log_level":                          3,
	}
	for k, v := range extra {
		c[k] = v
	}
	return &c
}

// confluentDriver speaks confluentinc/confluent-kafka-go (librdkafka):
// Producer, Consumer (assign, no group) and AdminClient.
type confluentDriver struct {
	t    *testing.T
	addr string
	adm  *kafka.AdminClient
}

func (d *confluentDriver) modes() (nullModes, nullModes) { return exact, exact }

func (d *confluentDriver) limit(what string) string {
	switch what {
	case "synonym-order":
		return "confluent-kafka-go returns synonyms as a map keyed by name: their order and same-named synonyms are lost"
	case "compress-if-smaller":
		return "librdkafka sends a batch uncompressed when compressing does not make it smaller"
	}
	return ""
}

func topicErr(rs []kafka.TopicResult, err error) error {
	if err != nil {
		return err
	}
	if len(rs) != 1 {
		return fmt.Errorf("%d topic results", len(rs))
	}
	if rs[0].Error.Code() != kafka.ErrNoError {
		return rs[0].Error
	}
	return nil
}

func (d *confluentDriver) createTopic(ctx context.Context, topic string, partitions int32, configs map[string]string) error {
	return topicErr(d.adm.CreateTopics(ctx, []kafka.TopicSpecification{{Topic: topic, NumPartitions: int(partitions), ReplicationFactor: 1, Config: configs}}))
}

func (d *confluentDriver) listTopics(context.Context) (map[string]int, error) {
	md, err := d.adm.GetMetadata(nil, true, 10000)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for name, t := range md.Topics {
		if t.Error.Code() == kafka.ErrNoError {
			out[name] = len(t.Partitions)
		}
	}
	return out, nil
}

func uuidBytes(u kafka.UUID) [16]byte {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(u.GetMostSignificantBits()))
	binary.BigEndian.PutUint64(b[8:], uint64(u.GetLeastSignificantBits()))
	return b
}

func (d *confluentDriver) describeTopic(ctx context.Context, topic string) (topicMeta, error) {
	res, err := d.adm.DescribeTopics(ctx, kafka.NewTopicCollectionOfTopicNames([]string{topic}))
	if err != nil {
		return topicMeta{}, err
	}
	if len(res.TopicDescriptions) != 1 {
		return topicMeta{}, fmt.Errorf("%d topics described", len(res.TopicDescriptions))
	}
	td := res.TopicDescriptions[0]
	if td.Error.Code() != kafka.ErrNoError {
		return topicMeta{}, td.Error
	}
	ids := func(ns []kafka.Node) []int32 {
		var out []int32
		for _, n := range ns {
			out = append(out, int32(n.ID))
		}
		return out
	}
	md := topicMeta{ID: uuidBytes(td.TopicID), HasID: true}
	for _, p := range td.Partitions {
		pm := partMeta{Partition: int32(p.Partition), Leader: -1, Replicas: ids(p.Replicas), ISR: ids(p.Isr)}
		if p.Leader != nil {
			pm.Leader = int32(p.Leader.ID)
		}
		md.Partitions = append(md.Partitions, pm)
	}
	sort.Slice(md.Partitions, func(i, j int) bool { return md.Partitions[i].Partition < md.Partitions[j].Partition })
	return md, nil
}

func confluentAcks(a string) string {
	if a == "all" {
		return "all"
	}
	return a
}

func (d *confluentDriver) produce(ctx context.Context, topic, codec, acks string, recs []rec) ([]int64, error) {
	p, err := kafka.NewProducer(confluentConfig(d.addr, kafka.ConfigMap{
		"compression.codec":  codec,
		"acks":               confluentAcks(acks),
		"enable.idempotence": false,
		"linger.ms":          20,
		"message.timeout.ms": 30000,
		// One in-flight request per connection keeps the order of the
		// call without idempotence even if something is retried.
		"max.in.flight.requests.per.connection": 1,
	}))
	if err != nil {
		return nil, err
	}
	defer p.Close()
	done := make(chan kafka.Event, len(recs))
	msgs := make([]*kafka.Message, len(recs))
	for i, r := range recs {
		m := &kafka.Message{
			TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: r.Partition},
			Key:            r.Key, Value: r.Value, Timestamp: time.UnixMilli(r.Timestamp),
			Opaque: i,
		}
		for _, h := range r.Headers {
			m.Headers = append(m.Headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
		msgs[i] = m
		if err := p.Produce(m, done); err != nil {
			return nil, err
		}
	}
	out := make([]int64, len(recs))
	for range recs {
		select {
		case ev := <-done:
			m, ok := ev.(*kafka.Message)
			if !ok {
				return nil, fmt.Errorf("unexpected delivery event %v", ev)
			}
			if m.TopicPartition.Error != nil {
				return nil, m.TopicPartition.Error
			}
			out[m.Opaque.(int)] = int64(m.TopicPartition.Offset)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if acks == "0" {
		return nil, nil
	}
	return out, nil
}

// newConsumer makes a consumer for assign() only. librdkafka requires a
// group.id even then; the group is never joined and no offset is
// committed.
func (d *confluentDriver) newConsumer() (*kafka.Consumer, error) {
	return kafka.NewConsumer(confluentConfig(d.addr, kafka.ConfigMap{
		"group.id":                 "compat-confluent-assign",
		"enable.auto.commit":       false,
		"enable.auto.offset.store": false,
		"auto.offset.reset":        "error",
		"fetch.wait.max.ms":        50,
		"enable.partition.eof":     false,
	}))
}

func (d *confluentDriver) consume(ctx context.Context, topic string, partition int32, from int64, n int) ([]rec, error) {
	c, err := d.newConsumer()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.Assign([]kafka.TopicPartition{{Topic: &topic, Partition: partition, Offset: kafka.Offset(from)}}); err != nil {
		return nil, err
	}
	var out []rec
	for len(out) < n {
		if ctx.Err() != nil {
			return out, fmt.Errorf("got %d of %d records: %w", len(out), n, ctx.Err())
		}
		m, err := c.ReadMessage(100 * time.Millisecond)
		if err != nil {
			var ke kafka.Error
			if errors.As(err, &ke) && ke.IsTimeout() {
				continue
			}
			return out, err
		}
		r := rec{Partition: m.TopicPartition.Partition, Offset: int64(m.TopicPartition.Offset), Key: m.Key, Value: m.Value, Timestamp: m.Timestamp.UnixMilli(), Codec: -1, TimestampType: -1}
		for _, h := range m.Headers {
			r.Headers = append(r.Headers, hdr{h.Key, h.Value})
		}
		out = append(out, r)
	}
	return out, nil
}

func (d *confluentDriver) listOffset(ctx context.Context, topic string, partition int32, spec int64) (int64, int64, error) {
	var os kafka.OffsetSpec
	switch spec {
	case -2:
		os = kafka.EarliestOffsetSpec
	case -1:
		os = kafka.LatestOffsetSpec
	case -3:
		os = kafka.MaxTimestampOffsetSpec
	default:
		os = kafka.NewOffsetSpecForTimestamp(spec)
	}
	res, err := d.adm.ListOffsets(ctx, map[kafka.TopicPartition]kafka.OffsetSpec{{Topic: &topic, Partition: partition}: os})
	if err != nil {
		return 0, 0, err
	}
	for tp, info := range res.ResultInfos {
		if *tp.Topic != topic || tp.Partition != partition {
			continue
		}
		if info.Error.Code() != kafka.ErrNoError {
			return 0, 0, info.Error
		}
		return int64(info.Offset), info.Timestamp, nil
	}
	return 0, 0, fmt.Errorf("no result for %s/%d", topic, partition)
}

func (d *confluentDriver) deleteRecords(ctx context.Context, topic string, partition int32, before int64) (int64, error) {
	res, err := d.adm.DeleteRecords(ctx, []kafka.TopicPartition{{Topic: &topic, Partition: partition, Offset: kafka.Offset(before)}})
	if err != nil {
		return 0, err
	}
	if len(res.DeleteRecordsResults) != 1 {
		return 0, fmt.Errorf("%d delete records results", len(res.DeleteRecordsResults))
	}
	r := res.DeleteRecordsResults[0]
	if r.TopicPartition.Error != nil {
		return 0, r.TopicPartition.Error
	}
	return int64(r.DeletedRecords.LowWatermark), nil
}

// fetchAt assigns the partition at offset with auto.offset.reset=error:
// librdkafka then surfaces the broker's OFFSET_OUT_OF_RANGE as an
// _AUTO_OFFSET_RESET error naming it.
func (d *confluentDriver) fetchAt(ctx context.Context, topic string, partition int32, offset int64) error {
	// librdkafka cannot parse a Fetch response whose partition carries
	// null records (see TestFranzFetchRecordsNeverNull) and refetches in a
	// tight loop, never surfacing the error. Check what the broker sends
	// at librdkafka's version (v16) first.
	if p := rawFetch(d.t, ctx, d.addr, 16, topic, partition, offset, 0); p.RecordBatches == nil {
		return errBrokerBug(fmt.Sprintf("Fetch v16 answered %s with null records; librdkafka fails to parse that (\"Protocol parse failure for Fetch v16\") and refetches forever without surfacing the error", codeName(p.ErrorCode)))
	}
	c, err := d.newConsumer()
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Assign([]kafka.TopicPartition{{Topic: &topic, Partition: partition, Offset: kafka.Offset(offset)}}); err != nil {
		return err
	}
	for ctx.Err() == nil {
		m, err := c.ReadMessage(100 * time.Millisecond)
		if err != nil {
			var ke kafka.Error
			if errors.As(err, &ke) && ke.IsTimeout() {
				continue
			}
			return err
		}
		if m != nil {
			return nil
		}
	}
	return ctx.Err()
}

func configResults(rs []kafka.ConfigResourceResult, err error) error {
	if err != nil {
		return err
	}
	if len(rs) != 1 {
		return fmt.Errorf("%d config results", len(rs))
	}
	if rs[0].Error.Code() != kafka.ErrNoError {
		return rs[0].Error
	}
	return nil
}

func (d *confluentDriver) alterIncremental(ctx context.Context, topic string, ops []alterOp) error {
	res := kafka.ConfigResource{Type: kafka.ResourceTopic, Name: topic}
	for _, o := range ops {
		e := kafka.ConfigEntry{Name: o.Name, Value: o.Value, IncrementalOperation: kafka.AlterConfigOpTypeSet}
		if o.Delete {
			e.IncrementalOperation, e.Value = kafka.AlterConfigOpTypeDelete, ""
		}
		res.Config = append(res.Config, e)
	}
	return configResults(d.adm.IncrementalAlterConfigs(ctx, []kafka.ConfigResource{res}))
}

func (d *confluentDriver) alterLegacy(ctx context.Context, topic string, set map[string]string) error {
	res := kafka.ConfigResource{Type: kafka.ResourceTopic, Name: topic, Config: kafka.StringMapToConfigEntries(set, kafka.AlterOperationSet)}
	return configResults(d.adm.AlterConfigs(ctx, []kafka.ConfigResource{res}))
}

func (d *confluentDriver) describeConfigs(ctx context.Context, topic string, _ bool) (map[string]cfgEntry, error) {
	// librdkafka always asks for synonyms.
	rs, err := d.adm.DescribeConfigs(ctx, []kafka.ConfigResource{{Type: kafka.ResourceTopic, Name: topic}})
	if err := configResults(rs, err); err != nil {
		return nil, err
	}
	out := map[string]cfgEntry{}
	for name, c := range rs[0].Config {
		e := cfgEntry{Name: name, Value: sp(c.Value), Source: int8(c.Source)}
		for sname, s := range c.Synonyms {
			e.Synonyms = append(e.Synonyms, cfgSyn{Name: sname, Value: sp(s.Value), Source: int8(s.Source)})
		}
		out[name] = e
	}
	return out, nil
}

func (d *confluentDriver) createPartitions(ctx context.Context, topic string, total int32) error {
	return topicErr(d.adm.CreatePartitions(ctx, []kafka.PartitionsSpecification{{Topic: topic, IncreaseTo: int(total)}}))
}

func (d *confluentDriver) deleteTopic(ctx context.Context, topic string) error {
	return topicErr(d.adm.DeleteTopics(ctx, []string{topic}))
}

func (d *confluentDriver) errCode(err error) int16 {
	var ke kafka.Error
	if !errors.As(err, &ke) {
		return -1
	}
	code := ke.Code()
	if code == kafka.ErrAutoOffsetReset && strings.Contains(ke.Error(), "Offset out of range") {
		return int16(kafka.ErrOffsetOutOfRange)
	}
	if code < 0 {
		return -1
	}
	return int16(code)
}

// TestConfluentIdleFetch: a librdkafka consumer waiting on a partition with
// no new records gets Fetch responses it can parse (Kafka sends an empty
// record set), and then the record produced. Each response is counted from
// librdkafka's protocol log, so nothing here depends on timing.
func TestConfluentIdleFetch(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	_, adm := franzAdmin(t, b.Addr)
	createTopicFranz(t, adm, "idle", 1, nil)
	ctx := ctxFor(t)
	c, err := kafka.NewConsumer(confluentConfig(b.Addr, kafka.ConfigMap{
		"group.id":               "compat-confluent-idle",
		"enable.auto.commit":     false,
		"auto.offset.reset":      "error",
		"fetch.wait.max.ms":      10,
		"enable.partition.eof":   false,
		"debug":                  "protocol",
		"log_level":              7,
		"go.logs.channel.enable": true,
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	topic := "idle"
	if err := c.Assign([]kafka.TopicPartition{{Topic: &topic, Partition: 0, Offset: 0}}); err != nil {
		t.Fatal(err)
	}
	// Count Fetch responses (librdkafka logs each one) until a few
	// arrived on the idle partition, and any parse failure among them.
	responses, failures := 0, 0
	var failure string
	for responses < 3 {
		select {
		case ev := <-c.Logs():
			switch {
			case strings.Contains(ev.Message, "Received FetchResponse"):
				responses++
			case strings.Contains(ev.Message, "Protocol parse failure for Fetch"):
				failures++
				failure = ev.Message
			}
		case <-ctx.Done():
			t.Fatalf("only %d Fetch responses seen", responses)
		}
	}
	if failures > 0 {
		t.Errorf("librdkafka failed to parse %d of %d Fetch responses for an idle partition: %s", failures, responses, failure)
	}
	want := sampleRecords("idle", 0, 1, 0)
	if r := rawProduce(t, ctx, b.Addr, "idle", 0, -1, rawBatch(want)); r.ErrorCode != 0 {
		t.Fatalf("produce: %s", codeName(r.ErrorCode))
	}
	for {
		m, err := c.ReadMessage(100 * time.Millisecond)
		if ctx.Err() != nil {
			t.Fatal("the produced record never arrived")
		}
		var ke kafka.Error
		if err != nil && errors.As(err, &ke) && ke.IsTimeout() {
			continue
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		got := rec{Partition: m.TopicPartition.Partition, Offset: int64(m.TopicPartition.Offset), Key: m.Key, Value: m.Value, Timestamp: m.Timestamp.UnixMilli()}
		checkRecords(t, "the record after idling", []rec{got}, withOffsets(want, 0), exact)
		return
	}
}

package compaction

import (
	"errors"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

func confluentConfig(addr string, extra kafka.ConfigMap) *kafka.ConfigMap {
	c := kafka.ConfigMap{
		"bootstrap.servers":                  addr,
		"socket.timeout.ms":                  10000,
		"socket.connection.setup.timeout.ms": 10000,
		"reconnect.backoff.ms":               20,
		"reconnect.backoff.max.ms":           200,
		"retry.backoff.ms":                   20,
		"log_level":                          3,
	}
	for k, v := range extra {
		c[k] = v
	}
	return &c
}

// produceConfluent writes messages and waits for every delivery report,
// returning the first delivery error.
func produceConfluent(t testing.TB, p *kafka.Producer, topic string, msgs []*kafka.Message) error {
	t.Helper()
	done := make(chan kafka.Event, len(msgs))
	for _, m := range msgs {
		m.TopicPartition = kafka.TopicPartition{Topic: &topic, Partition: 0}
		if err := p.Produce(m, done); err != nil {
			return err
		}
	}
	var first error
	for range msgs {
		select {
		case ev := <-done:
			if m, ok := ev.(*kafka.Message); ok && m.TopicPartition.Error != nil && first == nil {
				first = m.TopicPartition.Error
			}
		case <-time.After(testTimeout):
			t.Fatal("no delivery report")
		}
	}
	return first
}

// readAllConfluent reads the partition from the beginning to its end with
// librdkafka (assign, no group).
func readAllConfluent(t testing.TB, addr, topic string) []got {
	t.Helper()
	c, err := kafka.NewConsumer(confluentConfig(addr, kafka.ConfigMap{
		"group.id": "compaction-reader", "enable.auto.commit": false, "enable.partition.eof": true,
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Assign([]kafka.TopicPartition{{Topic: &topic, Partition: 0, Offset: kafka.OffsetBeginning}}); err != nil {
		t.Fatal(err)
	}
	var out []got
	deadline := time.Now().Add(testTimeout)
	for time.Now().Before(deadline) {
		switch e := c.Poll(200).(type) {
		case *kafka.Message:
			out = append(out, got{offset: int64(e.TopicPartition.Offset), key: string(e.Key), value: e.Value})
		case kafka.PartitionEOF:
			return out
		case kafka.Error:
			t.Fatalf("consume: %v", e)
		}
	}
	t.Fatal("no end of partition")
	return nil
}

// TestCompactionConfluent: the same with librdkafka on both ends, lz4.
func TestCompactionConfluent(t *testing.T) {
	b := startBroker(t)
	topic := topicName("confluent")
	createTopic(t, b.Addr, topic, compactedConfigs("delete.retention.ms", "0"))
	p, err := kafka.NewProducer(confluentConfig(b.Addr, kafka.ConfigMap{
		"compression.type": "lz4", "enable.idempotence": true, "linger.ms": 5,
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	w := newWorkload(40, 10, 4)
	for r := 0; r < w.rounds; r++ {
		var msgs []*kafka.Message
		for i := 0; i < w.keys; i++ {
			msgs = append(msgs, &kafka.Message{Key: []byte(w.key(i)), Value: w.value(i, r), Timestamp: w.time(r)})
		}
		if err := produceConfluent(t, p, topic, msgs); err != nil {
			t.Fatalf("round %d: %v", r, err)
		}
	}
	if err := produceConfluent(t, p, topic, []*kafka.Message{{Key: []byte(sentinelKey), Value: []byte("end"), Timestamp: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	ctx := ctxFor(t)
	if err := b.Broker.CleanNow(ctx, topic); err != nil {
		t.Fatal(err)
	}
	checkCompacted(t, readAllConfluent(t, b.Addr, topic), w.expected(false))
	if err := b.Broker.CleanNow(ctx, topic); err != nil {
		t.Fatal(err)
	}
	checkCompacted(t, readAllConfluent(t, b.Addr, topic), w.expected(true))
	// The franz-go reader agrees.
	checkCompacted(t, readAllFranz(t, b.Addr, topic), w.expected(true))

	// A keyless message is refused.
	err = produceConfluent(t, p, topic, []*kafka.Message{{Value: []byte("no key")}})
	var kerr kafka.Error
	if !errors.As(err, &kerr) || kerr.Code() != kafka.ErrInvalidRecord {
		t.Fatalf("keyless message on a compacted topic: %v, want INVALID_RECORD", err)
	}
}

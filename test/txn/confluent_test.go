package txn

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kgo"
)

func confluentConfig(addr string, extra kafka.ConfigMap) *kafka.ConfigMap {
	c := kafka.ConfigMap{
		"bootstrap.servers":                  addr,
		"socket.timeout.ms":                  10000,
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

// librdkafka's consume-transform-produce: a group consumer at
// read_committed, a transactional producer, the consumer's positions sent
// to the transaction (SendOffsetsToTransaction); every third transaction
// aborts and the consumer rewinds to its committed offsets. The output
// holds every input once at read_committed, for franz-go's reader and for
// librdkafka's.
func TestConfluentConsumeTransformProduce(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	const in, out, group = "c-in", "c-out", "confluent-copy"
	createTopic(t, b.Addr, in, 2)
	createTopic(t, b.Addr, out, 2)
	ctx := ctxFor(t)
	var inputs []string
	{
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(in), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 300; i += 10 {
			var rs []*kgo.Record
			for j := i; j < i+10; j++ {
				v := fmt.Sprintf("c%03d", j)
				inputs = append(inputs, v)
				rs = append(rs, &kgo.Record{Value: []byte(v)})
			}
			if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		cl.Close()
	}

	p, err := kafka.NewProducer(confluentConfig(b.Addr, kafka.ConfigMap{"transactional.id": "confluent-copier", "linger.ms": 1}))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	go func() {
		for e := range p.Events() {
			if m, ok := e.(*kafka.Message); ok && m.TopicPartition.Error != nil {
				// An abort purges what was not delivered yet.
				if ke, ok := m.TopicPartition.Error.(kafka.Error); !ok || ke.Code() != kafka.ErrPurgeQueue {
					t.Errorf("delivery: %v", m.TopicPartition.Error)
				}
			}
		}
	}()
	if err := p.InitTransactions(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := kafka.NewConsumer(confluentConfig(b.Addr, kafka.ConfigMap{
		"group.id": group, "isolation.level": "read_committed", "enable.auto.commit": false,
		"auto.offset.reset": "earliest", "fetch.wait.max.ms": 50, "session.timeout.ms": 6000,
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Subscribe(in, nil); err != nil {
		t.Fatal(err)
	}
	outTopic := out
	copied, aborts := 0, 0
	for round := 0; copied < len(inputs); round++ {
		if ctx.Err() != nil {
			t.Fatalf("copied %d of %d: %v", copied, len(inputs), ctx.Err())
		}
		var msgs []*kafka.Message
		for idle := 0; len(msgs) < 40 && idle < 3; {
			switch e := c.Poll(50).(type) {
			case *kafka.Message:
				msgs = append(msgs, e)
			case kafka.Error:
				t.Logf("consumer: %v", e)
			case nil:
				idle++
			}
		}
		if len(msgs) == 0 {
			continue
		}
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if err := p.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &outTopic, Partition: kafka.PartitionAny}, Value: m.Value}, nil); err != nil {
				t.Fatal(err)
			}
		}
		assigned, err := c.Assignment()
		if err != nil {
			t.Fatal(err)
		}
		positions, err := c.Position(assigned)
		if err != nil {
			t.Fatal(err)
		}
		meta, err := c.GetConsumerGroupMetadata()
		if err != nil {
			t.Fatal(err)
		}
		if err := p.SendOffsetsToTransaction(ctx, positions, meta); err != nil {
			t.Fatalf("send offsets: %v", err)
		}
		if round%3 == 2 {
			aborts++
			if err := p.AbortTransaction(ctx); err != nil {
				t.Fatalf("abort: %v", err)
			}
			// Read the aborted records again from the committed offsets.
			committed, err := c.Committed(assigned, 10000)
			if err != nil {
				t.Fatal(err)
			}
			for _, tp := range committed {
				if tp.Offset < 0 {
					tp.Offset = kafka.OffsetBeginning
				}
				if err := c.Seek(tp, 0); err != nil {
					t.Fatalf("seek %v: %v", tp, err)
				}
			}
			continue
		}
		if err := p.CommitTransaction(ctx); err != nil {
			t.Fatalf("commit: %v", err)
		}
		copied += len(msgs)
	}
	if aborts == 0 {
		t.Fatal("no transaction aborted")
	}
	exactlyOnce(t, "output at read_committed (franz-go)", counts(readAll(t, b.Addr, out, true)), inputs)

	// librdkafka's read_committed consumer agrees.
	rc, err := kafka.NewConsumer(confluentConfig(b.Addr, kafka.ConfigMap{
		"group.id": "verify", "isolation.level": "read_committed", "enable.auto.commit": false, "fetch.wait.max.ms": 50,
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if err := rc.Assign([]kafka.TopicPartition{{Topic: &outTopic, Partition: 0, Offset: kafka.OffsetBeginning}, {Topic: &outTopic, Partition: 1, Offset: kafka.OffsetBeginning}}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	n := 0
	deadline := time.Now().Add(30 * time.Second)
	for n < len(inputs) && time.Now().Before(deadline) {
		if m, ok := rc.Poll(100).(*kafka.Message); ok {
			if v := string(m.Value); !strings.HasPrefix(v, "END-") {
				seen[v]++
				n++
			}
		}
	}
	// Anything more would be a duplicate or an aborted record.
	for idle := 0; idle < 5; {
		if m, ok := rc.Poll(100).(*kafka.Message); ok {
			if v := string(m.Value); !strings.HasPrefix(v, "END-") {
				seen[v]++
			}
		} else {
			idle++
		}
	}
	exactlyOnce(t, "output at read_committed (librdkafka)", seen, inputs)

	offs, err := adminFor(t, b.Addr).FetchOffsets(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	for part := int32(0); part < 2; part++ {
		if o, ok := offs.Lookup(in, part); !ok || o.At != 150 {
			t.Fatalf("group offset of %s-%d: %+v, want 150", in, part, o)
		}
	}
}

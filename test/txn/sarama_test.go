package txn

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

func saramaConfig() *sarama.Config {
	c := sarama.NewConfig()
	c.Version = sarama.V3_6_0_0
	c.ClientID = "txn-sarama"
	c.Metadata.Retry.Backoff = 20 * time.Millisecond
	c.Producer.Retry.Backoff = 20 * time.Millisecond
	c.Producer.Transaction.Retry.Backoff = 20 * time.Millisecond
	return c
}

// A sarama transactional producer copies input to output, committing the
// input offsets in each transaction (AddOffsetsToTxn, TxnOffsetCommit) and
// aborting every third transaction; the output holds each input once at
// read_committed, for franz-go's reader and for sarama's, and the group's
// offsets are the input's end.
func TestSaramaConsumeTransformProduce(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	const in, out, group = "s-in", "s-out", "sarama-copy"
	createTopic(t, b.Addr, in, 2)
	createTopic(t, b.Addr, out, 2)
	ctx := ctxFor(t)
	var inputs []string
	{
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(in), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
		if err != nil {
			t.Fatal(err)
		}
		var rs []*kgo.Record
		for i := 0; i < 200; i++ {
			v := fmt.Sprintf("s%03d", i)
			inputs = append(inputs, v)
			rs = append(rs, &kgo.Record{Value: []byte(v)})
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		cl.Close()
	}

	pc := saramaConfig()
	pc.Producer.Idempotent = true
	pc.Producer.RequiredAcks = sarama.WaitForAll
	pc.Producer.Return.Successes = true
	pc.Producer.Transaction.ID = "sarama-copier"
	pc.Producer.Partitioner = sarama.NewRoundRobinPartitioner
	pc.Net.MaxOpenRequests = 1
	producer, err := sarama.NewSyncProducer([]string{b.Addr}, pc)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	cc := saramaConfig()
	cc.Consumer.IsolationLevel = sarama.ReadCommitted
	cc.Consumer.MaxWaitTime = 50 * time.Millisecond
	consumer, err := sarama.NewConsumer([]string{b.Addr}, cc)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()

	// read takes up to n messages of a partition from offset.
	read := func(p int32, from int64, n int) []*sarama.ConsumerMessage {
		pcons, err := consumer.ConsumePartition(in, p, from)
		if err != nil {
			t.Fatal(err)
		}
		defer pcons.Close()
		var msgs []*sarama.ConsumerMessage
		for len(msgs) < n {
			select {
			case m := <-pcons.Messages():
				msgs = append(msgs, m)
			case err := <-pcons.Errors():
				t.Fatalf("consume %s-%d: %v", in, p, err)
			case <-time.After(200 * time.Millisecond):
				return msgs
			}
		}
		return msgs
	}
	next := map[int32]int64{0: 0, 1: 0}
	aborts := 0
	for round := 0; ; round++ {
		if ctx.Err() != nil {
			t.Fatal(ctx.Err())
		}
		p := int32(round % 2)
		msgs := read(p, next[p], 25)
		if len(msgs) == 0 {
			if len(read(1-p, next[1-p], 1)) == 0 {
				break
			}
			continue
		}
		if err := producer.BeginTxn(); err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: out, Value: sarama.ByteEncoder(m.Value)}); err != nil {
				t.Fatalf("send: %v", err)
			}
		}
		end := msgs[len(msgs)-1].Offset + 1
		if err := producer.AddOffsetsToTxn(map[string][]*sarama.PartitionOffsetMetadata{in: {{Partition: p, Offset: end, LeaderEpoch: -1}}}, group); err != nil {
			t.Fatalf("add offsets: %v", err)
		}
		if round%3 == 2 {
			aborts++
			if err := producer.AbortTxn(); err != nil {
				t.Fatalf("abort: %v", err)
			}
			continue
		}
		if err := producer.CommitTxn(); err != nil {
			t.Fatalf("commit: %v", err)
		}
		next[p] = end
	}
	if aborts == 0 {
		t.Fatal("no transaction aborted")
	}
	exactlyOnce(t, "output at read_committed (franz-go)", counts(readAll(t, b.Addr, out, true)), inputs)

	// sarama's read_committed consumer drops the aborted transactions too.
	seen := map[string]int{}
	for p := int32(0); p < 2; p++ {
		pcons, err := consumer.ConsumePartition(out, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
	loop:
		for {
			select {
			case m := <-pcons.Messages():
				if v := string(m.Value); !strings.HasPrefix(v, "END-") { // readAll's marks
					seen[v]++
				}
			case err := <-pcons.Errors():
				t.Fatalf("consume %s-%d: %v", out, p, err)
			case <-time.After(time.Second):
				break loop
			}
		}
		pcons.Close()
	}
	exactlyOnce(t, "output at read_committed (sarama)", seen, inputs)

	// The offsets committed in the transactions are the input's end.
	offs, err := adminFor(t, b.Addr).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 2; p++ {
		if o, ok := offs.Lookup(in, p); !ok || o.At != 100 {
			t.Fatalf("group offset of %s-%d: %+v, want 100", in, p, o)
		}
	}
}

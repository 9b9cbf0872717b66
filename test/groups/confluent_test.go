package groups

import (
	"fmt"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

type confluentConsumer struct {
	c    *kafka.Consumer
	stop chan struct{}
	done chan struct{}
}

// startConfluent runs a librdkafka consumer; offsets are stored only after
// a record is processed and committed in the background from the store.
func startConfluent(t *testing.T, addr, group, topic, name string, own *ownership, s *seen, extra kafka.ConfigMap) *confluentConsumer {
	t.Helper()
	cfg := kafka.ConfigMap{
		"bootstrap.servers":                  addr,
		"group.id":                           group,
		"client.id":                          name,
		"auto.offset.reset":                  "earliest",
		"enable.auto.commit":                 true,
		"enable.auto.offset.store":           false,
		"auto.commit.interval.ms":            200,
		"fetch.wait.max.ms":                  200,
		"topic.metadata.refresh.interval.ms": 1000,
	}
	for k, v := range extra {
		cfg[k] = v
	}
	c, err := kafka.NewConsumer(&cfg)
	if err != nil {
		t.Fatalf("confluent consumer: %v", err)
	}
	cc := &confluentConsumer{c: c, stop: make(chan struct{}), done: make(chan struct{})}
	parts := func(tps []kafka.TopicPartition) []int32 {
		var ps []int32
		for _, tp := range tps {
			if tp.Topic != nil && *tp.Topic == topic {
				ps = append(ps, tp.Partition)
			}
		}
		return ps
	}
	err = c.SubscribeTopics([]string{topic}, func(c *kafka.Consumer, ev kafka.Event) error {
		switch e := ev.(type) {
		case kafka.AssignedPartitions:
			own.assigned(name, parts(e.Partitions))
		case kafka.RevokedPartitions:
			own.revoked(name, parts(e.Partitions))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	go func() {
		defer close(cc.done)
		for {
			select {
			case <-cc.stop:
				return
			default:
			}
			switch e := c.Poll(100).(type) {
			case *kafka.Message:
				s.add(string(e.Value))
				if _, err := c.StoreMessage(e); err != nil {
					t.Logf("%s: store: %v", name, err)
				}
			case kafka.Error:
				t.Logf("%s: %v", name, e)
			}
		}
	}()
	t.Cleanup(cc.close)
	return cc
}

// close leaves the group.
func (cc *confluentConsumer) close() {
	select {
	case <-cc.stop:
		return
	default:
	}
	close(cc.stop)
	<-cc.done
	cc.c.Close()
}

func TestConfluentGroup(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, groupType string
		cfg             kafka.ConfigMap
	}{
		{"classic-range", "classic", kafka.ConfigMap{"partition.assignment.strategy": "range", "session.timeout.ms": 6000, "heartbeat.interval.ms": 500}},
		{"classic-cooperative", "classic", kafka.ConfigMap{"partition.assignment.strategy": "cooperative-sticky", "session.timeout.ms": 6000, "heartbeat.interval.ms": 500}},
		{"consumer-protocol", "consumer", kafka.ConfigMap{"group.protocol": "consumer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := startBroker(t)
			adm := adminFor(t, b.Addr)
			const topic, group, n = "orders", "g", 12
			createTopic(t, adm, topic, n)
			produce(t, b.Addr, topic, 0, 600)
			own, s := newOwnership(), &seen{}
			startConfluent(t, b.Addr, group, topic, "a", own, s, tc.cfg)
			startConfluent(t, b.Addr, group, topic, "b", own, s, tc.cfg)
			c := startConfluent(t, b.Addr, group, topic, "c", own, s, tc.cfg)
			eventually(t, waitLong, "three members to share the partitions", func() (bool, string) { return own.exact(n, "a", "b", "c") })
			checkGroupType(t, adm, group, tc.groupType)
			eventually(t, waitLong, "all records consumed", func() (bool, string) {
				m := s.missing(0, 600)
				return len(m) == 0, fmt.Sprint("missing ", len(m))
			})
			// c leaves; a and b take its partitions over from its
			// committed offsets.
			c.close()
			own.drop("c")
			eventually(t, waitLong, "c's partitions to move to a and b", func() (bool, string) { return own.exact(n, "a", "b") })
			produce(t, b.Addr, topic, 600, 600)
			eventually(t, waitLong, "records produced after c left consumed", func() (bool, string) {
				m := s.missing(0, 1200)
				return len(m) == 0, fmt.Sprint("missing ", len(m))
			})
		})
	}
}

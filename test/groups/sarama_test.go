package groups

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// saramaDialer adapts killer to sarama's proxy dialer.
type saramaDialer struct{ k *killer }

func (d saramaDialer) Dial(network, addr string) (net.Conn, error) {
	return d.k.dial(context.Background(), network, addr)
}

type saramaHandler struct {
	name, topic string
	own         *ownership
	s           *seen
}

func (h *saramaHandler) Setup(sess sarama.ConsumerGroupSession) error {
	h.own.assigned(h.name, sess.Claims()[h.topic])
	return nil
}

func (h *saramaHandler) Cleanup(sess sarama.ConsumerGroupSession) error {
	h.own.revoked(h.name, sess.Claims()[h.topic])
	return nil
}

func (h *saramaHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for msg := range claim.Messages() {
		h.s.add(string(msg.Value))
		sess.MarkMessage(msg, "")
	}
	return nil
}

type saramaConsumer struct {
	g      sarama.ConsumerGroup
	k      *killer
	cancel context.CancelFunc
	done   chan struct{}
}

func startSarama(t *testing.T, addr, group, topic, name string, own *ownership, s *seen, strategy sarama.BalanceStrategy) *saramaConsumer {
	t.Helper()
	sc := &saramaConsumer{k: &killer{}, done: make(chan struct{})}
	c := sarama.NewConfig()
	c.Version = sarama.V4_0_0_0
	c.ClientID = name
	c.Net.Proxy.Enable = true
	c.Net.Proxy.Dialer = saramaDialer{sc.k}
	c.Metadata.Retry.Backoff = 50 * time.Millisecond
	c.Consumer.Return.Errors = false
	c.Consumer.MaxWaitTime = 200 * time.Millisecond
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Offsets.AutoCommit.Interval = 200 * time.Millisecond
	c.Consumer.Group.Session.Timeout = sessionTimeout
	c.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	c.Consumer.Group.Rebalance.Timeout = 20 * time.Second
	c.Consumer.Group.Rebalance.Retry.Backoff = 100 * time.Millisecond
	c.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{strategy}
	g, err := sarama.NewConsumerGroup([]string{addr}, group, c)
	if err != nil {
		t.Fatalf("sarama consumer group: %v", err)
	}
	sc.g = g
	ctx, cancel := context.WithCancel(context.Background())
	sc.cancel = cancel
	h := &saramaHandler{name: name, topic: topic, own: own, s: s}
	go func() {
		defer close(sc.done)
		for ctx.Err() == nil {
			if err := g.Consume(ctx, []string{topic}, h); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
		}
	}()
	t.Cleanup(func() {
		sc.cancel()
		<-sc.done
		sc.g.Close()
	})
	return sc
}

func (sc *saramaConsumer) kill() {
	sc.k.kill()
	sc.cancel()
	<-sc.done
}

func TestSaramaGroup(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		strategy sarama.BalanceStrategy
	}{
		{"range", sarama.NewBalanceStrategyRange()},
		{"roundrobin", sarama.NewBalanceStrategyRoundRobin()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := startBroker(t)
			adm := adminFor(t, b.Addr)
			const topic, group, n = "orders", "g", 12
			createTopic(t, adm, topic, n)
			produce(t, b.Addr, topic, 0, 600)
			own, s := newOwnership(), &seen{}
			startSarama(t, b.Addr, group, topic, "a", own, s, tc.strategy)
			startSarama(t, b.Addr, group, topic, "b", own, s, tc.strategy)
			c := startSarama(t, b.Addr, group, topic, "c", own, s, tc.strategy)
			eventually(t, waitLong, "three members to share the partitions", func() (bool, string) { return own.exact(n, "a", "b", "c") })
			checkGroupType(t, adm, group, "classic")
			eventually(t, waitLong, "all records consumed", func() (bool, string) {
				m := s.missing(0, 600)
				return len(m) == 0, fmt.Sprint("missing ", len(m))
			})
			c.kill()
			own.drop("c")
			eventually(t, waitLong, "c's partitions to move to a and b", func() (bool, string) { return own.exact(n, "a", "b") })
			produce(t, b.Addr, topic, 600, 600)
			eventually(t, waitLong, "records produced after the failure consumed", func() (bool, string) {
				m := s.missing(0, 1200)
				return len(m) == 0, fmt.Sprint("missing ", len(m))
			})
		})
	}
}

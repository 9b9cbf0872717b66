package metrics_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestConsumerGroupLagFromCoordinator commits offsets the way applications
// do, a consumer group member committing what it processed and an admin
// tool committing for a group with no members, and checks the lag the
// node's /metrics reports: produced minus committed, exactly, per group
// and partition; and the same after a restart, once the coordinator has
// loaded __consumer_offsets again.
func TestConsumerGroupLagFromCoordinator(t *testing.T) {
	dir := t.TempDir()
	extra := map[string]string{"group.initial.rebalance.delay.ms": "0"}
	n := startNodeIn(t, dir, extra)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "lagged"); err != nil {
		t.Fatal(err)
	}
	produced := map[int32]int{0: 10, 1: 6}
	for p, count := range produced {
		for i := range count {
			r := &kgo.Record{Topic: "lagged", Partition: p, Value: fmt.Appendf(nil, "%d-%d", p, i)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}

	// A member of group "app" reads everything, then commits 4 on
	// partition 0 and all 6 on partition 1.
	member, err := kgo.NewClient(kgo.SeedBrokers(n.Addr), kgo.ConsumerGroup("app"), kgo.ConsumeTopics("lagged"),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer member.Close()
	for got := 0; got < 16; {
		fs := member.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of 16: %v", got, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s-%d: %v", topic, p, err) })
		got += fs.NumRecords()
	}
	var commitErr error
	member.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{
		"lagged": {0: {Epoch: -1, Offset: 4}, 1: {Epoch: -1, Offset: 6}},
	}, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		commitErr = err
		if err == nil {
			for _, rt := range resp.Topics {
				for _, rp := range rt.Partitions {
					if rp.ErrorCode != 0 && commitErr == nil {
						commitErr = fmt.Errorf("partition %d: error code %d", rp.Partition, rp.ErrorCode)
					}
				}
			}
		}
	})
	if commitErr != nil {
		t.Fatalf("group commit: %v", commitErr)
	}

	// An admin tool commits 7 on partition 0 for group "tool".
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "lagged", Partition: 0, At: 7, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, "tool", offs); err != nil {
		t.Fatal(err)
	}

	want := map[string]float64{
		`plexus_consumer_group_lag{group="app",partition="0",topic="lagged"}`:               10 - 4,
		`plexus_consumer_group_lag{group="app",partition="1",topic="lagged"}`:               6 - 6,
		`plexus_consumer_group_lag{group="tool",partition="0",topic="lagged"}`:              10 - 7,
		`plexus_consumer_group_committed_offset{group="app",partition="0",topic="lagged"}`:  4,
		`plexus_consumer_group_committed_offset{group="app",partition="1",topic="lagged"}`:  6,
		`plexus_consumer_group_committed_offset{group="tool",partition="0",topic="lagged"}`: 7,
	}
	check := func(got map[string]float64) error {
		for series, v := range want {
			if g, ok := got[series]; !ok || g != v {
				return fmt.Errorf("%s = %v (present %v), want %v", series, g, ok, v)
			}
		}
		if _, ok := got[`plexus_consumer_group_lag{group="tool",partition="1",topic="lagged"}`]; ok {
			return fmt.Errorf("lag reported for a partition the group never committed")
		}
		return nil
	}
	if err := check(scrape(t, n.AdminAddr)); err != nil {
		t.Fatal(err)
	}
	member.Close()

	// After a restart the coordinator loads the offsets in the
	// background; the lag reappears, unchanged, once it has.
	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	n = startNodeIn(t, dir, extra)
	for {
		err := check(scrape(t, n.AdminAddr))
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("after restart: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

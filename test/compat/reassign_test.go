package compat

import (
	"errors"
	"testing"

	"github.com/IBM/sarama"
	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// On a single node each partition's one replica leads it and is its
// preferred leader: elections are never needed, no reassignment is ever in
// progress, and the current assignment is the only valid one. The
// controller APIs must say so with Kafka's codes, through each client's
// admin API.
func TestLeaderElectionAndReassignment(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := ctxFor(t)
	adm := kadm.NewClient(franzClient(t, b.Addr))
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "moves"); err != nil {
		t.Fatal(err)
	}

	t.Run("franz-go", func(t *testing.T) {
		elected, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"moves": {0: {}, 1: {}}, "absent": {0: {}}})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []int32{0, 1} {
			if r := elected["moves"][p]; !errors.Is(r.Err, kerr.ElectionNotNeeded) {
				t.Errorf("elect moves-%d: %v, want ELECTION_NOT_NEEDED", p, r.Err)
			}
		}
		if r := elected["absent"][0]; !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
			t.Errorf("elect absent-0: %v, want UNKNOWN_TOPIC_OR_PARTITION", r.Err)
		}
		// Every partition: Kafka lists only those it elected, here none.
		all, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, nil)
		if err != nil {
			t.Fatal(err)
		}
		for topic, parts := range all {
			if len(parts) != 0 {
				t.Errorf("elect all: %s lists %+v, want no partition", topic, parts)
			}
		}

		var req kadm.AlterPartitionAssignmentsReq
		req.Assign("moves", 0, []int32{nodeID})     // the current assignment
		req.Assign("moves", 1, []int32{nodeID + 1}) // a broker that does not exist
		req.CancelAssign("absent", 0)               // no such partition
		altered, err := adm.AlterPartitionAssignments(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]map[int32]*kerr.Error{"moves": {0: nil, 1: kerr.InvalidReplicaAssignment}, "absent": {0: kerr.UnknownTopicOrPartition}}
		for topic, parts := range want {
			for p, code := range parts {
				got := altered[topic][p].Err
				if (code == nil && got != nil) || (code != nil && !errors.Is(got, code)) {
					t.Errorf("reassign %s-%d: %v, want %v", topic, p, got, code)
				}
			}
		}
		var cancel kadm.AlterPartitionAssignmentsReq
		cancel.CancelAssign("moves", 0)
		if res, err := adm.AlterPartitionAssignments(ctx, cancel); err != nil || !errors.Is(res["moves"][0].Err, kerr.NoReassignmentInProgress) {
			t.Errorf("cancel moves-0: %+v, %v; want NO_REASSIGNMENT_IN_PROGRESS", res, err)
		}
		listed, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{"moves": {0: {}, 1: {}}})
		if err != nil || len(listed) != 0 {
			t.Errorf("list reassignments: %+v, %v; want none", listed, err)
		}
	})

	t.Run("sarama", func(t *testing.T) {
		d := &saramaDriver{t: t, addrs: []string{b.Addr}}
		sa, err := sarama.NewClusterAdmin(d.addrs, d.config())
		if err != nil {
			t.Fatal(err)
		}
		defer sa.Close()
		res, err := sa.ElectLeaders(sarama.PreferredElection, map[string][]int32{"moves": {0, 1}})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []int32{0, 1} {
			if r := res["moves"][p]; r == nil || !errors.Is(r.ErrorCode, sarama.ErrElectionNotNeeded) {
				t.Errorf("elect moves-%d: %+v, want ELECTION_NOT_NEEDED", p, r)
			}
		}
		if err := sa.AlterPartitionReassignments("moves", [][]int32{{nodeID}, {nodeID}}); err != nil {
			t.Errorf("reassign to the current replicas: %v", err)
		}
		if err := sa.AlterPartitionReassignments("moves", [][]int32{{nodeID, nodeID + 1}}); !errors.Is(err, sarama.ErrInvalidReplicaAssignment) {
			t.Errorf("reassign to two brokers: %v, want %v", err, sarama.ErrInvalidReplicaAssignment)
		}
		status, err := sa.ListPartitionReassignments("moves", []int32{0, 1})
		if err != nil || len(status) != 0 {
			t.Errorf("list reassignments: %+v, %v; want none", status, err)
		}
	})

	t.Run("confluent-kafka-go", func(t *testing.T) {
		ca, err := kafka.NewAdminClient(confluentConfig(b.Addr, nil))
		if err != nil {
			t.Fatal(err)
		}
		defer ca.Close()
		topic := "moves"
		res, err := ca.ElectLeaders(ctx, kafka.NewElectLeadersRequest(kafka.ElectionTypePreferred, []kafka.TopicPartition{{Topic: &topic, Partition: 0}}))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.TopicPartitions) != 1 || res.TopicPartitions[0].Error == nil || res.TopicPartitions[0].Error.(kafka.Error).Code() != kafka.ErrElectionNotNeeded {
			t.Errorf("elect moves-0: %+v, want ELECTION_NOT_NEEDED", res.TopicPartitions)
		}
	})
}

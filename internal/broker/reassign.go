package broker

// ElectLeaders (v0-v2), AlterPartitionAssignments (v0-v1) and
// ListPartitionReassignments (v0) on a single node, answered as Kafka's
// controller answers them: every partition has one replica, this broker,
// which leads it and is its preferred leader. So no election is ever
// needed, no reassignment is ever in progress, and the only valid
// assignment is the current one, which completes at once.

import (
	"fmt"
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/plexus/plexus/internal/cluster"
	"github.com/plexus/plexus/internal/server"
)

func handleElectLeaders(b *Broker, r *server.Request) kmsg.Response {
	req := r.Body.(*kmsg.ElectLeadersRequest)
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	if req.ElectionType != 0 && req.ElectionType != 1 { // preferred, unclean
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp
	}
	img := b.store.Image()
	if req.Topics == nil {
		// Every partition; those that need no election are left out, as
		// Kafka leaves them out, and here that is all of them.
		names := make([]string, 0, len(img.Topics))
		for name := range img.Topics {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = name
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	for _, t := range req.Topics {
		rt := kmsg.NewElectLeadersResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewElectLeadersResponseTopicPartition()
			rp.Partition = p
			if msg := unknownPartition(img, t.Topic, p); msg != nil {
				rp.ErrorCode, rp.ErrorMessage = kerr.UnknownTopicOrPartition.Code, msg
			} else {
				rp.ErrorCode = kerr.ElectionNotNeeded.Code
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func handleAlterPartitionAssignments(b *Broker, r *server.Request) kmsg.Response {
	req := r.Body.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	img := b.store.Image()
	for _, t := range req.Topics {
		rt := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode, rp.ErrorMessage = b.checkAssignment(img, t.Topic, p.Partition, p.Replicas)
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// checkAssignment answers one partition's reassignment: unknown partition,
// a cancel with nothing to cancel, a replica set this cluster cannot have,
// or (the current one) done.
func (b *Broker) checkAssignment(img *cluster.Image, topic string, part int32, replicas []int32) (int16, *string) {
	if msg := unknownPartition(img, topic, part); msg != nil {
		return kerr.UnknownTopicOrPartition.Code, msg
	}
	msg := func(format string, args ...any) *string {
		s := fmt.Sprintf(format, args...)
		return &s
	}
	switch {
	case replicas == nil:
		return kerr.NoReassignmentInProgress.Code, msg("no partition reassignment is in progress for %s-%d", topic, part)
	case len(replicas) == 0:
		return kerr.InvalidReplicaAssignment.Code, msg("the replica list is empty")
	}
	for i, id := range replicas {
		if id != b.opts.NodeID {
			return kerr.InvalidReplicaAssignment.Code, msg("broker %d is not registered (the cluster is broker %d alone)", id, b.opts.NodeID)
		}
		if slices.Contains(replicas[:i], id) {
			return kerr.InvalidReplicaAssignment.Code, msg("broker %d is listed twice", id)
		}
	}
	return 0, nil // [node], the current assignment: nothing to move
}

func handleListPartitionReassignments(b *Broker, r *server.Request) kmsg.Response {
	// No reassignment is ever in progress.
	return r.Body.(*kmsg.ListPartitionReassignmentsRequest).ResponseKind()
}

// partitionExists returns nil, or Kafka's message for an unknown topic or
// partition.
func unknownPartition(img *cluster.Image, topic string, part int32) *string {
	t := img.Topics[topic]
	if t == nil || part < 0 || part >= t.Partitions {
		s := fmt.Sprintf("no such partition as %s-%d", topic, part)
		return &s
	}
	return nil
}

package compat

import (
	"fmt"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreateTopics takes a manual replica assignment in any partition order,
// as Kafka does: sarama sends it from a Go map, so its order is random.
// Each partition from 0 to n-1 must still be assigned exactly once.
func TestCreateTopicsReplicaAssignment(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := ctxFor(t)

	d := &saramaDriver{t: t, addrs: []string{b.Addr}}
	sa, err := sarama.NewClusterAdmin(d.addrs, d.config())
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Close()
	const parts = 6
	assign := map[int32][]int32{}
	for p := int32(0); p < parts; p++ {
		assign[p] = []int32{nodeID}
	}
	for i := 0; i < 5; i++ { // each in the map's own, random, order
		name := fmt.Sprintf("assigned-%d", i)
		if err := sa.CreateTopic(name, &sarama.TopicDetail{NumPartitions: -1, ReplicationFactor: -1, ReplicaAssignment: assign}, false); err != nil {
			t.Fatalf("sarama create %s with a replica assignment: %v", name, err)
		}
		md, err := sa.DescribeTopics([]string{name})
		if err != nil || len(md) != 1 || len(md[0].Partitions) != parts {
			t.Fatalf("describe %s: %v %+v, want %d partitions", name, err, md, parts)
		}
	}

	cl, _ := franzAdmin(t, b.Addr)
	for _, c := range []struct {
		name  string
		order []int32
		want  *kerr.Error
	}{
		{"reversed", []int32{2, 1, 0}, noError},
		{"twice", []int32{0, 1, 1}, kerr.InvalidReplicaAssignment},
		{"gap", []int32{0, 1, 3}, kerr.InvalidReplicaAssignment},
		{"negative", []int32{0, -1}, kerr.InvalidReplicaAssignment},
	} {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 30000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "raw-"+c.name, -1, -1
		for _, p := range c.order {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = p, []int32{nodeID}
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
		}
		req.Topics = append(req.Topics, rt)
		resp := request[*kmsg.CreateTopicsResponse](t, ctx, cl, req)
		if len(resp.Topics) != 1 {
			t.Fatalf("%s: %d topics in the response", c.name, len(resp.Topics))
		}
		wantErr(t, c.name, resp.Topics[0].ErrorCode, c.want)
		if c.want == noError && resp.Topics[0].NumPartitions != int32(len(c.order)) {
			t.Errorf("%s: %d partitions, want %d", c.name, resp.Topics[0].NumPartitions, len(c.order))
		}
	}
}

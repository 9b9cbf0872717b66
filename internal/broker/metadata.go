package broker

import (
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/plexus/plexus/internal/cluster"
	"github.com/plexus/plexus/internal/server"
)

// authorizedOpsUnset is Kafka's "not requested" value for authorized
// operations fields.
const authorizedOpsUnset = -2147483648

func (b *Broker) brokerMeta() kmsg.MetadataResponseBroker {
	return kmsg.MetadataResponseBroker{NodeID: b.opts.NodeID, Host: b.opts.Host, Port: b.opts.Port}
}

func handleMetadata(b *Broker, r *server.Request) kmsg.Response {
	req := r.Body.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	resp.Brokers = []kmsg.MetadataResponseBroker{b.brokerMeta()}
	resp.ClusterID = &b.meta.ClusterID
	resp.ControllerID = b.opts.NodeID
	resp.AuthorizedOperations = authorizedOpsUnset
	if req.IncludeClusterAuthorizedOperations && req.Version >= 8 && req.Version <= 10 {
		resp.AuthorizedOperations = allClusterOperations
	}
	img := b.store.Image()

	// v0 asks for every topic with an empty list; v1+ with a null one.
	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if all {
		for _, name := range img.TopicNames() {
			resp.Topics = append(resp.Topics, b.topicMetadata(img.Topics[name], req))
		}
		return resp
	}
	autoCreate := b.cfg.Bool("auto.create.topics.enable") && (req.Version < 4 || req.AllowAutoTopicCreation)
	var missing []string
	for _, rt := range req.Topics {
		if rt.Topic == nil {
			// v10+ may name topics by id alone.
			t := img.ByID[cluster.TopicID(rt.TopicID)]
			if t == nil {
				mt := kmsg.NewMetadataResponseTopic()
				mt.TopicID = rt.TopicID
				mt.ErrorCode = kerr.UnknownTopicID.Code
				mt.AuthorizedOperations = authorizedOpsUnset
				resp.Topics = append(resp.Topics, mt)
				continue
			}
			resp.Topics = append(resp.Topics, b.topicMetadata(t, req))
			continue
		}
		if img.Topics[*rt.Topic] == nil && autoCreate && cluster.ValidateTopicName(*rt.Topic) == nil && !isInternalName(*rt.Topic) {
			missing = append(missing, *rt.Topic)
		}
	}
	if len(missing) > 0 {
		b.autoCreate(missing)
		img = b.store.Image()
	}
	for _, rt := range req.Topics {
		if rt.Topic == nil {
			continue
		}
		name := *rt.Topic
		if t := img.Topics[name]; t != nil {
			resp.Topics = append(resp.Topics, b.topicMetadata(t, req))
			continue
		}
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic = rt.Topic
		mt.AuthorizedOperations = authorizedOpsUnset
		mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
		if cluster.ValidateTopicName(name) != nil {
			mt.ErrorCode = kerr.InvalidTopicException.Code
		}
		resp.Topics = append(resp.Topics, mt)
	}
	return resp
}

// autoCreate creates topics named by a Metadata request, with the broker's
// num.partitions. Failures (a racing create, a collision) leave the topic
// reported as unknown.
func (b *Broker) autoCreate(names []string) {
	sort.Strings(names)
	specs := make([]topicSpec, 0, len(names))
	for i, n := range names {
		if i > 0 && names[i-1] == n {
			continue
		}
		specs = append(specs, topicSpec{name: n, partitions: -1, replication: -1})
	}
	for i, err := range b.createTopics(specs, false) {
		if err != nil && !errorIs(err, cluster.ErrTopicExists) {
			b.logger.Info("auto-creating topic failed", "topic", specs[i].name, "err", err)
		}
	}
}

func (b *Broker) topicMetadata(t *cluster.Topic, req *kmsg.MetadataRequest) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic = &name
	mt.TopicID = t.ID
	mt.IsInternal = t.Internal
	mt.AuthorizedOperations = authorizedOpsUnset
	if req.IncludeTopicAuthorizedOperations {
		mt.AuthorizedOperations = allTopicOperations
	}
	mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, t.Partitions)
	for i := range mt.Partitions {
		p := &mt.Partitions[i]
		*p = kmsg.NewMetadataResponseTopicPartition()
		p.Partition = int32(i)
		p.Leader = b.opts.NodeID
		p.LeaderEpoch = t.LeaderEpochs[i]
		p.Replicas = []int32{b.opts.NodeID}
		p.ISR = []int32{b.opts.NodeID}
	}
	return mt
}

// allTopicOperations is the bit set of every topic ACL operation (READ,
// WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS):
// with no authorizer, a client may do everything.
const allTopicOperations = 1<<3 | 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 | 1<<10 | 1<<11

// allClusterOperations: CREATE, ALTER, DESCRIBE, CLUSTER_ACTION,
// DESCRIBE_CONFIGS, ALTER_CONFIGS and IDEMPOTENT_WRITE, the operations
// Kafka's ACLs define for the cluster resource (8096). CREATE_TOKENS and
// DESCRIBE_TOKENS belong to users, not the cluster.
const allClusterOperations = 1<<5 | 1<<7 | 1<<8 | 1<<9 | 1<<10 | 1<<11 | 1<<12

func isInternalName(name string) bool { return strings.HasPrefix(name, "__") && internalTopics[name] }

var internalTopics = map[string]bool{"__consumer_offsets": true, "__transaction_state": true, "__cluster_metadata": true}

func handleDescribeCluster(b *Broker, r *server.Request) kmsg.Response {
	req := r.Body.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	if req.Version >= 1 && req.EndpointType != 1 {
		// Only broker endpoints are served; there is no separate
		// controller listener to describe. As in Kafka (KIP-919), asking
		// a broker for controllers is the wrong endpoint, and any other
		// type is unknown.
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		msg := "only the broker endpoint type (1) is supported"
		if req.EndpointType == 2 {
			resp.ErrorCode = kerr.MismatchedEndpointType.Code
			msg = "this is a broker endpoint; controllers (endpoint type 2) are not served here"
		}
		resp.ErrorMessage = &msg
		return resp
	}
	resp.EndpointType = 1
	resp.ClusterID = b.meta.ClusterID
	resp.ControllerID = b.opts.NodeID
	resp.ClusterAuthorizedOperations = authorizedOpsUnset
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = allClusterOperations
	}
	rb := kmsg.NewDescribeClusterResponseBroker()
	rb.NodeID, rb.Host, rb.Port = b.opts.NodeID, b.opts.Host, b.opts.Port
	resp.Brokers = []kmsg.DescribeClusterResponseBroker{rb}
	return resp
}

func handleDescribeTopicPartitions(b *Broker, r *server.Request) kmsg.Response {
	req := r.Body.(*kmsg.DescribeTopicPartitionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTopicPartitionsResponse)
	img := b.store.Image()
	var names []string
	if len(req.Topics) == 0 {
		names = img.TopicNames()
	} else {
		for _, t := range req.Topics {
			names = append(names, t.Topic)
		}
		sort.Strings(names)
	}
	limit := req.ResponsePartitionLimit
	if limit <= 0 {
		limit = 2000
	}
	// The cursor names the topic and partition to start from; topics
	// sort before it are skipped, as in Kafka.
	startTopic, startPart := "", int32(0)
	if req.Cursor != nil {
		startTopic, startPart = req.Cursor.Topic, req.Cursor.Partition
	}
	count := int32(0)
	for _, name := range names {
		if name < startTopic {
			continue
		}
		rt := kmsg.NewDescribeTopicPartitionsResponseTopic()
		n := name
		rt.Topic = &n
		rt.AuthorizedOperations = allTopicOperations
		t := img.Topics[name]
		if t == nil {
			rt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			resp.Topics = append(resp.Topics, rt)
			continue
		}
		rt.TopicID = t.ID
		rt.IsInternal = t.Internal
		first := int32(0)
		if name == startTopic {
			first = startPart
		}
		for i := first; i < t.Partitions; i++ {
			if count == limit {
				c := kmsg.NewDescribeTopicPartitionsResponseNextCursor()
				c.Topic, c.Partition = name, i
				resp.NextCursor = &c
				if len(rt.Partitions) > 0 {
					resp.Topics = append(resp.Topics, rt)
				}
				return resp
			}
			p := kmsg.NewDescribeTopicPartitionsResponseTopicPartition()
			p.Partition = i
			p.LeaderID = b.opts.NodeID
			p.LeaderEpoch = t.LeaderEpochs[i]
			p.Replicas = []int32{b.opts.NodeID}
			p.ISR = []int32{b.opts.NodeID}
			rt.Partitions = append(rt.Partitions, p)
			count++
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

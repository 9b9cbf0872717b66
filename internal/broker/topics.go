package broker

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/plexus/plexus/internal/cluster"
	"github.com/plexus/plexus/internal/config"
	"github.com/plexus/plexus/internal/server"
)

// apiError is a Kafka error code with a message for the client.
type apiError struct {
	code *kerr.Error
	msg  string
}

func (e *apiError) Error() string { return e.msg }
func (e *apiError) Unwrap() error { return e.code }

func errf(code *kerr.Error, format string, args ...any) error {
	return &apiError{code: code, msg: fmt.Sprintf(format, args...)}
}

func errorIs(err, target error) bool { return errors.Is(err, target) }

// topicSpec is a topic to create.
type topicSpec struct {
	name        string
	partitions  int32 // -1: num.partitions
	replication int16 // -1: default.replication.factor
	assignment  [][]int32
	configs     map[string]string
	internal    bool
}

// validateSpec checks a spec on its own, filling defaults.
func (b *Broker) validateSpec(s *topicSpec) error {
	if err := cluster.ValidateTopicName(s.name); err != nil {
		return errf(kerr.InvalidTopicException, "%v", err)
	}
	if !s.internal && isInternalName(s.name) {
		return errf(kerr.InvalidTopicException, "%q is an internal topic name", s.name)
	}
	if len(s.assignment) > 0 {
		if s.partitions != -1 || s.replication != -1 {
			return errf(kerr.InvalidRequest, "both a replica assignment and partitions/replication factor were given")
		}
		for i, replicas := range s.assignment {
			if len(replicas) != 1 || replicas[0] != b.opts.NodeID {
				return errf(kerr.InvalidReplicaAssignment, "partition %d: replicas %v; this cluster has one broker, node %d", i, replicas, b.opts.NodeID)
			}
		}
		s.partitions = int32(len(s.assignment))
		s.replication = 1
	}
	if s.partitions == -1 {
		s.partitions = int32(b.cfg.Int("num.partitions"))
	}
	if s.replication == -1 {
		s.replication = int16(b.cfg.Int("default.replication.factor"))
	}
	if s.partitions <= 0 {
		return errf(kerr.InvalidPartitions, "number of partitions must be larger than 0, not %d", s.partitions)
	}
	if s.partitions > maxPartitionsPerTopic {
		return errf(kerr.InvalidPartitions, "number of partitions %d is above the limit of %d", s.partitions, maxPartitionsPerTopic)
	}
	if s.replication <= 0 {
		return errf(kerr.InvalidReplicationFactor, "replication factor must be larger than 0, not %d", s.replication)
	}
	if s.replication > 1 {
		return errf(kerr.InvalidReplicationFactor, "replication factor %d is larger than the number of available brokers: 1", s.replication)
	}
	if err := config.ValidateTopic(s.configs); err != nil {
		return errf(kerr.InvalidConfig, "%v", err)
	}
	return nil
}

// maxPartitionsPerTopic bounds what one request may make the broker open.
const maxPartitionsPerTopic = 100000

// createTopics creates the valid specs in one metadata change and opens
// their partitions; the result holds each spec's error.
func (b *Broker) createTopics(specs []topicSpec, validateOnly bool) []error {
	errs := make([]error, len(specs))
	for i := range specs {
		errs[i] = b.validateSpec(&specs[i])
	}
	_, err := b.update(func(img *cluster.Image) ([]*cluster.Record, error) {
		var recs []*cluster.Record
		for i, s := range specs {
			if errs[i] != nil {
				continue
			}
			if img.Topics[s.name] != nil {
				errs[i] = errf(kerr.TopicAlreadyExists, "topic %q already exists", s.name)
				continue
			}
			if other := img.CollidingTopic(s.name); other != "" {
				errs[i] = errf(kerr.InvalidTopicException, "topic %q collides with existing topic %q: names may not differ only by '.' and '_'", s.name, other)
				continue
			}
			if validateOnly {
				continue
			}
			recs = append(recs, &cluster.Record{Type: cluster.CreateTopic, Name: s.name, ID: cluster.NewTopicID(), Partitions: s.partitions, Configs: s.configs, Internal: s.internal})
		}
		return recs, nil
	})
	if err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	return errs
}

// CreateTopic creates one topic (for the coordinators' internal topics and
// tests) with one replica: as many as a single node has, whatever
// default.replication.factor or offsets.topic.replication.factor ask for
// (Kafka would wait for that many brokers). An existing topic is not an
// error.
func (b *Broker) CreateTopic(name string, partitions int32, configs map[string]string, internal bool) (*cluster.Topic, error) {
	err := b.createTopics([]topicSpec{{name: name, partitions: partitions, replication: 1, configs: configs, internal: internal}}, false)[0]
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return nil, err
	}
	return b.store.Image().Topics[name], nil
}

// assignmentOf orders a CreateTopics replica assignment by partition. Any
// order is accepted, as in Kafka (sarama sends it from a Go map), but each
// partition from 0 to n-1 must appear exactly once.
func assignmentOf(as []kmsg.CreateTopicsRequestTopicReplicaAssignment) ([][]int32, error) {
	if len(as) == 0 {
		return nil, nil
	}
	out := make([][]int32, len(as))
	for _, a := range as {
		switch {
		case a.Partition < 0 || int(a.Partition) >= len(as):
			return nil, errf(kerr.InvalidReplicaAssignment, "partitions must be numbered 0 to %d; the assignment names partition %d", len(as)-1, a.Partition)
		case out[a.Partition] != nil:
			return nil, errf(kerr.InvalidReplicaAssignment, "partition %d is assigned twice", a.Partition)
		}
		out[a.Partition] = append([]int32{}, a.Replicas...)
	}
	return out, nil
}

func handleCreateTopics(b *Broker, r *server.Request) kmsg.Response {
	req := r.Body.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	seen := make(map[string]int, len(req.Topics))
	for _, t := range req.Topics {
		seen[t.Topic]++
	}
	specs := make([]topicSpec, 0, len(req.Topics))
	idx := make([]int, len(req.Topics))
	pre := make([]error, len(req.Topics))
	img := b.store.Image()
	for i, t := range req.Topics {
		idx[i] = -1
		if seen[t.Topic] > 1 {
			pre[i] = errf(kerr.InvalidRequest, "topic %q appears more than once in the request", t.Topic)
			continue
		}
		if img.Topics[t.Topic] != nil {
			// As in Kafka, a topic that exists is reported as such
			// before its partitions, replication factor or configs are
			// judged, so that "create if not exists" callers see
			// TOPIC_ALREADY_EXISTS. (createTopics checks again, in the
			// metadata change, for a topic created meanwhile.)
			pre[i] = errf(kerr.TopicAlreadyExists, "topic %q already exists", t.Topic)
			continue
		}
		s := topicSpec{name: t.Topic, partitions: t.NumPartitions, replication: t.ReplicationFactor, configs: map[string]string{}}
		s.assignment, pre[i] = assignmentOf(t.ReplicaAssignment)
		for _, c := range t.Configs {
			if c.Value == nil {
				pre[i] = errf(kerr.InvalidConfig, "null value not supported for topic config %q", c.Name)
				break
			}
			s.configs[c.Name] = *c.Value
		}
		if pre[i] != nil {
			continue
		}
		idx[i] = len(specs)
		specs = append(specs, s)
	}
	errs := b.createTopics(specs, req.ValidateOnly)
	img = b.store.Image()
	for i, t := range req.Topics {
		rt := kmsg.NewCreateTopicsResponseTopic()
		rt.Topic = t.Topic
		err := pre[i]
		if idx[i] >= 0 {
			err = errs[idx[i]]
		}
		if err != nil {
			rt.ErrorCode = errorCode(err)
			rt.ErrorMessage = errorMessage(err)
			rt.NumPartitions, rt.ReplicationFactor = -1, -1
			resp.Topics = append(resp.Topics, rt)
			continue
		}
		s := specs[idx[i]]
		rt.NumPartitions, rt.ReplicationFactor = s.partitions, s.replication
		if ct := img.Topics[t.Topic]; ct != nil && !req.ValidateOnly {
			rt.TopicID = ct.ID
		}
		if req.Version >= 5 {
			for _, e := range b.cfg.DescribeTopic(s.configs) {
				rc := kmsg.NewCreateTopicsResponseTopicConfig()
				rc.Name, rc.Value, rc.ReadOnly, rc.Source, rc.IsSensitive = e.Name, e.Value, e.ReadOnly, int8(e.Source), e.Sensitive
				rt.Configs = append(rt.Configs, rc)
			}
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func handleDeleteTopics(b *Broker, r *server.Request) kmsg.Response {
	req := r.Body.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	type target struct {
		name *string
		id   cluster.TopicID
	}
	var targets []target
	if req.Version >= 6 {
		for _, t := range req.Topics {
			targets = append(targets, target{name: t.Topic, id: t.TopicID})
		}
	} else {
		for _, n := range req.TopicNames {
			targets = append(targets, target{name: &n})
		}
	}
	errs := make([]error, len(targets))
	resolved := make([]*cluster.Topic, len(targets))
	enabled := b.cfg.Bool("delete.topic.enable")
	// As Kafka's controller: a topic named twice, by name or by id, and an
	// entry giving both a name and an id, are invalid requests.
	names, ids := map[string]int{}, map[cluster.TopicID]int{}
	for _, t := range targets {
		if t.name != nil && *t.name != "" {
			names[*t.name]++
		}
		if t.id != (cluster.TopicID{}) {
			ids[t.id]++
		}
	}
	for i, t := range targets {
		switch {
		case t.name != nil && *t.name != "" && t.id != (cluster.TopicID{}):
			errs[i] = errf(kerr.InvalidRequest, "a topic may be given by name or by id, not both")
		case t.name != nil && names[*t.name] > 1:
			errs[i] = errf(kerr.InvalidRequest, "topic %q is named more than once", *t.name)
		case t.id != (cluster.TopicID{}) && ids[t.id] > 1:
			errs[i] = errf(kerr.InvalidRequest, "topic id %s is given more than once", t.id)
		}
	}
	_, err := b.update(func(img *cluster.Image) ([]*cluster.Record, error) {
		var recs []*cluster.Record
		seen := map[cluster.TopicID]bool{}
		for i, t := range targets {
			if errs[i] != nil {
				continue
			}
			var ct *cluster.Topic
			switch {
			case t.name != nil && *t.name != "":
				ct = img.Topics[*t.name]
				if ct == nil {
					errs[i] = errf(kerr.UnknownTopicOrPartition, "topic %q does not exist", *t.name)
					continue
				}
			case t.id != cluster.TopicID{}:
				ct = img.ByID[t.id]
				if ct == nil {
					errs[i] = errf(kerr.UnknownTopicID, "no topic has id %s", t.id)
					continue
				}
			default:
				errs[i] = errf(kerr.InvalidRequest, "neither a topic name nor a topic id was given")
				continue
			}
			resolved[i] = ct
			if !enabled {
				errs[i] = errf(kerr.TopicDeletionDisabled, "topic deletion is disabled (delete.topic.enable=false)")
				continue
			}
			if ct.Internal {
				errs[i] = errf(kerr.InvalidTopicException, "internal topic %q cannot be deleted", ct.Name)
				continue
			}
			if seen[ct.ID] {
				continue
			}
			seen[ct.ID] = true
			recs = append(recs, &cluster.Record{Type: cluster.DeleteTopic, ID: ct.ID, Name: ct.Name})
		}
		return recs, nil
	})
	for i, t := range targets {
		rt := kmsg.NewDeleteTopicsResponseTopic()
		rt.Topic = t.name
		if ct := resolved[i]; ct != nil {
			n := ct.Name
			rt.Topic, rt.TopicID = &n, ct.ID
		} else {
			rt.TopicID = t.id
		}
		e := errs[i]
		if e == nil {
			e = err
		}
		rt.ErrorCode = errorCode(e)
		rt.ErrorMessage = errorMessage(e)
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func handleCreatePartitions(b *Broker, r *server.Request) kmsg.Response {
	req := r.Body.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	seen := map[string]int{}
	for _, t := range req.Topics {
		seen[t.Topic]++
	}
	errs := make([]error, len(req.Topics))
	_, err := b.update(func(img *cluster.Image) ([]*cluster.Record, error) {
		var recs []*cluster.Record
		for i, t := range req.Topics {
			if seen[t.Topic] > 1 {
				errs[i] = errf(kerr.InvalidRequest, "topic %q appears more than once in the request", t.Topic)
				continue
			}
			ct := img.Topics[t.Topic]
			if ct == nil {
				errs[i] = errf(kerr.UnknownTopicOrPartition, "topic %q does not exist", t.Topic)
				continue
			}
			if t.Count <= ct.Partitions {
				errs[i] = errf(kerr.InvalidPartitions, "topic %q has %d partitions; the new count %d must be larger", t.Topic, ct.Partitions, t.Count)
				continue
			}
			if t.Count > maxPartitionsPerTopic {
				errs[i] = errf(kerr.InvalidPartitions, "partition count %d is above the limit of %d", t.Count, maxPartitionsPerTopic)
				continue
			}
			if t.Assignment != nil {
				if int32(len(t.Assignment)) != t.Count-ct.Partitions {
					errs[i] = errf(kerr.InvalidReplicaAssignment, "%d assignments given for %d new partitions", len(t.Assignment), t.Count-ct.Partitions)
					continue
				}
				bad := false
				for _, a := range t.Assignment {
					if len(a.Replicas) != 1 || a.Replicas[0] != b.opts.NodeID {
						bad = true
					}
				}
				if bad {
					errs[i] = errf(kerr.InvalidReplicaAssignment, "this cluster has one broker, node %d", b.opts.NodeID)
					continue
				}
			}
			if req.ValidateOnly {
				continue
			}
			recs = append(recs, &cluster.Record{Type: cluster.CreatePartition, ID: ct.ID, Name: ct.Name, Partitions: t.Count})
		}
		return recs, nil
	})
	for i, t := range req.Topics {
		rt := kmsg.NewCreatePartitionsResponseTopic()
		rt.Topic = t.Topic
		e := errs[i]
		if e == nil {
			e = err
		}
		rt.ErrorCode = errorCode(e)
		rt.ErrorMessage = errorMessage(e)
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

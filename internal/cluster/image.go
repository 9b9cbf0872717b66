// Package cluster holds the cluster metadata: an immutable Image of topics,
// partitions and dynamic configs, changed only by applying Records read
// from the metadata log, as in Kafka's KRaft.
//
// A single node appends records to a local log (the `__cluster_metadata-0`
// folder, the same segmented log as user data, one record per batch, its
// value the record in JSON) and syncs before a change is acknowledged. On
// start the log is replayed through the same Apply. A cluster would
// replicate the same records through a Raft library; Apply would not
// change.
package cluster

import (
	"fmt"
	"maps"
	"sort"
)

// TopicID is a topic's UUID.
type TopicID [16]byte

func (id TopicID) String() string {
	b := id
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Topic is one topic in an Image. Images share Topics; a Topic is never
// modified after it is published.
type Topic struct {
	Name       string
	ID         TopicID
	Partitions int32
	// LeaderEpochs holds each partition's leader epoch.
	LeaderEpochs []int32
	Configs      map[string]string // overrides only
	Internal     bool
}

// Image is the metadata at one point of the log. It is immutable: Apply
// returns a new Image sharing what did not change.
type Image struct {
	Offset  int64 // the log offset of the last applied record, -1 when none
	Topics  map[string]*Topic
	ByID    map[TopicID]*Topic
	Brokers map[string]map[string]string // dynamic broker configs: "" is the cluster-wide default, else a node id
	// NextProducerID is the first producer id not yet handed out; ids are
	// reserved in blocks so that a restart never reuses one.
	NextProducerID int64
}

// Empty returns the image before any record.
func Empty() *Image {
	return &Image{Offset: -1, Topics: map[string]*Topic{}, ByID: map[TopicID]*Topic{}, Brokers: map[string]map[string]string{}}
}

// RecordType names a metadata change.
type RecordType string

const (
	CreateTopic     RecordType = "create_topic"
	DeleteTopic     RecordType = "delete_topic"
	CreatePartition RecordType = "create_partitions" // raise the partition count
	SetTopicConfigs RecordType = "topic_configs"     // replace a topic's overrides
	SetBrokerConfig RecordType = "broker_configs"    // replace a broker's (or the default) dynamic configs
	ProducerIDs     RecordType = "producer_ids"      // reserve producer ids below NextProducerID
)

// Record is one metadata change.
type Record struct {
	Type       RecordType        `json:"type"`
	Name       string            `json:"name,omitempty"`
	ID         TopicID           `json:"id,omitzero"`
	Partitions int32             `json:"partitions,omitempty"`
	Configs    map[string]string `json:"configs,omitempty"`
	Internal   bool              `json:"internal,omitempty"`
	Broker     string            `json:"broker,omitempty"`
	// NextProducerID is the new end of the reserved producer ids.
	NextProducerID int64 `json:"next_producer_id,omitempty"`
}

// Apply returns the image after r, leaving img as it was. It never fails:
// the controller validates before it appends, and a record that no longer
// applies (a delete of a topic already gone) is a no-op, so replay is
// deterministic.
func (img *Image) Apply(offset int64, r *Record) *Image {
	next := img.clone()
	next.mutate(offset, r)
	return next
}

// mutate applies r in place: for replay, into an image nobody else sees yet.
func (img *Image) mutate(offset int64, r *Record) {
	img.Offset = offset
	switch r.Type {
	case CreateTopic:
		if _, ok := img.Topics[r.Name]; ok {
			return
		}
		t := &Topic{Name: r.Name, ID: r.ID, Partitions: r.Partitions, LeaderEpochs: make([]int32, r.Partitions), Configs: maps.Clone(r.Configs), Internal: r.Internal}
		if t.Configs == nil {
			t.Configs = map[string]string{}
		}
		img.put(t)
	case DeleteTopic:
		if t, ok := img.ByID[r.ID]; ok {
			delete(img.Topics, t.Name)
			delete(img.ByID, t.ID)
		}
	case CreatePartition:
		t, ok := img.ByID[r.ID]
		if !ok || r.Partitions <= t.Partitions {
			return
		}
		nt := *t
		nt.Partitions = r.Partitions
		nt.LeaderEpochs = append(append([]int32(nil), t.LeaderEpochs...), make([]int32, r.Partitions-t.Partitions)...)
		img.put(&nt)
	case SetTopicConfigs:
		t, ok := img.ByID[r.ID]
		if !ok {
			return
		}
		nt := *t
		nt.Configs = maps.Clone(r.Configs)
		if nt.Configs == nil {
			nt.Configs = map[string]string{}
		}
		img.put(&nt)
	case ProducerIDs:
		if r.NextProducerID > img.NextProducerID {
			img.NextProducerID = r.NextProducerID
		}
	case SetBrokerConfig:
		if len(r.Configs) == 0 {
			delete(img.Brokers, r.Broker)
		} else {
			img.Brokers[r.Broker] = maps.Clone(r.Configs)
		}
	}
}

// clone copies the image's maps so that the copy can be mutated.
func (img *Image) clone() *Image {
	n := *img
	n.Topics, n.ByID, n.Brokers = maps.Clone(img.Topics), maps.Clone(img.ByID), maps.Clone(img.Brokers)
	return &n
}

func (img *Image) put(t *Topic) {
	img.Topics[t.Name] = t
	img.ByID[t.ID] = t
}

// TopicNames returns the names of the topics, sorted.
func (img *Image) TopicNames() []string {
	names := make([]string, 0, len(img.Topics))
	for n := range img.Topics {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

package metrics

import (
	"sort"
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/plexus/plexus/internal/cluster"
	"github.com/plexus/plexus/internal/partition"
	"github.com/plexus/plexus/internal/server"
)

// Broker is what the scrape-time collector reads: *broker.Broker.
type Broker interface {
	ClusterID() string
	NodeID() int32
	Image() *cluster.Image
	Partitions(id cluster.TopicID) []*partition.Partition
}

// GroupOffset is one committed offset of a consumer group.
type GroupOffset struct {
	Group     string
	Topic     string
	Partition int32
	Offset    int64
}

// GroupOffsets lists the committed offsets of every consumer group this
// broker coordinates (the group coordinator implements it). It is called
// at each scrape and must not block on I/O; the slice is the caller's.
type GroupOffsets interface {
	CommittedOffsets() []GroupOffset
}

// WatchBroker reports the broker's topics and partitions at each scrape:
// log size, start and end offsets and high watermark per partition. It
// also drops the per-topic counters of deleted topics. Call it once.
func (m *Metrics) WatchBroker(b Broker) *BrokerCollector {
	c := &BrokerCollector{b: b}
	exists := func(topic string) bool { return b.Image().Topics[topic] != nil }
	m.exists.Store(&exists)
	m.reg.MustRegister(c)
	return c
}

// WatchGroups adds consumer group lag to the broker collector: for each
// committed offset, the committed offset itself and the lag behind the
// partition's high watermark.
func (c *BrokerCollector) WatchGroups(g GroupOffsets) { c.groups.Store(&g) }

// WatchServer reports the Kafka listener's connection and network
// counters at each scrape. Call it once.
func (m *Metrics) WatchServer(s *server.Stats) {
	m.reg.MustRegister(serverCollector{s})
}

var (
	descTopics     = desc("topics", "Topics in the cluster metadata, internal topics included.")
	descPartitions = desc("partitions", "Partitions hosted by this broker.")
	descLogSize    = desc("partition_log_size_bytes", "Bytes of the partition's log segments on disk.", "topic", "partition")
	descLogStart   = desc("partition_log_start_offset", "The partition's log start offset: the first offset still readable.", "topic", "partition")
	descLogEnd     = desc("partition_log_end_offset", "The partition's log end offset: the offset the next record gets.", "topic", "partition")
	descHWM        = desc("partition_high_watermark", "The partition's high watermark: the end of what consumers may read.", "topic", "partition")
	descCommitted  = desc("consumer_group_committed_offset", "The offset a consumer group committed for a partition.", "group", "topic", "partition")
	descLag        = desc("consumer_group_lag", "Records a consumer group is behind on a partition: high watermark minus committed offset.", "group", "topic", "partition")

	descConnsOpen     = desc("connections_open", "Client connections open now.")
	descConnsAccepted = desc("connections_accepted_total", "Client connections accepted.")
	descConnsRejected = desc("connections_rejected_total", "Client connections refused because max.connections were open.")
	descConnsBad      = desc("connections_closed_malformed_total", "Client connections closed for a malformed request frame.")
	descReqsIn        = desc("requests_received_total", "Request frames read from clients, answered or not.")
	descBytesIn       = desc("network_received_bytes_total", "Bytes of request frames read from clients.")
	descBytesOut      = desc("network_sent_bytes_total", "Bytes of response frames written to clients.")
	descQueued        = desc("requests_queued_bytes", "Bytes of requests read but not yet answered (bounded by queued.max.request.bytes).")
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(Namespace+"_"+name, help, labels, nil)
}

// BrokerCollector reads partition state at scrape time.
type BrokerCollector struct {
	b       Broker
	groups  atomic.Pointer[GroupOffsets]
	cleaner atomic.Pointer[Cleaner]
}

// Describe implements prometheus.Collector.
func (c *BrokerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBrokerInfo, descTopics, descPartitions, descLogSize, descLogStart, descLogEnd, descHWM, descCommitted, descLag} {
		ch <- d
	}
	for _, d := range cleanerDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *BrokerCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descBrokerInfo, prometheus.GaugeValue, 1, c.b.ClusterID(), strconv.Itoa(int(c.b.NodeID())))
	c.collectCleaner(ch)
	img := c.b.Image()
	ch <- prometheus.MustNewConstMetric(descTopics, prometheus.GaugeValue, float64(len(img.Topics)))
	names := make([]string, 0, len(img.Topics))
	for name := range img.Topics {
		names = append(names, name)
	}
	sort.Strings(names)
	hosted := 0
	hwms := map[string][]int64{}
	for _, name := range names {
		t := img.Topics[name]
		ps := c.b.Partitions(t.ID)
		marks := make([]int64, len(ps))
		for i, p := range ps {
			marks[i] = -1
			if p == nil {
				continue
			}
			hosted++
			idx := strconv.Itoa(int(p.Index))
			hwm := p.HighWatermark()
			marks[i] = hwm
			ch <- prometheus.MustNewConstMetric(descLogSize, prometheus.GaugeValue, float64(p.Size()), name, idx)
			ch <- prometheus.MustNewConstMetric(descLogStart, prometheus.GaugeValue, float64(p.LogStartOffset()), name, idx)
			ch <- prometheus.MustNewConstMetric(descLogEnd, prometheus.GaugeValue, float64(p.LogEndOffset()), name, idx)
			ch <- prometheus.MustNewConstMetric(descHWM, prometheus.GaugeValue, float64(hwm), name, idx)
		}
		hwms[name] = marks
	}
	ch <- prometheus.MustNewConstMetric(descPartitions, prometheus.GaugeValue, float64(hosted))
	g := c.groups.Load()
	if g == nil {
		return
	}
	for _, o := range (*g).CommittedOffsets() {
		idx := strconv.Itoa(int(o.Partition))
		ch <- prometheus.MustNewConstMetric(descCommitted, prometheus.GaugeValue, float64(o.Offset), o.Group, o.Topic, idx)
		marks := hwms[o.Topic]
		if o.Partition < 0 || int(o.Partition) >= len(marks) || marks[o.Partition] < 0 {
			continue // a partition this broker does not host: its lag is reported where it is
		}
		ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(max(0, marks[o.Partition]-o.Offset)), o.Group, o.Topic, idx)
	}
}

type serverCollector struct{ s *server.Stats }

func (c serverCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnsOpen, descConnsAccepted, descConnsRejected, descConnsBad, descReqsIn, descBytesIn, descBytesOut, descQueued} {
		ch <- d
	}
}

func (c serverCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	gauge := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge(descConnsOpen, s.OpenConns.Load())
	counter(descConnsAccepted, s.Accepted.Load())
	counter(descConnsRejected, s.Rejected.Load())
	counter(descConnsBad, s.Malformed.Load())
	counter(descReqsIn, s.RequestsIn.Load())
	counter(descBytesIn, s.BytesIn.Load())
	counter(descBytesOut, s.BytesOut.Load())
	gauge(descQueued, s.InFlightB.Load())
}

// Package metrics holds the broker's Prometheus metrics: counters the
// broker moves as it serves requests (it implements broker.Metrics), and
// collectors that read the broker's state when /metrics is scraped
// (partition offsets and sizes, connections, consumer group lag, the log
// cleaner).
//
// Every name starts with plexus_; counters end in _total, durations are
// in _seconds and sizes in _bytes. Per-topic series carry a topic label
// and per-partition series topic and partition labels; series of a topic
// disappear with the topic.
//
// Nothing here runs per record: the broker reports once per request and
// once per record batch, and the hot-path methods look up prepared
// series without allocating.
package metrics

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Namespace prefixes every metric name.
const Namespace = "plexus"

// LatencyBuckets are the request latency histogram's upper bounds in
// seconds: from a tenth of a millisecond (a cached metadata answer) to
// half a minute (a long-polling fetch or a slow acks=all produce).
var LatencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// FsyncBuckets are the fsync latency histogram's upper bounds in seconds.
var FsyncBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}

// maxKey bounds the API keys with prepared series; requests with a larger
// key (the server rejects unknown keys before the broker sees them) share
// the "unknown" series.
const maxKey = 127

// Metrics is one broker's registry. The zero value is not usable: call New.
// Its methods are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	errors   *prometheus.CounterVec
	apis     [maxKey + 2]atomic.Pointer[apiSeries] // the last slot is "unknown"

	producedBytes, producedRecords *prometheus.CounterVec
	fetchedBytes, fetchedRecords   *prometheus.CounterVec
	topics                         sync.Map // topic name -> *topicSeries
	// exists, once a broker is watched, tells whether a topic still
	// exists; the per-topic counters of deleted topics are dropped before
	// each scrape.
	exists atomic.Pointer[func(topic string) bool]

	fsync     prometheus.Histogram
	fsyncOnce sync.Once // registered at the first Fsync: absent until the log reports
}

type apiSeries struct {
	requests prometheus.Counter
	latency  prometheus.Observer
}

type topicSeries struct {
	producedBytes, producedRecords prometheus.Counter
	fetchedBytes, fetchedRecords   prometheus.Counter
}

// New returns a registry holding the broker's counters and the Go runtime
// and process collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "requests_total",
		Help: "Kafka API requests served, by API (Produce, Fetch, Metadata, ...).",
	}, []string{"api"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "request_duration_seconds",
		Help:    "Time from a request's dispatch to its response being ready, by API; a Fetch includes its long-poll wait and an acks=all Produce its flush.",
		Buckets: LatencyBuckets,
	}, []string{"api"})
	m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "request_errors_total",
		Help: "Kafka error codes returned, by API and error name (one per failed partition, topic or request).",
	}, []string{"api", "error"})
	m.producedBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "produced_bytes_total",
		Help: "Bytes of record batches appended by Produce requests, by topic (as stored: compressed batches count compressed).",
	}, []string{"topic"})
	m.producedRecords = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "produced_records_total",
		Help: "Records appended by Produce requests, by topic.",
	}, []string{"topic"})
	m.fetchedBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "fetched_bytes_total",
		Help: "Bytes of record batches returned by Fetch requests, by topic.",
	}, []string{"topic"})
	m.fetchedRecords = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "fetched_records_total",
		Help: "Records in the batches returned by Fetch requests, by topic (a batch fetched twice counts twice).",
	}, []string{"topic"})
	m.fsync = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "log_fsync_duration_seconds",
		Help:    "Time one fsync of a partition log took (one fsync covers every batch appended since the previous one).",
		Buckets: FsyncBuckets,
	})
	m.reg.MustRegister(m.requests, m.latency, m.errors, topicCollector{m},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Registry is where the metrics live, for tests and for more collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format (or
// OpenMetrics, when the scraper asks for it).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, EnableOpenMetrics: true})
}

func (m *Metrics) api(key int16) *apiSeries {
	i := int(key)
	if i < 0 || i > maxKey {
		i = maxKey + 1
	}
	if s := m.apis[i].Load(); s != nil {
		return s
	}
	name := "unknown"
	if i <= maxKey {
		if n := kmsg.NameForKey(key); n != "" && n != "Unknown" {
			name = n
		}
	}
	s := &apiSeries{requests: m.requests.WithLabelValues(name), latency: m.latency.WithLabelValues(name)}
	if m.apis[i].CompareAndSwap(nil, s) {
		return s
	}
	return m.apis[i].Load()
}

// Request counts one served request of API key and its latency.
func (m *Metrics) Request(key int16, d time.Duration) {
	s := m.api(key)
	s.requests.Inc()
	s.latency.Observe(d.Seconds())
}

// RequestError counts one Kafka error code returned by API key; code 0 is
// no error and is not counted.
func (m *Metrics) RequestError(key, code int16) {
	if code == 0 {
		return
	}
	name := kerr.TypedErrorForCode(code).Message
	api := kmsg.NameForKey(key)
	if api == "" || api == "Unknown" {
		api = "unknown"
	}
	m.errors.WithLabelValues(api, name).Inc()
}

func (m *Metrics) topic(name string) *topicSeries {
	if s, ok := m.topics.Load(name); ok {
		return s.(*topicSeries)
	}
	s := &topicSeries{
		producedBytes:   m.producedBytes.WithLabelValues(name),
		producedRecords: m.producedRecords.WithLabelValues(name),
		fetchedBytes:    m.fetchedBytes.WithLabelValues(name),
		fetchedRecords:  m.fetchedRecords.WithLabelValues(name),
	}
	got, _ := m.topics.LoadOrStore(name, s)
	return got.(*topicSeries)
}

// Produced counts one record batch appended to topic.
func (m *Metrics) Produced(topic string, bytes, records int) {
	s := m.topic(topic)
	s.producedBytes.Add(float64(bytes))
	s.producedRecords.Add(float64(records))
}

// Fetched counts the record batches of one partition returned by a Fetch.
func (m *Metrics) Fetched(topic string, bytes, records int) {
	s := m.topic(topic)
	s.fetchedBytes.Add(float64(bytes))
	s.fetchedRecords.Add(float64(records))
}

// Fsync records how long one fsync of a partition log took. The histogram
// appears on /metrics from the first call, so a broker whose log does not
// report fsyncs exports no empty one.
func (m *Metrics) Fsync(d time.Duration) {
	m.fsyncOnce.Do(func() { m.reg.MustRegister(m.fsync) })
	m.fsync.Observe(d.Seconds())
}

func (m *Metrics) topicVecs() []*prometheus.CounterVec {
	return []*prometheus.CounterVec{m.producedBytes, m.producedRecords, m.fetchedBytes, m.fetchedRecords}
}

// topicCollector exports the per-topic counters after dropping those of
// topics that no longer exist, so a deleted topic's series leave /metrics.
type topicCollector struct{ m *Metrics }

func (c topicCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, v := range c.m.topicVecs() {
		v.Describe(ch)
	}
}

func (c topicCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	if exists := m.exists.Load(); exists != nil {
		m.topics.Range(func(k, _ any) bool {
			name := k.(string)
			if !(*exists)(name) {
				m.topics.Delete(name)
				for _, v := range m.topicVecs() {
					v.DeleteLabelValues(name)
				}
			}
			return true
		})
	}
	for _, v := range m.topicVecs() {
		v.Collect(ch)
	}
}

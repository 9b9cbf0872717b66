package metrics_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/plexus/plexus/internal/config"
	"github.com/plexus/plexus/internal/metrics"
	"github.com/plexus/plexus/internal/node"
)

// startNode runs a broker with its admin listener on 127.0.0.1:0.
func startNode(t *testing.T) *node.Node {
	t.Helper()
	return startNodeIn(t, t.TempDir(), nil)
}

// startNodeIn runs a broker on data in dir, with extra settings.
func startNodeIn(t *testing.T, dir string, extra map[string]string) *node.Node {
	t.Helper()
	settings := map[string]string{config.LogDirs: dir, config.AdminListeners: "127.0.0.1:0"}
	for k, v := range extra {
		settings[k] = v
	}
	cfg, err := config.New(settings)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	al, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.Start(node.Options{Config: cfg, Listener: l, AdminListener: al, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		n.Shutdown(ctx)
	})
	return n
}

// scrape reads /metrics into series -> value, keyed as the text format
// writes a series: name{label="value",...}.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// requestCounter counts requests the client wrote successfully, by key.
type requestCounter struct {
	mu sync.Mutex
	n  map[int16]int
	// produced is the sum of the sizes of the batches written: the
	// records' bytes plus the 61-byte v2 batch header.
	producedBytes, producedRecords int
}

func (c *requestCounter) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if err == nil {
		c.mu.Lock()
		c.n[key]++
		c.mu.Unlock()
	}
}

func (c *requestCounter) OnProduceBatchWritten(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.ProduceBatchMetrics) {
	c.mu.Lock()
	c.producedBytes += m.CompressedBytes + 61
	c.producedRecords += m.NumRecords
	c.mu.Unlock()
}

func TestScrapeAfterProduceAndFetch(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rc := &requestCounter{n: map[int16]int{}}
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr), kgo.WithHooks(rc), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "m"); err != nil {
		t.Fatal(err)
	}
	before := scrape(t, n.AdminAddr)

	// 7 records: a batch of one, then a batch of six (one ProduceSync
	// call, one partition, no linger: one batch).
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "m", Value: []byte("first")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var batch []*kgo.Record
	for i := range 6 {
		batch = append(batch, &kgo.Record{Topic: "m", Key: []byte{byte('a' + i)}, Value: []byte(strings.Repeat("v", 10*i))})
	}
	if err := cl.ProduceSync(ctx, batch...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// Two fetches: one returns everything, one at the end returns nothing.
	fetch := func(offset int64) *kmsg.FetchResponse {
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis = 10
		req.MinBytes = 1
		req.MaxBytes = 1 << 20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "m"
		rt.TopicID = n.Broker.Image().Topics["m"].ID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset = offset
		rp.PartitionMaxBytes = 1 << 20
		rp.LogStartOffset = -1
		rp.CurrentLeaderEpoch = -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Fatalf("fetch error code %d", code)
		}
		return resp
	}
	got := fetch(0)
	fetchedBytes := len(got.Topics[0].Partitions[0].RecordBatches)
	fetch(7)

	after := scrape(t, n.AdminAddr)
	delta := func(series string) float64 { return after[series] - before[series] }
	rc.mu.Lock()
	wantBytes, wantRecords, produces, fetches := rc.producedBytes, rc.producedRecords, rc.n[0], rc.n[1]
	rc.mu.Unlock()
	if wantRecords != 7 || produces < 2 || fetches != 2 {
		t.Fatalf("client view: %d records in %d produce requests, %d fetches", wantRecords, produces, fetches)
	}
	p := n.Broker.PartitionByName("m", 0)
	for _, c := range []struct {
		series string
		want   float64
	}{
		{`plexus_produced_records_total{topic="m"}`, 7},
		{`plexus_produced_bytes_total{topic="m"}`, float64(wantBytes)},
		{`plexus_fetched_records_total{topic="m"}`, 7},
		{`plexus_fetched_bytes_total{topic="m"}`, float64(wantBytes)},
		{`plexus_requests_total{api="Produce"}`, float64(produces)},
		{`plexus_request_duration_seconds_count{api="Produce"}`, float64(produces)},
		{`plexus_requests_total{api="Fetch"}`, 2},
		{`plexus_request_duration_seconds_count{api="Fetch"}`, 2},
	} {
		if got := delta(c.series); got != c.want {
			t.Errorf("%s moved by %v, want %v", c.series, got, c.want)
		}
	}
	if fetchedBytes != wantBytes {
		t.Errorf("the fetch returned %d bytes, the client wrote %d", fetchedBytes, wantBytes)
	}
	for series, want := range map[string]float64{
		`plexus_partition_log_end_offset{partition="0",topic="m"}`:   7,
		`plexus_partition_high_watermark{partition="0",topic="m"}`:   7,
		`plexus_partition_log_start_offset{partition="0",topic="m"}`: 0,
		`plexus_partition_log_size_bytes{partition="0",topic="m"}`:   float64(p.Size()),
		`plexus_topics`: float64(len(n.Broker.Image().Topics)), // internal topics count too
	} {
		if got, ok := after[series]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	if p.Size() != int64(wantBytes) {
		t.Errorf("log size %d, batches written %d", p.Size(), wantBytes)
	}
	if after[`plexus_connections_accepted_total`] < 1 || after[`plexus_connections_open`] < 1 {
		t.Errorf("connections: accepted %v, open %v", after[`plexus_connections_accepted_total`], after[`plexus_connections_open`])
	}
	if after[`plexus_network_received_bytes_total`] <= before[`plexus_network_received_bytes_total`] ||
		after[`plexus_network_sent_bytes_total`] <= before[`plexus_network_sent_bytes_total`] {
		t.Errorf("network byte counters did not move")
	}
	if _, ok := after[`go_goroutines`]; !ok {
		t.Errorf("no Go runtime metrics")
	}

	// Deleting the topic removes its series.
	if _, err := kadm.NewClient(cl).DeleteTopic(ctx, "m"); err != nil {
		t.Fatal(err)
	}
	gone := scrape(t, n.AdminAddr)
	for series := range gone {
		if strings.Contains(series, `topic="m"`) {
			t.Errorf("series of a deleted topic still exported: %s", series)
		}
	}
}

func TestHealthAndReadiness(t *testing.T) {
	n := startNode(t)
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/": 200, "/nope": 404} {
		resp, err := http.Get("http://" + n.AdminAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	h := n.AdminHandler()
	n.Shutdown(context.Background())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("/readyz after shutdown: %d, want 503", rec.Code)
	}
}

type fakeGroups []metrics.GroupOffset

func (f fakeGroups) CommittedOffsets() []metrics.GroupOffset { return f }

func TestGroupLagAndErrors(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, "g"); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "g", Partition: 0, Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	n.Collector.WatchGroups(fakeGroups{
		{Group: "app", Topic: "g", Partition: 0, Offset: 2},
		{Group: "app", Topic: "g", Partition: 1, Offset: 0},
		{Group: "app", Topic: "gone", Partition: 0, Offset: 9},
	})
	// Every acks=all produce above waited for a flush, each timed.
	const fsyncs = `plexus_log_fsync_duration_seconds_count`
	flushed := scrape(t, n.AdminAddr)[fsyncs]
	if flushed < 1 {
		t.Errorf("%s = %v after acknowledged acks=all produces, want at least 1", fsyncs, flushed)
	}
	n.Metrics.RequestError(0, 3)
	n.Metrics.RequestError(0, 3)
	n.Metrics.RequestError(0, 0)
	n.Metrics.Fsync(3 * time.Millisecond)
	got := scrape(t, n.AdminAddr)
	for series, want := range map[string]float64{
		`plexus_consumer_group_lag{group="app",partition="0",topic="g"}`:                 3,
		`plexus_consumer_group_committed_offset{group="app",partition="0",topic="g"}`:    2,
		`plexus_consumer_group_lag{group="app",partition="1",topic="g"}`:                 0,
		`plexus_consumer_group_committed_offset{group="app",partition="0",topic="gone"}`: 9,
		`plexus_request_errors_total{api="Produce",error="UNKNOWN_TOPIC_OR_PARTITION"}`:  2,
		fsyncs: flushed + 1,
	} {
		if v, ok := got[series]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", series, v, ok, want)
		}
	}
	if _, ok := got[`plexus_consumer_group_lag{group="app",partition="0",topic="gone"}`]; ok {
		t.Errorf("lag reported for a partition the broker does not host")
	}
}

// The admin endpoint serves Go's profiles unless admin.pprof.enable is
// off; a heap profile is what an operator asks for when memory grows.
func TestPprofEndpoint(t *testing.T) {
	get := func(n *node.Node, path string) (int, string) {
		resp, err := http.Get("http://" + n.AdminAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	on := startNode(t)
	if code, body := get(on, "/debug/pprof/heap?debug=1"); code != 200 || !strings.Contains(body, "heap profile") {
		t.Fatalf("heap profile: %d %.80q", code, body)
	}
	if code, body := get(on, "/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("pprof index: %d %.80q", code, body)
	}
	off := startNodeIn(t, t.TempDir(), map[string]string{config.AdminPprofEnable: "false"})
	if code, _ := get(off, "/debug/pprof/heap"); code != 404 {
		t.Fatalf("heap profile with admin.pprof.enable=false: %d, want 404", code)
	}
	if _, body := get(off, "/"); strings.Contains(body, "pprof") {
		t.Fatalf("index lists pprof when it is off: %q", body)
	}
}

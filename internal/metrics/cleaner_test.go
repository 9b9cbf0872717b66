package metrics_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCleanerMetrics compacts a topic and checks the log cleaner's series
// on /metrics against the broker's own account of the pass: the dirty
// ratio before and after, the bytes cleaned and reclaimed, the time since
// the pass; and that only compacted topics have them.
func TestCleanerMetrics(t *testing.T) {
	// The cleaner runs only when told to, so the figures do not move
	// between the scrape and the broker's stats.
	n := startNodeIn(t, t.TempDir(), map[string]string{"log.cleaner.enable": "false"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	// A segment rolls when record timestamps span more than segment.ms:
	// rounds written eleven minutes apart (in the past) each get their own.
	compact := map[string]*string{"cleanup.policy": kadm.StringPtr("compact"), "segment.ms": kadm.StringPtr("600000")}
	if _, err := adm.CreateTopic(ctx, 1, 1, compact, "kv"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "plain"); err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Hour)
	for round := range 4 {
		var recs []*kgo.Record
		for k := range 10 {
			recs = append(recs, &kgo.Record{Topic: "kv", Key: fmt.Appendf(nil, "k%d", k), Value: fmt.Appendf(nil, "round %d", round),
				Timestamp: start.Add(time.Duration(round) * 11 * time.Minute)})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "kv", Key: []byte("now"), Value: []byte("rolls the last round")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	series := func(name string) string { return name + `{partition="0",topic="kv"}` }
	before := scrape(t, n.AdminAddr)
	if r, ok := before[series("plexus_log_cleaner_dirty_ratio")]; !ok || r != 1 {
		t.Errorf("dirty ratio before any pass: %v (present %v), want 1", r, ok)
	}
	if c, ok := before[series("plexus_log_cleaner_cleanings_total")]; !ok || c != 0 {
		t.Errorf("cleanings before any pass: %v (present %v)", c, ok)
	}
	if _, ok := before[series("plexus_log_cleaner_seconds_since_last_clean")]; ok {
		t.Errorf("time since the last clean reported before any")
	}

	if err := n.Broker.CleanNow(ctx, "kv"); err != nil {
		t.Fatal(err)
	}
	var st struct{ read, reclaimed int64 }
	for _, s := range n.Broker.CleanerStats() {
		if s.Topic == "kv" {
			st.read, st.reclaimed = s.BytesRead, s.BytesReclaimed
		}
	}
	if st.read == 0 || st.reclaimed <= 0 {
		t.Fatalf("the pass read %d bytes and reclaimed %d", st.read, st.reclaimed)
	}
	after := scrape(t, n.AdminAddr)
	for name, want := range map[string]float64{
		series("plexus_log_cleaner_dirty_ratio"):                                           0,
		series("plexus_log_cleaner_dirty_bytes"):                                           0,
		series("plexus_log_cleaner_cleanings_total"):                                       1,
		series("plexus_log_cleaner_cleaned_bytes_total"):                                   float64(st.read),
		series("plexus_log_cleaner_reclaimed_bytes_total"):                                 float64(st.reclaimed),
		series("plexus_log_cleaner_uncleanable"):                                           0,
		"plexus_log_cleaner_uncleanable_partitions":                                        0,
		"plexus_log_cleaner_threads":                                                       0,
		fmt.Sprintf(`plexus_broker_info{cluster_id=%q,node_id="0"}`, n.Broker.ClusterID()): 1,
	} {
		if got, ok := after[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	if s, ok := after[series("plexus_log_cleaner_seconds_since_last_clean")]; !ok || s < 0 || s > 30 {
		t.Errorf("seconds since the last clean: %v (present %v)", s, ok)
	}
	for name := range after {
		if strings.HasPrefix(name, "plexus_log_cleaner_") && strings.Contains(name, `topic="plain"`) {
			t.Errorf("cleaner series for a topic that is not compacted: %s", name)
		}
	}
}

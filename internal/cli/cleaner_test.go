package cli

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/plexus/plexus/internal/brokertest"
)

// TestTopicDescribeCleaner: `topic describe` shows a compacted topic's log
// cleaner state, read from the broker's admin endpoint, and says why when
// the endpoint cannot be read or belongs to another cluster.
func TestTopicDescribeCleaner(t *testing.T) {
	// The cleaner runs only when the test says, so the figures are fixed.
	b := brokertest.Start(t, brokertest.WithConfig("log.cleaner.enable", "false"))
	srv := httptest.NewServer(b.AdminHandler())
	defer srv.Close()
	bk := "--brokers=" + b.Addr
	ad := "--admin=" + strings.TrimPrefix(srv.URL, "http://")

	// A segment rolls when record timestamps span more than segment.ms:
	// three rounds of four keys eleven minutes apart, then one record
	// now, leave three closed segments on partition 0; partition 1 stays
	// empty.
	ok(t, "", "topic", "create", "users", "-p", "2", "-c", "cleanup.policy=compact", "-c", "segment.ms=600000", bk)
	ok(t, "", "topic", "create", "plain", "-p", "1", bk)
	start := time.Now().Add(-time.Hour).UnixMilli()
	for round := range 3 {
		var in strings.Builder
		for k := range 4 {
			fmt.Fprintf(&in, `{"key":"user-%d","value":"round %d","partition":0,"timestamp":%d}`+"\n", k, round, start+int64(round)*11*60*1000)
		}
		ok(t, in.String(), "produce", "users", "--format", "json", "-z", "none", bk)
	}
	ok(t, `{"key":"user-0","value":"now","partition":0}`+"\n", "produce", "users", "--format", "json", "-z", "none", bk)

	before := ok(t, "", "topic", "describe", "users", "-l", ad, bk)
	if !strings.Contains(before, "0          1.00") {
		t.Errorf("before compaction partition 0 should be all dirty:\n%s", before)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Broker.CleanNow(ctx, "users"); err != nil {
		t.Fatal(err)
	}
	golden(t, "topic_describe_cleaner", ok(t, "", "topic", "describe", "users", "-s", "-l", ad, bk))
	golden(t, "topic_describe_cleaner_json", ok(t, "", "topic", "describe", "users", "-l", "--format", "json", ad, bk))

	// All sections by default; none for a topic that is not compacted.
	if all := ok(t, "", "topic", "describe", "users", ad, bk); !strings.Contains(all, "PARTITIONS\n") || !strings.Contains(all, "CLEANER\n") {
		t.Errorf("describe without flags should print every section:\n%s", all)
	}
	if plain := ok(t, "", "topic", "describe", "plain", ad, bk); strings.Contains(plain, "CLEANER") {
		t.Errorf("a topic that is not compacted has no cleaner section:\n%s", plain)
	}

	// No endpoint there: the section says so, the command succeeds.
	down := ok(t, "", "topic", "describe", "users", "-l", "--admin=127.0.0.1:1", bk)
	if !strings.Contains(down, "not available: admin endpoint 127.0.0.1:1 unreachable") {
		t.Errorf("unreachable endpoint:\n%s", down)
	}
	// Another cluster's endpoint is not believed.
	other := brokertest.Start(t)
	osrv := httptest.NewServer(other.AdminHandler())
	defer osrv.Close()
	t.Setenv("PLEXUS_ADMIN", strings.TrimPrefix(osrv.URL, "http://"))
	wrong := ok(t, "", "topic", "describe", "users", "-l", bk)
	if !strings.Contains(wrong, "not available: admin endpoint") || !strings.Contains(wrong, "belongs to cluster "+other.Broker.ClusterID()) {
		t.Errorf("endpoint of another cluster:\n%s", wrong)
	}
}

package topic

// The CLEANER section of `topic describe`: the log cleaner's state of a
// compacted topic's partitions. The Kafka protocol has no request for it,
// so it comes from the broker's /metrics (the plexus_log_cleaner_* series),
// read only after plexus_broker_info shows the endpoint belongs to the
// cluster the Kafka connection reaches.

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/plexus/plexus/internal/cli/admin"
	"github.com/plexus/plexus/internal/cli/kafka"
	"github.com/plexus/plexus/internal/cli/out"
	"github.com/plexus/plexus/internal/metrics"
)

// describedCleaner is a compacted topic's CLEANER section.
type describedCleaner struct {
	// Admin is the endpoint read and NodeID the broker behind it (-1
	// when unknown).
	Admin  string `json:"admin"`
	NodeID int32  `json:"node_id"`
	// Error says why there are no stats.
	Error      string             `json:"error,omitempty"`
	Partitions []cleanerPartition `json:"partitions,omitempty"`
}

type cleanerPartition struct {
	Partition      int32   `json:"partition"`
	DirtyRatio     float64 `json:"dirty_ratio"`
	DirtyBytes     int64   `json:"dirty_bytes"`
	Cleanings      int64   `json:"cleanings"`
	CleanedBytes   int64   `json:"cleaned_bytes"`
	ReclaimedBytes int64   `json:"reclaimed_bytes"`
	// SecondsSinceLastClean is null when no pass ended since the broker
	// started.
	SecondsSinceLastClean *float64 `json:"seconds_since_last_clean"`
	Uncleanable           bool     `json:"uncleanable"`
}

// cleanerStats is one read of the admin endpoint.
type cleanerStats struct {
	addr   string
	nodeID int32
	err    error
	m      admin.Metrics
}

// compacted reports whether a topic's cleanup.policy includes compact.
func compacted(rc kadm.ResourceConfig) bool {
	for _, c := range rc.Configs {
		if c.Key == "cleanup.policy" {
			return slices.Contains(strings.Split(c.MaybeValue(), ","), "compact")
		}
	}
	return false
}

func anyCompacted(rcs kadm.ResourceConfigs, topics []string) bool {
	for _, name := range topics {
		if rc, err := rcs.On(name, nil); err == nil && rc.Err == nil && compacted(rc) {
			return true
		}
	}
	return false
}

// readCleanerStats scrapes the admin endpoint and checks that it belongs
// to the cluster cl talks to. A failure is kept in the result, for the
// section to say why it is empty.
func readCleanerStats(ctx context.Context, cl *kadm.Client, a *admin.Options) *cleanerStats {
	addr, explicit := a.Addr()
	s := &cleanerStats{addr: addr, nodeID: -1}
	m, err := a.Scrape(ctx)
	if err != nil {
		if !explicit {
			err = fmt.Errorf("%w (pass --admin or set %s to the broker's admin endpoint)", err, admin.AddrEnv)
		}
		s.err = err
		return s
	}
	infos := m[metrics.BrokerInfo]
	if len(infos) != 1 {
		s.err = fmt.Errorf("admin endpoint %s does not say which broker it is (no %s)", addr, metrics.BrokerInfo)
		return s
	}
	md, err := cl.BrokerMetadata(ctx)
	if err != nil {
		s.err = fmt.Errorf("cluster id: %w", kafka.Explain(err))
		return s
	}
	if got := infos[0].Labels["cluster_id"]; got != md.Cluster {
		s.err = fmt.Errorf("admin endpoint %s belongs to cluster %s, not to %s that --brokers reaches; pass --admin", addr, got, md.Cluster)
		return s
	}
	if id, err := strconv.ParseInt(infos[0].Labels["node_id"], 10, 32); err == nil {
		s.nodeID = int32(id)
	}
	s.m = m
	return s
}

// topic is the CLEANER section of one compacted topic.
func (s *cleanerStats) topic(name string) *describedCleaner {
	d := &describedCleaner{Admin: s.addr, NodeID: s.nodeID}
	if s.err != nil {
		d.Error = s.err.Error()
		return d
	}
	for _, ratio := range s.m[metrics.CleanerDirtyRatio] {
		if ratio.Labels["topic"] != name {
			continue
		}
		idx, err := strconv.ParseInt(ratio.Labels["partition"], 10, 32)
		if err != nil {
			continue
		}
		match := map[string]string{"topic": name, "partition": ratio.Labels["partition"]}
		get := func(metric string) int64 {
			v, _ := s.m.Get(metric, match)
			return int64(v)
		}
		p := cleanerPartition{
			Partition: int32(idx), DirtyRatio: ratio.Value, DirtyBytes: get(metrics.CleanerDirtyBytes),
			Cleanings: get(metrics.CleanerCleanings), CleanedBytes: get(metrics.CleanerCleanedBytes),
			ReclaimedBytes: get(metrics.CleanerReclaimedBytes), Uncleanable: get(metrics.CleanerUncleanable) != 0,
		}
		if v, ok := s.m.Get(metrics.CleanerSinceLastClean, match); ok {
			p.SecondsSinceLastClean = &v
		}
		d.Partitions = append(d.Partitions, p)
	}
	slices.SortFunc(d.Partitions, func(a, b cleanerPartition) int { return int(a.Partition - b.Partition) })
	if len(d.Partitions) == 0 {
		d.Error = fmt.Sprintf("broker %d (admin endpoint %s) hosts no partition of %s", s.nodeID, s.addr, name)
	}
	return d
}

func printCleaner(w io.Writer, c *describedCleaner) error {
	out.Section(w, "cleaner")
	if c.Error != "" {
		_, err := fmt.Fprintf(w, "not available: %s\n", c.Error)
		return err
	}
	t := out.NewTable(w, "partition", "dirty-ratio", "dirty-bytes", "cleanings", "cleaned-bytes", "reclaimed-bytes", "last-clean", "status")
	for _, p := range c.Partitions {
		last := "-"
		if p.SecondsSinceLastClean != nil {
			last = time.Duration(*p.SecondsSinceLastClean*float64(time.Second)).Round(time.Second).String() + " ago"
		}
		status := "OK"
		if p.Uncleanable {
			status = "UNCLEANABLE"
		}
		t.Row(p.Partition, strconv.FormatFloat(p.DirtyRatio, 'f', 2, 64), p.DirtyBytes, p.Cleanings, p.CleanedBytes, p.ReclaimedBytes, last, status)
	}
	return t.Flush()
}

package topic

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/plexus/plexus/internal/cli/admin"
	"github.com/plexus/plexus/internal/cli/kafka"
	"github.com/plexus/plexus/internal/cli/out"
)

// described is one topic as `topic describe --format json` prints it.
type described struct {
	Name       string               `json:"name"`
	ID         string               `json:"id,omitempty"`
	Internal   bool                 `json:"internal"`
	Replicas   int                  `json:"replicas"`
	Partitions []describedPartition `json:"partitions,omitempty"`
	Configs    []describedConfig    `json:"configs,omitempty"`
	Cleaner    *describedCleaner    `json:"cleaner,omitempty"`
}

type describedPartition struct {
	Partition      int32   `json:"partition"`
	Leader         int32   `json:"leader"`
	LeaderEpoch    int32   `json:"leader_epoch"`
	Replicas       []int32 `json:"replicas"`
	ISR            []int32 `json:"isr"`
	LogStartOffset int64   `json:"log_start_offset"`
	HighWatermark  int64   `json:"high_watermark"`
	Error          string  `json:"error,omitempty"`
}

type describedConfig struct {
	Key       string `json:"key"`
	Value     string `json:"value"`
	Source    string `json:"source"`
	Sensitive bool   `json:"sensitive,omitempty"`
}

func describeCommand(k *kafka.Options) *cobra.Command {
	var summary, configs, partitions, cleaner bool
	cmd := &cobra.Command{
		Use:     "describe TOPIC...",
		Aliases: []string{"info"},
		Short:   "Show a topic's summary, configs, partitions and compaction",
		Long: `Show topics in up to four sections: SUMMARY (id, partition and replica
counts), CONFIGS (every topic config with its value and where the value comes
from: DYNAMIC_TOPIC_CONFIG for the topic's own overrides, the broker levels,
or DEFAULT_CONFIG), PARTITIONS (leader, epoch, replicas, in-sync replicas,
log start offset and high watermark of each partition) and, for a compacted
topic, CLEANER: the log cleaner's state of each partition (dirty ratio and
dirty bytes, compaction passes, bytes cleaned and reclaimed since the broker
started, time since the last pass, and UNCLEANABLE after a pass failed).
-s, -c, -p and -l choose sections; without them all are printed.

The Kafka protocol does not carry the cleaner's state: it is read from the
broker's admin endpoint (/metrics on --admin, default 127.0.0.1:9644, or
PLEXUS_ADMIN), which must belong to the cluster --brokers points at. When
the endpoint cannot be read, CLEANER says why and the rest is printed as
usual. In a cluster the endpoint shows the partitions of its own broker.`,
		Example: `  plexus topic describe orders
  plexus topic describe orders -p        # partitions only
  plexus topic describe orders -c        # configs only
  plexus topic describe orders payments --format json
  plexus topic describe users -l --admin 10.0.0.5:9644   # compaction state`,
		Args: cobra.MinimumNArgs(1),
	}
	format := out.FormatFlag(cmd)
	f := cmd.Flags()
	f.BoolVarP(&summary, "print-summary", "s", false, "print the summary section")
	f.BoolVarP(&configs, "print-configs", "c", false, "print the configs section")
	f.BoolVarP(&partitions, "print-partitions", "p", false, "print the partitions section")
	f.BoolVarP(&cleaner, "print-cleaner", "l", false, "print the log cleaner section (compacted topics; reads --admin)")
	adm := admin.AddFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, topics []string) error {
		if err := out.CheckFormat(*format); err != nil {
			return err
		}
		if !summary && !configs && !partitions && !cleaner {
			summary, configs, partitions, cleaner = true, true, true, true
		}
		ctx := cmd.Context()
		cl, err := k.Admin(ctx)
		if err != nil {
			return err
		}
		defer cl.Close()
		details, err := cl.ListTopicsWithInternal(ctx, topics...)
		if err != nil {
			return kafka.Explain(err)
		}
		var missing []string
		var found []string
		for _, t := range topics {
			if d, ok := details[t]; !ok || d.Err != nil {
				missing = append(missing, t)
			} else {
				found = append(found, t)
			}
		}
		var starts, ends kadm.ListedOffsets
		if partitions && len(found) > 0 {
			if starts, err = cl.ListStartOffsets(ctx, found...); err != nil {
				return kafka.Explain(err)
			}
			if ends, err = cl.ListEndOffsets(ctx, found...); err != nil {
				return kafka.Explain(err)
			}
		}
		var rcs kadm.ResourceConfigs
		if (configs || cleaner) && len(found) > 0 {
			// The cleaner section needs cleanup.policy.
			if rcs, err = cl.DescribeTopicConfigs(ctx, found...); err != nil {
				return kafka.Explain(err)
			}
		}
		var stats *cleanerStats
		if cleaner && anyCompacted(rcs, found) {
			stats = readCleanerStats(ctx, cl, adm)
		}
		var all []described
		for _, name := range found {
			d := details[name]
			td := described{Name: name, ID: kafka.TopicID(d.ID), Internal: d.IsInternal, Replicas: replicas(d)}
			if partitions {
				for _, p := range d.Partitions.Sorted() {
					dp := describedPartition{Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, Replicas: nonNil(p.Replicas), ISR: nonNil(p.ISR), LogStartOffset: -1, HighWatermark: -1}
					if o, ok := starts.Lookup(name, p.Partition); ok && o.Err == nil {
						dp.LogStartOffset = o.Offset
					}
					if o, ok := ends.Lookup(name, p.Partition); ok && o.Err == nil {
						dp.HighWatermark = o.Offset
					}
					if p.Err != nil {
						dp.Error = kafka.Status(p.Err, "")
					}
					td.Partitions = append(td.Partitions, dp)
				}
			}
			if configs || cleaner {
				rc, err := rcs.On(name, nil)
				if err == nil {
					err = rc.Err
				}
				if err != nil {
					return fmt.Errorf("configs of topic %s: %s", name, kafka.Status(err, rc.ErrMessage))
				}
				if configs {
					for _, c := range rc.Configs {
						td.Configs = append(td.Configs, describedConfig{Key: c.Key, Value: c.MaybeValue(), Source: c.Source.String(), Sensitive: c.Sensitive})
					}
					sort.Slice(td.Configs, func(i, j int) bool { return td.Configs[i].Key < td.Configs[j].Key })
				}
				if cleaner && compacted(rc) {
					td.Cleaner = stats.topic(name)
				}
			}
			all = append(all, td)
		}
		w := cmd.OutOrStdout()
		if *format == out.JSON {
			if all == nil {
				all = []described{}
			}
			err = out.WriteJSON(w, all)
		} else {
			for i, td := range all {
				if i > 0 {
					fmt.Fprintln(w)
				}
				if err = printDescribed(w, td, len(details[td.Name].Partitions), summary, configs, partitions, cleaner); err != nil {
					break
				}
			}
		}
		if err == nil && len(missing) > 0 {
			err = errors.New("no such topic: " + strings.Join(missing, ", ") + " (see the topics with `plexus topic list`)")
		}
		return err
	}
	return cmd
}

func printDescribed(w io.Writer, td described, nparts int, summary, configs, partitions, cleaner bool) error {
	sections := 0
	gap := func() {
		if sections > 0 {
			fmt.Fprintln(w)
		}
		sections++
	}
	if summary {
		gap()
		out.Section(w, "summary")
		pairs := []any{"NAME", td.Name, "ID", td.ID, "PARTITIONS", nparts, "REPLICAS", td.Replicas}
		if td.Internal {
			pairs = append(pairs, "INTERNAL", true)
		}
		if err := out.KV(w, pairs...); err != nil {
			return err
		}
	}
	if configs {
		gap()
		out.Section(w, "configs")
		t := out.NewTable(w, "key", "value", "source")
		for _, c := range td.Configs {
			v := c.Value
			if c.Sensitive {
				v = "(sensitive)"
			}
			t.Row(c.Key, v, c.Source)
		}
		if err := t.Flush(); err != nil {
			return err
		}
	}
	if partitions {
		gap()
		out.Section(w, "partitions")
		t := out.NewTable(w, "partition", "leader", "epoch", "replicas", "isr", "log-start-offset", "high-watermark")
		for _, p := range td.Partitions {
			if p.Error != "" {
				t.Row(p.Partition, "-", "-", "-", "-", "-", p.Error)
				continue
			}
			t.Row(p.Partition, p.Leader, p.LeaderEpoch, ids(p.Replicas), ids(p.ISR), offset(p.LogStartOffset), offset(p.HighWatermark))
		}
		if err := t.Flush(); err != nil {
			return err
		}
	}
	if cleaner && td.Cleaner != nil {
		gap()
		if err := printCleaner(w, td.Cleaner); err != nil {
			return err
		}
	}
	return nil
}

func nonNil(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}

// ids prints broker ids as Kafka's tools do: [0 1 2].
func ids(s []int32) string { return fmt.Sprint(s) }

func offset(o int64) any {
	if o < 0 {
		return "-"
	}
	return o
}

package topic

import (
	"sort"

	"github.com/spf13/cobra"

	"github.com/plexus/plexus/internal/cli/kafka"
	"github.com/plexus/plexus/internal/cli/out"
)

func createCommand(k *kafka.Options) *cobra.Command {
	var (
		partitions int32
		replicas   int16
		configs    []string
		dryRun     bool
	)
	cmd := &cobra.Command{
		Use:   "create TOPIC...",
		Short: "Create topics",
		Long: `Create one or more topics. Without -p or -r the broker's num.partitions and
default.replication.factor apply. Topic configs given with -c override the
broker defaults for these topics only.`,
		Example: `  plexus topic create orders
  plexus topic create orders payments -p 12
  plexus topic create events -p 3 -c retention.ms=86400000 -c cleanup.policy=compact
  plexus topic create orders --dry-run   # validate only`,
		Args: cobra.MinimumNArgs(1),
	}
	format := out.FormatFlag(cmd)
	f := cmd.Flags()
	f.Int32VarP(&partitions, "partitions", "p", -1, "partitions per topic (-1: the broker's num.partitions)")
	f.Int16VarP(&replicas, "replicas", "r", -1, "replicas of each partition (-1: the broker's default.replication.factor)")
	f.StringArrayVarP(&configs, "topic-config", "c", nil, "topic config as key=value (repeatable), e.g. -c retention.ms=3600000")
	f.BoolVarP(&dryRun, "dry-run", "d", false, "validate the request without creating anything")
	cmd.RunE = func(cmd *cobra.Command, topics []string) error {
		if err := out.CheckFormat(*format); err != nil {
			return err
		}
		cfg, err := kafka.ParseKV("-c", configs)
		if err != nil {
			return err
		}
		adm, err := k.Admin(cmd.Context())
		if err != nil {
			return err
		}
		defer adm.Close()
		create := adm.CreateTopics
		if dryRun {
			create = adm.ValidateCreateTopics
		}
		resps, err := create(cmd.Context(), partitions, replicas, cfg, topics...)
		if err != nil {
			return kafka.Explain(err)
		}
		type created struct {
			result
			ID         string `json:"id,omitempty"`
			Partitions int32  `json:"partitions"`
			Replicas   int16  `json:"replicas"`
		}
		var rows []created
		var rs []result
		for _, r := range resps.Sorted() {
			c := created{result: newResult(r.Topic, r.Err, r.ErrMessage), ID: kafka.TopicID(r.ID), Partitions: r.NumPartitions, Replicas: r.ReplicationFactor}
			if dryRun && !c.failed {
				c.Status = "OK (dry run)"
			}
			rows = append(rows, c)
			rs = append(rs, c.result)
		}
		sort.Slice(rows, func(i, j int) bool { return rows[i].Topic < rows[j].Topic })
		w := cmd.OutOrStdout()
		if *format == out.JSON {
			if err := out.WriteJSON(w, rows); err != nil {
				return err
			}
		} else {
			t := out.NewTable(w, "topic", "partitions", "replicas", "status")
			for _, r := range rows {
				status := r.Status
				p, rf := any(r.Partitions), any(r.Replicas)
				if r.failed {
					status, p, rf = r.Error, "-", "-"
				}
				t.Row(r.Topic, p, rf, status)
			}
			if err := t.Flush(); err != nil {
				return err
			}
		}
		return failures(rs, "created")
	}
	return cmd
}

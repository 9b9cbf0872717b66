package topic

import (
	"sort"

	"github.com/spf13/cobra"

	"github.com/plexus/plexus/internal/cli/kafka"
	"github.com/plexus/plexus/internal/cli/out"
)

func deleteCommand(k *kafka.Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "delete TOPIC...",
		Aliases: []string{"rm"},
		Short:   "Delete topics and all their records",
		Long:    `Delete topics. Their records are removed from disk and cannot be recovered.`,
		Example: `  plexus topic delete orders
  plexus topic delete orders payments --format json`,
		Args: cobra.MinimumNArgs(1),
	}
	format := out.FormatFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, topics []string) error {
		if err := out.CheckFormat(*format); err != nil {
			return err
		}
		adm, err := k.Admin(cmd.Context())
		if err != nil {
			return err
		}
		defer adm.Close()
		resps, err := adm.DeleteTopics(cmd.Context(), topics...)
		if err != nil {
			return kafka.Explain(err)
		}
		var rs []result
		for _, r := range resps.Sorted() {
			rs = append(rs, newResult(r.Topic, r.Err, r.ErrMessage))
		}
		sort.Slice(rs, func(i, j int) bool { return rs[i].Topic < rs[j].Topic })
		if err := printResults(cmd.OutOrStdout(), *format, rs); err != nil {
			return err
		}
		return failures(rs, "deleted")
	}
	return cmd
}

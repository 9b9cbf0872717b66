package topic

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/plexus/plexus/internal/cli/kafka"
	"github.com/plexus/plexus/internal/cli/out"
)

func addPartitionsCommand(k *kafka.Options) *cobra.Command {
	var num int
	cmd := &cobra.Command{
		Use:   "add-partitions TOPIC...",
		Short: "Add partitions to topics",
		Long: `Add partitions to existing topics. Partitions can only be added, never
removed; keys hash to different partitions afterwards, so records with the
same key may land in a new partition.`,
		Example: `  plexus topic add-partitions orders -n 3
  plexus topic add-partitions orders payments --num 1`,
		Args: cobra.MinimumNArgs(1),
	}
	format := out.FormatFlag(cmd)
	cmd.Flags().IntVarP(&num, "num", "n", 0, "number of partitions to add to each topic (required)")
	cmd.RunE = func(cmd *cobra.Command, topics []string) error {
		if err := out.CheckFormat(*format); err != nil {
			return err
		}
		if num <= 0 {
			return errors.New("pass how many partitions to add with -n, e.g. -n 3")
		}
		adm, err := k.Admin(cmd.Context())
		if err != nil {
			return err
		}
		defer adm.Close()
		resps, err := adm.CreatePartitions(cmd.Context(), num, topics...)
		if err != nil {
			return kafka.Explain(err)
		}
		var rs []result
		for _, r := range resps.Sorted() {
			rs = append(rs, newResult(r.Topic, r.Err, r.ErrMessage))
		}
		if err := printResults(cmd.OutOrStdout(), *format, rs); err != nil {
			return err
		}
		return failures(rs, "changed")
	}
	return cmd
}

package group

import (
	"github.com/spf13/cobra"

	"github.com/plexus/plexus/internal/cli/kafka"
	"github.com/plexus/plexus/internal/cli/out"
)

func listCommand(k *kafka.Options) *cobra.Command {
	var states []string
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List consumer groups",
		Example: `  plexus group list
  plexus group list --state Stable --state Empty
  plexus group list --format json`,
		Args: cobra.NoArgs,
	}
	format := out.FormatFlag(cmd)
	cmd.Flags().StringArrayVar(&states, "state", nil, "list only groups in this state: Stable, Empty, PreparingRebalance, CompletingRebalance or Dead (repeatable)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := out.CheckFormat(*format); err != nil {
			return err
		}
		ctx := cmd.Context()
		adm, err := k.Admin(ctx)
		if err != nil {
			return err
		}
		defer adm.Close()
		if err := kafka.RequireAPIs(ctx, adm, "consumer groups", keyListGroups); err != nil {
			return err
		}
		groups, err := adm.ListGroups(ctx, states...)
		if err != nil {
			return kafka.Explain(err)
		}
		type listed struct {
			Group        string `json:"group"`
			Coordinator  int32  `json:"coordinator"`
			State        string `json:"state"`
			ProtocolType string `json:"protocol_type"`
		}
		rows := []listed{}
		for _, g := range groups.Sorted() {
			rows = append(rows, listed{g.Group, g.Coordinator, g.State, g.ProtocolType})
		}
		w := cmd.OutOrStdout()
		if *format == out.JSON {
			return out.WriteJSON(w, rows)
		}
		t := out.NewTable(w, "group", "coordinator", "state", "protocol-type")
		for _, r := range rows {
			t.Row(r.Group, r.Coordinator, r.State, r.ProtocolType)
		}
		return t.Flush()
	}
	return cmd
}

package group

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/plexus/plexus/internal/cli/kafka"
	"github.com/plexus/plexus/internal/cli/out"
)

func deleteCommand(k *kafka.Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "delete GROUP...",
		Aliases: []string{"rm"},
		Short:   "Delete consumer groups and their committed offsets",
		Long: `Delete consumer groups with their committed offsets. A group with active
members cannot be deleted: stop its consumers first.`,
		Example: `  plexus group delete billing
  plexus group delete billing shipping --format json`,
		Args: cobra.MinimumNArgs(1),
	}
	format := out.FormatFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, groups []string) error {
		if err := out.CheckFormat(*format); err != nil {
			return err
		}
		ctx := cmd.Context()
		adm, err := k.Admin(ctx)
		if err != nil {
			return err
		}
		defer adm.Close()
		if err := kafka.RequireAPIs(ctx, adm, "consumer groups", keyFindCoordinator, keyDeleteGroups); err != nil {
			return err
		}
		resps, err := adm.DeleteGroups(ctx, groups...)
		if err != nil {
			return kafka.Explain(err)
		}
		type deleted struct {
			Group  string `json:"group"`
			Status string `json:"status"`
			Error  string `json:"error,omitempty"`
		}
		var rows []deleted
		failed := 0
		for _, r := range resps.Sorted() {
			d := deleted{Group: r.Group, Status: "OK"}
			if r.Err != nil {
				failed++
				d.Status, d.Error = "FAILED", kafka.Status(r.Err, r.ErrMessage)
				if errors.Is(r.Err, kerr.NonEmptyGroup) {
					d.Error += " (stop the group's consumers first)"
				}
			}
			rows = append(rows, d)
		}
		w := cmd.OutOrStdout()
		if *format == out.JSON {
			err = out.WriteJSON(w, rows)
		} else {
			t := out.NewTable(w, "group", "status")
			for _, r := range rows {
				s := r.Status
				if r.Error != "" {
					s = r.Error
				}
				t.Row(r.Group, s)
			}
			err = t.Flush()
		}
		if err == nil && failed > 0 {
			err = fmt.Errorf("%d of %d groups not deleted", failed, len(rows))
		}
		return err
	}
	return cmd
}

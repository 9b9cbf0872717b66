package txn

import (
	"fmt"
	"sort"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/plexus/plexus/internal/cli/kafka"
	"github.com/plexus/plexus/internal/cli/out"
)

func listCommand(k *kafka.Options) *cobra.Command {
	var (
		states  []string
		pids    []int64
		longer  time.Duration
		pattern string
	)
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List transactional ids and the state of their transactions",
		Long: `List the transactional ids the transaction coordinators know, with their
producer id and state: Empty (no transaction yet), Ongoing, PrepareCommit,
PrepareAbort (ending), CompleteCommit or CompleteAbort (the last one ended).`,
		Example: `  plexus txn list
  plexus txn list --state Ongoing
  plexus txn list --state Ongoing --running-longer-than 10m
  plexus txn list --producer-id 4000 --format json
  plexus txn list --pattern '^payments-'`,
		Args: cobra.NoArgs,
	}
	format := out.FormatFlag(cmd)
	f := cmd.Flags()
	f.StringArrayVar(&states, "state", nil, "list only transactions in this state (repeatable)")
	f.Int64SliceVar(&pids, "producer-id", nil, "list only these producer ids (repeatable)")
	f.DurationVar(&longer, "running-longer-than", 0, "list only transactions running longer than this, e.g. 5m")
	f.StringVar(&pattern, "pattern", "", "list only transactional ids matching this regular expression (RE2)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := out.CheckFormat(*format); err != nil {
			return err
		}
		ctx := cmd.Context()
		cl, err := k.Client(ctx)
		if err != nil {
			return err
		}
		defer cl.Close()
		req := kmsg.NewPtrListTransactionsRequest()
		req.StateFilters, req.ProducerIDFilters = states, pids
		if longer > 0 {
			req.DurationFilterMillis = longer.Milliseconds()
		}
		if pattern != "" {
			req.TransactionalIDPattern = &pattern
		}
		type listed struct {
			TransactionalID string `json:"transactional_id"`
			Coordinator     int32  `json:"coordinator"`
			ProducerID      int64  `json:"producer_id"`
			State           string `json:"state"`
		}
		rows := []listed{}
		var unknown []string
		for _, shard := range cl.RequestSharded(ctx, req) {
			if shard.Err != nil {
				return kafka.Explain(fmt.Errorf("broker %d: %w", shard.Meta.NodeID, shard.Err))
			}
			resp := shard.Resp.(*kmsg.ListTransactionsResponse)
			if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
				return kafka.Explain(fmt.Errorf("broker %d: %w", shard.Meta.NodeID, err))
			}
			unknown = append(unknown, resp.UnknownStateFilters...)
			for _, s := range resp.TransactionStates {
				rows = append(rows, listed{s.TransactionalID, shard.Meta.NodeID, s.ProducerID, s.TransactionState})
			}
		}
		if len(unknown) > 0 {
			return fmt.Errorf("unknown --state %v: use Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit or CompleteAbort", unknown)
		}
		sort.Slice(rows, func(i, j int) bool { return rows[i].TransactionalID < rows[j].TransactionalID })
		w := cmd.OutOrStdout()
		if *format == out.JSON {
			return out.WriteJSON(w, rows)
		}
		t := out.NewTable(w, "transactional-id", "coordinator", "producer-id", "state")
		for _, r := range rows {
			t.Row(r.TransactionalID, r.Coordinator, r.ProducerID, r.State)
		}
		return t.Flush()
	}
	return cmd
}

package txn

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/plexus/plexus/internal/cli/kafka"
	"github.com/plexus/plexus/internal/cli/out"
)

// described is one transactional id as `txn describe --format json`
// prints it.
type described struct {
	TransactionalID string          `json:"transactional_id"`
	Coordinator     int32           `json:"coordinator"`
	State           string          `json:"state,omitempty"`
	ProducerID      int64           `json:"producer_id"`
	ProducerEpoch   int16           `json:"producer_epoch"`
	TimeoutMs       int32           `json:"timeout_ms"`
	StartTimestamp  int64           `json:"start_timestamp"`
	Partitions      []txnPartitions `json:"partitions"`
	Error           string          `json:"error,omitempty"`
}

type txnPartitions struct {
	Topic      string  `json:"topic"`
	Partitions []int32 `json:"partitions"`
}

func describeCommand(k *kafka.Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "describe TRANSACTIONAL-ID...",
		Short: "Show a transactional id's producer, state and partitions",
		Long: `Show each transactional id's producer id and epoch, the state of its
transaction, when the transaction started and its timeout, and the
partitions it writes to.`,
		Example: `  plexus txn describe payments-writer
  plexus txn describe a b --format json`,
		Args: cobra.MinimumNArgs(1),
	}
	format := out.FormatFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, ids []string) error {
		if err := out.CheckFormat(*format); err != nil {
			return err
		}
		ctx := cmd.Context()
		adm, err := k.Admin(ctx)
		if err != nil {
			return err
		}
		defer adm.Close()
		if err := kafka.RequireAPIs(ctx, adm, "transactions", keyDescribeTransactions); err != nil {
			return err
		}
		ds, err := adm.DescribeTransactions(ctx, ids...)
		if err != nil && len(ds) == 0 {
			return kafka.Explain(err)
		}
		var all []described
		failed := 0
		for _, id := range ids {
			d := described{TransactionalID: id, ProducerID: -1, ProducerEpoch: -1, StartTimestamp: -1, Partitions: []txnPartitions{}}
			dt, ok := ds[id]
			switch {
			case !ok:
				d.Error = "no answer for this transactional id"
			case dt.Err != nil:
				d.Error = kafka.Status(dt.Err, "")
			default:
				d.Coordinator, d.State = dt.Coordinator, dt.State
				d.ProducerID, d.ProducerEpoch = dt.ProducerID, dt.ProducerEpoch
				d.TimeoutMs, d.StartTimestamp = dt.TimeoutMillis, dt.StartTimestamp
				for _, t := range dt.Topics.Sorted() {
					ps := append([]int32(nil), t.Partitions...)
					sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
					d.Partitions = append(d.Partitions, txnPartitions{t.Topic, ps})
				}
			}
			if d.Error != "" {
				failed++
			}
			all = append(all, d)
		}
		w := cmd.OutOrStdout()
		if *format == out.JSON {
			err = out.WriteJSON(w, all)
		} else {
			now := time.Now()
			for i, d := range all {
				if i > 0 {
					fmt.Fprintln(w)
				}
				if err = printDescribed(w, d, now); err != nil {
					break
				}
			}
		}
		if err == nil && failed > 0 {
			err = fmt.Errorf("%d of %d transactional ids could not be described", failed, len(all))
		}
		return err
	}
	return cmd
}

func printDescribed(w io.Writer, d described, now time.Time) error {
	if d.Error != "" {
		return out.KV(w, "TRANSACTIONAL-ID", d.TransactionalID, "ERROR", d.Error)
	}
	start := "-"
	if d.StartTimestamp >= 0 {
		start = time.UnixMilli(d.StartTimestamp).UTC().Format(time.RFC3339Nano) + " (" + since(d.StartTimestamp, now) + " ago)"
	}
	var parts []string
	for _, p := range d.Partitions {
		for _, n := range p.Partitions {
			parts = append(parts, fmt.Sprintf("%s-%d", p.Topic, n))
		}
	}
	return out.KV(w,
		"TRANSACTIONAL-ID", d.TransactionalID,
		"COORDINATOR", d.Coordinator,
		"STATE", orDash(d.State),
		"PRODUCER-ID", d.ProducerID,
		"PRODUCER-EPOCH", d.ProducerEpoch,
		"TIMEOUT", (time.Duration(d.TimeoutMs) * time.Millisecond).String(),
		"STARTED", start,
		"PARTITIONS", orDash(strings.Join(parts, ", ")),
	)
}

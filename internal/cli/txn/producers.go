package txn

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/plexus/plexus/internal/cli/kafka"
	"github.com/plexus/plexus/internal/cli/out"
)

// producer is one producer's state in a partition, as `txn producers
// --format json` prints it.
type producer struct {
	Topic            string `json:"topic"`
	Partition        int32  `json:"partition"`
	ProducerID       int64  `json:"producer_id"`
	ProducerEpoch    int16  `json:"producer_epoch"`
	LastSequence     int32  `json:"last_sequence"`
	LastTimestamp    int64  `json:"last_timestamp"`
	CoordinatorEpoch int32  `json:"coordinator_epoch"`
	TxnStartOffset   int64  `json:"txn_start_offset"`
}

func producersCommand(k *kafka.Options) *cobra.Command {
	var (
		partitions []int32
		open       bool
	)
	cmd := &cobra.Command{
		Use:   "producers TOPIC",
		Short: "Show the producers writing to a topic's partitions",
		Long: `Show, for each partition of a topic, the idempotent and transactional
producers the partition holds state for: epoch, last sequence number and
timestamp, and for a producer with a transaction open in the partition the
offset where it began (TXN-START-OFFSET). A transaction open for a long time
holds read_committed consumers back; "plexus txn abort" ends it.`,
		Example: `  plexus txn producers orders
  plexus txn producers orders -p 0 -p 3 --open`,
		Args: cobra.ExactArgs(1),
	}
	format := out.FormatFlag(cmd)
	cmd.Flags().Int32SliceVarP(&partitions, "partition", "p", nil, "only these partitions (repeatable)")
	cmd.Flags().BoolVar(&open, "open", false, "only producers with an open transaction")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := out.CheckFormat(*format); err != nil {
			return err
		}
		ctx := cmd.Context()
		adm, err := k.Admin(ctx)
		if err != nil {
			return err
		}
		defer adm.Close()
		if err := kafka.RequireAPIs(ctx, adm, "transactions", keyDescribeProducers); err != nil {
			return err
		}
		rows, err := describeProducers(ctx, adm, args[0], partitions)
		if err != nil {
			return err
		}
		if open {
			kept := rows[:0]
			for _, r := range rows {
				if r.TxnStartOffset >= 0 {
					kept = append(kept, r)
				}
			}
			rows = kept
		}
		w := cmd.OutOrStdout()
		if *format == out.JSON {
			return out.WriteJSON(w, rows)
		}
		now := time.Now()
		t := out.NewTable(w, "partition", "producer-id", "epoch", "last-sequence", "last-write", "coordinator-epoch", "txn-start-offset")
		for _, r := range rows {
			start := any(r.TxnStartOffset)
			if r.TxnStartOffset < 0 {
				start = "-"
			}
			t.Row(r.Partition, r.ProducerID, r.ProducerEpoch, r.LastSequence, since(r.LastTimestamp, now)+" ago", r.CoordinatorEpoch, start)
		}
		return t.Flush()
	}
	return cmd
}

// describeProducers lists the producers of a topic's partitions (all when
// partitions is empty), sorted by partition then producer id.
func describeProducers(ctx context.Context, adm *kadm.Client, topic string, partitions []int32) ([]producer, error) {
	set := kadm.TopicsSet{topic: {}}
	if len(partitions) == 0 {
		details, err := adm.ListTopics(ctx, topic)
		if err != nil {
			return nil, kafka.Explain(err)
		}
		d, ok := details[topic]
		if !ok || d.Err != nil {
			err := d.Err
			if err == nil {
				err = kerr.UnknownTopicOrPartition
			}
			return nil, kafka.Explain(fmt.Errorf("topic %s: %w", topic, err))
		}
		for p := range d.Partitions {
			set[topic][p] = struct{}{}
		}
	} else {
		for _, p := range partitions {
			set[topic][p] = struct{}{}
		}
	}
	ds, err := adm.DescribeProducers(ctx, set)
	if err != nil && len(ds) == 0 {
		return nil, kafka.Explain(err)
	}
	rows := []producer{}
	for _, dp := range ds.SortedPartitions() {
		if dp.Err != nil {
			return nil, kafka.Explain(dp.Err)
		}
		for _, p := range dp.ActiveProducers.Sorted() {
			rows = append(rows, producer{
				Topic: p.Topic, Partition: p.Partition, ProducerID: p.ProducerID, ProducerEpoch: p.ProducerEpoch,
				LastSequence: p.LastSequence, LastTimestamp: p.LastTimestamp,
				CoordinatorEpoch: p.CoordinatorEpoch, TxnStartOffset: p.CurrentTxnStartOffset,
			})
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		return rows[i].Partition < rows[j].Partition || rows[i].Partition == rows[j].Partition && rows[i].ProducerID < rows[j].ProducerID
	})
	return rows, nil
}

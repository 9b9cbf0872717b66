package txn

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/plexus/plexus/internal/cli/kafka"
	"github.com/plexus/plexus/internal/cli/out"
)

func abortCommand(k *kafka.Options) *cobra.Command {
	var (
		topic            string
		partition        int32
		startOffset      int64
		producerID       int64
		producerEpoch    int16
		coordinatorEpoch int32
	)
	cmd := &cobra.Command{
		Use:   "abort --topic TOPIC --partition N (--start-offset OFFSET | --producer-id ID --producer-epoch EPOCH)",
		Short: "Abort a hanging transaction in one partition",
		Long: `Write an abort marker for a transaction left open in a partition (a hanging
transaction: one whose producer and coordinator will never end it), so the
partition's last stable offset moves on and read_committed consumers
continue. Its records become aborted: read_committed consumers skip them.

Name the transaction by the offset where it began in the partition
(--start-offset, the TXN-START-OFFSET of "plexus txn producers"), or by its
producer id and epoch. This is Kafka's kafka-transactions.sh abort: use it
only on a transaction that is really stuck; aborting a live transaction
loses its writes in this partition.`,
		Example: `  plexus txn producers orders -p 3 --open
  plexus txn abort --topic orders --partition 3 --start-offset 1742
  plexus txn abort --topic orders --partition 3 --producer-id 4000 --producer-epoch 2`,
		Args: cobra.NoArgs,
	}
	format := out.FormatFlag(cmd)
	f := cmd.Flags()
	f.StringVar(&topic, "topic", "", "the partition's topic (required)")
	f.Int32Var(&partition, "partition", -1, "the partition (required)")
	f.Int64Var(&startOffset, "start-offset", -1, "the offset where the transaction began in the partition")
	f.Int64Var(&producerID, "producer-id", -1, "the transaction's producer id (instead of --start-offset)")
	f.Int16Var(&producerEpoch, "producer-epoch", -1, "the transaction's producer epoch (with --producer-id)")
	f.Int32Var(&coordinatorEpoch, "coordinator-epoch", -1, "the coordinator epoch for the marker (default: the one the partition last saw, or 0)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := out.CheckFormat(*format); err != nil {
			return err
		}
		if topic == "" || partition < 0 {
			return errors.New("--topic and --partition are required")
		}
		byOffset := startOffset >= 0
		byID := producerID >= 0 || producerEpoch >= 0
		if byOffset == byID {
			return errors.New("name the transaction with --start-offset, or with --producer-id and --producer-epoch")
		}
		if byID && (producerID < 0 || producerEpoch < 0) {
			return errors.New("--producer-id and --producer-epoch go together")
		}
		ctx := cmd.Context()
		adm, err := k.Admin(ctx)
		if err != nil {
			return err
		}
		defer adm.Close()
		if err := kafka.RequireAPIs(ctx, adm, "aborting transactions", keyDescribeProducers, keyWriteTxnMarkers); err != nil {
			return err
		}
		rows, err := describeProducers(ctx, adm, topic, []int32{partition})
		if err != nil {
			return err
		}
		var found *producer
		for i := range rows {
			r := &rows[i]
			if byOffset && r.TxnStartOffset == startOffset || byID && r.ProducerID == producerID {
				found = r
				break
			}
		}
		switch {
		case byOffset && found == nil:
			return fmt.Errorf("no transaction began at offset %d in %s-%d; see the open ones with `plexus txn producers %s -p %d --open`", startOffset, topic, partition, topic, partition)
		case byID && found == nil:
			// The partition forgot the producer; write the marker anyway,
			// as Kafka's tool does with explicit ids.
			found = &producer{Topic: topic, Partition: partition, ProducerID: producerID, ProducerEpoch: producerEpoch, CoordinatorEpoch: -1, TxnStartOffset: -1}
		case byID:
			found.ProducerEpoch = producerEpoch
		}
		ce := coordinatorEpoch
		if ce < 0 {
			ce = max(found.CoordinatorEpoch, 0)
		}
		res, err := adm.WriteTxnMarkers(ctx, kadm.TxnMarkers{
			ProducerID: found.ProducerID, ProducerEpoch: found.ProducerEpoch, Commit: false,
			CoordinatorEpoch: ce, Topics: kadm.TopicsSet{topic: {partition: {}}},
		})
		if err != nil && len(res) == 0 {
			return kafka.Explain(err)
		}
		type aborted struct {
			Topic            string `json:"topic"`
			Partition        int32  `json:"partition"`
			ProducerID       int64  `json:"producer_id"`
			ProducerEpoch    int16  `json:"producer_epoch"`
			CoordinatorEpoch int32  `json:"coordinator_epoch"`
			TxnStartOffset   int64  `json:"txn_start_offset"`
			Status           string `json:"status"`
		}
		a := aborted{topic, partition, found.ProducerID, found.ProducerEpoch, ce, found.TxnStartOffset, "OK"}
		var failed error
		for _, p := range res.SortedPartitions() {
			if p.Err != nil {
				failed = p.Err
				a.Status = kafka.Status(p.Err, "")
			}
		}
		w := cmd.OutOrStdout()
		if *format == out.JSON {
			err = out.WriteJSON(w, []aborted{a})
		} else {
			t := out.NewTable(w, "topic", "partition", "producer-id", "producer-epoch", "coordinator-epoch", "txn-start-offset", "status")
			start := any(a.TxnStartOffset)
			if a.TxnStartOffset < 0 {
				start = "-"
			}
			t.Row(a.Topic, a.Partition, a.ProducerID, a.ProducerEpoch, a.CoordinatorEpoch, start, a.Status)
			err = t.Flush()
		}
		if err == nil && failed != nil {
			err = fmt.Errorf("the abort marker was not written: %w", kafka.Explain(failed))
		}
		return err
	}
	return cmd
}

// Package txn is `plexus txn`: list and describe transactions, show the
// producers writing to partitions, and abort a hanging transaction, one
// file per verb (as Kafka's kafka-transactions.sh).
package txn

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/plexus/plexus/internal/cli/kafka"
)

// API keys the transaction commands need (kmsg numbering).
const (
	keyWriteTxnMarkers      = 27
	keyDescribeProducers    = 61
	keyDescribeTransactions = 65
	keyListTransactions     = 66
)

// Command returns `plexus txn` and its verbs.
func Command() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "txn",
		Aliases: []string{"transactions", "transaction"},
		Short:   "List, describe and abort transactions",
		Long: `Inspect the transactions of transactional producers: which transactional ids
exist and their state, which partitions a transaction writes to, and which
producers hold a partition's last stable offset back.

A transaction left open in a partition with no coordinator to finish it (a
hanging transaction) stops read_committed consumers at its first offset.
Find it with "plexus txn producers", then end it with "plexus txn abort".`,
		Example: `  plexus txn list
  plexus txn list --state Ongoing --running-longer-than 5m
  plexus txn describe payments-writer
  plexus txn producers orders -p 3
  plexus txn abort --topic orders --partition 3 --start-offset 1742`,
		Args: cobra.NoArgs,
	}
	k := kafka.AddFlags(cmd)
	cmd.AddCommand(listCommand(k), describeCommand(k), producersCommand(k), abortCommand(k))
	return cmd
}

// since renders how long ago a millisecond timestamp was, "-" for none.
func since(ms int64, now time.Time) string {
	if ms < 0 {
		return "-"
	}
	return now.Sub(time.UnixMilli(ms)).Truncate(time.Millisecond).String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

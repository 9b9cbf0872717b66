// Package topic is `plexus topic`: create, list, describe, alter-config,
// add-partitions and delete, one file per verb (as rpk's `topic`).
package topic

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/plexus/plexus/internal/cli/kafka"
)

// Command returns `plexus topic` and its verbs.
func Command() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "topic",
		Aliases: []string{"topics"},
		Short:   "Create, list, describe, change and delete topics",
		Long: `Manage topics. Topic configs use Kafka's names (retention.ms, cleanup.policy,
max.message.bytes, ...); docs/configuration.md lists them with their broker
defaults.`,
		Example: `  plexus topic create orders -p 6 -c retention.ms=86400000
  plexus topic list
  plexus topic describe orders
  plexus topic alter-config orders --set retention.ms=3600000
  plexus topic add-partitions orders -n 2
  plexus topic delete orders`,
		Args: cobra.NoArgs,
	}
	k := kafka.AddFlags(cmd)
	cmd.AddCommand(createCommand(k), listCommand(k), describeCommand(k), alterConfigCommand(k), addPartitionsCommand(k), deleteCommand(k))
	return cmd
}

// result is one topic's outcome of a create, alter or delete.
type result struct {
	Topic  string `json:"topic"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	failed bool
}

func newResult(topic string, err error, msg string) result {
	if err == nil {
		return result{Topic: topic, Status: "OK"}
	}
	return result{Topic: topic, Status: "FAILED", Error: kafka.Status(err, msg), failed: true}
}

// failures turns the failed results into the command's error, so the exit
// code says whether everything worked.
func failures(rs []result, verb string) error {
	n := 0
	for _, r := range rs {
		if r.failed {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	if len(rs) == 1 {
		return fmt.Errorf("topic %s not %s: %s", rs[0].Topic, verb, rs[0].Error)
	}
	return fmt.Errorf("%d of %d topics not %s", n, len(rs), verb)
}

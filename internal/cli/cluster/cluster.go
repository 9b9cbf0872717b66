// Package cluster is `plexus cluster`: what the cluster is made of.
package cluster

import (
	"github.com/spf13/cobra"

	"github.com/plexus/plexus/internal/cli/kafka"
)

// Command returns `plexus cluster` and its verbs.
func Command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Show the cluster's brokers, controller, topics and partition leaders",
		Example: `  plexus cluster info
  plexus cluster info --brokers broker1:9092 --format json`,
		Args: cobra.NoArgs,
	}
	k := kafka.AddFlags(cmd)
	cmd.AddCommand(infoCommand(k))
	return cmd
}

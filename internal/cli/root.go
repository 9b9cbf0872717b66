// Package cli builds the plexus command tree (cobra, in the style of rpk):
// one package per noun under internal/cli, one file per verb.
package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/plexus/plexus/internal/cli/bench"
	"github.com/plexus/plexus/internal/cli/cluster"
	"github.com/plexus/plexus/internal/cli/consume"
	"github.com/plexus/plexus/internal/cli/group"
	"github.com/plexus/plexus/internal/cli/produce"
	"github.com/plexus/plexus/internal/cli/serve"
	"github.com/plexus/plexus/internal/cli/topic"
	"github.com/plexus/plexus/internal/cli/txn"
)

// Main runs the command line and returns the process exit code.
func Main(args []string) int {
	root := NewRoot()
	root.SetArgs(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := root.ExecuteContext(ctx); err != nil {
		if !errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "error:", err)
		}
		return 1
	}
	return 0
}

// NewRoot returns the root command with every subcommand.
func NewRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "plexus",
		Short: "A Kafka-compatible streaming platform in one binary",
		Long: `Plexus speaks the Apache Kafka wire protocol: every Kafka client works with it
unmodified. One binary runs the broker and the tools to manage it.`,
		Example: `  # Run a single-node broker on 127.0.0.1:9092 with data in ./plexus-data
  plexus serve

  # In another terminal: make a topic, write to it and read it back
  plexus topic create greetings -p 3
  echo hello | plexus produce greetings
  plexus consume greetings -n 1

  # Look around
  plexus cluster info
  plexus topic describe greetings
  plexus group list

  # Commands that talk to a cluster take --brokers (or PLEXUS_BROKERS)
  plexus topic list --brokers 10.0.0.5:9092,10.0.0.6:9092`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		serve.Command(),
		topic.Command(),
		produce.Command(),
		consume.Command(),
		group.Command(),
		cluster.Command(),
		txn.Command(),
		bench.Command(),
		versionCommand(),
	)
	return root
}

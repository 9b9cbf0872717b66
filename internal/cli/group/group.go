// Package group is `plexus group`: list, describe (members, assignments,
// committed offsets and lag), reset-offsets and delete consumer groups,
// one file per verb (as rpk's `group`).
package group

import (
	"github.com/spf13/cobra"

	"github.com/plexus/plexus/internal/cli/kafka"
)

// API keys the group commands need (kmsg numbering).
const (
	keyOffsetCommit    = 8
	keyOffsetFetch     = 9
	keyFindCoordinator = 10
	keyDescribeGroups  = 15
	keyListGroups      = 16
	keyDeleteGroups    = 42
)

// Command returns `plexus group` and its verbs.
func Command() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "group",
		Aliases: []string{"groups", "g"},
		Short:   "List, describe, reset and delete consumer groups",
		Long: `Inspect and manage consumer groups: which members a group has, which
partitions each member reads, the group's committed offsets and how far
behind the end of each partition they are (lag).`,
		Example: `  plexus group list
  plexus group describe billing
  plexus group reset-offsets billing --topic orders --to-earliest            # dry run
  plexus group reset-offsets billing --topic orders --to-earliest --execute
  plexus group delete billing`,
		Args: cobra.NoArgs,
	}
	k := kafka.AddFlags(cmd)
	cmd.AddCommand(listCommand(k), describeCommand(k), resetOffsetsCommand(k), deleteCommand(k))
	return cmd
}

package topic

import (
	"errors"
	"sort"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/plexus/plexus/internal/cli/kafka"
	"github.com/plexus/plexus/internal/cli/out"
)

func alterConfigCommand(k *kafka.Options) *cobra.Command {
	var sets, deletes []string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "alter-config TOPIC...",
		Short: "Set or remove topic configs",
		Long: `Change topic configs incrementally (IncrementalAlterConfigs): --set adds or
replaces a topic's own value, --delete removes it so the broker default
applies again. Configs not named are left as they are.`,
		Example: `  plexus topic alter-config orders --set retention.ms=3600000
  plexus topic alter-config orders -s cleanup.policy=compact -s min.compaction.lag.ms=60000
  plexus topic alter-config orders --delete retention.ms
  plexus topic alter-config orders --set max.message.bytes=2097152 --dry-run`,
		Args: cobra.MinimumNArgs(1),
	}
	format := out.FormatFlag(cmd)
	f := cmd.Flags()
	f.StringArrayVarP(&sets, "set", "s", nil, "config to set as key=value (repeatable)")
	f.StringArrayVarP(&deletes, "delete", "d", nil, "config to remove, falling back to the broker default (repeatable)")
	f.BoolVar(&dryRun, "dry-run", false, "validate the change without applying it")
	cmd.RunE = func(cmd *cobra.Command, topics []string) error {
		if err := out.CheckFormat(*format); err != nil {
			return err
		}
		if len(sets) == 0 && len(deletes) == 0 {
			return errors.New("nothing to change: pass --set key=value or --delete key")
		}
		kv, err := kafka.ParseKV("--set", sets)
		if err != nil {
			return err
		}
		var alters []kadm.AlterConfig
		for k, v := range kv {
			alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: v})
		}
		for _, k := range deletes {
			alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
		}
		sort.Slice(alters, func(i, j int) bool { return alters[i].Name < alters[j].Name })
		adm, err := k.Admin(cmd.Context())
		if err != nil {
			return err
		}
		defer adm.Close()
		alter := adm.AlterTopicConfigs
		if dryRun {
			alter = adm.ValidateAlterTopicConfigs
		}
		resps, err := alter(cmd.Context(), alters, topics...)
		if err != nil {
			return kafka.Explain(err)
		}
		var rs []result
		for _, r := range resps {
			res := newResult(r.Name, r.Err, r.ErrMessage)
			if dryRun && !res.failed {
				res.Status = "OK (dry run)"
			}
			rs = append(rs, res)
		}
		sort.Slice(rs, func(i, j int) bool { return rs[i].Topic < rs[j].Topic })
		if err := printResults(cmd.OutOrStdout(), *format, rs); err != nil {
			return err
		}
		return failures(rs, "changed")
	}
	return cmd
}

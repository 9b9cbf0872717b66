package topic

import (
	"fmt"
	"regexp"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/plexus/plexus/internal/cli/kafka"
	"github.com/plexus/plexus/internal/cli/out"
)

func listCommand(k *kafka.Options) *cobra.Command {
	var internal, regex bool
	cmd := &cobra.Command{
		Use:     "list [TOPIC...]",
		Aliases: []string{"ls"},
		Short:   "List topics",
		Long: `List topics with their partition and replica counts. With arguments, list
only those topics (or, with -r, the topics matching those regular
expressions). Internal topics (__consumer_offsets, ...) are listed with -i.`,
		Example: `  plexus topic list
  plexus topic list -i
  plexus topic list -r '^orders-'
  plexus topic list --format json`,
	}
	format := out.FormatFlag(cmd)
	cmd.Flags().BoolVarP(&internal, "internal", "i", false, "include internal topics")
	cmd.Flags().BoolVarP(&regex, "regex", "r", false, "treat the arguments as regular expressions")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := out.CheckFormat(*format); err != nil {
			return err
		}
		var res []*regexp.Regexp
		if regex {
			for _, a := range args {
				re, err := regexp.Compile(a)
				if err != nil {
					return fmt.Errorf("-r %q: %w", a, err)
				}
				res = append(res, re)
			}
		}
		adm, err := k.Admin(cmd.Context())
		if err != nil {
			return err
		}
		defer adm.Close()
		var details kadm.TopicDetails
		if len(args) > 0 && !regex {
			details, err = adm.ListTopicsWithInternal(cmd.Context(), args...)
		} else {
			details, err = adm.ListTopicsWithInternal(cmd.Context())
		}
		if err != nil {
			return kafka.Explain(err)
		}
		type listed struct {
			Name       string `json:"name"`
			ID         string `json:"id"`
			Internal   bool   `json:"internal"`
			Partitions int    `json:"partitions"`
			Replicas   int    `json:"replicas"`
		}
		rows := []listed{}
		var missing []string
		for _, d := range details.Sorted() {
			if d.Err != nil {
				missing = append(missing, d.Topic)
				continue
			}
			if d.IsInternal && !internal && len(args) == 0 {
				continue
			}
			if regex && !matchAny(res, d.Topic) {
				continue
			}
			rows = append(rows, listed{Name: d.Topic, ID: kafka.TopicID(d.ID), Internal: d.IsInternal, Partitions: len(d.Partitions), Replicas: replicas(d)})
		}
		w := cmd.OutOrStdout()
		if *format == out.JSON {
			err = out.WriteJSON(w, rows)
		} else {
			t := out.NewTable(w, "name", "partitions", "replicas")
			for _, r := range rows {
				t.Row(r.Name, r.Partitions, r.Replicas)
			}
			err = t.Flush()
		}
		if err == nil && len(missing) > 0 {
			err = fmt.Errorf("no such topic: %v (see all topics with `plexus topic list`)", missing)
		}
		return err
	}
	return cmd
}

func matchAny(res []*regexp.Regexp, s string) bool {
	if len(res) == 0 {
		return true
	}
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// replicas is a topic's replication factor: the replica count of its
// first partition.
func replicas(d kadm.TopicDetail) int {
	if p, ok := d.Partitions[0]; ok {
		return len(p.Replicas)
	}
	for _, p := range d.Partitions {
		return len(p.Replicas)
	}
	return 0
}

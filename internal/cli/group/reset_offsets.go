package group

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/plexus/plexus/internal/cli/kafka"
	"github.com/plexus/plexus/internal/cli/out"
)

type resetRow struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Current   int64  `json:"current_offset"` // -1: none committed
	New       int64  `json:"new_offset"`
}

func resetOffsetsCommand(k *kafka.Options) *cobra.Command {
	var (
		topics               []string
		toEarliest, toLatest bool
		toTimestamp          string
		toOffset             int64
		execute              bool
	)
	cmd := &cobra.Command{
		Use:   "reset-offsets GROUP",
		Short: "Move a group's committed offsets (dry run unless --execute)",
		Long: `Set the committed offsets of a consumer group, so that its consumers resume
from the earliest or latest records, from a point in time or from a given
offset. The group must have no active members: stop its consumers first.

Without --execute the command only prints the offsets it would commit.
Without --topic it resets every partition the group has committed offsets
for. --to-offset is kept within each partition's log start and end offsets.`,
		Example: `  plexus group reset-offsets billing --topic orders --to-earliest
  plexus group reset-offsets billing --topic orders --to-earliest --execute
  plexus group reset-offsets billing --topic orders:0,1 --to-offset 1000 --execute
  plexus group reset-offsets billing --to-timestamp 2024-05-01T00:00:00Z --execute
  plexus group reset-offsets billing --to-timestamp -2h --execute   # two hours ago
  plexus group reset-offsets billing --to-latest --execute          # skip everything unread`,
		Args: cobra.ExactArgs(1),
	}
	format := out.FormatFlag(cmd)
	f := cmd.Flags()
	f.StringArrayVarP(&topics, "topic", "t", nil, "topic to reset, or topic:0,1,2 for some partitions (repeatable; default: every topic the group committed)")
	f.BoolVar(&toEarliest, "to-earliest", false, "reset to each partition's log start offset")
	f.BoolVar(&toLatest, "to-latest", false, "reset to each partition's end (high watermark)")
	f.StringVar(&toTimestamp, "to-timestamp", "", "reset to the first record at or after a time: ms since the epoch, 2006-01-02, 2006-01-02T15:04:05Z, or -1h")
	f.Int64Var(&toOffset, "to-offset", -1, "reset to this offset")
	f.BoolVar(&execute, "execute", false, "commit the new offsets (without it: a dry run)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		group := args[0]
		if err := out.CheckFormat(*format); err != nil {
			return err
		}
		chosen := 0
		for _, set := range []bool{toEarliest, toLatest, toTimestamp != "", cmd.Flags().Changed("to-offset")} {
			if set {
				chosen++
			}
		}
		if chosen != 1 {
			return errors.New("say where to reset with exactly one of --to-earliest, --to-latest, --to-timestamp or --to-offset")
		}
		if cmd.Flags().Changed("to-offset") && toOffset < 0 {
			return fmt.Errorf("--to-offset %d: want 0 or more", toOffset)
		}
		var millis int64
		if toTimestamp != "" {
			var err error
			if millis, err = kafka.ParseTime(toTimestamp, time.Now()); err != nil {
				return fmt.Errorf("--to-timestamp: %v", err)
			}
		}
		want, err := parseTopics(topics)
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		adm, err := k.Admin(ctx)
		if err != nil {
			return err
		}
		defer adm.Close()
		if err := kafka.RequireAPIs(ctx, adm, "consumer groups", keyFindCoordinator, keyDescribeGroups, keyOffsetFetch, keyOffsetCommit); err != nil {
			return err
		}
		described, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			return kafka.Explain(err)
		}
		// A group that does not exist (GROUP_ID_NOT_FOUND from Kafka 4,
		// state Dead before) has no members: committing creates it.
		if d, ok := described[group]; ok && !errors.Is(d.Err, kerr.GroupIDNotFound) {
			if d.Err != nil {
				return fmt.Errorf("describing group %s: %s", group, kafka.Status(d.Err, d.ErrMessage))
			}
			if len(d.Members) > 0 || (d.State != "Empty" && d.State != "Dead" && d.State != "") {
				return fmt.Errorf("group %s has %d active members (state %s): stop its consumers, then reset its offsets", group, len(d.Members), d.State)
			}
		}
		current, err := adm.FetchOffsets(ctx, group)
		if errors.Is(err, kerr.GroupIDNotFound) {
			current, err = kadm.OffsetResponses{}, nil
		}
		if err != nil {
			return kafka.Explain(err)
		}
		// The partitions to reset.
		targets := map[string][]int32{}
		if len(want) == 0 {
			current.Each(func(o kadm.OffsetResponse) {
				if o.Err == nil {
					targets[o.Topic] = append(targets[o.Topic], o.Partition)
				}
			})
			if len(targets) == 0 {
				return fmt.Errorf("group %s has no committed offsets: name the topics to reset with --topic", group)
			}
		} else {
			names := make([]string, 0, len(want))
			for t := range want {
				names = append(names, t)
			}
			details, err := adm.ListTopics(ctx, names...)
			if err != nil {
				return kafka.Explain(err)
			}
			for t, ps := range want {
				d, ok := details[t]
				if !ok || d.Err != nil {
					return fmt.Errorf("topic %s does not exist (see the topics with `plexus topic list`)", t)
				}
				if len(ps) == 0 {
					ps = d.Partitions.Numbers()
				}
				for _, p := range ps {
					if _, ok := d.Partitions[p]; !ok {
						return fmt.Errorf("topic %s has no partition %d (it has %d)", t, p, len(d.Partitions))
					}
				}
				targets[t] = ps
			}
		}
		names := make([]string, 0, len(targets))
		for t := range targets {
			names = append(names, t)
		}
		starts, err := adm.ListStartOffsets(ctx, names...)
		if err != nil {
			return kafka.Explain(err)
		}
		ends, err := adm.ListEndOffsets(ctx, names...)
		if err != nil {
			return kafka.Explain(err)
		}
		var times kadm.ListedOffsets
		if toTimestamp != "" {
			if times, err = adm.ListOffsetsAfterMilli(ctx, millis, names...); err != nil {
				return kafka.Explain(err)
			}
		}
		var rows []resetRow
		commit := kadm.Offsets{}
		for t, ps := range targets {
			for _, p := range ps {
				s, ok1 := starts.Lookup(t, p)
				e, ok2 := ends.Lookup(t, p)
				if !ok1 || !ok2 || s.Err != nil || e.Err != nil {
					return fmt.Errorf("listing offsets of %s-%d: %v", t, p, kafka.Explain(errors.Join(s.Err, e.Err)))
				}
				var at int64
				switch {
				case toEarliest:
					at = s.Offset
				case toLatest:
					at = e.Offset
				case toTimestamp != "":
					at = e.Offset
					if o, ok := times.Lookup(t, p); ok && o.Err == nil && o.Offset >= 0 {
						at = o.Offset
					}
				default:
					at = min(max(toOffset, s.Offset), e.Offset)
				}
				row := resetRow{Topic: t, Partition: p, Current: -1, New: at}
				if o, ok := current.Lookup(t, p); ok && o.Err == nil {
					row.Current = o.At
				}
				rows = append(rows, row)
				commit.Add(kadm.Offset{Topic: t, Partition: p, At: at, LeaderEpoch: -1})
			}
		}
		sort.Slice(rows, func(i, j int) bool {
			if rows[i].Topic != rows[j].Topic {
				return rows[i].Topic < rows[j].Topic
			}
			return rows[i].Partition < rows[j].Partition
		})
		if execute {
			resps, err := adm.CommitOffsets(ctx, group, commit)
			if err != nil {
				return kafka.Explain(err)
			}
			if err := resps.Error(); err != nil {
				return fmt.Errorf("committing the new offsets of group %s: %s", group, kafka.Status(err, ""))
			}
		}
		w := cmd.OutOrStdout()
		if *format == out.JSON {
			err = out.WriteJSON(w, struct {
				Group      string     `json:"group"`
				Executed   bool       `json:"executed"`
				Partitions []resetRow `json:"partitions"`
			}{group, execute, rows})
		} else {
			t := out.NewTable(w, "group", "topic", "partition", "current-offset", "new-offset")
			for _, r := range rows {
				t.Row(group, r.Topic, r.Partition, dash(r.Current), r.New)
			}
			err = t.Flush()
		}
		if err != nil {
			return err
		}
		if !execute {
			fmt.Fprintln(cmd.ErrOrStderr(), "Dry run: nothing was committed. Run again with --execute to apply.")
		}
		return nil
	}
	return cmd
}

// parseTopics reads --topic values: "t" (every partition) or "t:0,1".
func parseTopics(ts []string) (map[string][]int32, error) {
	out := map[string][]int32{}
	for _, s := range ts {
		name, parts, hasParts := strings.Cut(s, ":")
		if name == "" {
			return nil, fmt.Errorf("--topic %q: want a topic name or topic:0,1,2", s)
		}
		if !hasParts {
			out[name] = nil
			continue
		}
		for _, p := range strings.Split(parts, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 32)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("--topic %q: %q is not a partition number", s, p)
			}
			if !slices.Contains(out[name], int32(n)) {
				out[name] = append(out[name], int32(n))
			}
		}
	}
	return out, nil
}

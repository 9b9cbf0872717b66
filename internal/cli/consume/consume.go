// Package consume is `plexus consume`: records of topics to standard
// output, as kcat -C and rpk topic consume.
package consume

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/plexus/plexus/internal/cli/kafka"
	"github.com/plexus/plexus/internal/cli/out"
)

// Command returns `plexus consume`.
func Command() *cobra.Command {
	var (
		offset, group, format string
		num                   int
		partitions            []int32
		exitAtEnd, committed  bool
	)
	cmd := &cobra.Command{
		Use:   "consume TOPIC...",
		Short: "Consume records to standard output",
		Long: `Print the records of one or more topics to standard output, following new
records until interrupted (Ctrl-C), until -n records were printed, or, with
-e, until the end of every partition as it was when the command started.

Without a group every partition is read from -o. With -g the command joins
the consumer group: partitions are shared with the group's other members,
reading starts from the group's committed offsets (-o applies where the
group has none), and the offsets of the records printed are committed.

` + FormatHelp,
		Example: `  plexus consume orders                     # all records, then wait for more
  plexus consume orders -o end              # only new records
  plexus consume orders -o -10 -e           # the last 10 records of each partition, then exit
  plexus consume orders -o @-1h -n 100      # 100 records from an hour ago on
  plexus consume orders -f '%p:%o %k=%v\n'  # partition, offset, key and value
  plexus consume orders -f json | jq .value
  plexus consume orders -g billing          # as a member of the group billing`,
		Args: cobra.MinimumNArgs(1),
	}
	k := kafka.AddFlags(cmd)
	f := cmd.Flags()
	f.StringVarP(&offset, "offset", "o", "start", "where to start: "+offsetHelp)
	f.IntVarP(&num, "num", "n", 0, "exit after printing this many records (0: no limit)")
	f.StringVarP(&group, "group", "g", "", "consume as a member of this consumer group, committing offsets")
	f.StringVarP(&format, "format", "f", `%v\n`, formatFlagHelp)
	f.Int32SliceVarP(&partitions, "partitions", "p", nil, "consume only these partitions, e.g. -p 0,2 (not with -g)")
	f.BoolVarP(&exitAtEnd, "exit-at-end", "e", false, "exit once every partition is read to the end it had at the start (not with -g)")
	f.BoolVar(&committed, "read-committed", false, "skip records of aborted and open transactions (isolation level read_committed)")
	cmd.RunE = func(cmd *cobra.Command, topics []string) error {
		fmtr, err := parseFormat(format)
		if err != nil {
			return err
		}
		spec, err := parseOffset(offset, time.Now())
		if err != nil {
			return err
		}
		if num < 0 {
			return fmt.Errorf("-n %d: want 0 (no limit) or more", num)
		}
		if group != "" && (len(partitions) > 0 || exitAtEnd) {
			return errors.New("-p and -e work without a group: with -g the group decides which partitions this member reads; use -n to stop")
		}
		ctx := cmd.Context()
		opts := []kgo.Opt{kgo.KeepControlRecords(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}
		if committed {
			opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		}
		var ends map[string]map[int32]int64
		if group != "" {
			if err := requireGroups(ctx, k); err != nil {
				return err
			}
			opts = append(opts, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(spec.resetOffset()), kgo.AutoCommitMarks())
		} else {
			var starts map[string]map[int32]kgo.Offset
			starts, ends, err = plan(ctx, k, topics, partitions, spec, committed)
			if err != nil {
				return err
			}
			opts = append(opts, kgo.ConsumePartitions(starts))
		}
		cl, err := k.Client(ctx, opts...)
		if err != nil {
			return err
		}
		defer cl.Close()
		c := &consumer{cl: cl, format: fmtr, num: num, group: group != ""}
		if exitAtEnd {
			c.remaining = ends
		}
		return c.run(cmd)
	}
	return cmd
}

// requireGroups fails at once if the brokers lack the classic consumer
// group protocol, rather than leaving the client to retry forever.
func requireGroups(ctx context.Context, k *kafka.Options) error {
	adm, err := k.Admin(ctx)
	if err != nil {
		return err
	}
	defer adm.Close()
	// FindCoordinator, JoinGroup, SyncGroup, Heartbeat, OffsetCommit, OffsetFetch.
	return kafka.RequireAPIs(ctx, adm, "consumer groups", 10, 11, 14, 12, 8, 9)
}

// plan resolves -o for every partition of the topics (or those of -p)
// and, for -e, notes the partitions' ends.
func plan(ctx context.Context, k *kafka.Options, topics []string, only []int32, spec offsetSpec, committed bool) (map[string]map[int32]kgo.Offset, map[string]map[int32]int64, error) {
	adm, err := k.Admin(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer adm.Close()
	details, err := adm.ListTopicsWithInternal(ctx, topics...)
	if err != nil {
		return nil, nil, kafka.Explain(err)
	}
	for _, t := range topics {
		if d, ok := details[t]; !ok || d.Err != nil {
			return nil, nil, fmt.Errorf("topic %s does not exist (see the topics with `plexus topic list`, or create it with `plexus topic create %s`)", t, t)
		}
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return nil, nil, kafka.Explain(err)
	}
	list := adm.ListEndOffsets
	if committed {
		list = adm.ListCommittedOffsets
	}
	endOffs, err := list(ctx, topics...)
	if err != nil {
		return nil, nil, kafka.Explain(err)
	}
	var times kadm.ListedOffsets
	if spec.kind == atTime {
		if times, err = adm.ListOffsetsAfterMilli(ctx, spec.n, topics...); err != nil {
			return nil, nil, kafka.Explain(err)
		}
	}
	at := map[string]map[int32]kgo.Offset{}
	ends := map[string]map[int32]int64{}
	for _, t := range topics {
		at[t], ends[t] = map[int32]kgo.Offset{}, map[int32]int64{}
		for _, p := range details[t].Partitions.Numbers() {
			if len(only) > 0 && !slices.Contains(only, p) {
				continue
			}
			s, ok1 := starts.Lookup(t, p)
			e, ok2 := endOffs.Lookup(t, p)
			if !ok1 || !ok2 || s.Err != nil || e.Err != nil {
				return nil, nil, fmt.Errorf("listing offsets of %s-%d: %v", t, p, kafka.Explain(errors.Join(s.Err, e.Err)))
			}
			forTime := int64(-1)
			if o, ok := times.Lookup(t, p); ok && o.Err == nil {
				forTime = o.Offset
			}
			first := spec.resolve(s.Offset, e.Offset, forTime)
			at[t][p] = kgo.NewOffset().At(first)
			if first < e.Offset {
				ends[t][p] = e.Offset
			}
		}
		if len(at[t]) == 0 {
			return nil, nil, fmt.Errorf("topic %s has no partition %v (it has %d)", t, only, len(details[t].Partitions))
		}
	}
	return at, ends, nil
}

type consumer struct {
	cl     *kgo.Client
	format formatter
	num    int
	group  bool
	// remaining holds, with -e, the end offset of each partition not yet
	// read to its end.
	remaining map[string]map[int32]int64
	printed   atomic.Int64
}

func (c *consumer) done() bool {
	if c.num > 0 && c.printed.Load() >= int64(c.num) {
		return true
	}
	if c.remaining == nil {
		return false
	}
	for _, ps := range c.remaining {
		if len(ps) > 0 {
			return false
		}
	}
	return true
}

func (c *consumer) run(cmd *cobra.Command) error {
	ctx := cmd.Context()
	w := bufio.NewWriterSize(cmd.OutOrStdout(), 64<<10)
	defer w.Flush()
	var progress *out.Progress
	if !out.IsTerminal(cmd.OutOrStdout()) {
		progress = out.StartProgress(cmd.ErrOrStderr(), func() string { return fmt.Sprintf("consumed %d records", c.printed.Load()) })
	}
	defer progress.Stop()
	var buf []byte
	var runErr error
	for !c.done() {
		max := -1
		if c.num > 0 {
			max = c.num - int(c.printed.Load())
		}
		fs := c.cl.PollRecords(ctx, max)
		if ctx.Err() != nil {
			break
		}
		fs.EachError(func(t string, p int32, err error) {
			if runErr == nil && !errors.Is(err, context.Canceled) {
				runErr = fmt.Errorf("consuming %s-%d: %w", t, p, kafka.Explain(err))
			}
		})
		if runErr != nil {
			break
		}
		fs.EachRecord(func(r *kgo.Record) {
			if c.remaining != nil {
				if ps := c.remaining[r.Topic]; ps != nil {
					if end, ok := ps[r.Partition]; ok && r.Offset+1 >= end {
						delete(ps, r.Partition)
					}
				}
			}
			if r.Attrs.IsControl() || (c.num > 0 && c.printed.Load() >= int64(c.num)) {
				return
			}
			buf = c.format(buf[:0], r)
			w.Write(buf)
			c.printed.Add(1)
			if c.group {
				c.cl.MarkCommitRecords(r)
			}
		})
		if err := w.Flush(); err != nil {
			return err
		}
	}
	if c.group {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := c.cl.CommitMarkedOffsets(cctx); err != nil && runErr == nil {
			runErr = fmt.Errorf("committing the offsets of the records printed: %w", kafka.Explain(err))
		}
	}
	return runErr
}

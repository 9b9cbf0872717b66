package group

import (
	"fmt"
	"io"
	"sort"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/plexus/plexus/internal/cli/kafka"
	"github.com/plexus/plexus/internal/cli/out"
)

type described struct {
	Group        string            `json:"group"`
	Coordinator  int32             `json:"coordinator"`
	State        string            `json:"state"`
	ProtocolType string            `json:"protocol_type"`
	Protocol     string            `json:"protocol"`
	Members      []member          `json:"members"`
	TotalLag     int64             `json:"total_lag"`
	Partitions   []partitionStatus `json:"partitions"`
	Error        string            `json:"error,omitempty"`
}

type member struct {
	MemberID   string       `json:"member_id"`
	InstanceID *string      `json:"instance_id"`
	ClientID   string       `json:"client_id"`
	Host       string       `json:"host"`
	Assigned   []assignment `json:"assigned"`
}

type assignment struct {
	Topic      string  `json:"topic"`
	Partitions []int32 `json:"partitions"`
}

type partitionStatus struct {
	Topic           string `json:"topic"`
	Partition       int32  `json:"partition"`
	CommittedOffset int64  `json:"committed_offset"` // -1: none
	LogStartOffset  int64  `json:"log_start_offset"`
	LogEndOffset    int64  `json:"log_end_offset"`
	Lag             int64  `json:"lag"` // -1: unknown
	MemberID        string `json:"member_id,omitempty"`
	ClientID        string `json:"client_id,omitempty"`
	Host            string `json:"host,omitempty"`
	Error           string `json:"error,omitempty"`
}

func describeCommand(k *kafka.Options) *cobra.Command {
	var summaryOnly bool
	cmd := &cobra.Command{
		Use:   "describe GROUP...",
		Short: "Show a group's members, assignments, committed offsets and lag",
		Long: `Describe consumer groups: their state and members, then one row per
partition the group has committed an offset for or has assigned to a member,
with the committed offset, the partition's log start and end offsets, the lag
(end minus committed) and the member reading it.`,
		Example: `  plexus group describe billing
  plexus group describe billing shipping -s
  plexus group describe billing --format json`,
		Args: cobra.MinimumNArgs(1),
	}
	format := out.FormatFlag(cmd)
	cmd.Flags().BoolVarP(&summaryOnly, "print-summary", "s", false, "print only each group's summary")
	cmd.RunE = func(cmd *cobra.Command, groups []string) error {
		if err := out.CheckFormat(*format); err != nil {
			return err
		}
		ctx := cmd.Context()
		adm, err := k.Admin(ctx)
		if err != nil {
			return err
		}
		defer adm.Close()
		if err := kafka.RequireAPIs(ctx, adm, "consumer groups", keyFindCoordinator, keyDescribeGroups, keyOffsetFetch); err != nil {
			return err
		}
		lags, err := adm.Lag(ctx, groups...)
		if err != nil {
			return kafka.Explain(err)
		}
		var all []described
		failed := 0
		for _, g := range groups {
			l, ok := lags[g]
			d := described{Group: g, Members: []member{}, Partitions: []partitionStatus{}}
			if !ok {
				d.Error = "no answer for this group"
			} else {
				d = describe(l)
			}
			if d.Error != "" {
				failed++
			}
			all = append(all, d)
		}
		w := cmd.OutOrStdout()
		if *format == out.JSON {
			err = out.WriteJSON(w, all)
		} else {
			for i, d := range all {
				if i > 0 {
					fmt.Fprintln(w)
				}
				if err = print(w, d, summaryOnly); err != nil {
					break
				}
			}
		}
		if err == nil && failed > 0 {
			err = fmt.Errorf("%d of %d groups could not be described", failed, len(all))
		}
		return err
	}
	return cmd
}

func describe(l kadm.DescribedGroupLag) described {
	d := described{
		Group: l.Group, Coordinator: l.Coordinator.NodeID, State: l.State,
		ProtocolType: l.ProtocolType, Protocol: l.Protocol,
		Members: []member{}, Partitions: []partitionStatus{},
	}
	if err := l.Error(); err != nil {
		d.Error = kafka.Status(err, "")
		return d
	}
	for _, m := range l.Members {
		mm := member{MemberID: m.MemberID, InstanceID: m.InstanceID, ClientID: m.ClientID, Host: m.ClientHost, Assigned: []assignment{}}
		if c, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range c.Topics {
				ps := append([]int32(nil), t.Partitions...)
				sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
				mm.Assigned = append(mm.Assigned, assignment{Topic: t.Topic, Partitions: ps})
			}
			sort.Slice(mm.Assigned, func(i, j int) bool { return mm.Assigned[i].Topic < mm.Assigned[j].Topic })
		}
		d.Members = append(d.Members, mm)
	}
	for _, ml := range l.Lag.Sorted() {
		ps := partitionStatus{
			Topic: ml.Topic, Partition: ml.Partition,
			CommittedOffset: ml.Commit.At, LogStartOffset: ml.Start.Offset, LogEndOffset: ml.End.Offset, Lag: ml.Lag,
		}
		if ml.Member != nil {
			ps.MemberID, ps.ClientID, ps.Host = ml.Member.MemberID, ml.Member.ClientID, ml.Member.ClientHost
		}
		if ml.Err != nil {
			ps.Error = kafka.Status(ml.Err, "")
		}
		if ps.Lag > 0 {
			d.TotalLag += ps.Lag
		}
		d.Partitions = append(d.Partitions, ps)
	}
	return d
}

func dash(n int64) any {
	if n < 0 {
		return "-"
	}
	return n
}

func print(w io.Writer, d described, summaryOnly bool) error {
	if d.Error != "" {
		return out.KV(w, "GROUP", d.Group, "ERROR", d.Error)
	}
	if err := out.KV(w,
		"GROUP", d.Group,
		"COORDINATOR", d.Coordinator,
		"STATE", orDash(d.State),
		"BALANCER", orDash(d.Protocol),
		"MEMBERS", len(d.Members),
		"TOTAL-LAG", d.TotalLag,
	); err != nil {
		return err
	}
	if summaryOnly || len(d.Partitions) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	t := out.NewTable(w, "topic", "partition", "current-offset", "log-start-offset", "log-end-offset", "lag", "member-id", "client-id", "host")
	for _, p := range d.Partitions {
		lag := dash(p.Lag)
		if p.Error != "" {
			lag = p.Error
		}
		t.Row(p.Topic, p.Partition, dash(p.CommittedOffset), dash(p.LogStartOffset), dash(p.LogEndOffset), lag, orDash(p.MemberID), orDash(p.ClientID), orDash(p.Host))
	}
	return t.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

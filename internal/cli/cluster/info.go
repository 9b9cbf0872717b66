package cluster

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/plexus/plexus/internal/cli/kafka"
	"github.com/plexus/plexus/internal/cli/out"
)

type info struct {
	ClusterID  string   `json:"cluster_id"`
	Controller int32    `json:"controller"`
	Brokers    []broker `json:"brokers"`
	Topics     []topic  `json:"topics"`
}

type broker struct {
	ID   int32   `json:"id"`
	Host string  `json:"host"`
	Port int32   `json:"port"`
	Rack *string `json:"rack"`
}

type topic struct {
	Name       string      `json:"name"`
	ID         string      `json:"id"`
	Internal   bool        `json:"internal"`
	Partitions []partition `json:"partitions"`
}

type partition struct {
	Partition   int32   `json:"partition"`
	Leader      int32   `json:"leader"`
	LeaderEpoch int32   `json:"leader_epoch"`
	Replicas    []int32 `json:"replicas"`
	ISR         []int32 `json:"isr"`
	Offline     []int32 `json:"offline_replicas"`
	Error       string  `json:"error,omitempty"`
}

func infoCommand(k *kafka.Options) *cobra.Command {
	var internal, brokersOnly, topicsOnly bool
	cmd := &cobra.Command{
		Use:     "info",
		Aliases: []string{"metadata", "status"},
		Short:   "Show brokers, controller, topics and partition leaders",
		Long: `Print the cluster id and controller, the brokers with the addresses they
advertise to clients, and every topic's partitions with their leader, leader
epoch, replicas and in-sync replicas. Internal topics are shown with -i.`,
		Example: `  plexus cluster info
  plexus cluster info -b          # brokers only
  plexus cluster info -t -i       # topics, internal ones included
  plexus cluster info --format json`,
		Args: cobra.NoArgs,
	}
	format := out.FormatFlag(cmd)
	f := cmd.Flags()
	f.BoolVarP(&internal, "internal", "i", false, "include internal topics")
	f.BoolVarP(&brokersOnly, "print-brokers", "b", false, "print the cluster and brokers sections only")
	f.BoolVarP(&topicsOnly, "print-topics", "t", false, "print the topics section only")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := out.CheckFormat(*format); err != nil {
			return err
		}
		ctx := cmd.Context()
		adm, err := k.Admin(ctx)
		if err != nil {
			return err
		}
		defer adm.Close()
		md, err := adm.Metadata(ctx)
		if err != nil {
			return kafka.Explain(err)
		}
		inf := info{ClusterID: md.Cluster, Controller: md.Controller, Brokers: []broker{}, Topics: []topic{}}
		for _, b := range md.Brokers {
			inf.Brokers = append(inf.Brokers, broker{ID: b.NodeID, Host: b.Host, Port: b.Port, Rack: b.Rack})
		}
		for _, t := range md.Topics.Sorted() {
			if t.IsInternal && !internal {
				continue
			}
			tt := topic{Name: t.Topic, ID: kafka.TopicID(t.ID), Internal: t.IsInternal, Partitions: []partition{}}
			for _, p := range t.Partitions.Sorted() {
				pp := partition{Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, Replicas: nonNil(p.Replicas), ISR: nonNil(p.ISR), Offline: nonNil(p.OfflineReplicas)}
				if p.Err != nil {
					pp.Error = kafka.Status(p.Err, "")
				}
				tt.Partitions = append(tt.Partitions, pp)
			}
			inf.Topics = append(inf.Topics, tt)
		}
		w := cmd.OutOrStdout()
		if *format == out.JSON {
			if brokersOnly && !topicsOnly {
				inf.Topics = nil
			}
			if topicsOnly && !brokersOnly {
				inf.Brokers = nil
			}
			return out.WriteJSON(w, inf)
		}
		showBrokers := brokersOnly || !topicsOnly
		showTopics := topicsOnly || !brokersOnly
		if showBrokers {
			out.Section(w, "cluster")
			if err := out.KV(w, "ID", inf.ClusterID, "CONTROLLER", inf.Controller); err != nil {
				return err
			}
			fmt.Fprintln(w)
			out.Section(w, "brokers")
			t := out.NewTable(w, "id", "host", "port", "rack")
			for _, b := range inf.Brokers {
				id := fmt.Sprint(b.ID)
				if b.ID == inf.Controller {
					id += "*"
				}
				rack := "-"
				if b.Rack != nil {
					rack = *b.Rack
				}
				t.Row(id, b.Host, b.Port, rack)
			}
			if err := t.Flush(); err != nil {
				return err
			}
		}
		if showTopics {
			if showBrokers {
				fmt.Fprintln(w)
			}
			out.Section(w, "topics")
			t := out.NewTable(w, "topic", "partition", "leader", "epoch", "replicas", "isr")
			for _, tt := range inf.Topics {
				for _, p := range tt.Partitions {
					if p.Error != "" {
						t.Row(tt.Name, p.Partition, "-", "-", "-", p.Error)
						continue
					}
					t.Row(tt.Name, p.Partition, p.Leader, p.LeaderEpoch, fmt.Sprint(p.Replicas), fmt.Sprint(p.ISR))
				}
			}
			if err := t.Flush(); err != nil {
				return err
			}
		}
		return nil
	}
	return cmd
}

func nonNil(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}

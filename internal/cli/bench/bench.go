package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/plexus/plexus/internal/cli/kafka"
	"github.com/plexus/plexus/internal/cli/out"
)

// Command returns `plexus bench` and its verbs.
func Command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure throughput, latency and broker cost of producing and consuming",
		Long: `Load generators built on franz-go, for Plexus or any Kafka cluster.

  produce  write records as fast as possible or at a fixed rate
  consume  read a topic back from the start
  e2e      produce at a rate while a consumer tails the topic
  limits   measure this machine: loopback TCP throughput and fsync latency

Throughput is in MB/s (10^6 bytes of record keys and values per second).
With --rate, latency is measured from each record's intended send time
(start + i/rate), so stalls count against every record they delay (no
coordinated omission); without it, from when the record was handed to the
client. The time is carried in the first 8 bytes of each value, which is
how e2e measures from send to receipt. Latency percentiles come from a
log-linear histogram with buckets under 0.8% wide.

With --broker-pid (a broker on this machine) the result includes the
broker's CPU seconds per GB moved (utime+stime from /proc/PID/stat over the
run), its peak resident memory (VmHWM), and the whole machine's busy CPU
per GB with the part neither the broker nor this client accounts for
(kernel writeback threads, other processes). bench/run in the repository runs
a whole suite against Plexus and franz-go's kfake; docs/benchmarks.md has
the results.`,
		Example: `  plexus bench produce -t bench -p 100 --recreate -s 1024 -n 1000000
  plexus bench consume -t bench
  plexus bench e2e -t lat -p 100 --recreate --rate 50000 -d 30s --warmup 5s
  plexus bench produce -t keyed --keys 10000 -z zstd --payload half-random
  plexus bench produce --broker-pid $(pgrep -n plexus) --format json
  plexus bench limits --dir /var/lib/plexus`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(produceCommand(), consumeCommand(), e2eCommand(), limitsCommand())
	return cmd
}

// topicOptions say which topic to use and whether to create it.
type topicOptions struct {
	topic      string
	partitions int32
	replicas   int16
	recreate   bool
	configs    []string
	timeout    time.Duration
}

func (t *topicOptions) addFlags(f *pflag.FlagSet, withCreate bool) {
	f.StringVarP(&t.topic, "topic", "t", "plexus-bench", "topic to use")
	if !withCreate {
		return
	}
	f.Int32VarP(&t.partitions, "partitions", "p", -1, "create the topic with this many partitions if it does not exist (-1: the broker's num.partitions)")
	f.Int16VarP(&t.replicas, "replicas", "r", -1, "replicas of each partition of a created topic (-1: the broker's default)")
	f.BoolVar(&t.recreate, "recreate", false, "delete the topic first if it exists, so the run starts from an empty topic")
	f.StringArrayVarP(&t.configs, "topic-config", "c", nil, "config of a created topic as key=value (repeatable)")
	f.DurationVar(&t.timeout, "create-timeout", 2*time.Minute, "how long to wait for a created topic's partitions to have leaders")
}

// setupTopic creates (or recreates) the topic and waits until every
// partition has a leader. It returns the partition count and how long
// the setup took.
func setupTopic(ctx context.Context, adm *kadm.Client, t *topicOptions) (int32, time.Duration, error) {
	start := time.Now()
	cfg, err := kafka.ParseKV("-c", t.configs)
	if err != nil {
		return 0, 0, err
	}
	if t.recreate {
		resps, err := adm.DeleteTopics(ctx, t.topic)
		if err != nil {
			return 0, 0, kafka.Explain(err)
		}
		for _, r := range resps {
			if r.Err != nil && !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
				return 0, 0, fmt.Errorf("delete topic %s: %s", t.topic, kafka.Status(r.Err, r.ErrMessage))
			}
		}
	}
	// Let the broker take as long as --create-timeout to create many
	// partitions; the client's read deadline follows this timeout.
	adm.SetTimeoutMillis(int32(min(t.timeout, time.Duration(math.MaxInt32)*time.Millisecond).Milliseconds()))
	// A topic just deleted may still exist for a moment: retry creating
	// it while the broker says it exists, if we meant to recreate it.
	for {
		r, err := adm.CreateTopic(ctx, t.partitions, t.replicas, cfg, t.topic)
		if err == nil {
			err = r.Err
		}
		if err == nil || errors.Is(err, kerr.RequestTimedOut) {
			break // timed out: the broker carries on; wait for the leaders below
		}
		if errors.Is(err, kerr.TopicAlreadyExists) {
			if !t.recreate {
				break
			}
			if time.Since(start) > t.timeout {
				return 0, 0, fmt.Errorf("topic %s still exists %s after it was deleted", t.topic, t.timeout)
			}
			if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
				return 0, 0, err
			}
			continue
		}
		return 0, 0, fmt.Errorf("create topic %s: %s", t.topic, kafka.Status(err, r.ErrMessage))
	}
	n, err := waitLeaders(ctx, adm, t.topic, t.partitions, !t.recreate, t.timeout)
	if err != nil {
		return 0, 0, err
	}
	return n, time.Since(start), nil
}

// waitLeaders polls metadata until the topic has want partitions (any
// number if want < 1), each with a leader. It gives up after timeout, or
// at once if the topic has another partition count and mismatch is final
// (the topic was not just recreated).
func waitLeaders(ctx context.Context, adm *kadm.Client, topic string, want int32, mismatchFinal bool, timeout time.Duration) (int32, error) {
	deadline := time.Now().Add(timeout)
	var why string
	for {
		md, err := adm.Metadata(ctx, topic)
		td, ok := md.Topics[topic]
		switch {
		case err != nil:
			why = kafka.Explain(err).Error()
		case !ok:
			why = "not in metadata"
		case td.Err != nil:
			why = td.Err.Error()
		default:
			n := int32(len(td.Partitions))
			why = ""
			if want > 0 && n != want {
				why = fmt.Sprintf("it has %d partitions, not %d", n, want)
				if mismatchFinal && n > 0 {
					return 0, fmt.Errorf("topic %s: %s; pass --recreate to start afresh", topic, why)
				}
			}
			for _, p := range td.Partitions {
				if why == "" && (p.Err != nil || p.Leader < 0) {
					why = fmt.Sprintf("partition %d has no leader yet", p.Partition)
				}
			}
			if why == "" && n > 0 {
				return n, nil
			}
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("topic %s not ready after %s: %s", topic, timeout, why)
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return 0, err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func parseCompression(s string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(s) {
	case "none", "":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("--compression %q: use none, gzip, snappy, lz4 or zstd", s)
}

func parseAcks(s string) (kgo.Acks, error) {
	switch strings.ToLower(s) {
	case "all", "-1":
		return kgo.AllISRAcks(), nil
	case "1", "leader":
		return kgo.LeaderAck(), nil
	case "0", "none":
		return kgo.NoAck(), nil
	}
	return kgo.Acks{}, fmt.Errorf("--acks %q: use all (-1), 1 or 0", s)
}

// usage samples a process's CPU time and memory at the start of a run
// and reports the difference at its end.
type usage struct {
	pid   int
	start ProcCPU
	err   error
}

func startUsage(pid int) *usage {
	u := &usage{pid: pid}
	u.start, u.err = ReadProcCPU(pid)
	return u
}

// finish returns the process's CPU and memory since startUsage; bytes is
// what the run moved, for CPU seconds per GB.
func (u *usage) finish(bytes int64) (*Usage, error) {
	if u.err != nil {
		return nil, u.err
	}
	end, err := ReadProcCPU(u.pid)
	if err != nil {
		return nil, err
	}
	mem, err := ReadProcMem(u.pid)
	if err != nil {
		return nil, err
	}
	cpu := end.Total() - u.start.Total()
	r := &Usage{
		PID:          u.pid,
		CPUSeconds:   cpu.Seconds(),
		UserSeconds:  (end.User - u.start.User).Seconds(),
		SysSeconds:   (end.System - u.start.System).Seconds(),
		RSSBytes:     mem.RSS,
		PeakRSSBytes: mem.PeakRSS,
	}
	if bytes > 0 {
		r.CPUSecondsPerGB = cpu.Seconds() / (float64(bytes) / 1e9)
	}
	return r, nil
}

// machineUsage samples the machine's busy CPU time at the start of a run.
type machineUsage struct {
	start CPUTimes
	err   error
}

func startMachineUsage() *machineUsage {
	m := &machineUsage{}
	m.start, m.err = ReadCPUStat()
	return m
}

// finish returns the machine's busy CPU since startMachineUsage, per GB of
// bytes, and what of it the broker and the client did not account for.
func (m *machineUsage) finish(bytes int64, broker, client *Usage) *MachineUsage {
	if m.err != nil || bytes <= 0 || broker == nil || client == nil {
		return nil
	}
	end, err := ReadCPUStat()
	if err != nil {
		return nil
	}
	return machineBetween(m.start, end, bytes, broker, client)
}

// machineBetween is the machine's busy CPU between two /proc/stat readings.
func machineBetween(start, end CPUTimes, bytes int64, broker, client *Usage) *MachineUsage {
	cpu := float64(end.Busy-start.Busy) / userHZ
	gb := float64(bytes) / 1e9
	// The readings tick at 10 ms, so "other" can come out a tick below
	// zero when there was none.
	other := max(0, cpu-broker.CPUSeconds-client.CPUSeconds)
	return &MachineUsage{
		CPUSeconds:           cpu,
		CPUSecondsPerGB:      cpu / gb,
		OtherCPUSecondsPerGB: other / gb,
	}
}

// checkBrokerPID fails early when --broker-pid names no process we can
// read.
func checkBrokerPID(pid int) error {
	if pid == 0 {
		return nil
	}
	if pid < 0 {
		return fmt.Errorf("--broker-pid %d: want a process id", pid)
	}
	if _, err := ReadProcCPU(pid); err != nil {
		return fmt.Errorf("--broker-pid %d: %w (the broker must run on this machine)", pid, err)
	}
	return nil
}

// commonFlags are the flags of every verb that talks to a cluster.
type commonFlags struct {
	k         *kafka.Options
	format    *string
	brokerPID int
}

func (c *commonFlags) add(cmd *cobra.Command) {
	c.k = kafka.AddFlags(cmd)
	c.k.ClientID = "plexus-bench"
	c.format = out.FormatFlag(cmd)
	cmd.Flags().IntVar(&c.brokerPID, "broker-pid", 0, "process id of a broker on this machine: report its CPU seconds per GB and peak RSS")
}

func (c *commonFlags) check() error {
	if err := out.CheckFormat(*c.format); err != nil {
		return err
	}
	return checkBrokerPID(c.brokerPID)
}

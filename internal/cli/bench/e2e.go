package bench

import (
	"context"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/plexus/plexus/internal/cli/kafka"
)

func e2eCommand() *cobra.Command {
	var (
		c    commonFlags
		o    produceOptions
		idle time.Duration
	)
	cmd := &cobra.Command{
		Use:   "e2e",
		Short: "Produce while a consumer tails the topic, measuring end-to-end latency",
		Long: `Start a consumer at the end of every partition of the topic, then produce
as produce does (usually at a fixed --rate) and print, besides the produce
figures, the end-to-end latency: the time the consumer received each record
minus the time the record was due to be sent (carried in its first 8
bytes). Producer and consumer run in this process, so their clocks agree.
The run ends when the consumer has every acknowledged record.`,
		Example: `  plexus bench e2e -t lat -p 100 --recreate --rate 50000 -d 30s --warmup 5s
  plexus bench e2e -t lat --rate 1000 -s 100 --linger 0 -d 60s
  plexus bench e2e -t lat --rate 20000 --broker-pid 4242 --format json`,
		Args: cobra.NoArgs,
	}
	c.add(cmd)
	o.addFlags(cmd.Flags())
	cmd.Flags().DurationVar(&idle, "idle-timeout", 30*time.Second, "fail if the consumer receives nothing for this long")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := c.check(); err != nil {
			return err
		}
		if err := o.validate(cmd, true); err != nil {
			return err
		}
		t := &tailer{k: c.k, idle: idle, done: make(chan struct{})}
		res, err := runProduce(cmd.Context(), cmd, &c, &o, t)
		if res != nil {
			if werr := res.write(cmd.OutOrStdout(), *c.format); werr != nil {
				return werr
			}
		}
		return err
	}
	return cmd
}

// tailer is e2e's consumer: it starts at the end offsets of the topic so
// it sees exactly the records of this run.
type tailer struct {
	k    *kafka.Options
	idle time.Duration
	cl   *kgo.Client
	c    *consumer
	done chan struct{}
}

func (t *tailer) start(ctx context.Context, adm *kadm.Client, topic string) error {
	ends, err := listOffsets(ctx, adm.ListEndOffsets, topic)
	if err != nil {
		return err
	}
	t.cl, err = t.k.Client(ctx, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: at(ends)}))
	if err != nil {
		return err
	}
	t.c = newConsumer(t.cl, t.idle, true)
	go func() {
		defer close(t.done)
		t.c.run(ctx)
	}()
	return nil
}

func (t *tailer) close() {
	if t.cl != nil {
		t.c.target.Store(0) // stop the loop if it is still running
		<-t.done
		t.cl.Close()
	}
}

package txn

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/plexus/plexus/internal/brokertest"
)

// run executes `plexus txn ARGS...` against addr.
func run(t *testing.T, addr string, args ...string) (string, error) {
	t.Helper()
	cmd := Command()
	var stdout, stderr bytes.Buffer
	cmd.SetArgs(append(args, "--brokers", addr))
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	return stdout.String(), err
}

func ok(t *testing.T, addr string, args ...string) string {
	t.Helper()
	out, err := run(t, addr, args...)
	if err != nil {
		t.Fatalf("plexus txn %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func TestTxnCommands(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithConfig("transaction.state.log.num.partitions", "2", "offsets.topic.num.partitions", "2"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admCl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic("orders"), kgo.TransactionalID("writer"),
		kgo.TransactionTimeout(10*time.Minute), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cl.BeginTransaction()
	if err := cl.ProduceSync(ctx, &kgo.Record{Partition: 1, Value: []byte("done")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	cl.BeginTransaction()
	for i := 0; i < 3; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte("stuck")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	out := ok(t, b.Addr, "list")
	if !strings.Contains(out, "TRANSACTIONAL-ID") || !strings.Contains(out, "writer") || !strings.Contains(out, "Ongoing") {
		t.Fatalf("list:\n%s", out)
	}
	if out := ok(t, b.Addr, "list", "--state", "CompleteCommit"); strings.Contains(out, "writer") {
		t.Fatalf("list --state CompleteCommit:\n%s", out)
	}
	if _, err := run(t, b.Addr, "list", "--state", "Bogus"); err == nil || !strings.Contains(err.Error(), "Bogus") {
		t.Fatalf("list --state Bogus: %v", err)
	}
	var listed []struct {
		TransactionalID string `json:"transactional_id"`
		State           string `json:"state"`
	}
	if err := json.Unmarshal([]byte(ok(t, b.Addr, "list", "--pattern", "^wri", "--format", "json")), &listed); err != nil || len(listed) != 1 || listed[0].State != "Ongoing" {
		t.Fatalf("list --format json: %+v %v", listed, err)
	}

	out = ok(t, b.Addr, "describe", "writer")
	for _, want := range []string{"STATE", "Ongoing", "orders-0", "TIMEOUT", "10m0s"} {
		if !strings.Contains(out, want) {
			t.Fatalf("describe lacks %q:\n%s", want, out)
		}
	}
	if _, err := run(t, b.Addr, "describe", "nobody"); err == nil {
		t.Fatal("describing an unknown transactional id succeeded")
	}

	var ps []producer
	if err := json.Unmarshal([]byte(ok(t, b.Addr, "producers", "orders", "--open", "--format", "json")), &ps); err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || ps[0].Partition != 0 || ps[0].TxnStartOffset != 0 || ps[0].LastSequence != 2 {
		t.Fatalf("producers --open: %+v", ps)
	}
	if out := ok(t, b.Addr, "producers", "orders"); !strings.Contains(out, "TXN-START-OFFSET") {
		t.Fatalf("producers:\n%s", out)
	}

	if _, err := run(t, b.Addr, "abort", "--topic", "orders", "--partition", "0", "--start-offset", "7"); err == nil || !strings.Contains(err.Error(), "no transaction began at offset 7") {
		t.Fatalf("abort at a wrong offset: %v", err)
	}
	if _, err := run(t, b.Addr, "abort", "--topic", "orders"); err == nil {
		t.Fatal("abort without a partition succeeded")
	}
	out = ok(t, b.Addr, "abort", "--topic", "orders", "--partition", "0", "--start-offset", "0")
	if !strings.Contains(out, "OK") {
		t.Fatalf("abort:\n%s", out)
	}
	offs, err := adm.ListCommittedOffsets(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := offs.Lookup("orders", 0); o.Offset != 4 {
		t.Fatalf("last stable offset of orders-0 after the abort: %d, want 4", o.Offset)
	}
}

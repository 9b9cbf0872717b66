// Package faults runs the broker on a file system that fails on command
// (internal/log's FaultFS over an in-memory FS) and checks that a disk
// error reaches the producer as KAFKA_STORAGE_ERROR, that nothing
// acknowledged is lost, and that the partition takes writes again once the
// fault clears.
package faults

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/plexus/plexus/internal/brokertest"
	plog "github.com/plexus/plexus/internal/log"
	"github.com/plexus/plexus/internal/records"
)

const topic = "faulty"

type fixture struct {
	t    *testing.T
	mem  *plog.MemFS
	ffs  *plog.FaultFS
	b    *brokertest.Broker
	cl   *kgo.Client
	ctx  context.Context
	dir  string
	id   [16]byte
	sent int // records acknowledged so far, values "v0", "v1", ...
}

func newFixture(t *testing.T) *fixture {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	f := &fixture{t: t, mem: plog.NewMemFS(), ctx: ctx, dir: "/data"}
	f.ffs = plog.NewFaultFS(f.mem)
	f.start(f.ffs)
	resp, err := kadm.NewClient(f.cl).CreateTopic(ctx, 1, 1, nil, topic)
	if err != nil {
		t.Fatal(err)
	}
	f.id = resp.ID
	return f
}

func (f *fixture) start(fs plog.FS) {
	f.b = brokertest.Start(f.t, brokertest.WithFS(fs), brokertest.WithDataDir(f.dir))
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.b.Addr))
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(cl.Close)
	f.cl = cl
}

// restart stops the broker cleanly and starts it on the same data.
func (f *fixture) restart() {
	f.b.Close()
	f.start(f.ffs)
}

// produce sends one record with a raw Produce request (no client retries)
// and returns the partition's error code.
func (f *fixture) produce(value string) int16 {
	f.t.Helper()
	h := records.NewHeader()
	h.BaseTimestamp = time.Now().UnixMilli()
	var bld records.Builder
	bld.Reset(h)
	bld.Add(0, h.BaseTimestamp, nil, []byte(value), nil)
	batch, err := bld.AppendTo(nil)
	if err != nil {
		f.t.Fatal(err)
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = topic, f.id // v13+ names topics by id
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = []kmsg.ProduceRequestTopicPartition{rp}
	req.Topics = []kmsg.ProduceRequestTopic{rt}
	resp, err := req.RequestWith(f.ctx, f.cl)
	if err != nil {
		f.t.Fatalf("produce %s: %v", value, err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// ok produces the next acknowledged value.
func (f *fixture) ok() {
	f.t.Helper()
	v := fmt.Sprintf("v%d", f.sent)
	if code := f.produce(v); code != 0 {
		f.t.Fatalf("produce %s: %v", v, kerr.ErrorForCode(code))
	}
	f.sent++
}

// check reads the partition back: exactly the acknowledged values, in
// order, and nothing else.
func (f *fixture) check() {
	f.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.b.Addr), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		f.t.Fatal(err)
	}
	defer cl.Close()
	var got []string
	for len(got) < f.sent {
		fs := cl.PollFetches(f.ctx)
		if f.ctx.Err() != nil {
			f.t.Fatalf("read back %d of %d records: %v", len(got), f.sent, got)
		}
		fs.EachError(func(_ string, _ int32, err error) { f.t.Fatalf("fetch: %v", err) })
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	for i, v := range got {
		if want := fmt.Sprintf("v%d", i); v != want {
			f.t.Fatalf("record %d is %q, want %q (log: %v)", i, v, want, got)
		}
	}
	end, err := kadm.NewClient(f.cl).ListEndOffsets(f.ctx, topic)
	if err != nil {
		f.t.Fatal(err)
	}
	if o, _ := end.Lookup(topic, 0); o.Offset != int64(f.sent) {
		f.t.Fatalf("log end %d, want %d: a failed write left records behind", o.Offset, f.sent)
	}
}

func TestENOSPCOnWrite(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 5; i++ {
		f.ok()
	}
	// The disk fills: writes to the partition's segment store half their
	// bytes and fail.
	f.ffs.Inject(plog.Fault{Ops: plog.OpWrite, Path: topic + "-0/", Err: syscall.ENOSPC, Partial: true})
	for i := 0; i < 3; i++ {
		if code := f.produce("lost"); code != kerr.KafkaStorageError.Code {
			t.Fatalf("produce on a full disk: %v, want KAFKA_STORAGE_ERROR", kerr.ErrorForCode(code))
		}
	}
	f.ffs.Clear()
	for i := 0; i < 5; i++ {
		f.ok()
	}
	f.check()
	f.restart()
	f.check()
}

// A failed fsync is never reported as success, even though Linux reports
// the next fsync as successful after dropping the unsynced pages.
func TestEIOOnSync(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 5; i++ {
		f.ok()
	}
	f.ffs.Inject(plog.Fault{Ops: plog.OpSync, Path: topic + "-0/", Err: syscall.EIO, Times: 1, DropUnsynced: true})
	if code := f.produce("lost"); code != kerr.KafkaStorageError.Code {
		t.Fatalf("produce whose fsync failed: %v, want KAFKA_STORAGE_ERROR", kerr.ErrorForCode(code))
	}
	for i := 0; i < 5; i++ {
		f.ok()
	}
	f.check()
	// Power loss: only what was synced survives, and that must be every
	// acknowledged record.
	crashed := f.mem.CrashClone()
	f.b.Close()
	f.start(crashed)
	topics, err := kadm.NewClient(f.cl).ListTopics(f.ctx)
	if err != nil || !topics.Has(topic) {
		t.Fatalf("after power loss the topic is gone: %v %v", topics.Names(), err)
	}
	f.check()
}

// A full disk under the metadata log fails the admin request, not the
// broker; topics keep serving.
func TestENOSPCOnMetadata(t *testing.T) {
	f := newFixture(t)
	f.ok()
	f.ffs.Inject(plog.Fault{Ops: plog.OpWrite, Path: "__cluster_metadata", Err: syscall.ENOSPC})
	resp, err := kadm.NewClient(f.cl).CreateTopic(f.ctx, 1, 1, nil, "another")
	if err == nil && resp.Err == nil {
		t.Fatal("creating a topic on a full metadata disk succeeded")
	}
	f.ffs.Clear()
	f.ok()
	if _, err := kadm.NewClient(f.cl).CreateTopic(f.ctx, 1, 1, nil, "another"); err != nil {
		t.Fatalf("create topic after the disk recovered: %v", err)
	}
	f.check()
	f.restart()
	f.check()
	topics, err := kadm.NewClient(f.cl).ListTopics(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !topics.Has("another") {
		t.Fatalf("topics after restart: %v", strings.Join(topics.Names(), ","))
	}
}

// Records acknowledged on a new topic's partitions survive a power loss:
// the partitions' folders and files are made durable (by one file-system
// sync for all of them) before the topic is created, not left to syncs
// that the partitions' own flushes never do for their parent folder.
func TestCreateTopicDurableAtOnce(t *testing.T) {
	f := newFixture(t)
	resp, err := kadm.NewClient(f.cl).CreateTopic(f.ctx, 64, 1, nil, "wide")
	if err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	produce := func(addr string) *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("wide"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	cl := produce(f.b.Addr)
	for p := int32(0); p < 64; p++ {
		if err := cl.ProduceSync(f.ctx, &kgo.Record{Partition: p, Value: []byte{byte(p)}}).FirstErr(); err != nil {
			t.Fatalf("partition %d: %v", p, err)
		}
	}
	crashed := f.mem.CrashClone()
	f.b.Close()
	f.start(crashed)
	ends, err := kadm.NewClient(f.cl).ListEndOffsets(f.ctx, "wide")
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 64; p++ {
		if o, ok := ends.Lookup("wide", p); !ok || o.Err != nil || o.Offset != 1 {
			t.Fatalf("partition %d after power loss: end %+v, want 1 (its acknowledged record)", p, o)
		}
	}
}

// What a clean shutdown writes (with one file-system sync for all
// partitions) survives a power loss right after it.
func TestShutdownDurable(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 20; i++ {
		f.ok()
	}
	f.b.Close()
	f.start(f.mem.CrashClone())
	f.check()
}

// A partition directory on another file system than the data directory
// (moved to another disk and linked back, or mounted there) is out of
// reach of the data directory's file-system sync: its records must still
// survive a power loss, after they are acknowledged and after a clean
// shutdown.
func TestPartitionOnAnotherFileSystemDurable(t *testing.T) {
	f := newFixture(t)
	const parts = 4
	if resp, err := kadm.NewClient(f.cl).CreateTopic(f.ctx, parts, 1, nil, "wide"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	produce := func(n int) {
		t.Helper()
		cl, err := kgo.NewClient(kgo.SeedBrokers(f.b.Addr), kgo.DefaultProduceTopic("wide"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		for p := int32(0); p < parts; p++ {
			for i := 0; i < n; i++ {
				if err := cl.ProduceSync(f.ctx, &kgo.Record{Partition: p, Value: []byte{byte(p)}}).FirstErr(); err != nil {
					t.Fatalf("partition %d: %v", p, err)
				}
			}
		}
	}
	ends := func(want int64, when string) {
		t.Helper()
		got, err := kadm.NewClient(f.cl).ListEndOffsets(f.ctx, "wide")
		if err != nil {
			t.Fatal(err)
		}
		for p := int32(0); p < parts; p++ {
			if o, ok := got.Lookup("wide", p); !ok || o.Err != nil || o.Offset != want {
				t.Fatalf("partition %d %s: end %+v, want %d acknowledged records", p, when, o, want)
			}
		}
	}
	produce(1)
	f.b.Close()
	// The operator moves two partitions to another disk.
	for _, p := range []int{1, 3} {
		if err := f.mem.Mount(fmt.Sprintf("%s/wide-%d", f.dir, p)); err != nil {
			t.Fatal(err)
		}
	}
	f.start(f.ffs)
	produce(3)
	f.mem = f.mem.CrashClone()
	f.b.Close()
	f.start(f.mem)
	ends(4, "after a power loss")
	produce(2)
	f.b.Close() // a clean shutdown: one file-system sync for the data directory
	f.mem = f.mem.CrashClone()
	// The moved partitions' shutdown was made durable by syncs of their
	// own, so they start clean rather than through crash recovery.
	for p := 0; p < parts; p++ {
		if _, err := f.mem.Stat(fmt.Sprintf("%s/wide-%d/clean-shutdown", f.dir, p)); err != nil {
			t.Errorf("partition %d after a clean shutdown and a power loss: %v", p, err)
		}
	}
	f.start(f.mem)
	ends(6, "after a clean shutdown and a power loss")
}

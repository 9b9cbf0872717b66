// Package compat is the black-box compatibility suite: real Kafka clients
// (franz-go, sarama, segmentio/kafka-go, confluent-kafka-go/librdkafka)
// against an in-process Plexus broker.
//
// Layout:
//
//	helpers_test.go     shared helpers: brokers, records, polling, kmsg requests
//	suite_test.go       the scenario every client runs, through the driver interface
//	driver_*_test.go    one driver per client (only that client's API), plus checks
//	                    of how a broker bug hits that client
//	franz_test.go       broker features exercised through franz-go / kadm / kmsg only
//	restart_test.go     restart scenario
//
// Every top-level test starts its own broker; subtests share it and use
// their own topics. Tests poll with a deadline, never sleep then assert.
//
// When the broker misbehaves, tests assert Kafka's behaviour; a part that
// cannot go on is skipped with a message starting "BROKER BUG:". A part
// that a client has no API for is skipped with "CLIENT LIMIT:".
package compat

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/plexus/plexus/internal/brokertest"
)

// testTimeout bounds every single client operation and poll.
const testTimeout = 45 * time.Second

// nodeID is the broker's node.id (the default).
const nodeID = 0

// ctxFor returns a context cancelled when the test ends or after
// testTimeout.
func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// startBroker starts a broker with the suite's common settings plus kv.
// log.retention.bytes is set statically so describe-configs has a
// STATIC_BROKER_CONFIG source to report.
func startBroker(t testing.TB, kv ...string) *brokertest.Broker {
	t.Helper()
	// Auto-creation is off: a client refreshing metadata for a topic a
	// test just deleted would otherwise bring it back.
	base := []string{staticBrokerKey, staticBrokerValue, "auto.create.topics.enable", "false"}
	return brokertest.Start(t, brokertest.WithConfig(append(base, kv...)...))
}

const (
	staticBrokerKey   = "log.retention.bytes"
	staticBrokerValue = "987654321"
	staticTopicKey    = "retention.bytes"
)

var topicSeq atomic.Int64

// topicName returns a fresh valid topic name containing hint.
func topicName(hint string) string {
	r := strings.NewReplacer("/", "-", "=", "-", " ", "-", "_", "-")
	return fmt.Sprintf("t%d-%s", topicSeq.Add(1), r.Replace(hint))
}

// eventually calls fn until it returns nil, failing the test with fn's
// last error at the deadline.
func eventually(t testing.TB, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	wait := 5 * time.Millisecond
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing at the deadline: %v", what, err)
		}
		time.Sleep(wait)
		if wait < 200*time.Millisecond {
			wait *= 2
		}
	}
}

// runConcurrently runs each function as a subtest named by its key, all
// at once (t.Run may be called from several goroutines), and returns when
// all are done. Unlike t.Parallel this is not limited by -parallel: the
// subtests mostly wait on timers and the network.
func runConcurrently(t *testing.T, subs map[string]func(*testing.T)) {
	t.Helper()
	names := make([]string, 0, len(subs))
	for name := range subs {
		names = append(names, name)
	}
	sort.Strings(names)
	var wg sync.WaitGroup
	for _, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(name, subs[name])
		}()
	}
	wg.Wait()
}

// ---- records ----

type hdr struct {
	Key   string
	Value []byte
}

// rec is one record as a test sees it, whatever the client.
type rec struct {
	Partition int32
	Offset    int64 // -1 when unknown
	Key       []byte
	Value     []byte
	Headers   []hdr
	Timestamp int64 // milliseconds
	// Codec and TimestampType are filled only by readers that expose the
	// batch attributes (franz-go): -1 otherwise.
	Codec         int8
	TimestampType int8
}

func (r rec) String() string {
	return fmt.Sprintf("{p%d@%d key=%s value=%s headers=%v ts=%d}", r.Partition, r.Offset, showBytes(r.Key), showBytes(r.Value), r.Headers, r.Timestamp)
}

func showBytes(b []byte) string {
	if b == nil {
		return "null"
	}
	if len(b) > 24 {
		return fmt.Sprintf("%q...(%d bytes)", b[:24], len(b))
	}
	return strconv.Quote(string(b))
}

// baseTime is a CreateTime well inside the broker's accepted window
// (message.timestamp.after.max.ms / before.max.ms) and recent enough that
// time retention does not touch it during a run; it is fixed per run so
// expected values are exact.
var baseTime = time.Now().Add(-30 * time.Minute).Truncate(time.Second).UnixMilli()

// sampleRecords returns n records on partition p exercising null keys,
// null values, empty keys and values, binary data, large compressible
// values and headers (duplicates, empty and binary values). Timestamps are
// baseTime+tsOff+i seconds.
func sampleRecords(tag string, p int32, n int, tsOff int64) []rec {
	out := make([]rec, n)
	allBytes := make([]byte, 256)
	for i := range allBytes {
		allBytes[i] = byte(i)
	}
	for i := range out {
		r := rec{Partition: p, Offset: -1, Timestamp: baseTime + tsOff + int64(i)*1000, Codec: -1, TimestampType: -1}
		switch i % 5 {
		case 0:
			r.Key = nil
			r.Value = []byte(fmt.Sprintf("%s value %d with a null key", tag, i))
		case 1:
			r.Key = []byte(fmt.Sprintf("%s-tombstone-%d", tag, i))
			r.Value = nil
			r.Headers = []hdr{{"h1", []byte("v1")}}
		case 2:
			r.Key = []byte{}
			r.Value = []byte{}
			r.Headers = []hdr{{"empty", []byte{}}}
		case 3:
			r.Key = allBytes
			r.Value = bytes.Repeat([]byte(fmt.Sprintf("%s compressible %d|", tag, i)), 300)
			r.Headers = []hdr{{"a", []byte("1")}, {"a", []byte("2")}, {"bin", []byte{0, 1, 2, 255}}}
		case 4:
			r.Key = []byte(fmt.Sprintf("key-%d", i))
			r.Value = []byte(fmt.Sprintf("%s value %d", tag, i))
			r.Headers = []hdr{{"idx", []byte(strconv.Itoa(i))}}
		}
		out[i] = r
	}
	return out
}

// withOffsets returns recs with offsets first, first+1, ...
func withOffsets(recs []rec, first int64) []rec {
	out := make([]rec, len(recs))
	for i, r := range recs {
		r.Offset = first + int64(i)
		out[i] = r
	}
	return out
}

// nullMode says how a client reports null and empty byte fields.
type nullMode int

const (
	// nullExact: nil means null, an empty non-nil slice means empty.
	nullExact nullMode = iota
	// nullAsEmpty: the client does not distinguish null from empty on
	// read (or on write); only the bytes are compared.
	nullAsEmpty
)

// nullModes is a client's null handling for keys, values and header
// values.
type nullModes struct{ key, value, hdr nullMode }

var exact = nullModes{nullExact, nullExact, nullExact}

func sameBytes(got, want []byte, mode nullMode) bool {
	if mode == nullExact && (got == nil) != (want == nil) {
		return false
	}
	return bytes.Equal(got, want)
}

// checkRecords compares records field by field: partition, offset, key,
// value, headers (order, duplicates), timestamp.
func checkRecords(t testing.TB, who string, got, want []rec, m nullModes) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %d records, want %d\ngot:  %v\nwant: %v", who, len(got), len(want), got, want)
		return
	}
	for i := range want {
		g, w := got[i], want[i]
		var diffs []string
		if g.Partition != w.Partition {
			diffs = append(diffs, fmt.Sprintf("partition %d, want %d", g.Partition, w.Partition))
		}
		if w.Offset >= 0 && g.Offset != w.Offset {
			diffs = append(diffs, fmt.Sprintf("offset %d, want %d", g.Offset, w.Offset))
		}
		if !sameBytes(g.Key, w.Key, m.key) {
			diffs = append(diffs, fmt.Sprintf("key %s, want %s", showBytes(g.Key), showBytes(w.Key)))
		}
		if !sameBytes(g.Value, w.Value, m.value) {
			diffs = append(diffs, fmt.Sprintf("value %s, want %s", showBytes(g.Value), showBytes(w.Value)))
		}
		if !sameHeaders(g.Headers, w.Headers, m.hdr) {
			diffs = append(diffs, fmt.Sprintf("headers %v, want %v", g.Headers, w.Headers))
		}
		if g.Timestamp != w.Timestamp {
			diffs = append(diffs, fmt.Sprintf("timestamp %d, want %d", g.Timestamp, w.Timestamp))
		}
		if len(diffs) > 0 {
			t.Errorf("%s: record %d: %s", who, i, strings.Join(diffs, "; "))
		}
	}
}

func sameHeaders(got, want []hdr, mode nullMode) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range want {
		if got[i].Key != want[i].Key || !sameBytes(got[i].Value, want[i].Value, mode) {
			return false
		}
	}
	return true
}

// checkDense checks offsets are first, first+1, ... in order.
func checkDense(t testing.TB, who string, got []rec, first int64) {
	t.Helper()
	for i, r := range got {
		if r.Offset != first+int64(i) {
			t.Errorf("%s: record %d has offset %d, want %d (offsets must be dense and increasing)", who, i, r.Offset, first+int64(i))
			return
		}
	}
}

// ---- franz-go ----

// franzClient returns a franz-go client closed when the test ends.
func franzClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	all := append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.MetadataMinAge(50 * time.Millisecond), kgo.RetryTimeout(testTimeout)}, opts...)
	cl, err := kgo.NewClient(all...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// franzAdmin returns a kadm client on a fresh franz-go client.
func franzAdmin(t testing.TB, addr string) (*kgo.Client, *kadm.Client) {
	cl := franzClient(t, addr)
	return cl, kadm.NewClient(cl)
}

// request sends a kmsg request and returns the typed response, failing the
// test on a transport error.
func request[R kmsg.Response](t testing.TB, ctx context.Context, cl *kgo.Client, req kmsg.Request) R {
	t.Helper()
	resp, err := cl.Request(ctx, req)
	if err != nil {
		t.Fatalf("%T: %v", req, err)
	}
	return resp.(R)
}

// createTopicFranz creates a topic with kadm, failing the test on error.
func createTopicFranz(t testing.TB, adm *kadm.Client, name string, partitions int32, configs map[string]*string) kadm.TopicID {
	t.Helper()
	ctx := ctxFor(t)
	resp, err := adm.CreateTopic(ctx, partitions, 1, configs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	return resp.ID
}

// franzRead consumes n records of topic/partition from offset with a fresh
// franz-go client, failing the test on a fetch error. It reports batch
// attributes (codec, timestamp type) too, which only franz-go exposes.
func franzRead(t testing.TB, addr, topic string, partition int32, from int64, n int) []rec {
	t.Helper()
	ctx := ctxFor(t)
	cl := franzClient(t, addr,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().At(from)}}),
		kgo.ConsumeResetOffset(kgo.NoResetOffset()),
		kgo.FetchMaxWait(200*time.Millisecond))
	defer cl.Close()
	var out []rec
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("franz read %s/%d from %d: got %d of %d records before the deadline", topic, partition, from, len(out), n)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			t.Fatalf("franz read %s/%d from %d: %v", topic, partition, from, ferr)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, fromKgo(r)) })
	}
	return out
}

func fromKgo(r *kgo.Record) rec {
	out := rec{Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp.UnixMilli(),
		Codec: int8(r.Attrs.CompressionType()), TimestampType: r.Attrs.TimestampType()}
	for _, h := range r.Headers {
		out.Headers = append(out.Headers, hdr{h.Key, h.Value})
	}
	return out
}

func toKgo(topic string, r rec) *kgo.Record {
	out := &kgo.Record{Topic: topic, Partition: r.Partition, Key: r.Key, Value: r.Value, Timestamp: time.UnixMilli(r.Timestamp)}
	for _, h := range r.Headers {
		out.Headers = append(out.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	return out
}

// listOffsetRaw sends ListOffsets for one partition at the newest version
// and returns the partition's response.
func listOffsetRaw(t testing.TB, cl *kgo.Client, topic string, partition int32, ts int64) kmsg.ListOffsetsResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp = partition, ts
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := request[*kmsg.ListOffsetsResponse](t, ctxFor(t), cl, req)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("ListOffsets: malformed response %+v", resp)
	}
	return resp.Topics[0].Partitions[0]
}

// offsetsOf returns (log start offset, high watermark) of a partition
// through kmsg ListOffsets, failing on an error code.
func offsetsOf(t testing.TB, cl *kgo.Client, topic string, partition int32) (int64, int64) {
	t.Helper()
	e := listOffsetRaw(t, cl, topic, partition, -2)
	l := listOffsetRaw(t, cl, topic, partition, -1)
	if e.ErrorCode != 0 || l.ErrorCode != 0 {
		t.Fatalf("ListOffsets %s/%d: errors %v / %v", topic, partition, kerr.ErrorForCode(e.ErrorCode), kerr.ErrorForCode(l.ErrorCode))
	}
	return e.Offset, l.Offset
}

// waitHighWatermark polls until topic/partition's high watermark is want.
func waitHighWatermark(t testing.TB, cl *kgo.Client, topic string, partition int32, want int64) {
	t.Helper()
	eventually(t, fmt.Sprintf("high watermark of %s/%d reaches %d", topic, partition, want), func() error {
		l := listOffsetRaw(t, cl, topic, partition, -1)
		if l.ErrorCode != 0 {
			return kerr.ErrorForCode(l.ErrorCode)
		}
		if l.Offset != want {
			return fmt.Errorf("high watermark %d", l.Offset)
		}
		return nil
	})
}

// codeOf returns a kerr code name for messages.
func codeName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	if e := kerr.ErrorForCode(code); e != nil {
		var ke *kerr.Error
		if errors.As(e, &ke) {
			return ke.Message
		}
		return e.Error()
	}
	return strconv.Itoa(int(code))
}

// topicID returns a topic's id from an uncached Metadata request.
func topicID(t testing.TB, cl *kgo.Client, topic string) [16]byte {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp := request[*kmsg.MetadataResponse](t, ctxFor(t), cl, req)
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("metadata of %s: %+v", topic, resp.Topics)
	}
	return resp.Topics[0].TopicID
}

// pinnedClient returns a franz-go client that sends API key at version at
// most (the broker's minimum permitting, exactly) max.
func pinnedClient(t testing.TB, addr string, key, max int16) *kgo.Client {
	t.Helper()
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(key, max)
	return franzClient(t, addr, kgo.MaxVersions(vs))
}

// rawFetch sends one Fetch for one partition at the given version (topic
// ids from v13) without a session and returns the partition's response.
// maxWait is in ms.
func rawFetch(t testing.TB, ctx context.Context, addr string, version int16, topic string, partition int32, offset int64, maxWait int32) kmsg.FetchResponseTopicPartition {
	t.Helper()
	cl := pinnedClient(t, addr, 1, version)
	defer cl.Close()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = maxWait, 1, 10<<20
	req.SessionEpoch = -1 // no session
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	if version >= 13 {
		rt.TopicID = topicID(t, cl, topic)
	}
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = partition, offset, 10<<20
	rp.CurrentLeaderEpoch, rp.LogStartOffset, rp.LastFetchedEpoch = -1, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := request[*kmsg.FetchResponse](t, ctx, cl, req)
	if resp.Version != version {
		t.Fatalf("fetch: sent v%d, want v%d", resp.Version, version)
	}
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch v%d %s/%d@%d: malformed response: error %s, %d topics", version, topic, partition, offset, codeName(resp.ErrorCode), len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0]
}

// rawBatch encodes recs as one uncompressed record batch v2 (magic 2) with
// base offset 0, no producer id, and CreateTime timestamps, as a producer
// would send it.
func rawBatch(recs []rec) []byte {
	base := recs[0].Timestamp
	maxTS := base
	var body []byte
	for i, r := range recs {
		maxTS = max(maxTS, r.Timestamp)
		var rb []byte
		rb = append(rb, 0) // attributes
		rb = binary.AppendVarint(rb, r.Timestamp-base)
		rb = binary.AppendVarint(rb, int64(i))
		rb = appendVarintBytes(rb, r.Key)
		rb = appendVarintBytes(rb, r.Value)
		rb = binary.AppendVarint(rb, int64(len(r.Headers)))
		for _, h := range r.Headers {
			rb = appendVarintBytes(rb, []byte(h.Key))
			rb = appendVarintBytes(rb, h.Value)
		}
		body = binary.AppendVarint(body, int64(len(rb)))
		body = append(body, rb...)
	}
	var b []byte
	b = binary.BigEndian.AppendUint64(b, 0)          // base offset
	b = binary.BigEndian.AppendUint32(b, 0)          // batch length, below
	b = binary.BigEndian.AppendUint32(b, ^uint32(0)) // partition leader epoch -1
	b = append(b, 2)                                 // magic
	b = binary.BigEndian.AppendUint32(b, 0)          // crc, below
	crcFrom := len(b)
	b = binary.BigEndian.AppendUint16(b, 0) // attributes: none, CreateTime
	b = binary.BigEndian.AppendUint32(b, uint32(len(recs)-1))
	b = binary.BigEndian.AppendUint64(b, uint64(base))
	b = binary.BigEndian.AppendUint64(b, uint64(maxTS))
	b = binary.BigEndian.AppendUint64(b, ^uint64(0)) // producer id -1
	b = binary.BigEndian.AppendUint16(b, ^uint16(0)) // producer epoch -1
	b = binary.BigEndian.AppendUint32(b, ^uint32(0)) // base sequence -1
	b = binary.BigEndian.AppendUint32(b, uint32(len(recs)))
	b = append(b, body...)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[crcFrom:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

func appendVarintBytes(b, v []byte) []byte {
	if v == nil {
		return binary.AppendVarint(b, -1)
	}
	b = binary.AppendVarint(b, int64(len(v)))
	return append(b, v...)
}

// rawProduce sends one batch to one partition with Produce v12 (topic by
// name) and returns the partition's response; acks 0 is not supported
// here (there is no response).
func rawProduce(t testing.TB, ctx context.Context, addr, topic string, partition int32, acks int16, batch []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	cl := pinnedClient(t, addr, 0, 12)
	defer cl.Close()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = acks, 30000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := request[*kmsg.ProduceResponse](t, ctx, cl, req)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("produce: malformed response %+v", resp)
	}
	return resp.Topics[0].Partitions[0]
}

// storedBatch describes one record batch as the broker stores it.
type storedBatch struct {
	base               int64
	records            int
	recordsLen         int // bytes of (possibly compressed) records
	codec, tsType      int8
	maxTS, partitionLE int64
}

// storedBatches returns the batches of a partition from offset 0, read
// with a bare Fetch (v12) and split by hand.
func storedBatches(t testing.TB, addr, topic string, partition int32) []storedBatch {
	t.Helper()
	p := rawFetch(t, ctxFor(t), addr, 12, topic, partition, 0, 0)
	if p.ErrorCode != 0 {
		t.Fatalf("fetch %s/%d: %s", topic, partition, codeName(p.ErrorCode))
	}
	var out []storedBatch
	for b := p.RecordBatches; len(b) >= 12; {
		n := 12 + int(int32(binary.BigEndian.Uint32(b[8:])))
		if n > len(b) {
			break // a partial batch at the end
		}
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(b[:n]); err != nil {
			t.Fatalf("stored batch of %s/%d: %v", topic, partition, err)
		}
		if crc := crc32.Checksum(b[21:n], crc32.MakeTable(crc32.Castagnoli)); crc != uint32(rb.CRC) {
			t.Errorf("stored batch of %s/%d at %d: CRC %08x, but the bytes sum to %08x", topic, partition, rb.FirstOffset, uint32(rb.CRC), crc)
		}
		out = append(out, storedBatch{
			base: rb.FirstOffset, records: int(rb.NumRecords), recordsLen: len(rb.Records),
			codec: int8(rb.Attributes & 0x07), tsType: int8(rb.Attributes>>3) & 1,
			maxTS: rb.MaxTimestamp, partitionLE: int64(rb.PartitionLeaderEpoch),
		})
		b = b[n:]
	}
	if len(out) == 0 {
		t.Fatalf("fetch %s/%d: no batches", topic, partition)
	}
	return out
}

package compat

// The scenario every client runs. A driver speaks one client's API only;
// the scenario's assertions are shared so that each client is held to the
// same Kafka semantics. franz-go (kmsg/kadm) is used beside the driver as
// an independent reader to check what landed on the broker: exact null
// versus empty fields and the batch's codec, which not every client
// exposes.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/plexus/plexus/internal/brokertest"
)

var (
	codecs   = []string{"none", "gzip", "snappy", "lz4", "zstd"}
	codecID  = map[string]int8{"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
	ackModes = []string{"0", "1", "all"}
)

// Config sources (DescribeConfigs v1+).
const (
	srcDynamicTopic = 1
	srcStaticBroker = 4
	srcDefault      = 5
)

// unknown is what a driver returns for a value its client does not expose
// (a ListOffsets timestamp, a DeleteRecords low watermark).
const unknown = -999

type partMeta struct {
	Partition, Leader int32
	Replicas, ISR     []int32
}

type topicMeta struct {
	ID         [16]byte
	HasID      bool // the client exposes topic ids
	Partitions []partMeta
}

type cfgSyn struct {
	Name   string
	Value  *string
	Source int8
}

type cfgEntry struct {
	Name     string
	Value    *string
	Source   int8 // -1: the client does not expose it
	Synonyms []cfgSyn
}

type alterOp struct {
	Name   string
	Value  string
	Delete bool
}

// errBrokerBug is returned by a driver when a known broker bug keeps its
// client from going on; the scenario skips the part with "BROKER BUG:".
type errBrokerBug string

func (e errBrokerBug) Error() string { return "BROKER BUG: " + string(e) }

// errUnsupported is returned by a driver for an operation its client has
// no API for.
type errUnsupported string

func (e errUnsupported) Error() string { return string(e) + ": the client has no API for it" }

func unsupported(err error) (string, bool) {
	var u errUnsupported
	if errors.As(err, &u) {
		return string(u), true
	}
	return "", false
}

// limited is implemented by drivers whose client cannot do some part of a
// scenario: limit returns why, or "" if it can.
type limited interface {
	limit(what string) string
}

// limit returns why the client cannot do what, or "".
func (s *suite) limit(what string) string {
	if l, ok := s.d.(limited); ok {
		return l.limit(what)
	}
	return ""
}

// driver is one client's way of doing each operation.
type driver interface {
	// modes says how the client reads and writes null versus empty keys,
	// values and header values.
	modes() (read, write nullModes)
	createTopic(ctx context.Context, topic string, partitions int32, configs map[string]string) error
	listTopics(ctx context.Context) (map[string]int, error)
	describeTopic(ctx context.Context, topic string) (topicMeta, error)
	// produce writes recs (each to its Partition, with its timestamp) in
	// one call and returns each record's offset, or nil when the client
	// does not report them (acks=0).
	produce(ctx context.Context, topic, codec, acks string, recs []rec) ([]int64, error)
	// consume returns the n records of a partition from offset from.
	consume(ctx context.Context, topic string, partition int32, from int64, n int) ([]rec, error)
	// listOffset: spec -2 earliest, -1 latest, -3 max timestamp, >= 0 the
	// first offset whose timestamp is >= spec. Offset -1 means none.
	listOffset(ctx context.Context, topic string, partition int32, spec int64) (offset, ts int64, err error)
	deleteRecords(ctx context.Context, topic string, partition int32, before int64) (int64, error)
	// fetchAt fetches one partition at offset with the client's
	// consumer and returns the error the client surfaces (nil if it
	// returned records instead).
	fetchAt(ctx context.Context, topic string, partition int32, offset int64) error
	alterIncremental(ctx context.Context, topic string, ops []alterOp) error
	alterLegacy(ctx context.Context, topic string, set map[string]string) error
	describeConfigs(ctx context.Context, topic string, synonyms bool) (map[string]cfgEntry, error)
	createPartitions(ctx context.Context, topic string, total int32) error
	deleteTopic(ctx context.Context, topic string) error
	// errCode extracts the Kafka error code from a client error, -1 if it
	// carries none.
	errCode(err error) int16
}

// clientSuite runs the shared scenario for one client against its own
// broker. newDriver builds a driver bound to the broker's address.
func clientSuite(t *testing.T, newDriver func(t *testing.T, addr string) driver) {
	b := startBroker(t)
	s := &suite{b: b, d: newDriver(t, b.Addr)}
	s.ref, s.adm = franzAdmin(t, b.Addr)

	// The scenarios wait on client and broker timers, not on the CPU, so
	// they run concurrently regardless of -parallel (which is GOMAXPROCS,
	// 2 on small CI machines).
	runConcurrently(t, map[string]func(*testing.T){
		"topics":            s.topics,
		"list-offsets":      s.listOffsets,
		"delete-records":    s.deleteRecords,
		"configs":           s.configs,
		"create-partitions": s.createPartitions,
		"recreate":          s.recreate,
	})
	t.Run("produce", func(t *testing.T) {
		subs := map[string]func(*testing.T){}
		for _, c := range codecs {
			for _, a := range ackModes {
				subs[c+"/acks="+a] = func(t *testing.T) { s.produce(t, c, a) }
			}
		}
		runConcurrently(t, subs)
	})
}

type suite struct {
	b   *brokertest.Broker
	d   driver
	ref *kgo.Client // franz-go, as an independent reference
	adm *kadm.Client
}

// must fails the test on err, and skips it when the client lacks the API.
func (s *suite) must(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if api, ok := unsupported(err); ok {
		t.Skipf("CLIENT LIMIT: %s (%s)", what, api)
	}
	var bug errBrokerBug
	if errors.As(err, &bug) {
		t.Skipf("%v (%s)", bug, what)
	}
	t.Fatalf("%s: %v", what, err)
}

// wantCode checks that err carries Kafka error code want.
func (s *suite) wantCode(t *testing.T, what string, err error, want *kerr.Error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want %s", what, want.Message)
		return
	}
	if _, ok := unsupported(err); ok {
		t.Logf("CLIENT LIMIT: %s: %v", what, err)
		return
	}
	var bug errBrokerBug
	if errors.As(err, &bug) {
		t.Skipf("%v (%s)", bug, what)
	}
	if got := s.d.errCode(err); got != want.Code {
		t.Errorf("%s: error %v (code %s), want %s", what, err, codeName(got), want.Message)
	}
}

// refID returns a topic's id from an uncached Metadata request.
func (s *suite) refID(t *testing.T, topic string) [16]byte {
	t.Helper()
	return topicID(t, s.ref, topic)
}

func (s *suite) topics(t *testing.T) {
	ctx := ctxFor(t)
	topic := topicName("topics")
	s.must(t, "create topic", s.d.createTopic(ctx, topic, 3, map[string]string{"retention.ms": "3600000", "cleanup.policy": "delete"}))

	eventually(t, "topic listed with 3 partitions", func() error {
		all, err := s.d.listTopics(ctx)
		if err != nil {
			return err
		}
		if all[topic] != 3 {
			return fmt.Errorf("listed topics %v: %s has %d partitions, want 3", all, topic, all[topic])
		}
		return nil
	})
	md, err := s.d.describeTopic(ctx, topic)
	s.must(t, "describe topic", err)
	if len(md.Partitions) != 3 {
		t.Fatalf("describe: %d partitions, want 3", len(md.Partitions))
	}
	for i, p := range md.Partitions {
		if p.Partition != int32(i) || p.Leader != nodeID || !slices.Equal(p.Replicas, []int32{nodeID}) || !slices.Equal(p.ISR, []int32{nodeID}) {
			t.Errorf("describe: partition %d = %+v, want partition %d leader %d replicas [%d] isr [%d]", i, p, i, nodeID, nodeID, nodeID)
		}
	}
	if want := s.refID(t, topic); want == ([16]byte{}) {
		t.Errorf("metadata: topic %s has the zero topic id", topic)
	} else if md.HasID && md.ID != want {
		t.Errorf("describe: topic id %x, kadm reports %x", md.ID, want)
	}
	cfgs, err := s.d.describeConfigs(ctx, topic, false)
	s.must(t, "describe configs", err)
	checkCfg(t, cfgs, "retention.ms", "3600000", srcDynamicTopic)
	checkCfg(t, cfgs, "cleanup.policy", "delete", srcDynamicTopic)

	err = s.d.createTopic(ctx, topic, 1, nil)
	s.wantCode(t, "create an existing topic", err, kerr.TopicAlreadyExists)
}

func (s *suite) produce(t *testing.T, codec, acks string) {
	ctx := ctxFor(t)
	topic := topicName("produce-" + codec + "-" + acks)
	s.must(t, "create topic", s.d.createTopic(ctx, topic, 2, nil))
	p0 := sampleRecords(topic+"-p0", 0, 10, 0)
	p1 := sampleRecords(topic+"-p1", 1, 7, 100_000)
	// Interleave the partitions in one produce call.
	var all []rec
	for i := 0; i < len(p0) || i < len(p1); i++ {
		if i < len(p0) {
			all = append(all, p0[i])
		}
		if i < len(p1) {
			all = append(all, p1[i])
		}
	}
	offs, err := s.d.produce(ctx, topic, codec, acks, all)
	s.must(t, "produce", err)
	if offs != nil {
		next := map[int32]int64{}
		for i, r := range all {
			if offs[i] != next[r.Partition] {
				t.Errorf("produce: record %d (partition %d) acknowledged at offset %d, want %d", i, r.Partition, offs[i], next[r.Partition])
			}
			next[r.Partition]++
		}
	}
	waitHighWatermark(t, s.ref, topic, 0, int64(len(p0)))
	waitHighWatermark(t, s.ref, topic, 1, int64(len(p1)))

	rm, wm := s.d.modes()
	for _, want := range [][]rec{withOffsets(p0, 0), withOffsets(p1, 0)} {
		p := want[0].Partition
		got, err := s.d.consume(ctx, topic, p, 0, len(want))
		s.must(t, "consume", err)
		checkDense(t, fmt.Sprintf("consume p%d", p), got, 0)
		checkRecords(t, fmt.Sprintf("consume p%d", p), got, want, rm)

		// From the middle of a batch: the client skips the records
		// before its offset in the batch the broker returns.
		got, err = s.d.consume(ctx, topic, p, 3, len(want)-3)
		s.must(t, "consume from offset 3", err)
		checkRecords(t, fmt.Sprintf("consume p%d from 3", p), got, want[3:], rm)

		// What landed, read by franz-go: exact nulls and CreateTime.
		ref := franzRead(t, s.b.Addr, topic, p, 0, len(want))
		checkRecords(t, fmt.Sprintf("franz-go reads p%d", p), ref, want, wm)
		// The stored batches use the codec the client was asked for.
		for _, sb := range storedBatches(t, s.b.Addr, topic, p) {
			if sb.tsType != 0 {
				t.Errorf("stored batch at %d: timestamp type %d, want CreateTime (0)", sb.base, sb.tsType)
			}
			if sb.codec == codecID[codec] {
				continue
			}
			if s.limit("compress-if-smaller") != "" && sb.codec == 0 && sb.recordsLen < tinyBatch {
				continue
			}
			t.Errorf("stored batch at %d (%d records, %d bytes of records): codec %d, want %d (%s)", sb.base, sb.records, sb.recordsLen, sb.codec, codecID[codec], codec)
		}
	}
}

// tinyBatch: below this many bytes of records, compression framing
// (an LZ4 frame or a gzip member alone is 15-20 bytes) outweighs any
// saving, and a client that keeps compressed output only when it is
// smaller (librdkafka, rdkafka_msgset_writer.c) rightly sends the batch
// uncompressed.
const tinyBatch = 100

func (s *suite) listOffsets(t *testing.T) {
	ctx := ctxFor(t)
	topic := topicName("list-offsets")
	s.must(t, "create topic", s.d.createTopic(ctx, topic, 1, nil))
	t0 := baseTime
	ts := []int64{t0, t0 + 10_000, t0 + 40_000, t0 + 20_000, t0 + 30_000}
	recs := make([]rec, len(ts))
	for i := range recs {
		recs[i] = rec{Partition: 0, Offset: -1, Key: []byte(fmt.Sprint("k", i)), Value: []byte(fmt.Sprint("v", i)), Timestamp: ts[i]}
	}

	// Empty partition first.
	for _, spec := range []int64{-2, -1} {
		off, _, err := s.d.listOffset(ctx, topic, 0, spec)
		s.must(t, "list offsets", err)
		if off != 0 {
			t.Errorf("empty partition: list offset %d = %d, want 0", spec, off)
		}
	}
	off, _, err := s.d.listOffset(ctx, topic, 0, t0)
	s.must(t, "list offsets by time", err)
	if off != -1 {
		t.Errorf("empty partition: offset for timestamp %d = %d, want -1 (none)", t0, off)
	}

	// Two produce calls, so the broker searches across and within batches.
	_, err = s.d.produce(ctx, topic, "none", "all", recs[:3])
	s.must(t, "produce", err)
	_, err = s.d.produce(ctx, topic, "lz4", "all", recs[3:])
	s.must(t, "produce", err)
	waitHighWatermark(t, s.ref, topic, 0, 5)

	cases := []struct {
		name       string
		spec       int64
		off, recTS int64
	}{
		{"earliest", -2, 0, -1},
		{"latest", -1, 5, -1},
		{"ts-before-all", t0 - 1000, 0, t0},
		{"ts-first", t0, 0, t0},
		{"ts-just-after-first", t0 + 1, 1, t0 + 10_000},
		{"ts-exact-second", t0 + 10_000, 1, t0 + 10_000},
		// The first offset at or after the time: offset 2 (t0+40s)
		// comes before offset 3 (t0+20s).
		{"ts-out-of-order", t0 + 15_000, 2, t0 + 40_000},
		{"ts-in-second-batch-order", t0 + 35_000, 2, t0 + 40_000},
		{"ts-max", t0 + 40_000, 2, t0 + 40_000},
		{"ts-after-all", t0 + 40_001, -1, -1},
		{"max-timestamp", -3, 2, t0 + 40_000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			off, rts, err := s.d.listOffset(ctx, topic, 0, c.spec)
			s.must(t, "list offsets", err)
			if off != c.off {
				t.Errorf("list offset %d: offset %d, want %d", c.spec, off, c.off)
			}
			if c.recTS >= 0 && rts != unknown && rts != c.recTS {
				t.Errorf("list offset %d: timestamp %d, want %d", c.spec, rts, c.recTS)
			}
		})
	}
}

func (s *suite) deleteRecords(t *testing.T) {
	ctx := ctxFor(t)
	topic := topicName("delete-records")
	s.must(t, "create topic", s.d.createTopic(ctx, topic, 1, nil))
	recs := sampleRecords(topic, 0, 10, 0)
	_, err := s.d.produce(ctx, topic, "none", "all", recs)
	s.must(t, "produce", err)
	waitHighWatermark(t, s.ref, topic, 0, 10)

	low, err := s.d.deleteRecords(ctx, topic, 0, 4)
	if api, ok := unsupported(err); ok {
		t.Logf("CLIENT LIMIT: delete records (%s): deleting with kadm, checking the effect with the client", api)
		os := make(kadm.Offsets)
		os.Add(kadm.Offset{Topic: topic, Partition: 0, At: 4})
		resp, err := s.adm.DeleteRecords(ctx, os)
		if err == nil {
			r, _ := resp.Lookup(topic, 0)
			low, err = r.LowWatermark, r.Err
		}
		if err != nil {
			t.Fatalf("kadm delete records: %v", err)
		}
	} else if err != nil {
		t.Fatalf("delete records: %v", err)
	}
	if low != unknown && low != 4 {
		t.Errorf("delete records before 4: low watermark %d, want 4", low)
	}
	for _, c := range []struct {
		spec, want int64
	}{{-2, 4}, {-1, 10}} {
		off, _, err := s.d.listOffset(ctx, topic, 0, c.spec)
		s.must(t, "list offsets", err)
		if off != c.want {
			t.Errorf("after delete records: list offset %d = %d, want %d", c.spec, off, c.want)
		}
	}
	rm, _ := s.d.modes()
	got, err := s.d.consume(ctx, topic, 0, 4, 6)
	s.must(t, "consume from the new start", err)
	checkRecords(t, "consume from 4", got, withOffsets(recs, 0)[4:], rm)

	_, err = s.d.deleteRecords(ctx, topic, 0, 11)
	s.wantCode(t, "delete records beyond the high watermark", err, kerr.OffsetOutOfRange)

	// Last: a broker bug may skip the rest from here.
	err = s.d.fetchAt(ctx, topic, 0, 2)
	s.wantCode(t, "fetch below the log start offset", err, kerr.OffsetOutOfRange)
}

func checkCfg(t *testing.T, cfgs map[string]cfgEntry, name, value string, source int8) cfgEntry {
	t.Helper()
	e, ok := cfgs[name]
	if !ok {
		t.Errorf("describe configs: %s missing", name)
		return e
	}
	if e.Value == nil || *e.Value != value {
		t.Errorf("describe configs: %s = %s, want %q", name, strPtr(e.Value), value)
	}
	if e.Source != -1 && e.Source != source {
		t.Errorf("describe configs: %s source %d, want %d", name, e.Source, source)
	}
	return e
}

func strPtr(p *string) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprintf("%q", *p)
}

// checkSynonyms checks that e's synonyms contain want, in order (other
// synonyms may sit between them).
func checkSynonyms(t *testing.T, e cfgEntry, want ...cfgSyn) {
	t.Helper()
	i := 0
	for _, s := range e.Synonyms {
		if i < len(want) && s.Name == want[i].Name && s.Source == want[i].Source && strPtr(s.Value) == strPtr(want[i].Value) {
			i++
		}
	}
	if i < len(want) {
		var got, exp []string
		for _, s := range e.Synonyms {
			got = append(got, fmt.Sprintf("%s=%s(src %d)", s.Name, strPtr(s.Value), s.Source))
		}
		for _, s := range want {
			exp = append(exp, fmt.Sprintf("%s=%s(src %d)", s.Name, strPtr(s.Value), s.Source))
		}
		t.Errorf("describe configs: %s synonyms [%s], want (in order) [%s]", e.Name, strings.Join(got, " "), strings.Join(exp, " "))
	}
}

// checkSynonymSet is checkSynonyms for clients that key synonyms by name:
// each wanted name is there, with the wanted value and source if the name
// is wanted once, or with one of them if several share it.
func checkSynonymSet(t *testing.T, e cfgEntry, want ...cfgSyn) {
	t.Helper()
	for _, w := range want {
		ok := false
		for _, g := range e.Synonyms {
			if g.Name != w.Name {
				continue
			}
			for _, w2 := range want {
				if w2.Name == g.Name && w2.Source == g.Source && strPtr(w2.Value) == strPtr(g.Value) {
					ok = true
				}
			}
		}
		if !ok {
			t.Errorf("describe configs: %s synonyms %+v: no %s=%s (src %d)", e.Name, e.Synonyms, w.Name, strPtr(w.Value), w.Source)
		}
	}
}

func sp(s string) *string { return &s }

func (s *suite) configs(t *testing.T) {
	ctx := ctxFor(t)
	topic := topicName("configs")
	s.must(t, "create topic", s.d.createTopic(ctx, topic, 1, map[string]string{"retention.ms": "3600000"}))

	cfgs, err := s.d.describeConfigs(ctx, topic, true)
	s.must(t, "describe configs", err)
	noSyn := s.limit("synonyms")
	if noSyn != "" {
		t.Logf("CLIENT LIMIT: describe configs synonyms: %s", noSyn)
	}
	checkSynonyms := checkSynonyms
	if why := s.limit("synonym-order"); why != "" {
		t.Logf("CLIENT LIMIT: synonyms checked as a set: %s", why)
		checkSynonyms = checkSynonymSet
	}
	e := checkCfg(t, cfgs, "retention.ms", "3600000", srcDynamicTopic)
	if noSyn == "" {
		checkSynonyms(t, e, cfgSyn{"retention.ms", sp("3600000"), srcDynamicTopic}, cfgSyn{"log.retention.hours", sp("168"), srcDefault})
	}
	e = checkCfg(t, cfgs, "segment.bytes", "1073741824", srcDefault)
	if noSyn == "" {
		checkSynonyms(t, e, cfgSyn{"log.segment.bytes", sp("1073741824"), srcDefault})
	}
	e = checkCfg(t, cfgs, staticTopicKey, staticBrokerValue, srcStaticBroker)
	if noSyn == "" {
		checkSynonyms(t, e, cfgSyn{staticBrokerKey, sp(staticBrokerValue), srcStaticBroker}, cfgSyn{staticBrokerKey, sp("-1"), srcDefault})
	}

	t.Run("incremental", func(t *testing.T) {
		err := s.d.alterIncremental(ctx, topic, []alterOp{{Name: "segment.ms", Value: "600000"}, {Name: "retention.ms", Delete: true}})
		s.must(t, "incremental alter configs", err)
		eventually(t, "incremental alter visible", func() error {
			cfgs, err := s.d.describeConfigs(ctx, topic, false)
			if err != nil {
				return err
			}
			if e := cfgs["segment.ms"]; e.Value == nil || *e.Value != "600000" {
				return fmt.Errorf("segment.ms = %s", strPtr(e.Value))
			}
			return nil
		})
		cfgs, err := s.d.describeConfigs(ctx, topic, false)
		s.must(t, "describe configs", err)
		checkCfg(t, cfgs, "segment.ms", "600000", srcDynamicTopic)
		checkCfg(t, cfgs, "retention.ms", "604800000", srcDefault)

		err = s.d.alterIncremental(ctx, topic, []alterOp{{Name: "retention.ms", Value: "not-a-number"}})
		s.wantCode(t, "incremental alter with an invalid value", err, kerr.InvalidConfig)
	})
	t.Run("legacy", func(t *testing.T) {
		err := s.d.alterLegacy(ctx, topic, map[string]string{"max.message.bytes": "500000"})
		s.must(t, "alter configs", err)
		cfgs, err := s.d.describeConfigs(ctx, topic, false)
		s.must(t, "describe configs", err)
		checkCfg(t, cfgs, "max.message.bytes", "500000", srcDynamicTopic)
		// AlterConfigs replaces the whole set of overrides.
		checkCfg(t, cfgs, "segment.ms", "604800000", srcDefault)
		checkCfg(t, cfgs, "retention.ms", "604800000", srcDefault)
	})
}

func (s *suite) createPartitions(t *testing.T) {
	ctx := ctxFor(t)
	topic := topicName("create-partitions")
	s.must(t, "create topic", s.d.createTopic(ctx, topic, 1, nil))
	_, err := s.d.produce(ctx, topic, "none", "all", sampleRecords(topic, 0, 3, 0))
	s.must(t, "produce", err)

	s.must(t, "create partitions", s.d.createPartitions(ctx, topic, 3))
	eventually(t, "3 partitions described", func() error {
		md, err := s.d.describeTopic(ctx, topic)
		if err != nil {
			return err
		}
		if len(md.Partitions) != 3 {
			return fmt.Errorf("%d partitions", len(md.Partitions))
		}
		return nil
	})
	recs := sampleRecords(topic+"-new", 2, 5, 0)
	offs, err := s.d.produce(ctx, topic, "zstd", "all", recs)
	s.must(t, "produce to the new partition", err)
	if offs != nil && offs[0] != 0 {
		t.Errorf("first record on the new partition at offset %d, want 0", offs[0])
	}
	rm, _ := s.d.modes()
	got, err := s.d.consume(ctx, topic, 2, 0, 5)
	s.must(t, "consume the new partition", err)
	checkRecords(t, "consume p2", got, withOffsets(recs, 0), rm)
	if lo, hi := offsetsOf(t, s.ref, topic, 0); lo != 0 || hi != 3 {
		t.Errorf("partition 0 offsets [%d, %d), want [0, 3)", lo, hi)
	}

	err = s.d.createPartitions(ctx, topic, 2)
	s.wantCode(t, "decrease the partition count", err, kerr.InvalidPartitions)
}

func (s *suite) recreate(t *testing.T) {
	ctx := ctxFor(t)
	topic := topicName("recreate")
	s.must(t, "create topic", s.d.createTopic(ctx, topic, 2, nil))
	_, err := s.d.produce(ctx, topic, "none", "1", sampleRecords(topic, 0, 5, 0))
	s.must(t, "produce", err)
	waitHighWatermark(t, s.ref, topic, 0, 5)
	id1 := s.refID(t, topic)
	md1, err := s.d.describeTopic(ctx, topic)
	s.must(t, "describe", err)

	s.must(t, "delete topic", s.d.deleteTopic(ctx, topic))
	eventually(t, "topic gone", func() error {
		all, err := s.d.listTopics(ctx)
		if err != nil {
			return err
		}
		if _, ok := all[topic]; ok {
			return fmt.Errorf("%s still listed", topic)
		}
		return nil
	})
	eventually(t, "re-create", func() error {
		err := s.d.createTopic(ctx, topic, 1, nil)
		if err != nil && s.d.errCode(err) == kerr.TopicAlreadyExists.Code {
			return err // deletion may complete asynchronously, as in Kafka
		}
		if err != nil {
			t.Fatalf("re-create: %v", err)
		}
		return nil
	})
	id2 := s.refID(t, topic)
	if id2 == id1 || id2 == ([16]byte{}) {
		t.Errorf("re-created topic id %x, old id %x: want a new non-zero id", id2, id1)
	}
	var md2 topicMeta
	eventually(t, "re-created topic described", func() error {
		var err error
		md2, err = s.d.describeTopic(ctx, topic)
		if err != nil {
			return err
		}
		if len(md2.Partitions) != 1 {
			return fmt.Errorf("%d partitions, want 1", len(md2.Partitions))
		}
		return nil
	})
	if md1.HasID {
		// The client's metadata cache may lag; it must converge.
		eventually(t, "client sees the new topic id", func() error {
			md2, err := s.d.describeTopic(ctx, topic)
			if err != nil {
				return err
			}
			if md2.ID != id2 {
				return fmt.Errorf("client sees topic id %x before and %x after re-creation; the broker reports %x", md1.ID, md2.ID, id2)
			}
			return nil
		})
	}
	for _, spec := range []int64{-2, -1} {
		off, _, err := s.d.listOffset(ctx, topic, 0, spec)
		s.must(t, "list offsets", err)
		if off != 0 {
			t.Errorf("re-created topic: list offset %d = %d, want 0", spec, off)
		}
	}
	recs := sampleRecords(topic+"-again", 0, 1, 50_000)
	offs, err := s.d.produce(ctx, topic, "none", "all", recs)
	s.must(t, "produce", err)
	if offs != nil && offs[0] != 0 {
		t.Errorf("first record of the re-created topic at offset %d, want 0", offs[0])
	}
	rm, _ := s.d.modes()
	got, err := s.d.consume(ctx, topic, 0, 0, 1)
	s.must(t, "consume", err)
	checkRecords(t, "consume the re-created topic", got, withOffsets(recs, 0), rm)
}

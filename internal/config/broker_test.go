package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func sp(s string) *string { return &s }

func mustNew(t *testing.T, static map[string]string) *Broker {
	t.Helper()
	b, err := New(static)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDefaults(t *testing.T) {
	b := mustNew(t, nil)
	if got := b.String(Listeners); got != "127.0.0.1:9092" {
		t.Errorf("listeners = %q", got)
	}
	if got := b.String(AdvertisedListeners); got != "127.0.0.1:9092" {
		t.Errorf("advertised.listeners = %q, want the listen address", got)
	}
	if got := b.String(AdminListeners); got != "127.0.0.1:9644" {
		t.Errorf("admin.listeners = %q", got)
	}
	if got := b.String(LogDirs); got != "./plexus-data" {
		t.Errorf("log.dirs = %q", got)
	}
	if b.Int(NodeID) != 0 || b.Int(NumPartitions) != 1 || !b.Bool(AutoCreateTopicsEnable) || b.Bool(WriteCaching) {
		t.Errorf("node.id/num.partitions/auto.create.topics.enable/write.caching defaults wrong")
	}
	if got := b.Long(QueuedMaxRequestBytes); got != 256<<20 {
		t.Errorf("queued.max.request.bytes = %d", got)
	}
	if got := b.Long(LogRetentionMs); got != 604800000 {
		t.Errorf("log.retention.ms resolves to %d, want 7 days from log.retention.hours", got)
	}
	if got := b.Long(LogFlushIntervalMs); got != 1<<63-1 {
		t.Errorf("log.flush.interval.ms resolves to %d, want log.flush.scheduler.interval.ms", got)
	}
	if got := b.List(GroupConsumerAssignors); !reflect.DeepEqual(got, []string{"uniform", "range"}) {
		t.Errorf("group.consumer.assignors = %q", got)
	}
	if got := b.Double(LogCleanerMinCleanableRatio); got != 0.5 {
		t.Errorf("log.cleaner.min.cleanable.ratio = %v", got)
	}
	// Getters are panic-free: unknown names, topic-only names and type
	// mismatches give zero values.
	if b.Long("no.such.key") != 0 || b.String(RetentionMs) != "" || b.Bool(NumPartitions) || b.List(Listeners) != nil || b.Int(LogRetentionMs) != 0 {
		t.Errorf("getters must return zero values for wrong names or types")
	}
	if _, _, ok := b.Get(RetentionMs); ok {
		t.Errorf("Get of a topic-only config must fail")
	}
}

func TestSynonymResolution(t *testing.T) {
	tests := []struct {
		name    string
		static  map[string]string
		dynDef  map[string]string
		dynBrk  map[string]string
		over    map[string]string
		key     string
		want    string
		wantSrc Source
		from    string
	}{
		{"default from log.retention.hours", nil, nil, nil, nil, RetentionMs, "604800000", SourceDefault, LogRetentionHours},
		{"log.retention.hours=1", map[string]string{LogRetentionHours: "1"}, nil, nil, nil,
			RetentionMs, "3600000", SourceStaticBroker, LogRetentionHours},
		{"minutes beat hours", map[string]string{LogRetentionHours: "1", LogRetentionMinutes: "5"}, nil, nil, nil,
			RetentionMs, "300000", SourceStaticBroker, LogRetentionMinutes},
		{"ms beats minutes", map[string]string{LogRetentionMinutes: "5", LogRetentionMs: "1234"}, nil, nil, nil,
			RetentionMs, "1234", SourceStaticBroker, LogRetentionMs},
		{"hours -1 is unlimited", map[string]string{LogRetentionHours: "-1"}, nil, nil, nil,
			RetentionMs, "-1", SourceStaticBroker, LogRetentionHours},
		{"dynamic default beats static", map[string]string{LogRetentionHours: "1"}, map[string]string{LogRetentionMs: "10800000"}, nil, nil,
			RetentionMs, "10800000", SourceDynamicDefaultBroker, LogRetentionMs},
		{"dynamic broker beats dynamic default", nil, map[string]string{LogRetentionMs: "1"}, map[string]string{LogRetentionMs: "2"}, nil,
			RetentionMs, "2", SourceDynamicBroker, LogRetentionMs},
		{"topic beats all", nil, nil, map[string]string{LogRetentionMs: "2"}, map[string]string{RetentionMs: " 77 "},
			RetentionMs, "77", SourceTopic, RetentionMs},
		{"log.roll.hours", map[string]string{LogRollHours: "2"}, nil, nil, nil, SegmentMs, "7200000", SourceStaticBroker, LogRollHours},
		{"log.roll.jitter.hours", map[string]string{LogRollJitterHours: "1"}, nil, nil, nil, SegmentJitterMs, "3600000", SourceStaticBroker, LogRollJitterHours},
		{"flush.ms from scheduler", map[string]string{LogFlushSchedulerIntervalMs: "500"}, nil, nil, nil, FlushMs, "500", SourceStaticBroker, LogFlushSchedulerIntervalMs},
		{"message.max.bytes", map[string]string{MessageMaxBytes: "2000"}, nil, nil, nil, MaxMessageBytes, "2000", SourceStaticBroker, MessageMaxBytes},
		{"same-name synonym", map[string]string{CompressionType: "lz4"}, nil, nil, nil, CompressionType, "lz4", SourceStaticBroker, CompressionType},
		{"no synonym", nil, nil, nil, nil, RemoteStorageEnable, "false", SourceDefault, RemoteStorageEnable},
		{"invalid override ignored", nil, nil, nil, map[string]string{SegmentMs: "soon"}, SegmentMs, "604800000", SourceDefault, LogRollHours},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := mustNew(t, tc.static)
			if err := b.AlterDynamic(false, ptrs(tc.dynDef), false); err != nil {
				t.Fatal(err)
			}
			if err := b.AlterDynamic(true, ptrs(tc.dynBrk), false); err != nil {
				t.Fatal(err)
			}
			v, src, from := b.load().topicValue(index[tc.key], tc.over)
			if v != tc.want || src != tc.wantSrc || from != tc.from {
				t.Errorf("%s = %s from %s (%v), want %s from %s (%v)", tc.key, v, from, src, tc.want, tc.from, tc.wantSrc)
			}
			var e *Entry
			for _, d := range b.DescribeTopic(tc.over) {
				if d.Name == tc.key {
					e = &d
				}
			}
			if e == nil || *e.Value != tc.want || e.Source != tc.wantSrc {
				t.Fatalf("DescribeTopic %s = %+v", tc.key, e)
			}
			if len(e.Synonyms) > 0 && (e.Synonyms[0].Name != tc.from || e.Synonyms[0].Source != tc.wantSrc) {
				t.Errorf("first synonym %+v, want %s %v", e.Synonyms[0], tc.from, tc.wantSrc)
			}
		})
	}
}

func ptrs(m map[string]string) map[string]*string {
	out := map[string]*string{}
	for k, v := range m {
		out[k] = sp(v)
	}
	return out
}

func TestTopicView(t *testing.T) {
	b := mustNew(t, map[string]string{LogRetentionHours: "1", LogCleanupPolicy: "compact", WriteCaching: "true", LogMessageTimestampType: "LogAppendTime"})
	tp := b.Topic(nil)
	if tp.RetentionMs != 3600000 || !tp.CleanupPolicy.Compact || tp.CleanupPolicy.Delete || !tp.WriteCaching ||
		!tp.MessageTimestampType.LogAppendTime || tp.SegmentBytes != 1<<30 || tp.MaxMessageBytes != 1048588 ||
		tp.MinCleanableDirtyRatio != 0.5 || tp.MessageTimestampAfterMaxMs != 3600000 || tp.CompressionType != "producer" {
		t.Errorf("broker defaults: %+v", tp)
	}
	if tp.LocalRetentionMs != 3600000 || tp.LocalRetentionBytes != -1 {
		t.Errorf("local retention -2 must resolve to retention: %d %d", tp.LocalRetentionMs, tp.LocalRetentionBytes)
	}
	tp = b.Topic(map[string]string{RetentionMs: "5", CleanupPolicy: "delete,compact", WriteCaching: "false",
		MessageTimestampType: "CreateTime", MinInsyncReplicas: "2", LeaderReplicationThrottledReplicas: "0:1,1:1"})
	if tp.RetentionMs != 5 || !tp.CleanupPolicy.Compact || !tp.CleanupPolicy.Delete || tp.WriteCaching ||
		tp.MessageTimestampType.LogAppendTime || tp.MinInsyncReplicas != 2 ||
		!reflect.DeepEqual(tp.LeaderReplicationThrottledReplicas, []string{"0:1", "1:1"}) {
		t.Errorf("overrides: %+v", tp)
	}
	if tp.CleanupPolicy.String() != "compact,delete" || tp.MessageTimestampType.String() != "CreateTime" {
		t.Errorf("String forms wrong")
	}
	// The returned view shares no memory with the broker.
	a := b.Topic(nil)
	a.FollowerReplicationThrottledReplicas = append(a.FollowerReplicationThrottledReplicas, "x")
	if len(b.Topic(nil).FollowerReplicationThrottledReplicas) != 0 {
		t.Errorf("Topic shares slices")
	}
}

func TestSetDynamic(t *testing.T) {
	tests := []struct {
		name      string
		perBroker bool
		key       string
		value     *string
		kind      error
		want      []string
	}{
		{"dynamic ok", true, LogRetentionMs, sp("1000"), nil, nil},
		{"dynamic default ok", false, MessageMaxBytes, sp("2000000"), nil, nil},
		{"delete absent ok", false, LogRetentionMs, nil, nil, nil},
		{"read-only", true, NumPartitions, sp("3"), ErrReadOnly,
			[]string{"num.partitions", "read-only", "PLEXUS_NUM_PARTITIONS"}},
		{"read-only synonym points at the head", false, LogRetentionHours, sp("3"), ErrReadOnly,
			[]string{"log.retention.hours", "read-only", "set log.retention.ms dynamically instead"}},
		{"unknown with suggestion", true, "log.retention.msec", sp("1"), ErrUnknown,
			[]string{"log.retention.msec", "did you mean log.retention.ms?"}},
		{"topic config", true, RetentionMs, sp("1"), ErrUnknown,
			[]string{"retention.ms", "topic config", "broker-wide default is log.retention.ms"}},
		{"invalid value", true, LogSegmentBytes, sp("1k"), ErrInvalid,
			[]string{"log.segment.bytes", `invalid value "1k"`}},
		{"out of range", true, LogRetentionMs, sp("0"), ErrInvalid,
			[]string{"log.retention.ms", "-1 or at least 1"}},
		{"cross-key", false, LogCleanerThreads, sp("200"), ErrInvalid,
			[]string{"log.cleaner.dedupe.buffer.size", "1 MiB per thread"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := mustNew(t, nil)
			before := b.DescribeBroker()
			gen := b.Generation()
			err := b.SetDynamic(tc.perBroker, tc.key, tc.value)
			if tc.kind == nil {
				if err != nil {
					t.Fatal(err)
				}
				if b.Generation() != gen+1 {
					t.Errorf("generation did not advance")
				}
				if tc.value != nil {
					v, src, _ := b.Get(tc.key)
					wantSrc := SourceDynamicDefaultBroker
					if tc.perBroker {
						wantSrc = SourceDynamicBroker
					}
					if v != *tc.value || src != wantSrc {
						t.Errorf("after set: %s %v", v, src)
					}
				}
				return
			}
			if !errors.Is(err, tc.kind) {
				t.Fatalf("error %v, want %v", err, tc.kind)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if b.Generation() != gen || !reflect.DeepEqual(before, b.DescribeBroker()) {
				t.Errorf("a refused update changed the configuration")
			}
		})
	}
}

func TestAlterDynamicIsAtomic(t *testing.T) {
	b := mustNew(t, nil)
	err := b.AlterDynamic(true, map[string]*string{LogRetentionMs: sp("5"), NumPartitions: sp("2")}, false)
	if !errors.Is(err, ErrReadOnly) {
		t.Fatalf("want read-only error, got %v", err)
	}
	if _, src, _ := b.Get(LogRetentionMs); src != SourceDefault {
		t.Errorf("part of a refused batch was applied")
	}
	if err := b.AlterDynamic(true, map[string]*string{LogRetentionMs: sp("5")}, true); err != nil {
		t.Fatal(err)
	}
	if _, src, _ := b.Get(LogRetentionMs); src != SourceDefault {
		t.Errorf("validateOnly applied the change")
	}
	ch := b.Changed()
	if err := b.SetDynamic(true, LogRetentionMs, sp("5")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	default:
		t.Errorf("Changed was not closed by an update")
	}
	if got := b.Dynamic(true); !reflect.DeepEqual(got, map[string]string{LogRetentionMs: "5"}) {
		t.Errorf("Dynamic(true) = %v", got)
	}
	if err := b.SetDynamic(true, LogRetentionMs, nil); err != nil {
		t.Fatal(err)
	}
	if got := b.Long(LogRetentionMs); got != 604800000 {
		t.Errorf("after delete log.retention.ms = %d", got)
	}
}

func findEntry(es []Entry, name string) Entry {
	for _, e := range es {
		if e.Name == name {
			return e
		}
	}
	return Entry{}
}

type syn3 struct {
	name, value string
	src         Source
}

func syns(e Entry) []syn3 {
	var out []syn3
	for _, s := range e.Synonyms {
		v := "<nil>"
		if s.Value != nil {
			v = *s.Value
		}
		out = append(out, syn3{s.Name, v, s.Source})
	}
	return out
}

func TestDescribeTopic(t *testing.T) {
	b := mustNew(t, map[string]string{LogRetentionHours: "1", LogRetentionMinutes: "30", LogRollJitterMs: "123"})
	if err := b.SetDynamic(false, LogRetentionMs, sp("10800000")); err != nil {
		t.Fatal(err)
	}
	if err := b.SetDynamic(true, LogCleanerDeleteRetentionMs, sp("34")); err != nil {
		t.Fatal(err)
	}
	es := b.DescribeTopic(map[string]string{IndexIntervalBytes: "9999999", RetentionMs: "42"})
	if len(es) != len(kafkaTopicConfigs) {
		t.Errorf("%d entries, want one per topic config (%d)", len(es), len(kafkaTopicConfigs))
	}
	for i := 1; i < len(es); i++ {
		if es[i-1].Name >= es[i].Name {
			t.Errorf("entries not sorted: %s before %s", es[i-1].Name, es[i].Name)
		}
	}
	tests := []struct {
		name   string
		value  string
		source Source
		typ    Type
		syns   []syn3
	}{
		{RetentionMs, "42", SourceTopic, TypeLong, []syn3{
			{RetentionMs, "42", SourceTopic},
			{LogRetentionMs, "10800000", SourceDynamicDefaultBroker},
			{LogRetentionMinutes, "30", SourceStaticBroker},
			{LogRetentionHours, "1", SourceStaticBroker},
			{LogRetentionHours, "168", SourceDefault},
		}},
		{IndexIntervalBytes, "9999999", SourceTopic, TypeInt, []syn3{
			{IndexIntervalBytes, "9999999", SourceTopic},
			{LogIndexIntervalBytes, "4096", SourceDefault},
		}},
		{DeleteRetentionMs, "34", SourceDynamicBroker, TypeLong, []syn3{
			{LogCleanerDeleteRetentionMs, "34", SourceDynamicBroker},
			{LogCleanerDeleteRetentionMs, "86400000", SourceDefault},
		}},
		{SegmentJitterMs, "123", SourceStaticBroker, TypeLong, []syn3{
			{LogRollJitterMs, "123", SourceStaticBroker},
			{LogRollJitterHours, "0", SourceDefault},
		}},
		{SegmentMs, "604800000", SourceDefault, TypeLong, []syn3{
			{LogRollHours, "168", SourceDefault},
		}},
		{CleanupPolicy, "delete", SourceDefault, TypeList, []syn3{
			{LogCleanupPolicy, "delete", SourceDefault},
		}},
		{RemoteStorageEnable, "false", SourceDefault, TypeBoolean, nil},
		{MinCleanableDirtyRatio, "0.5", SourceDefault, TypeDouble, []syn3{
			{LogCleanerMinCleanableRatio, "0.5", SourceDefault},
		}},
	}
	for _, tc := range tests {
		e := findEntry(es, tc.name)
		if e.Value == nil || *e.Value != tc.value || e.Source != tc.source || e.Type != tc.typ || e.ReadOnly || e.Sensitive || e.Doc == "" {
			t.Errorf("%s: %+v", tc.name, e)
		}
		if got := syns(e); !reflect.DeepEqual(got, tc.syns) {
			t.Errorf("%s synonyms:\n got %v\nwant %v", tc.name, got, tc.syns)
		}
	}
}

func TestDescribeBroker(t *testing.T) {
	b := mustNew(t, map[string]string{LogRetentionMs: "1680000000", LogRetentionHours: "168", Listeners: "0.0.0.0:9092"})
	if err := b.SetDynamic(false, LogCleanerThreads, sp("2")); err != nil {
		t.Fatal(err)
	}
	es := b.DescribeBroker()
	tests := []struct {
		name     string
		value    string // "<nil>" for none
		source   Source
		readOnly bool
		syns     []syn3
	}{
		// As Kafka's DynamicBrokerReconfigurationTest expects.
		{LogRetentionMs, "1680000000", SourceStaticBroker, false, []syn3{
			{LogRetentionMs, "1680000000", SourceStaticBroker},
			{LogRetentionHours, "168", SourceStaticBroker},
			{LogRetentionHours, "168", SourceDefault},
		}},
		{LogRetentionHours, "168", SourceStaticBroker, true, []syn3{
			{LogRetentionHours, "168", SourceStaticBroker},
			{LogRetentionHours, "168", SourceDefault},
		}},
		{LogRollHours, "168", SourceDefault, true, []syn3{{LogRollHours, "168", SourceDefault}}},
		{LogRollMs, "<nil>", SourceDefault, false, nil},
		{LogCleanerThreads, "2", SourceDynamicDefaultBroker, false, []syn3{
			{LogCleanerThreads, "2", SourceDynamicDefaultBroker},
			{LogCleanerThreads, "1", SourceDefault},
		}},
		{AdvertisedListeners, "0.0.0.0:9092", SourceDefault, true, nil},
		{WriteCaching, "false", SourceDefault, false, []syn3{{WriteCaching, "false", SourceDefault}}},
	}
	for _, tc := range tests {
		e := findEntry(es, tc.name)
		v := "<nil>"
		if e.Value != nil {
			v = *e.Value
		}
		if e.Name == "" || v != tc.value || e.Source != tc.source || e.ReadOnly != tc.readOnly {
			t.Errorf("%s: value %s source %v readOnly %v; want %s %v %v", tc.name, v, e.Source, e.ReadOnly, tc.value, tc.source, tc.readOnly)
		}
		if got := syns(e); !reflect.DeepEqual(got, tc.syns) {
			t.Errorf("%s synonyms:\n got %v\nwant %v", tc.name, got, tc.syns)
		}
	}
	if e := findEntry(es, RetentionMs); e.Name != "" {
		t.Errorf("topic-only config in broker description")
	}
	defs := b.DescribeBrokerDefaults()
	if len(defs) != 1 || defs[0].Name != LogCleanerThreads || *defs[0].Value != "2" || defs[0].Source != SourceDynamicDefaultBroker ||
		!reflect.DeepEqual(syns(defs[0]), []syn3{{LogCleanerThreads, "2", SourceDynamicDefaultBroker}}) {
		t.Errorf("DescribeBrokerDefaults = %+v", defs)
	}
}

func TestSensitiveRedacted(t *testing.T) {
	k := Key{Name: "x", Type: TypePassword, Sensitive: true}
	e := redact(Entry{Name: k.Name, Value: sp("secret"), Sensitive: true, Synonyms: []Synonym{{Name: "x", Value: sp("secret")}}})
	if e.Value != nil || e.Synonyms[0].Value != nil {
		t.Errorf("sensitive value leaked: %+v", e)
	}
}

// Readers run while writers update; go test -race checks the snapshot
// publication, and each reader checks that it never sees a torn state.
func TestConcurrentReadersAndUpdates(t *testing.T) {
	b := mustNew(t, nil)
	const writes = 200
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				// Both settings are written together, so a reader must
				// always see them equal.
				tp := b.Topic(nil)
				if tp.RetentionMs != tp.SegmentMs {
					t.Errorf("torn read: retention %d segment %d", tp.RetentionMs, tp.SegmentMs)
					return
				}
				_ = b.DescribeTopic(map[string]string{RetentionMs: "1"})
				_ = b.DescribeBroker()
				_ = b.Long(LogRetentionMs)
			}
		}()
	}
	for i := 1; i <= writes; i++ {
		v := fmt.Sprint(i)
		perBroker := i%2 == 0
		if err := b.AlterDynamic(perBroker, map[string]*string{LogRetentionMs: &v, LogRollMs: &v}, false); err != nil {
			t.Fatal(err)
		}
		if err := b.AlterDynamic(!perBroker, map[string]*string{LogRetentionMs: nil, LogRollMs: nil}, false); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if got := b.Generation(); got != 1+2*writes {
		t.Errorf("generation %d", got)
	}
}

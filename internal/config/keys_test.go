package config

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The int8 values of Type and Source go on the wire as they are.
func TestWireNumbersMatchKafka(t *testing.T) {
	types := map[Type]kmsg.ConfigType{
		TypeBoolean: kmsg.ConfigTypeBoolean, TypeString: kmsg.ConfigTypeString, TypeInt: kmsg.ConfigTypeInt,
		TypeShort: kmsg.ConfigTypeShort, TypeLong: kmsg.ConfigTypeLong, TypeDouble: kmsg.ConfigTypeDouble,
		TypeList: kmsg.ConfigTypeList, TypeClass: kmsg.ConfigTypeClass, TypePassword: kmsg.ConfigTypePassword,
	}
	for ours, theirs := range types {
		if int8(ours) != int8(theirs) {
			t.Errorf("%v = %d, kmsg says %d", ours, ours, theirs)
		}
	}
	sources := map[Source]kmsg.ConfigSource{
		SourceTopic: kmsg.ConfigSourceDynamicTopicConfig, SourceDynamicBroker: kmsg.ConfigSourceDynamicBrokerConfig,
		SourceDynamicDefaultBroker: kmsg.ConfigSourceDynamicDefaultBrokerConfig, SourceStaticBroker: kmsg.ConfigSourceStaticBrokerConfig,
		SourceDefault: kmsg.ConfigSourceDefaultConfig, SourceDynamicBrokerLogger: kmsg.ConfigSourceDynamicBrokerLoggerConfig,
	}
	for ours, theirs := range sources {
		if int8(ours) != int8(theirs) {
			t.Errorf("%v = %d, kmsg says %d", ours, ours, theirs)
		}
	}
}

// Every topic config of Kafka 4.x, as listed by TopicConfig/LogConfig (less
// the ones Kafka 4.0 removed), plus write.caching.
var kafkaTopicConfigs = []string{
	"cleanup.policy", "compression.gzip.level", "compression.lz4.level", "compression.type",
	"compression.zstd.level", "delete.retention.ms", "file.delete.delay.ms", "flush.messages", "flush.ms",
	"follower.replication.throttled.replicas", "index.interval.bytes", "leader.replication.throttled.replicas",
	"local.retention.bytes", "local.retention.ms", "max.compaction.lag.ms", "max.message.bytes",
	"message.downconversion.enable", "message.timestamp.after.max.ms", "message.timestamp.before.max.ms",
	"message.timestamp.type", "min.cleanable.dirty.ratio", "min.compaction.lag.ms", "min.insync.replicas",
	"preallocate", "remote.log.copy.disable", "remote.log.delete.on.disable", "remote.storage.enable",
	"retention.bytes", "retention.ms", "segment.bytes", "segment.index.bytes", "segment.jitter.ms",
	"segment.ms", "unclean.leader.election.enable", "write.caching",
}

func TestTopicConfigsAreExactlyKafkas(t *testing.T) {
	want := map[string]bool{}
	for _, n := range kafkaTopicConfigs {
		want[n] = true
		if k, ok := Lookup(n); !ok || !k.Topic {
			t.Errorf("%s: not a topic config in the table", n)
		}
	}
	for _, k := range Keys() {
		if k.Topic && !want[k.Name] {
			t.Errorf("%s: topic config not in Kafka's list", k.Name)
		}
	}
}

func TestTableInvariants(t *testing.T) {
	for _, k := range Keys() {
		t.Run(k.Name, func(t *testing.T) {
			if k.Doc == "" || strings.Contains(k.Doc, "\n") {
				t.Errorf("doc must be one non-empty line")
			}
			if !k.Topic && !k.Broker {
				t.Errorf("neither topic nor broker")
			}
			if !k.NoDefault {
				canon, _, err := k.normalize(k.Default)
				if err != nil {
					t.Fatalf("default %q invalid: %v", k.Default, err)
				}
				if canon != k.Default {
					t.Errorf("default %q is not canonical (%q)", k.Default, canon)
				}
			}
			if k.NoDefault && k.Topic {
				t.Errorf("a topic config always has a default")
			}
			if k.DefaultFrom != "" {
				if f, ok := Lookup(k.DefaultFrom); !ok || !f.Broker || f.Type != k.Type {
					t.Errorf("DefaultFrom %s is not a broker setting of the same type", k.DefaultFrom)
				}
			}
			if k.Topic && k.ReadOnly {
				t.Errorf("topic configs are never read-only")
			}
			if len(k.BrokerSynonyms) > 0 && !k.Topic {
				t.Errorf("only topic configs have broker synonyms")
			}
			// The topic default is the converted default of the first
			// synonym that has one, as Kafka derives it.
			var fromChain string
			for i, s := range k.BrokerSynonyms {
				b, ok := Lookup(s.Name)
				if !ok || !b.Broker {
					t.Fatalf("synonym %s is not a broker setting", s.Name)
				}
				if s.Scale != 1 && b.Type != TypeInt && b.Type != TypeLong {
					t.Errorf("synonym %s scaled but not an integer", s.Name)
				}
				if s.Scale == 1 && b.Type != k.Type && !(b.Type == TypeInt && k.Type == TypeLong) {
					t.Errorf("synonym %s has type %v, topic config %v", s.Name, b.Type, k.Type)
				}
				// As in Kafka, only the head of a chain changes at runtime.
				if i == 0 && b.ReadOnly {
					t.Errorf("synonym %s should be dynamic", s.Name)
				}
				if i > 0 && !b.ReadOnly {
					t.Errorf("lower-priority synonym %s should be read-only", s.Name)
				}
				if fromChain == "" && !b.NoDefault {
					fromChain = scale(b.Default, s.Scale)
				}
			}
			if fromChain != "" && fromChain != k.Default {
				t.Errorf("default %s, but its broker synonyms give %s", k.Default, fromChain)
			}
		})
	}
}

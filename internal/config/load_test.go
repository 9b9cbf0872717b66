package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadPrecedence(t *testing.T) {
	file := writeFile(t, "plexus.yaml", `
num.partitions: 2
log.retention.hours: 10
listeners: 10.0.0.1:9092
default.replication.factor: 1
message.max.bytes: 100
`)
	tests := []struct {
		name   string
		opts   LoadOptions
		key    string
		want   string
		origin string
	}{
		{"default", LoadOptions{}, NumPartitions, "1", ""},
		{"file", LoadOptions{File: file}, NumPartitions, "2", "plexus.yaml:2"},
		{"env beats file", LoadOptions{File: file, Env: []string{"PLEXUS_NUM_PARTITIONS=3"}},
			NumPartitions, "3", "environment variable PLEXUS_NUM_PARTITIONS"},
		{"set beats env", LoadOptions{File: file, Env: []string{"PLEXUS_NUM_PARTITIONS=3"}, Sets: []string{"num.partitions=4"}},
			NumPartitions, "4", "--set num.partitions=4"},
		{"later set wins", LoadOptions{Sets: []string{"num.partitions=4", "num.partitions=5"}},
			NumPartitions, "5", "--set num.partitions=5"},
		{"env alias", LoadOptions{File: file, Env: []string{"PLEXUS_LISTEN=0.0.0.0:1"}},
			Listeners, "0.0.0.0:1", "environment variable PLEXUS_LISTEN"},
		{"flag beats env alias", LoadOptions{File: file, Env: []string{"PLEXUS_LISTEN=0.0.0.0:1"}, Flags: map[string]string{Listeners: "0.0.0.0:2"}},
			Listeners, "0.0.0.0:2", "flag --listen"},
		{"flag and equal set agree", LoadOptions{Flags: map[string]string{NodeID: "7"}, Sets: []string{"node.id=7"}},
			NodeID, "7", "--set node.id=7"},
		{"data dir alias", LoadOptions{Env: []string{"PLEXUS_DATA_DIR=/var/lib/plexus"}}, LogDirs, "/var/lib/plexus", "environment variable PLEXUS_DATA_DIR"},
		{"non-config env ignored", LoadOptions{Env: []string{"PLEXUS_BROKERS=a:1", "HOME=/root", "PLEXUS_LOG_LEVEL=debug"}}, NumPartitions, "1", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Load(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			v, src, _ := b.Get(tc.key)
			wantSrc := SourceStaticBroker
			if tc.origin == "" {
				wantSrc = SourceDefault
			}
			if v != tc.want || src != wantSrc || b.Origin(tc.key) != tc.origin {
				t.Errorf("%s = %s (%v) from %q; want %s (%v) from %q", tc.key, v, src, b.Origin(tc.key), tc.want, wantSrc, tc.origin)
			}
		})
	}
	// The file's other values survive when only one key is overridden.
	b, err := Load(LoadOptions{File: file, Sets: []string{"num.partitions=4"}})
	if err != nil {
		t.Fatal(err)
	}
	if b.Long(LogRetentionMs) != 36000000 || b.Topic(nil).RetentionMs != 36000000 || b.Topic(nil).MaxMessageBytes != 100 {
		t.Errorf("file values lost")
	}
}

func TestLoadErrors(t *testing.T) {
	yaml := writeFile(t, "plexus.yaml", "num.partitions: 1\nlog.retention.mss: 5\n")
	props := writeFile(t, "server.properties", "# c\nnum.partitions=1\nlog.segment.bytes=\\\n   12\n")
	badYAML := writeFile(t, "bad.yaml", "a: [1, 2\n")
	nullYAML := writeFile(t, "null.yaml", "num.partitions:\n")
	tests := []struct {
		name string
		opts LoadOptions
		kind error
		want []string
	}{
		{"unknown key in YAML with line and suggestion", LoadOptions{File: yaml}, ErrUnknown,
			[]string{"plexus.yaml:2: log.retention.mss: unknown setting; did you mean log.retention.ms?"}},
		{"invalid value in properties after continuation", LoadOptions{File: props}, ErrInvalid,
			[]string{"server.properties:3: log.segment.bytes", `invalid value "12"`, "at least 1048576"}},
		{"unknown env with suggestion", LoadOptions{Env: []string{"PLEXUS_LOG_RETENTON_MS=5"}}, ErrUnknown,
			[]string{"PLEXUS_LOG_RETENTON_MS", "did you mean PLEXUS_LOG_RETENTION_MS (log.retention.ms)?"}},
		{"topic config in env", LoadOptions{Env: []string{"PLEXUS_RETENTION_MS=5"}}, ErrUnknown,
			[]string{"PLEXUS_RETENTION_MS", "names retention.ms, a topic config", "log.retention.ms (PLEXUS_LOG_RETENTION_MS)"}},
		{"invalid env value", LoadOptions{Env: []string{"PLEXUS_NUM_PARTITIONS=zero"}}, ErrInvalid,
			[]string{"environment variable PLEXUS_NUM_PARTITIONS: num.partitions", `invalid value "zero"`, "not an int"}},
		{"alias and full name both set", LoadOptions{Env: []string{"PLEXUS_LISTEN=a:1", "PLEXUS_LISTENERS=a:1"}}, ErrInvalid,
			[]string{"listeners", "also set by"}},
		{"topic config in --set", LoadOptions{Sets: []string{"retention.ms=5"}}, ErrUnknown,
			[]string{"--set retention.ms=5: retention.ms: is a topic config", "broker-wide default is log.retention.ms"}},
		{"malformed --set", LoadOptions{Sets: []string{"num.partitions"}}, ErrInvalid,
			[]string{"--set: num.partitions: is not key=value"}},
		{"flag conflicts with --set", LoadOptions{Flags: map[string]string{Listeners: "a:1"}, Sets: []string{"listeners=b:2"}}, ErrInvalid,
			[]string{"listeners", "conflicts with flag --listen=a:1"}},
		{"invalid flag", LoadOptions{Flags: map[string]string{NodeID: "-3"}}, ErrInvalid,
			[]string{"flag --node-id: node.id", "at least 0"}},
		{"Kafka listener form", LoadOptions{Sets: []string{"listeners=PLAINTEXT://:9092"}}, ErrInvalid,
			[]string{"listeners", "use host:port"}},
		{"unsupported Kafka setting", LoadOptions{Sets: []string{"broker.id=1"}}, ErrUnknown,
			[]string{"broker.id", "Plexus uses node.id"}},
		{"cross-key check names origin", LoadOptions{Sets: []string{"queued.max.request.bytes=1000"}}, ErrInvalid,
			[]string{"--set queued.max.request.bytes=1000: queued.max.request.bytes", "less than socket.request.max.bytes"}},
		{"consumer heartbeat outside bounds", LoadOptions{Sets: []string{"group.consumer.heartbeat.interval.ms=20000"}}, ErrInvalid,
			[]string{"group.consumer.heartbeat.interval.ms", "outside"}},
		{"unspecified advertised host", LoadOptions{Flags: map[string]string{AdvertisedListeners: "0.0.0.0:9092"}}, ErrInvalid,
			[]string{"flag --advertise: advertised.listeners", "unspecified host"}},
		{"two data dirs", LoadOptions{Flags: map[string]string{LogDirs: "/a,/b"}}, ErrInvalid,
			[]string{"log.dirs", "one directory"}},
		{"all errors reported", LoadOptions{Sets: []string{"num.partitions=0", "nope=1"}}, ErrInvalid,
			[]string{"num.partitions", "nope"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.opts)
			if err == nil {
				t.Fatalf("no error")
			}
			if !errors.Is(err, tc.kind) {
				t.Errorf("error %q is not %v", err, tc.kind)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	for _, f := range []string{badYAML, nullYAML, filepath.Join(t.TempDir(), "missing.yaml")} {
		if _, err := Load(LoadOptions{File: f}); err == nil {
			t.Errorf("%s: no error", f)
		}
	}
}

func TestParseProperties(t *testing.T) {
	in := "# comment\n" +
		"! also a comment \\\n" +
		"   \n" +
		"a=1\n" +
		"  b : two words  \n" +
		"c three\n" +
		"d=line one \\\n" +
		"     continued\\\n" +
		"\tand done\n" +
		"e=ends with escaped backslash \\\\\n" +
		"f\\=g=h\n" +
		"u=\\u0041\\tB\n" +
		"empty=\n" +
		"last=x\\"
	got, err := parseProperties("s.properties", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []setting{
		{"a", "1", "s.properties:4"},
		{"b", "two words  ", "s.properties:5"},
		{"c", "three", "s.properties:6"},
		{"d", "line one continuedand done", "s.properties:7"},
		{"e", `ends with escaped backslash \`, "s.properties:10"},
		{"f=g", "h", "s.properties:11"},
		{"u", "A\tB", "s.properties:12"},
		{"empty", "", "s.properties:13"},
		{"last", "x", "s.properties:14"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if _, err := parseProperties("s", []byte(`x=\u12`)); err == nil {
		t.Errorf("malformed \\u escape accepted")
	}
}

func TestParseYAML(t *testing.T) {
	in := `# comment
listeners: "0.0.0.0:9092"   # trailing comment
log:
  retention:
    hours: 5
log.cleanup.policy: [compact, delete]
group.consumer.assignors:
  - range
  - uniform
write.caching: true
log.cleaner.min.cleanable.ratio: 0.25
`
	got, err := parseYAML("p.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []setting{
		{"listeners", "0.0.0.0:9092", "p.yaml:2"},
		{"log.retention.hours", "5", "p.yaml:5"},
		{"log.cleanup.policy", "compact,delete", "p.yaml:6"},
		{"group.consumer.assignors", "range,uniform", "p.yaml:7"},
		{"write.caching", "true", "p.yaml:10"},
		{"log.cleaner.min.cleanable.ratio", "0.25", "p.yaml:11"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	for name, bad := range map[string]string{
		"duplicate after flattening": "log.retention.hours: 1\nlog:\n  retention.hours: 2\n",
		"nested list":                "a: [[1]]\n",
		"not a map":                  "- a\n- b\n",
	} {
		if _, err := parseYAML("p.yaml", []byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if got, err := parseYAML("p.yaml", nil); err != nil || got != nil {
		t.Errorf("empty file: %v %v", got, err)
	}
}

func TestFormatDetection(t *testing.T) {
	props := "# Kafka style\nlog.retention.hours=5\nnum.partitions=3\n"
	yaml := "log.retention.hours: 5\nnum.partitions: 3\n"
	for _, tc := range []struct{ name, content string }{
		{"server.properties", props}, {"plexus.yaml", yaml}, {"plexus.yml", yaml},
		{"plexus.conf", props}, {"plexus.conf", yaml}, {"noext", props},
	} {
		b, err := Load(LoadOptions{File: writeFile(t, tc.name, tc.content)})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if b.Int(NumPartitions) != 3 || b.Topic(nil).RetentionMs != 5*3600000 {
			t.Errorf("%s: not parsed", tc.name)
		}
		if o := b.Origin(NumPartitions); o != tc.name+":3" && o != tc.name+":2" {
			t.Errorf("%s: origin %q", tc.name, o)
		}
	}
}

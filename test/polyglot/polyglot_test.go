// Package polyglot runs Kafka clients written in other languages, unmodified,
// against an in-process Plexus broker: kafka-python (Debian's python3-kafka)
// and kafkajs (npm, pinned in js/package-lock.json).
//
// Layout:
//
//	polyglot_test.go        finding the runtimes, running a script, franz-go checks
//	kafkapython_test.go     TestKafkaPython: runs testdata/kafka_python.py
//	kafkajs_test.go         TestKafkajs: runs js/kafkajs.js
//	testdata/kafka_python.py, js/kafkajs.js
//	                        the scenarios, written against each client's
//	                        public API only; each prints a JSON summary
//	js/package.json, js/package-lock.json
//	                        the pinned kafkajs version
//
// Each script checks what its client saw; the Go test checks the summary and
// then, independently, what the broker holds, with franz-go (kadm, kgo).
//
// When a runtime or library is missing the test skips, naming the command
// that installs it; with CI=true it fails instead, since .ci/run installs
// them all.
package polyglot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/plexus/plexus/internal/brokertest"
)

// scriptTimeout bounds one client script.
const scriptTimeout = 60 * time.Second

// missing skips the test because what is not installed, or fails it under
// CI (CI=true), where .ci/run must have installed it.
func missing(t *testing.T, what, install string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed, and CI=true: .ci/run must install it (%s)", what, install)
	}
	t.Skipf("%s is not installed (%s; .ci/run does)", what, install)
}

// logBuffer collects the broker's log so a failing test can show it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// startBroker starts a broker that logs at debug level into a buffer, shown
// when the test fails. Auto-creation is off: the clients create their
// topics through their admin APIs.
func startBroker(t *testing.T) *brokertest.Broker {
	t.Helper()
	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b := brokertest.Start(t, brokertest.WithLogger(logger), brokertest.WithConfig("auto.create.topics.enable", "false"))
	t.Cleanup(func() {
		if t.Failed() {
			out := logs.String()
			if len(out) > 64<<10 {
				out = "...\n" + out[len(out)-64<<10:]
			}
			t.Logf("broker log:\n%s", out)
		}
	})
	return b
}

// runScript runs a client script and decodes the JSON object it prints on
// standard output into summary. The script's standard error (the client's
// log and the reason for a failure) is logged.
func runScript(t *testing.T, summary any, env []string, name string, args ...string) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if stderr.Len() > 0 {
		t.Logf("%s stderr:\n%s", name, stderr.String())
	}
	if err != nil {
		t.Fatalf("%s %s: %v after %v\nstdout:\n%s", name, strings.Join(args, " "), err, took.Round(time.Millisecond), stdout.String())
	}
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), summary); err != nil {
		t.Fatalf("%s: summary is not JSON: %v\n%s", name, err, stdout.String())
	}
	t.Logf("%s took %v: %s", name, took.Round(time.Millisecond), strings.TrimSpace(stdout.String()))
	return took
}

// ctxFor returns a context for franz-go checks, cancelled when the test ends.
func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// client returns a franz-go client for addr, closed when the test ends.
func client(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// checkTopic checks, with kadm, that topic exists with partitions
// partitions and returns its end offsets by partition.
func checkTopic(t *testing.T, adm *kadm.Client, topic string, partitions int) map[int32]int64 {
	t.Helper()
	ctx := ctxFor(t)
	details, err := adm.ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	td, ok := details[topic]
	if !ok || td.Err != nil {
		t.Fatalf("topic %s: %v (listed: %v)", topic, td.Err, details.Names())
	}
	if len(td.Partitions) != partitions {
		t.Fatalf("topic %s has %d partitions, want %d", topic, len(td.Partitions), partitions)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("end offset of %s/%d: %v", o.Topic, o.Partition, o.Err)
		}
		out[o.Partition] = o.Offset
	})
	return out
}

// checkGroupAtEnd checks, with kadm, that group has committed exactly the
// end offsets of topic.
func checkGroupAtEnd(t *testing.T, adm *kadm.Client, group, topic string, ends map[int32]int64) {
	t.Helper()
	got := committed(t, adm, group, topic)
	for p, end := range ends {
		if c, ok := got[p]; !ok || c != end {
			t.Errorf("group %s, partition %s/%d: committed %v (present %v), end offset %d", group, topic, p, c, ok, end)
		}
	}
	if len(got) != len(ends) {
		t.Errorf("group %s committed %d partitions of %s, want %d: %v", group, len(got), topic, len(ends), got)
	}
}

// committed returns group's committed offsets for topic, by partition.
func committed(t *testing.T, adm *kadm.Client, group, topic string) map[int32]int64 {
	t.Helper()
	offs, err := adm.FetchOffsets(ctxFor(t), group)
	if err != nil {
		t.Fatalf("fetch offsets of group %s: %v", group, err)
	}
	out := map[int32]int64{}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Err != nil {
			t.Fatalf("group %s, %s/%d: %v", group, o.Topic, o.Partition, o.Err)
		}
		if o.Topic == topic {
			out[o.Partition] = o.At
		}
	})
	return out
}

// readAll reads topic from the start with franz-go until done says it has
// everything, and returns the records.
func readAll(t *testing.T, addr, topic string, done func([]*kgo.Record) bool, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl := client(t, addr, append([]kgo.Opt{
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500 * time.Millisecond),
	}, opts...)...)
	ctx := ctxFor(t)
	var recs []*kgo.Record
	for !done(recs) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("franz-go read %d records of %s before the deadline", len(recs), topic)
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("franz-go fetch %s/%d: %v", topic, p, err)
		})
		recs = append(recs, fs.Records()...)
	}
	return recs
}

// headers renders a record's headers as key=value pairs, in order.
func headers(r *kgo.Record) string {
	var parts []string
	for _, h := range r.Headers {
		parts = append(parts, fmt.Sprintf("%s=%s", h.Key, h.Value))
	}
	return strings.Join(parts, ",")
}

// codecs are Kafka's compression codes (the low bits of a batch's
// attributes), by the name the scripts use.
var codecs = map[string]uint8{"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}

// checkCommitted checks, with franz-go, that topic has 3 partitions whose
// end offsets add up to want, and that the offsets the client says it
// committed for group, and those the broker holds, are the end offsets.
func checkCommitted(t *testing.T, adm *kadm.Client, clientName, group, topic string, said map[string]int64, want int) {
	t.Helper()
	ends := checkTopic(t, adm, topic, 3)
	var total int64
	for p, end := range ends {
		total += end
		if c := said[strconv.Itoa(int(p))]; c != end {
			t.Errorf("%s says it committed %d on partition %d, end offset %d", clientName, c, p, end)
		}
	}
	if total != int64(want) {
		t.Errorf("end offsets %v add up to %d, want %d", ends, total, want)
	}
	checkGroupAtEnd(t, adm, group, topic, ends)
}

// checkRecords reads topic with franz-go and checks the want records the
// scripts produce: key "CODEC-I", value "value of CODEC I " eight times,
// headers NAME=CODEC, i=I and an empty one, in a batch of that codec.
func checkRecords(t *testing.T, addr, topic, headerName string, want int) []*kgo.Record {
	t.Helper()
	recs := readAll(t, addr, topic, func(r []*kgo.Record) bool { return len(r) >= want })
	seen := map[string]bool{}
	for _, r := range recs {
		key := string(r.Key)
		codec, i, ok := strings.Cut(key, "-")
		if !ok || seen[key] {
			t.Errorf("unexpected or repeated key %q at %d/%d", key, r.Partition, r.Offset)
			continue
		}
		seen[key] = true
		if v := strings.Repeat(fmt.Sprintf("value of %s %s ", codec, i), 8); string(r.Value) != v {
			t.Errorf("record %s: value %q, want %q", key, r.Value, v)
		}
		if h, wantH := headers(r), fmt.Sprintf("%s=%s,i=%s,empty=", headerName, codec, i); h != wantH {
			t.Errorf("record %s: headers %s, want %s", key, h, wantH)
		}
		if got := r.Attrs.CompressionType(); got != codecs[codec] {
			t.Errorf("record %s is in a batch with codec %d, want %d (%s)", key, got, codecs[codec], codec)
		}
	}
	if len(seen) != want {
		t.Errorf("franz-go read %d distinct records, want %d", len(seen), want)
	}
	return recs
}

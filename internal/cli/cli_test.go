package cli

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/plexus/plexus/internal/brokertest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// syncBuffer is a bytes.Buffer safe to read while a command writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type result struct {
	stdout, stderr string
	err            error
}

// run executes the real command tree in-process, as `plexus ARGS...`
// with stdin, against the given broker.
func run(t *testing.T, ctx context.Context, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr syncBuffer
	root := NewRoot()
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	if ctx == nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
	}
	err := root.ExecuteContext(ctx)
	return result{stdout.String(), stderr.String(), err}
}

// ok runs a command that must succeed and returns its stdout.
func ok(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := run(t, nil, stdin, args...)
	if r.err != nil {
		t.Fatalf("plexus %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.err, r.stdout, r.stderr)
	}
	return r.stdout
}

// fails runs a command that must fail and returns its result.
func fails(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	r := run(t, nil, stdin, args...)
	if r.err == nil {
		t.Fatalf("plexus %s succeeded; want an error\nstdout:\n%s", strings.Join(args, " "), r.stdout)
	}
	return r
}

var normalisers = []struct {
	re   *regexp.Regexp
	with string
}{
	// Topic and cluster ids: 22 characters of URL-safe base64.
	{regexp.MustCompile(`(?m)(ID\s+|"id": "|"cluster_id": ")[A-Za-z0-9_-]{22}\b`), "${1}<id>"},
	// Record timestamps.
	{regexp.MustCompile(`("timestamp": ?)\d{13}`), "${1}<ts>"},
	{regexp.MustCompile(`\bts=\d{13}\b`), "ts=<ts>"},
	// Times since a log cleaner pass.
	{regexp.MustCompile(`\b[0-9hms.]+ ago *`), "<t> ago  "},
	{regexp.MustCompile(`("seconds_since_last_clean": )[0-9.e+-]+`), "${1}<s>"},
	// The test broker's port.
	{regexp.MustCompile(`127\.0\.0\.1(\s+|:|", "port": |",\n\s+"port": )\d{2,5}\b`), "127.0.0.1${1}<port>"},
}

func normalise(s string) string {
	for _, n := range normalisers {
		s = n.re.ReplaceAllString(s, n.with)
	}
	return s
}

// golden compares got (normalised) with testdata/NAME.golden, or
// rewrites the file with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	got = normalise(got)
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (create it with: go test ./internal/cli -run %s -update)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (rewrite with -update if the change is intended)\n--- got ---\n%s\n--- want ---\n%s", name, path, got, want)
	}
}

// withoutDefaults drops config rows whose value is the default and
// squeezes the columns, so the goldens do not change whenever the config
// table gains a key.
func withoutDefaults(s string) string {
	var out []string
	inConfigs := false
	for _, l := range strings.Split(s, "\n") {
		switch {
		case l == "CONFIGS":
			inConfigs = true
		case l == "":
			inConfigs = false
		case strings.HasSuffix(strings.TrimSpace(l), "DEFAULT_CONFIG"):
			continue
		case inConfigs:
			l = spaces.ReplaceAllString(l, "  ")
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

var spaces = regexp.MustCompile(`  +`)

func TestTopicCommands(t *testing.T) {
	b := brokertest.Start(t)
	bk := "--brokers=" + b.Addr

	golden(t, "topic_create", ok(t, "", "topic", "create", "orders", "payments", "-p", "3", "-c", "retention.ms=3600000", bk))
	golden(t, "topic_create_json", ok(t, "", "topic", "create", "audit", "--format", "json", bk))
	dup := fails(t, "", "topic", "create", "orders", bk)
	golden(t, "topic_create_exists", dup.stdout)
	if !strings.Contains(dup.err.Error(), "TOPIC_ALREADY_EXISTS") {
		t.Errorf("duplicate create error: %v", dup.err)
	}
	golden(t, "topic_create_dry_run", ok(t, "", "topic", "create", "dry", "-d", bk))
	golden(t, "topic_list", ok(t, "", "topic", "list", bk))
	golden(t, "topic_list_json", ok(t, "", "topic", "list", "--format", "json", bk))
	golden(t, "topic_list_regex", ok(t, "", "topic", "list", "-r", "^pay", bk))

	ok(t, "a\nb\nc\n", "produce", "orders", "-p", "1", bk)
	golden(t, "topic_describe", withoutDefaults(ok(t, "", "topic", "describe", "orders", bk)))
	golden(t, "topic_describe_partitions_json", ok(t, "", "topic", "describe", "orders", "-s", "-p", "--format", "json", bk))

	golden(t, "topic_alter_config", ok(t, "", "topic", "alter-config", "orders", "payments", "--set", "cleanup.policy=compact", "--set", "max.message.bytes=2000000", "--delete", "retention.ms", bk))
	golden(t, "topic_describe_configs_after_alter", withoutDefaults(ok(t, "", "topic", "describe", "orders", "-c", bk)))
	bad := fails(t, "", "topic", "alter-config", "orders", "--set", "retention.ms=forever", bk)
	if !strings.Contains(bad.stdout, "retention.ms") {
		t.Errorf("a bad config value should be named in the output:\n%s", bad.stdout)
	}

	golden(t, "topic_add_partitions", ok(t, "", "topic", "add-partitions", "orders", "-n", "2", bk))
	golden(t, "topic_describe_after_add", ok(t, "", "topic", "describe", "orders", "-s", bk))

	golden(t, "topic_delete", ok(t, "", "topic", "delete", "payments", "audit", bk))
	golden(t, "topic_list_after_delete", ok(t, "", "topic", "list", bk))
	missing := fails(t, "", "topic", "describe", "nope", bk)
	if !strings.Contains(missing.err.Error(), "no such topic: nope") {
		t.Errorf("describe of a missing topic: %v", missing.err)
	}
}

func TestProduceAndConsume(t *testing.T) {
	b := brokertest.Start(t)
	bk := "--brokers=" + b.Addr
	ok(t, "", "topic", "create", "events", "-p", "1", bk)
	ok(t, "", "topic", "create", "spread", "-p", "3", bk)

	golden(t, "produce_text", ok(t, "k1:v1\nk2:v2\nno-key\n\nk3:v:with:colons\r\n", "produce", "events", "--key-delim", ":", "-H", "source=test", "-H", "n=1", bk))
	golden(t, "produce_json", ok(t,
		`{"key":"j1","value":"json one","headers":{"h":"1","a":"2"}}
{"key":null,"value":{"nested":[1,2]},"headers":[{"key":"x","value":"y"}],"timestamp":1700000000000}
{"value":"to partition 0","partition":0}
`, "produce", "events", "--format", "json", "-z", "zstd", bk))
	golden(t, "produce_spread", ok(t, "a:1\nb:2\nc:3\nd:4\ne:5\nf:6\n", "produce", "spread", "--key-delim", ":", "--acks", "1", "-z", "none", bk))

	// A record to a partition that does not exist: stops and names the record.
	r := fails(t, `{"value":"x","partition":2}`+"\n", "produce", "events", "--format", "json", bk)
	if !strings.Contains(r.err.Error(), "JSON record 1") || !strings.Contains(r.err.Error(), "partition 2 does not exist") {
		t.Errorf("produce to a missing partition: %v", r.err)
	}
	r = fails(t, "x\n", "produce", "missing", bk)
	if !strings.Contains(r.err.Error(), "topic missing does not exist; create it with `plexus topic create missing` or pass --allow-auto-topic-creation") {
		t.Errorf("produce to a missing topic: %v", r.err)
	}
	golden(t, "produce_auto_create", ok(t, "x\n", "produce", "created", "--allow-auto-topic-creation", bk))
	r = fails(t, `{"vlaue":"typo"}`, "produce", "events", "--format", "json", bk)
	if !strings.Contains(r.err.Error(), `unknown field "vlaue"`) {
		t.Errorf("JSON with a misspelt field: %v", r.err)
	}

	golden(t, "consume_format", ok(t, "", "consume", "events", "-e", "-f", `%t %p:%o key=%k(%K) value=%v(%V) headers=%h(%H) ts=%T%%\n`, bk))
	golden(t, "consume_json", ok(t, "", "consume", "events", "-f", "json", "-n", "5", bk))
	golden(t, "consume_default_last2", ok(t, "", "consume", "events", "-o", "-2", "-e", bk))
	golden(t, "consume_from_offset", ok(t, "", "consume", "events", "-o", "4", "-n", "1", "-f", `%o %v\n`, bk))
	golden(t, "consume_plus", ok(t, "", "consume", "events", "-o", "+4", "-e", "-f", `%o\n`, bk))
	ok(t, "", "topic", "create", "timed", "-p", "1", bk)
	ok(t, `{"value":"one","timestamp":1000}{"value":"two","timestamp":2000}{"value":"three","timestamp":3000}`, "produce", "timed", "--format", "json", bk)
	golden(t, "consume_time", ok(t, "", "consume", "timed", "-o", "@2000", "-e", "-f", `%o %T %v\n`, bk))
	golden(t, "consume_time_between", ok(t, "", "consume", "timed", "-o", "@1970-01-01T00:00:02.5Z", "-e", "-f", `%o %T %v\n`, bk))
	golden(t, "consume_partitions", ok(t, "", "consume", "spread", "-p", "0,2", "-e", "-f", `%p %k=%v\n`, bk))
	if got := ok(t, "", "consume", "events", "-o", "end", "-e", bk); got != "" {
		t.Errorf("-o end -e printed %q, want nothing", got)
	}
	// All of spread, one line per record, whatever the partition.
	if got := ok(t, "", "consume", "spread", "-e", "-f", `%k\n`, bk); len(strings.Fields(got)) != 6 {
		t.Errorf("consume spread -e: %q", got)
	}

	// Round trip: consume -f json | produce --format json keeps keys,
	// values, headers, partitions and timestamps.
	ok(t, "", "topic", "create", "copy", "-p", "1", bk)
	dump := ok(t, "", "consume", "events", "-f", "json", "-e", bk)
	ok(t, dump, "produce", "copy", "--format", "json", bk)
	again := ok(t, "", "consume", "copy", "-f", "json", "-e", bk)
	if want := strings.ReplaceAll(dump, `"topic":"events"`, `"topic":"copy"`); again != want {
		t.Errorf("round trip differs:\n%s\n---\n%s", want, again)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"consume", "events", "-f", "%q"}, "unknown directive %q"},
		{[]string{"consume", "events", "-o", "yesterday"}, `-o "yesterday": use start, end`},
		{[]string{"consume", "nope", "-e"}, "topic nope does not exist"},
		{[]string{"consume", "events", "-g", "g", "-e"}, "-p and -e work without a group"},
		{[]string{"produce", "events", "-z", "brotli"}, `-z "brotli"`},
		{[]string{"produce", "events", "--acks", "2"}, `--acks "2"`},
		{[]string{"produce", "events", "-H", "nokv"}, `-H "nokv": want key=value`},
	} {
		r := fails(t, "", append(c.args, bk)...)
		if !strings.Contains(r.err.Error(), c.want) {
			t.Errorf("plexus %s: error %q, want it to contain %q", strings.Join(c.args, " "), r.err, c.want)
		}
	}
}

// consume without -n or -e follows new records until its context ends.
func TestConsumeFollowsUntilCancelled(t *testing.T) {
	b := brokertest.Start(t)
	bk := "--brokers=" + b.Addr
	ok(t, "", "topic", "create", "live", "-p", "2", bk)
	ok(t, "before\n", "produce", "live", bk)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	root := NewRoot()
	root.SetArgs([]string{"consume", "live", bk})
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	waitFor := func(what string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(stdout.String(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("consume did not print %q; stdout %q stderr %q", what, stdout.String(), stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("before\n")
	ok(t, "after\n", "produce", "live", bk)
	waitFor("after\n")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("consume ended with %v after its context was cancelled; want a clean exit", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("consume did not stop when its context was cancelled")
	}
	if got := stdout.String(); got != "before\nafter\n" {
		t.Errorf("stdout %q", got)
	}
}

func TestClusterInfo(t *testing.T) {
	b := brokertest.Start(t)
	bk := "--brokers=" + b.Addr
	ok(t, "", "topic", "create", "a", "-p", "2", bk)
	ok(t, "", "topic", "create", "b", "-p", "1", bk)
	golden(t, "cluster_info", ok(t, "", "cluster", "info", bk))
	golden(t, "cluster_info_json", ok(t, "", "cluster", "info", "--format", "json", bk))
	golden(t, "cluster_info_brokers", ok(t, "", "cluster", "info", "-b", bk))
}

func TestConnectionErrors(t *testing.T) {
	// A port nothing listens on: take one and close it.
	b := brokertest.Start(t)
	addr := b.Addr
	b.Close()
	for _, args := range [][]string{
		{"topic", "list"},
		{"cluster", "info"},
		{"group", "list"},
		{"consume", "x"},
		{"produce", "x"},
	} {
		r := fails(t, "", append(args, "--brokers", addr)...)
		want := "cannot connect to " + addr + ": connection refused; is a broker running at " + addr + "? start one with `plexus serve` or pass --brokers"
		if !strings.Contains(r.err.Error(), want) {
			t.Errorf("plexus %s: %v\nwant it to contain: %s", strings.Join(args, " "), r.err, want)
		}
	}
	t.Setenv("PLEXUS_BROKERS", addr)
	if r := fails(t, "", "topic", "list"); !strings.Contains(r.err.Error(), addr) {
		t.Errorf("PLEXUS_BROKERS not used: %v", r.err)
	}
	if r := fails(t, "", "topic", "list", "--brokers", "localhost"); !strings.Contains(r.err.Error(), `broker address "localhost": want host:port`) {
		t.Errorf("bad address: %v", r.err)
	}
	if r := fails(t, "", "topic", "list", "--format", "yaml"); !strings.Contains(r.err.Error(), `--format "yaml": use text or json`) {
		t.Errorf("bad format: %v", r.err)
	}
}

// Every command a user runs has help with examples.
func TestHelpHasExamples(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Name() == "help" || c.Name() == "completion" || c.Hidden {
			return
		}
		if c.Example == "" && c.Name() != "version" {
			t.Errorf("plexus %s has no examples", c.CommandPath())
		}
		if c.Short == "" {
			t.Errorf("%s has no short help", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(NewRoot())
	out := ok(t, "", "--help")
	for _, want := range []string{"topic", "produce", "consume", "group", "cluster", "serve", "Examples:"} {
		if !strings.Contains(out, want) {
			t.Errorf("plexus --help lacks %q", want)
		}
	}
}

// docs/cli.md must be what Markdown renders from the command tree.
func TestDocsUpToDate(t *testing.T) {
	got, err := os.ReadFile(filepath.Join("..", "..", DocsPath))
	if err != nil {
		t.Fatalf("%v; generate it from the module root with: %s", err, DocsCommand)
	}
	if !bytes.Equal(got, Markdown()) {
		t.Fatalf("%s is stale: a command's help or flags changed; regenerate it from the module root with: %s", DocsPath, DocsCommand)
	}
}

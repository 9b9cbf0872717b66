package compat

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kcat runs the kcat binary (Debian's package, librdkafka inside; .ci/run
// installs it) and returns its standard output.
func kcat(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kcat", args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// TestKcat drives the broker with kcat: metadata listing, keyed produce in
// every codec, consume with a format string, and a balanced consumer group.
func TestKcat(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Skip("kcat is not installed (apt-get install kcat; .ci/run does)")
	}
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ref, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	if _, err := kadm.NewClient(ref).CreateTopic(ctx, 2, 1, nil, "kc"); err != nil {
		t.Fatal(err)
	}

	if list := kcat(t, "", "-b", b.Addr, "-L", "-t", "kc"); !strings.Contains(list, `topic "kc" with 2 partitions`) {
		t.Fatalf("kcat -L does not show the topic:\n%s", list)
	}

	var want []string
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		var in strings.Builder
		for i := 0; i < 5; i++ {
			line := fmt.Sprintf("%s-%d:value of %s %d", codec, i, codec, i)
			in.WriteString(line + "\n")
			want = append(want, line)
		}
		kcat(t, in.String(), "-b", b.Addr, "-P", "-t", "kc", "-K", ":", "-z", codec, "-X", "acks=all")
	}
	out := kcat(t, "", "-b", b.Addr, "-C", "-t", "kc", "-o", "beginning", "-e", "-f", "%k:%s\n")
	got := strings.Split(strings.TrimSpace(out), "\n")
	if !sameSet(got, want) {
		t.Fatalf("kcat read back %d records, want %d:\n%s", len(got), len(want), out)
	}

	// A balanced consumer group (librdkafka's, with -G) consumes everything.
	out = kcat(t, "", "-b", b.Addr, "-G", "kcat-group", "-o", "beginning", "-e", "-f", "%k:%s\n", "-X", "auto.offset.reset=earliest", "kc")
	got = strings.Split(strings.TrimSpace(out), "\n")
	if !sameSet(got, want) {
		t.Fatalf("kcat -G read %d records, want %d:\n%s", len(got), len(want), out)
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, s := range a {
		seen[s]++
	}
	for _, s := range b {
		if seen[s] == 0 {
			return false
		}
		seen[s]--
	}
	return true
}

package consume

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestParseOffset(t *testing.T) {
	now := time.UnixMilli(10_000_000)
	for _, c := range []struct {
		in   string
		want offsetSpec
		// resolved within log start 10, end 20, a time lookup giving 15
		at int64
	}{
		{"start", offsetSpec{kind: atStart}, 10},
		{"beginning", offsetSpec{kind: atStart}, 10},
		{"end", offsetSpec{kind: atEnd}, 20},
		{"12", offsetSpec{kind: atExact, n: 12}, 12},
		{"3", offsetSpec{kind: atExact, n: 3}, 10},    // below the start: the start
		{"99", offsetSpec{kind: atExact, n: 99}, 20},  // past the end: the end
		{"-4", offsetSpec{kind: fromEnd, n: 4}, 16},   // 4 before the end
		{"-40", offsetSpec{kind: fromEnd, n: 40}, 10}, // no further than the start
		{"+2", offsetSpec{kind: fromStart, n: 2}, 12},
		{"@5000", offsetSpec{kind: atTime, n: 5000}, 15},
		{"@-1s", offsetSpec{kind: atTime, n: 10_000_000 - 1000}, 15},
		{"@1970-01-01T00:00:05Z", offsetSpec{kind: atTime, n: 5000}, 15},
		{"@1970-01-02", offsetSpec{kind: atTime, n: 86_400_000}, 15},
	} {
		got, err := parseOffset(c.in, now)
		if err != nil || got != c.want {
			t.Errorf("parseOffset(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
			continue
		}
		if at := got.resolve(10, 20, 15); at != c.at {
			t.Errorf("%q resolves to %d, want %d", c.in, at, c.at)
		}
	}
	if at := (offsetSpec{kind: atTime, n: 1}).resolve(10, 20, -1); at != 20 {
		t.Errorf("a time after every record resolves to %d, want the end", at)
	}
	for _, bad := range []string{"", "soon", "--1", "+x", "@", "@tomorrow", "@-1parsec", "1.5"} {
		if _, err := parseOffset(bad, now); err == nil || !strings.Contains(err.Error(), "-o") {
			t.Errorf("parseOffset(%q): %v; want an error naming -o", bad, err)
		}
	}
}

func TestParseFormat(t *testing.T) {
	r := &kgo.Record{
		Topic: "t", Partition: 2, Offset: 7, Key: []byte("k"), Value: []byte("v\x00x"),
		Timestamp: time.UnixMilli(1234), LeaderEpoch: 3,
		Headers: []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "b"}},
	}
	for f, want := range map[string]string{
		`%v\n`:                     "v\x00x\n",
		`%t|%p|%o|%k|%K|%s|%S|%V`:  "t|2|7|k|1|v\x00x|3|3",
		`%T %d %e %H [%h] 100%%`:   "1234 1234 3 2 [a=1,b=] 100%",
		`tab\there\\ \q`:           "tab\there\\ \\q",
		`json-like {"k":"%k"}\r\n`: "json-like {\"k\":\"k\"}\r\n",
	} {
		fn, err := parseFormat(f)
		if err != nil {
			t.Fatalf("%q: %v", f, err)
		}
		if got := string(fn(nil, r)); got != want {
			t.Errorf("%q printed %q, want %q", f, got, want)
		}
	}
	nilKey := &kgo.Record{Value: nil}
	fn, _ := parseFormat(`%K %V`)
	if got := string(fn(nil, nilKey)); got != "-1 -1" {
		t.Errorf("null lengths: %q", got)
	}
	fn, _ = parseFormat("json")
	if got := string(fn(nil, r)); got != `{"topic":"t","partition":2,"offset":7,"timestamp":1234,"key":"k","value":"v\u0000x","headers":[{"key":"a","value":"1"},{"key":"b","value":null}]}`+"\n" {
		t.Errorf("json: %s", got)
	}
	for _, bad := range []string{"%", "%z", "abc%"} {
		if _, err := parseFormat(bad); err == nil {
			t.Errorf("parseFormat(%q) accepted", bad)
		}
	}
}

package consume

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/plexus/plexus/internal/cli/kafka"
)

// offsetKind says where -o starts.
type offsetKind int

const (
	atStart   offsetKind = iota // the log start offset
	atEnd                       // the high watermark: only new records
	atExact                     // offset n
	fromEnd                     // n records before the end
	fromStart                   // n records after the start
	atTime                      // the first record at or after n ms
)

type offsetSpec struct {
	kind offsetKind
	n    int64
}

const offsetHelp = "start, end, an offset N, -N (N before the end), +N (N after the start) or @TIME (@1700000000000 ms, @2024-05-01, @2024-05-01T10:00:00Z, @-1h for an hour ago)"

// parseOffset reads -o. now is for relative times (@-1h).
func parseOffset(s string, now time.Time) (offsetSpec, error) {
	bad := func() (offsetSpec, error) {
		return offsetSpec{}, fmt.Errorf("-o %q: use %s", s, offsetHelp)
	}
	switch strings.ToLower(s) {
	case "start", "beginning", "oldest", "earliest":
		return offsetSpec{kind: atStart}, nil
	case "end", "newest", "latest":
		return offsetSpec{kind: atEnd}, nil
	case "":
		return bad()
	}
	if ts, ok := strings.CutPrefix(s, "@"); ok {
		ms, err := kafka.ParseTime(ts, now)
		if err != nil {
			return offsetSpec{}, fmt.Errorf("-o %q: %v", s, err)
		}
		return offsetSpec{kind: atTime, n: ms}, nil
	}
	kind := atExact
	num := s
	switch s[0] {
	case '-':
		kind, num = fromEnd, s[1:]
	case '+':
		kind, num = fromStart, s[1:]
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return bad()
	}
	return offsetSpec{kind: kind, n: n}, nil
}

// resetOffset is where a group without a committed offset starts.
func (o offsetSpec) resetOffset() kgo.Offset {
	switch o.kind {
	case atEnd:
		return kgo.NewOffset().AtEnd()
	case atExact:
		return kgo.NewOffset().At(o.n)
	case fromEnd:
		return kgo.NewOffset().AtEnd().Relative(-o.n)
	case fromStart:
		return kgo.NewOffset().AtStart().Relative(o.n)
	case atTime:
		return kgo.NewOffset().AfterMilli(o.n)
	}
	return kgo.NewOffset().AtStart()
}

// resolve picks one partition's first offset from its log start and end
// (high watermark) and, for @TIME, the offset listed for that time (-1:
// none at or after it). The result is within [start, end].
func (o offsetSpec) resolve(start, end, forTime int64) int64 {
	var at int64
	switch o.kind {
	case atStart:
		at = start
	case atEnd:
		at = end
	case atExact:
		at = o.n
	case fromEnd:
		at = end - o.n
	case fromStart:
		at = start + o.n
	case atTime:
		at = forTime
		if at < 0 {
			at = end
		}
	}
	return min(max(at, start), end)
}

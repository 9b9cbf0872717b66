package consume

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// FormatHelp documents the -f directives.
const FormatHelp = `Output format (-f): json prints one JSON object per record:

  {"topic":"t","partition":0,"offset":5,"timestamp":1700000000000,
   "key":"k","value":"v","headers":[{"key":"h","value":"1"}]}

(key and value are null when absent; bytes that are not UTF-8 print as
U+FFFD). Anything else is a format string in the style of kcat, where
these directives are replaced for each record:

  %t  topic               %p  partition           %o  offset
  %k  key                 %K  key length (-1: null)
  %v  value (also %s)     %V  value length (also %S; -1: null)
  %T  timestamp, ms since the epoch (also %d)
  %h  headers as k=v,k2=v2                         %H  number of headers
  %e  leader epoch        %%  a percent sign

and \n, \t, \r and \\ are a newline, tab, carriage return and backslash.
The default is '%v\n': each value on its own line.`

// formatter prints records.
type formatter func(dst []byte, r *kgo.Record) []byte

// jsonRecord is the shape of -f json; produce --format json reads it.
type jsonRecord struct {
	Topic     string       `json:"topic"`
	Partition int32        `json:"partition"`
	Offset    int64        `json:"offset"`
	Timestamp int64        `json:"timestamp"`
	Key       *string      `json:"key"`
	Value     *string      `json:"value"`
	Headers   []jsonHeader `json:"headers,omitempty"`
}

type jsonHeader struct {
	Key   string  `json:"key"`
	Value *string `json:"value"`
}

func str(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}

func jsonFormat(dst []byte, r *kgo.Record) []byte {
	jr := jsonRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli(), Key: str(r.Key), Value: str(r.Value)}
	for _, h := range r.Headers {
		jr.Headers = append(jr.Headers, jsonHeader{Key: h.Key, Value: str(h.Value)})
	}
	b, err := json.Marshal(jr)
	if err != nil { // cannot happen: strings and numbers only
		panic(err)
	}
	return append(append(dst, b...), '\n')
}

// parseFormat compiles -f: "json" or a format string.
func parseFormat(f string) (formatter, error) {
	if f == "json" {
		return jsonFormat, nil
	}
	var parts []formatter
	lit := []byte{}
	flush := func() {
		if len(lit) > 0 {
			l := lit
			parts = append(parts, func(dst []byte, _ *kgo.Record) []byte { return append(dst, l...) })
			lit = []byte{}
		}
	}
	add := func(fn formatter) { flush(); parts = append(parts, fn) }
	for i := 0; i < len(f); i++ {
		c := f[i]
		switch {
		case c == '\\' && i+1 < len(f):
			i++
			switch f[i] {
			case 'n':
				lit = append(lit, '\n')
			case 't':
				lit = append(lit, '\t')
			case 'r':
				lit = append(lit, '\r')
			case '\\':
				lit = append(lit, '\\')
			default:
				lit = append(lit, '\\', f[i])
			}
		case c == '%':
			if i+1 == len(f) {
				return nil, fmt.Errorf("-f %q: a lone %% at the end; write %%%% for a percent sign", f)
			}
			i++
			switch f[i] {
			case '%':
				lit = append(lit, '%')
			case 't':
				add(func(dst []byte, r *kgo.Record) []byte { return append(dst, r.Topic...) })
			case 'p':
				add(func(dst []byte, r *kgo.Record) []byte { return strconv.AppendInt(dst, int64(r.Partition), 10) })
			case 'o':
				add(func(dst []byte, r *kgo.Record) []byte { return strconv.AppendInt(dst, r.Offset, 10) })
			case 'k':
				add(func(dst []byte, r *kgo.Record) []byte { return append(dst, r.Key...) })
			case 'K':
				add(func(dst []byte, r *kgo.Record) []byte { return appendLen(dst, r.Key) })
			case 'v', 's':
				add(func(dst []byte, r *kgo.Record) []byte { return append(dst, r.Value...) })
			case 'V', 'S':
				add(func(dst []byte, r *kgo.Record) []byte { return appendLen(dst, r.Value) })
			case 'T', 'd':
				add(func(dst []byte, r *kgo.Record) []byte { return strconv.AppendInt(dst, r.Timestamp.UnixMilli(), 10) })
			case 'h':
				add(func(dst []byte, r *kgo.Record) []byte {
					for j, h := range r.Headers {
						if j > 0 {
							dst = append(dst, ',')
						}
						dst = append(append(append(dst, h.Key...), '='), h.Value...)
					}
					return dst
				})
			case 'H':
				add(func(dst []byte, r *kgo.Record) []byte { return strconv.AppendInt(dst, int64(len(r.Headers)), 10) })
			case 'e':
				add(func(dst []byte, r *kgo.Record) []byte { return strconv.AppendInt(dst, int64(r.LeaderEpoch), 10) })
			default:
				return nil, fmt.Errorf("-f %q: unknown directive %%%c; use %%t %%p %%o %%k %%K %%v %%V %%T %%h %%H %%e or json (see plexus consume --help)", f, f[i])
			}
		default:
			lit = append(lit, c)
		}
	}
	flush()
	return func(dst []byte, r *kgo.Record) []byte {
		for _, p := range parts {
			dst = p(dst, r)
		}
		return dst
	}, nil
}

func appendLen(dst, b []byte) []byte {
	if b == nil {
		return append(dst, "-1"...)
	}
	return strconv.AppendInt(dst, int64(len(b)), 10)
}

// formatFlagHelp is the short help of -f.
var formatFlagHelp = strings.TrimSpace(`output format: json, or a format string such as '%k=%v\n' (see below)`)

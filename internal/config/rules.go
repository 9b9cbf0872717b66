package config

import (
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
)

// A rule checks a parsed value (see parse) and describes the valid values for
// the docs and for error messages.
type rule interface {
	check(v any) string // "" when valid, else the reason
	describe() string
}

// intRange: lo <= v <= hi, or v == or when hasOr.
type intRange struct {
	lo, hi int64
	hasOr  bool
	or     int64
}

func atLeast(lo int64) rule     { return intRange{lo: lo, hi: math.MaxInt64} }
func between(lo, hi int64) rule { return intRange{lo: lo, hi: hi} }
func minusOneOrAtLeast(lo int64) rule {
	return intRange{lo: lo, hi: math.MaxInt64, hasOr: true, or: -1}
}
func betweenOr(lo, hi, or int64) rule { return intRange{lo: lo, hi: hi, hasOr: true, or: or} }

func (r intRange) check(v any) string {
	n := v.(int64)
	if (n >= r.lo && n <= r.hi) || (r.hasOr && n == r.or) {
		return ""
	}
	return "must be " + r.describe()
}

func (r intRange) describe() string {
	var s string
	switch {
	case r.hi == math.MaxInt64:
		s = fmt.Sprintf("at least %d", r.lo)
	default:
		s = fmt.Sprintf("between %d and %d", r.lo, r.hi)
	}
	if r.hasOr {
		s = fmt.Sprintf("%d or %s", r.or, s)
	}
	return s
}

// floatRange: lo <= v <= hi.
type floatRange struct{ lo, hi float64 }

func (r floatRange) check(v any) string {
	f := v.(float64)
	if f >= r.lo && f <= r.hi {
		return ""
	}
	return "must be " + r.describe()
}

func (r floatRange) describe() string {
	return fmt.Sprintf("between %s and %s", formatDouble(r.lo), formatDouble(r.hi))
}

// oneOf: a string that is exactly one of vals (case-sensitive, as Kafka).
type oneOf []string

func (o oneOf) check(v any) string {
	s := v.(string)
	for _, x := range o {
		if s == x {
			return ""
		}
	}
	return fmt.Sprintf("%q is not %s", s, o.describe())
}

func (o oneOf) describe() string { return "one of " + strings.Join(o, ", ") }

// listOf: a list each of whose elements is one of vals.
type listOf []string

func (l listOf) check(v any) string {
	for _, e := range v.([]string) {
		if r := oneOf(l).check(e); r != "" {
			return r
		}
	}
	return ""
}

func (l listOf) describe() string {
	return "a comma-separated list of " + strings.Join(l, ", ")
}

// hostPorts: a comma-separated list of host:port. Empty is allowed only when
// allowEmpty (it then disables what the setting configures). An advertised
// address must name a host clients can connect to, as Kafka requires.
type hostPorts struct{ allowEmpty, advertised bool }

func (h hostPorts) check(v any) string {
	s := v.(string)
	if s == "" {
		if h.allowEmpty {
			return ""
		}
		return "must not be empty"
	}
	addrs := strings.Split(s, ",")
	for _, a := range addrs {
		a = strings.TrimSpace(a)
		which := ""
		if len(addrs) > 1 {
			which = fmt.Sprintf("%q: ", a)
		}
		if strings.Contains(a, "://") {
			return which + "use host:port (Kafka's NAME://host:port form is not used by Plexus)"
		}
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			return which + "not host:port"
		}
		if h.advertised {
			if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
				return which + "clients cannot connect to an unspecified host; advertise a reachable host name or address"
			}
		}
		if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			return which + "port must be a number from 0 to 65535"
		}
	}
	return ""
}

func (h hostPorts) describe() string {
	s := "host:port[,host:port...]"
	if h.allowEmpty {
		s += ", or empty to disable"
	}
	return s
}

// oneDir: a single, non-empty directory path.
type oneDir struct{}

func (oneDir) check(v any) string {
	s := v.(string)
	if s == "" {
		return "must name a directory"
	}
	if strings.Contains(s, ",") {
		return "Plexus keeps its data in one directory; give a single path"
	}
	return ""
}

func (oneDir) describe() string { return "one directory path" }

// throttledReplicas: "*" alone, or a list of partition:broker pairs.
type throttledReplicas struct{}

func (throttledReplicas) check(v any) string {
	l := v.([]string)
	if len(l) == 1 && l[0] == "*" {
		return ""
	}
	for _, e := range l {
		p, b, ok := strings.Cut(e, ":")
		if !ok || !isDigits(strings.TrimSpace(p)) || !isDigits(strings.TrimSpace(b)) {
			return fmt.Sprintf("%q is not partition:broker (or use * alone)", e)
		}
	}
	return ""
}

func (throttledReplicas) describe() string {
	return "* or a list of partition:broker, e.g. 0:1,1:2"
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// retentionUnits: -1 (unlimited) or at least 1, for the broker retention
// settings, whose effective value Kafka requires to be -1 or positive.
var retentionUnits = minusOneOrAtLeast(1)

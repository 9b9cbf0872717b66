package config

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Sentinels wrapped by every *Error, for errors.Is. The broker maps all three
// to Kafka's INVALID_CONFIG (Kafka's ZooKeeper-era brokers answered a
// read-only update with INVALID_REQUEST; KRaft answers INVALID_CONFIG).
var (
	ErrUnknown  = errors.New("unknown setting")
	ErrInvalid  = errors.New("invalid value")
	ErrReadOnly = errors.New("read-only setting")
)

// Error explains why a setting was refused: which key, where it came from,
// why, and how to fix it.
type Error struct {
	Key    string // the name as given
	Value  string // the value as given, when relevant
	Origin string // "plexus.yaml:12", "environment variable PLEXUS_X", "--set", "flag --listen"; empty for API calls
	Reason string
	Hint   string // e.g. "did you mean log.retention.ms?"
	Err    error  // ErrUnknown, ErrInvalid or ErrReadOnly
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Origin != "" {
		b.WriteString(e.Origin)
		b.WriteString(": ")
	}
	b.WriteString(e.Key)
	b.WriteString(": ")
	switch {
	case e.Err == ErrInvalid && e.Value != "":
		fmt.Fprintf(&b, "invalid value %q: %s", e.Value, e.Reason)
	default:
		b.WriteString(e.Reason)
	}
	if e.Hint != "" {
		b.WriteString("; ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// withOrigin sets the origin on err if it is an *Error without one.
func withOrigin(err error, origin string) error {
	var e *Error
	if errors.As(err, &e) && e.Origin == "" {
		c := *e
		c.Origin = origin
		return &c
	}
	return err
}

// scope selects which settings a name is looked up among.
type scope int

const (
	scopeBroker scope = iota
	scopeTopic
)

// unknownError builds the error for a name that is not a setting in scope,
// with the most helpful hint available.
func unknownError(name string, sc scope) *Error {
	e := &Error{Key: name, Err: ErrUnknown}
	k, known := index[name]
	switch {
	case known && sc == scopeBroker: // a topic-only config given to the broker
		e.Reason = "is a topic config, not a broker setting"
		if len(k.BrokerSynonyms) > 0 {
			e.Hint = "the broker-wide default is " + k.BrokerSynonyms[0].Name
		} else {
			e.Hint = "set it per topic (CreateTopics or AlterConfigs)"
		}
		return e
	case known && sc == scopeTopic: // a broker-only setting given to a topic
		e.Reason = "is a broker setting, not a topic config"
		if t := topicFor(name); t != "" {
			e.Hint = "the topic config is " + t
		}
		return e
	}
	e.Reason = "unknown setting"
	if sc == scopeTopic {
		e.Reason = "unknown topic config"
	}
	if h, ok := unsupported[name]; ok {
		e.Reason = "is a Kafka setting that Plexus does not take"
		e.Hint = h
		return e
	}
	if s := suggest(name, sc); s != "" {
		e.Hint = "did you mean " + s + "?"
	}
	return e
}

// topicFor returns the topic config that broker setting name supplies a
// default for, or "".
func topicFor(name string) string {
	for i := range table {
		t := &table[i]
		for _, s := range t.BrokerSynonyms {
			if t.Topic && s.Name == name {
				return t.Name
			}
		}
	}
	return ""
}

// suggest returns the setting in scope closest to name by edit distance, if
// it is close enough to be a plausible typo.
func suggest(name string, sc scope) string {
	type cand struct {
		name string
		d    int
	}
	var cs []cand
	for i := range table {
		k := &table[i]
		if (sc == scopeTopic && !k.Topic) || (sc == scopeBroker && !k.Broker) {
			continue
		}
		cs = append(cs, cand{k.Name, editDistance(name, k.Name)})
	}
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].d != cs[j].d {
			return cs[i].d < cs[j].d
		}
		return cs[i].name < cs[j].name
	})
	if len(cs) == 0 {
		return ""
	}
	limit := max(2, len(name)/4)
	if cs[0].d <= limit {
		return cs[0].name
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// sortErrors orders errors by message, so that reports are deterministic
// whatever the map iteration order.
func sortErrors(errs []error) []error {
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errs
}

package config

import (
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Levels of broker values, highest priority first.
const (
	lvlDynamicBroker = iota
	lvlDynamicDefault
	lvlStatic
	numLevels
)

var levelSource = [numLevels]Source{SourceDynamicBroker, SourceDynamicDefaultBroker, SourceStaticBroker}

// Broker holds the effective broker settings and where each came from. It is
// safe for concurrent use: readers take an immutable snapshot with one atomic
// load and never block; updates copy the snapshot, validate it whole and
// publish it. Make one with Load or New; the zero Broker is not usable.
type Broker struct {
	mu   sync.Mutex // serializes writers
	snap atomic.Pointer[snapshot]
}

// snapshot is one immutable state of a Broker.
type snapshot struct {
	levels [numLevels]map[string]string // canonical values per level
	origin map[string]string            // where each static value came from
	gen    uint64
	done   chan struct{} // closed when this snapshot is replaced
	base   Topic         // Topic(nil), resolved once
}

func newSnapshot(levels [numLevels]map[string]string, origin map[string]string, gen uint64) *snapshot {
	s := &snapshot{levels: levels, origin: origin, gen: gen, done: make(chan struct{})}
	s.base = s.topic(nil)
	return s
}

// New returns a Broker whose static settings (STATIC_BROKER_CONFIG) are
// static, as if given by --set. It is what tests and brokertest use; Load
// does the same after gathering settings from file, environment and flags.
func New(static map[string]string) (*Broker, error) {
	vals := map[string]string{}
	origin := map[string]string{}
	var errs []error
	for name, raw := range static {
		canon, err := checkBrokerValue(name, raw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		vals[name] = canon
		origin[name] = "static"
	}
	if len(errs) > 0 {
		return nil, errors.Join(sortErrors(errs)...)
	}
	return newBroker(vals, origin)
}

func newBroker(static, origin map[string]string) (*Broker, error) {
	levels := [numLevels]map[string]string{{}, {}, static}
	s := newSnapshot(levels, origin, 1)
	if err := s.crossCheck(); err != nil {
		var e *Error
		if errors.As(err, &e) {
			if o := origin[e.Key]; o != "" && o != "static" {
				err = withOrigin(err, o)
			}
		}
		return nil, err
	}
	b := &Broker{}
	b.snap.Store(s)
	return b, nil
}

// checkBrokerValue validates raw as a value of broker setting name.
func checkBrokerValue(name, raw string) (string, error) {
	k, ok := index[name]
	if !ok || !k.Broker {
		return "", unknownError(name, scopeBroker)
	}
	canon, _, err := k.normalize(raw)
	return canon, err
}

// ownValue returns the value of broker setting k at its own name: the
// highest level where it is set, else its default.
func (s *snapshot) ownValue(k *Key) (string, Source, bool) {
	for l := range numLevels {
		if v, ok := s.levels[l][k.Name]; ok {
			return v, levelSource[l], true
		}
	}
	if !k.NoDefault {
		return k.Default, SourceDefault, true
	}
	return "", SourceDefault, false
}

// brokerValue returns the effective value of broker setting k as the broker
// uses it: its own value; for the head of a synonym chain (log.retention.ms)
// that is unset, the chain's resolved value; for a setting with DefaultFrom,
// that setting's value.
func (s *snapshot) brokerValue(k *Key) (string, Source, bool) {
	if v, src, ok := s.ownValue(k); ok {
		return v, src, ok
	}
	if t, ok := chainHead[k.Name]; ok {
		v, src, _ := s.topicValue(t, nil)
		return v, src, true
	}
	if k.DefaultFrom != "" {
		if v, _, ok := s.brokerValue(index[k.DefaultFrom]); ok {
			return v, SourceDefault, true
		}
	}
	return "", SourceDefault, false
}

// topicValue resolves topic config t with Kafka's precedence: the topic
// override, then per level (dynamic broker, dynamic default, static) each
// broker synonym in priority order, converted to t's unit, then t's default.
// It returns the canonical value, its source and the name it came from.
func (s *snapshot) topicValue(t *Key, overrides map[string]string) (string, Source, string) {
	if raw, ok := overrides[t.Name]; ok {
		if canon, _, err := t.normalize(raw); err == nil {
			return canon, SourceTopic, t.Name
		}
	}
	for l := range numLevels {
		for _, syn := range t.BrokerSynonyms {
			if v, ok := s.levels[l][syn.Name]; ok {
				return scale(v, syn.Scale), levelSource[l], syn.Name
			}
		}
	}
	// The default is the first synonym's default (the table keeps t.Default
	// equal to it), as Kafka derives topic defaults from broker defaults.
	for _, syn := range t.BrokerSynonyms {
		if !index[syn.Name].NoDefault {
			return t.Default, SourceDefault, syn.Name
		}
	}
	return t.Default, SourceDefault, t.Name
}

// scale converts a canonical integer value by factor; negative stays -1.
func scale(v string, factor int64) string {
	if factor == 1 {
		return v
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return v
	}
	if n < 0 {
		return "-1"
	}
	return strconv.FormatInt(n*factor, 10)
}

func (b *Broker) load() *snapshot { return b.snap.Load() }

// lookupBroker returns the key and effective value of a broker setting.
func (b *Broker) lookupBroker(name string) (*Key, string, bool) {
	k, ok := index[name]
	if !ok || !k.Broker {
		return nil, "", false
	}
	v, _, ok := b.load().brokerValue(k)
	return k, v, ok
}

// Get returns the effective value of broker setting name in canonical string
// form and its source. ok is false for a name that is not a broker setting
// or that has no value.
func (b *Broker) Get(name string) (value string, src Source, ok bool) {
	k, found := index[name]
	if !found || !k.Broker {
		return "", SourceUnknown, false
	}
	return b.load().brokerValue(k)
}

// Origin returns where the static value of name came from ("plexus.yaml:12",
// "environment variable PLEXUS_X", "--set", "flag --listen"), or "" when it
// was not set statically.
func (b *Broker) Origin(name string) string { return b.load().origin[name] }

// Bool returns a boolean broker setting; false if name is not one.
func (b *Broker) Bool(name string) bool {
	k, v, ok := b.lookupBroker(name)
	return ok && k.Type == TypeBoolean && v == "true"
}

// Int returns an int or short broker setting; 0 if name is not one.
func (b *Broker) Int(name string) int {
	k, v, ok := b.lookupBroker(name)
	if !ok || (k.Type != TypeInt && k.Type != TypeShort) {
		return 0
	}
	n, _ := strconv.ParseInt(v, 10, 32)
	return int(n)
}

// Long returns an integer (long, int or short) broker setting; 0 if name is
// not one. For log.retention.ms, log.roll.ms, log.roll.jitter.ms and
// log.flush.interval.ms, an unset value resolves through their synonyms
// (log.retention.minutes, log.retention.hours, ...) as Kafka's broker does.
func (b *Broker) Long(name string) int64 {
	k, v, ok := b.lookupBroker(name)
	if !ok || (k.Type != TypeLong && k.Type != TypeInt && k.Type != TypeShort) {
		return 0
	}
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}

// Double returns a double broker setting; 0 if name is not one.
func (b *Broker) Double(name string) float64 {
	k, v, ok := b.lookupBroker(name)
	if !ok || k.Type != TypeDouble {
		return 0
	}
	f, _ := strconv.ParseFloat(v, 64)
	return f
}

// String returns a string, class or password broker setting; "" if name is
// not one.
func (b *Broker) String(name string) string {
	k, v, ok := b.lookupBroker(name)
	if !ok || (k.Type != TypeString && k.Type != TypeClass && k.Type != TypePassword) {
		return ""
	}
	return v
}

// List returns a list broker setting; nil if name is not one. The caller owns
// the returned slice.
func (b *Broker) List(name string) []string {
	k, v, ok := b.lookupBroker(name)
	if !ok || k.Type != TypeList {
		return nil
	}
	if v == "" {
		return []string{}
	}
	return strings.Split(v, ",")
}

// Generation increases by one with every successful dynamic update, so a
// caller may cache what it derives from the settings.
func (b *Broker) Generation() uint64 { return b.load().gen }

// Changed returns a channel that is closed at the next dynamic update.
func (b *Broker) Changed() <-chan struct{} { return b.load().done }

// Dynamic returns a copy of the dynamic settings at one level: this broker's
// (perBroker) or the cluster-wide defaults. The caller owns the map.
func (b *Broker) Dynamic(perBroker bool) map[string]string {
	return maps.Clone(b.load().levels[dynLevel(perBroker)])
}

func dynLevel(perBroker bool) int {
	if perBroker {
		return lvlDynamicBroker
	}
	return lvlDynamicDefault
}

// SetDynamic sets (value non-nil) or deletes (value nil) one dynamic broker
// setting, for this broker (perBroker) or as the default for all brokers. It
// fails without effect on an unknown or read-only name or an invalid value.
func (b *Broker) SetDynamic(perBroker bool, key string, value *string) error {
	return b.AlterDynamic(perBroker, map[string]*string{key: value}, false)
}

// AlterDynamic applies several dynamic changes atomically: all are validated
// (each value, then the resulting configuration as a whole) before any takes
// effect. A nil value deletes the setting at that level. With validateOnly
// nothing changes. Errors name every refused key.
func (b *Broker) AlterDynamic(perBroker bool, changes map[string]*string, validateOnly bool) error {
	if len(changes) == 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.load()
	lvl := dynLevel(perBroker)
	next := maps.Clone(old.levels[lvl])
	var errs []error
	for name, value := range changes {
		k, ok := index[name]
		if !ok || !k.Broker {
			errs = append(errs, unknownError(name, scopeBroker))
			continue
		}
		if k.ReadOnly {
			errs = append(errs, readOnlyError(k))
			continue
		}
		if value == nil {
			delete(next, name)
			continue
		}
		canon, _, err := k.normalize(*value)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		next[name] = canon
	}
	if len(errs) > 0 {
		return errors.Join(sortErrors(errs)...)
	}
	levels := old.levels
	levels[lvl] = next
	s := newSnapshot(levels, old.origin, old.gen+1)
	if err := s.crossCheck(); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	b.snap.Store(s)
	close(old.done)
	return nil
}

func readOnlyError(k *Key) *Error {
	e := &Error{Key: k.Name, Err: ErrReadOnly,
		Reason: "is read-only: it is set at startup (config file, " + envName(k.Name) + " or --set) and cannot change while the broker runs"}
	if fam, ok := brokerFamily[k.Name]; ok && fam[0] != k.Name {
		e.Hint = "set " + fam[0] + " dynamically instead"
	}
	return e
}

// crossCheck validates relations between settings, as Kafka checks them when
// a broker starts or a dynamic update is applied.
func (s *snapshot) crossCheck() error {
	long := func(name string) int64 {
		v, _, _ := s.brokerValue(index[name])
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	fail := func(key, reason string) error {
		return &Error{Key: key, Reason: reason, Err: ErrInvalid}
	}
	if q, m := long(QueuedMaxRequestBytes), long(SocketRequestMaxBytes); q > 0 && q < m {
		return fail(QueuedMaxRequestBytes, fmt.Sprintf("%d is less than %s (%d); a maximum-size request could never be read", q, SocketRequestMaxBytes, m))
	}
	if t, d := long(LogCleanerThreads), long(LogCleanerDedupeBufferSize); t > 0 && d/t <= 1<<20 {
		return fail(LogCleanerDedupeBufferSize, fmt.Sprintf("%d bytes for %d cleaner threads is not more than 1 MiB per thread", d, t))
	}
	if lo, hi := long(LogCleanerMinCompactionLagMs), long(LogCleanerMaxCompactionLagMs); lo > hi {
		return fail(LogCleanerMinCompactionLagMs, fmt.Sprintf("%d is greater than %s (%d)", lo, LogCleanerMaxCompactionLagMs, hi))
	}
	if w, l := long(ReplicaFetchWaitMaxMs), long(ReplicaLagTimeMaxMs); w > l {
		return fail(ReplicaFetchWaitMaxMs, fmt.Sprintf("%d is greater than %s (%d)", w, ReplicaLagTimeMaxMs, l))
	}
	if lo, hi := long(GroupMinSessionTimeoutMs), long(GroupMaxSessionTimeoutMs); lo > hi {
		return fail(GroupMinSessionTimeoutMs, fmt.Sprintf("%d is greater than %s (%d)", lo, GroupMaxSessionTimeoutMs, hi))
	}
	for _, c := range []struct{ lo, v, hi string }{
		{GroupConsumerMinHeartbeatIntervalMs, GroupConsumerHeartbeatIntervalMs, GroupConsumerMaxHeartbeatIntervalMs},
		{GroupConsumerMinSessionTimeoutMs, GroupConsumerSessionTimeoutMs, GroupConsumerMaxSessionTimeoutMs},
	} {
		lo, v, hi := long(c.lo), long(c.v), long(c.hi)
		if lo > hi {
			return fail(c.lo, fmt.Sprintf("%d is greater than %s (%d)", lo, c.hi, hi))
		}
		if v < lo || v > hi {
			return fail(c.v, fmt.Sprintf("%d is outside [%s, %s] = [%d, %d]", v, c.lo, c.hi, lo, hi))
		}
	}
	if hb, st := long(GroupConsumerHeartbeatIntervalMs), long(GroupConsumerSessionTimeoutMs); hb >= st {
		return fail(GroupConsumerHeartbeatIntervalMs, fmt.Sprintf("%d must be less than %s (%d)", hb, GroupConsumerSessionTimeoutMs, st))
	}
	return nil
}

package group

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/plexus/plexus/internal/cluster"
)

// OffsetsTopic is the internal topic that holds group state and offsets.
const OffsetsTopic = "__consumer_offsets"

// Config is what the coordinator reads from the broker configuration
// (Kafka's key names in the comments).
type Config struct {
	OffsetsRetention          time.Duration // offsets.retention.minutes
	OffsetsRetentionCheck     time.Duration // offsets.retention.check.interval.ms
	OffsetMetadataMaxBytes    int           // offset.metadata.max.bytes
	InitialRebalanceDelay     time.Duration // group.initial.rebalance.delay.ms
	MinSessionTimeout         time.Duration // group.min.session.timeout.ms
	MaxSessionTimeout         time.Duration // group.max.session.timeout.ms
	MaxSize                   int           // group.max.size
	NewMemberJoinTimeout      time.Duration // Kafka's fixed 5 minutes
	ConsumerHeartbeatInterval time.Duration // group.consumer.heartbeat.interval.ms
	ConsumerSessionTimeout    time.Duration // group.consumer.session.timeout.ms
	ConsumerMaxSize           int           // group.consumer.max.size
	ConsumerAssignors         []string      // group.consumer.assignors; the first is the default
}

// DefaultConfig is Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		OffsetsRetention:          7 * 24 * time.Hour,
		OffsetsRetentionCheck:     10 * time.Minute,
		OffsetMetadataMaxBytes:    4096,
		InitialRebalanceDelay:     3 * time.Second,
		MinSessionTimeout:         6 * time.Second,
		MaxSessionTimeout:         30 * time.Minute,
		MaxSize:                   1<<31 - 1,
		NewMemberJoinTimeout:      5 * time.Minute,
		ConsumerHeartbeatInterval: 5 * time.Second,
		ConsumerSessionTimeout:    45 * time.Second,
		ConsumerMaxSize:           1<<31 - 1,
		ConsumerAssignors:         []string{"uniform", "range"},
	}
}

// Client identifies the connection a request came from.
type Client struct {
	ID   string // client.id from the request header
	Host string // "/" + address, as Kafka reports it
}

// Output is what one event asks the driver to do: append records (in
// order, each Append as one batch to one __consumer_offsets partition) and
// send responses. A reply that must wait for records to be durable is not
// here: it comes in the Output of Appended for the append's token.
type Output struct {
	Appends []Append
	Replies []Reply
}

// Append is one batch for one partition of __consumer_offsets.
type Append struct {
	Partition int32
	Token     uint64
	Records   []Record
	// ProducerID and ProducerEpoch are set (ProducerID >= 0) for a
	// transactional offset commit, whose batch is transactional.
	ProducerID    int64
	ProducerEpoch int16
}

// Reply is the response to the request the driver numbered ID.
type Reply struct {
	ID       uint64
	Response kmsg.Response
}

type partState uint8

const (
	partLoading partState = iota
	partLoaded
)

// Machine is the group coordinator as a deterministic state machine: every
// method takes the current time and returns the effects for the driver to
// carry out. It holds every group of every __consumer_offsets partition of
// this broker. It is not safe for concurrent use; the driver serialises
// calls.
type Machine struct {
	cfg    Config
	logger *slog.Logger
	now    time.Time
	img    *cluster.Image

	parts   []partState // per __consumer_offsets partition; nil until the topic exists
	groups  map[string]*group
	offsets map[string]map[tp]offsetValue // committed offsets by group
	txns    map[txnKey]*pendingTxn        // pending transactional offsets by partition and producer
	seq     int64                         // see nextSeq

	timers    timers
	pending   map[uint64]func(code int16) // appends awaiting durability, by token
	nextToken uint64
	out       Output

	// NewUUID makes member ids; tests replace it to be deterministic.
	NewUUID func() string
}

// group is one group id's state: a classic or a consumer (KIP-848) group.
type group struct {
	id       string
	part     int32
	classic  *classicGroup
	consumer *consumerGroup
}

// tp is a partition by topic name.
type tp struct {
	topic     string
	partition int32
}

// NewMachine returns an empty machine.
func NewMachine(cfg Config, logger *slog.Logger) *Machine {
	if logger == nil {
		logger = slog.Default()
	}
	if len(cfg.ConsumerAssignors) == 0 {
		cfg.ConsumerAssignors = []string{"uniform", "range"}
	}
	return &Machine{
		cfg: cfg, logger: logger, img: cluster.Empty(),
		groups: map[string]*group{}, offsets: map[string]map[tp]offsetValue{}, txns: map[txnKey]*pendingTxn{},
		pending: map[uint64]func(int16){},
		NewUUID: randomUUID,
	}
}

func randomUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// begin starts an event at now.
func (m *Machine) begin(now time.Time) {
	if now.After(m.now) {
		m.now = now
	}
}

// end returns the event's effects.
func (m *Machine) end() Output {
	out := m.out
	m.out = Output{}
	return out
}

func (m *Machine) reply(id uint64, resp kmsg.Response) {
	m.out.Replies = append(m.out.Replies, Reply{ID: id, Response: resp})
}

// write appends records to the group's partition; done runs with 0 once
// they are durable, or with the Kafka error code of the failure.
func (m *Machine) write(part int32, recs []Record, done func(code int16)) {
	m.writeTxn(part, recs, -1, -1, done)
}

func (m *Machine) writeTxn(part int32, recs []Record, pid int64, epoch int16, done func(code int16)) {
	if len(recs) == 0 {
		if done != nil {
			done(0)
		}
		return
	}
	m.nextToken++
	tok := m.nextToken
	if done != nil {
		m.pending[tok] = done
	}
	m.out.Appends = append(m.out.Appends, Append{Partition: part, Token: tok, Records: recs, ProducerID: pid, ProducerEpoch: epoch})
}

// Appended reports that the append with token is durable (code 0) or
// failed with the Kafka error code of the failure.
func (m *Machine) Appended(now time.Time, token uint64, code int16) Output {
	m.begin(now)
	if fn := m.pending[token]; fn != nil {
		delete(m.pending, token)
		fn(normalizeAppendCode(code))
	}
	return m.end()
}

// normalizeAppendCode turns the error of an append to __consumer_offsets
// into what a group client understands, as Kafka does.
func normalizeAppendCode(code int16) int16 {
	switch code {
	case kerr.UnknownTopicOrPartition.Code, kerr.NotEnoughReplicas.Code, kerr.NotEnoughReplicasAfterAppend.Code, kerr.RequestTimedOut.Code:
		return kerr.CoordinatorNotAvailable.Code
	case kerr.NotLeaderForPartition.Code, kerr.KafkaStorageError.Code:
		return kerr.NotCoordinator.Code
	case kerr.MessageTooLarge.Code, kerr.RecordListTooLarge.Code, kerr.InvalidFetchSize.Code:
		return kerr.UnknownServerError.Code
	}
	return code
}

// Tick runs the timers due at now.
func (m *Machine) Tick(now time.Time) Output {
	m.begin(now)
	for t := m.timers.popDue(m.now); t != nil; t = m.timers.popDue(m.now) {
		t.fn()
	}
	return m.end()
}

// NextDeadline is when Tick next has something to do.
func (m *Machine) NextDeadline() (time.Time, bool) { return m.timers.next() }

// ---- partitions of __consumer_offsets ----

// SetOffsetsTopic tells the machine that __consumer_offsets exists with n
// partitions. loading marks them all as loading (LoadDone ends it per
// partition); otherwise they start loaded (a topic just created is
// empty). A second call does nothing.
func (m *Machine) SetOffsetsTopic(now time.Time, n int32, loading bool) Output {
	m.begin(now)
	if m.parts != nil || n <= 0 {
		return m.end()
	}
	m.parts = make([]partState, n)
	st := partLoaded
	if loading {
		st = partLoading
	}
	for i := range m.parts {
		m.parts[i] = st
	}
	m.scheduleExpiry()
	return m.end()
}

// Partitions is the partition count of __consumer_offsets, 0 before it
// exists.
func (m *Machine) Partitions() int32 { return int32(len(m.parts)) }

// Loaded reports whether partition p is serving.
func (m *Machine) Loaded(p int32) bool {
	return p >= 0 && int(p) < len(m.parts) && m.parts[p] == partLoaded
}

// PartitionFor is the __consumer_offsets partition of a group: Java's
// String.hashCode of the id, made non-negative, modulo the partition
// count, so that a group lives where Kafka would put it.
func PartitionFor(groupID string, partitions int32) int32 {
	if partitions <= 0 {
		return 0
	}
	var h int32
	for _, c := range utf16.Encode([]rune(groupID)) {
		h = 31*h + int32(c)
	}
	if h == -1<<31 {
		h = 0 // Kafka's Utils.abs
	} else if h < 0 {
		h = -h
	}
	return h % partitions
}

// coordinatorError is the error a request for groupID gets before it is
// looked at: NOT_COORDINATOR when this broker holds no partition for it
// (the topic does not exist yet), COORDINATOR_LOAD_IN_PROGRESS while its
// partition loads.
func (m *Machine) coordinatorError(groupID string) int16 {
	if len(m.parts) == 0 {
		return kerr.NotCoordinator.Code
	}
	if m.parts[PartitionFor(groupID, int32(len(m.parts)))] != partLoaded {
		return kerr.CoordinatorLoadInProgress.Code
	}
	return 0
}

func (m *Machine) partOf(groupID string) int32 { return PartitionFor(groupID, int32(len(m.parts))) }

// SetImage gives the machine the cluster metadata (topic names, ids and
// partition counts) without reacting to changes; MetadataChanged reacts.
func (m *Machine) SetImage(img *cluster.Image) {
	if img != nil {
		m.img = img
	}
}

// ---- shutdown ----

// Shutdown answers every request still waiting (joins, syncs) with
// NOT_COORDINATOR, as Kafka does when a coordinator resigns.
func (m *Machine) Shutdown(now time.Time) Output {
	m.begin(now)
	for _, g := range m.groups {
		if g.classic == nil {
			continue
		}
		for _, mem := range g.classic.members {
			if mem.join != nil {
				m.completeJoin(g.classic, mem, m.joinError(mem.join, mem.id, kerr.NotCoordinator.Code))
			}
			if mem.sync != nil {
				m.completeSync(mem, m.syncError(mem.sync, kerr.NotCoordinator.Code))
			}
		}
	}
	for tok, fn := range m.pending {
		delete(m.pending, tok)
		fn(kerr.NotCoordinator.Code)
	}
	return m.end()
}

// waiter is a request parked until the group can answer it.
type waiter struct {
	id      uint64
	version int16
}

func strp(s string) *string { return &s }

func derefOr(s *string, def string) string {
	if s == nil {
		return def
	}
	return *s
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

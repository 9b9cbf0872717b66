package group

// A script interpreter for the coordinator's state machine. Each file in
// testdata/*.txt is one test; time only moves when a script says so, and
// appends complete when the script says so (immediately by default).
//
//	# comment
//	config key=value...           initial.delay=, min.session=, max.size=,
//	                              cg.session=, cg.max.size=, retention=, ...
//	offsets-partitions N          __consumer_offsets has N partitions (1 by
//	                              default); only as the first command
//	topic NAME PARTITIONS         create (or grow) a topic
//	deltopic NAME                 delete a topic
//	time +DURATION                advance the clock and run due timers
//	appends hold|auto             park appends / complete them at once
//	appends ok|fail=ERROR         complete the parked appends
//	restart                       new machine replaying every durable record
//	join G as=R k=v...            JoinGroup        (member= instance= client=
//	                              v= session= rebalance= protocols=a:meta,b:meta)
//	sync G as=R k=v...            SyncGroup        (member= gen= instance=
//	                              assign=M:data,M:data ptype= pname=)
//	heartbeat G as=R k=v...       Heartbeat        (member= gen= instance=)
//	leave G as=R members=M,M ...  LeaveGroup       (v=; M is id or @instance)
//	commit G as=R k=v...          OffsetCommit     (member= gen= v= md=
//	                              offsets=t:0=5,1=6;u:0=1 retention=)
//	fetch G as=R k=v...           OffsetFetch      (topics=t:0,1 | all, v=,
//	                              member= epoch= stable=)
//	delete-offsets G as=R topics=t:0,1
//	cg G as=R k=v...              ConsumerGroupHeartbeat (member= epoch=
//	                              instance= topics=a,b|- regex= assignor=
//	                              owned=t:0,1;u:2|none|- rebalance= v=)
//	describe G,G as=R [v=]        DescribeGroups
//	cgdescribe G,G as=R           ConsumerGroupDescribe
//	list as=R [states=a,b] [types=a]  ListGroups
//	delete G,G as=R               DeleteGroups
//	expire                        run an offsets expiration pass
//	txncommit G as=R pid= offsets=t:0,1 at=N   TxnOffsetCommit
//	txnend pid=N result=commit|abort [part=P]  a transaction marker, in
//	                              partition P or else in every partition
//	expect R k=v...               the reply R has these fields (see fields)
//	expect R pending              R has no reply yet
//	save R field=VAR              remember a reply field as $VAR
//	check G k=v...                group state: state=, gen=, members=,
//	                              leader=, epoch=, assignment-epoch=
//	owned G                       check that no partition has two owners
//	                              in the consumer group's current assignment
//	committed [G/T/P=OFFSET...]   exactly the offsets CommittedOffsets
//	                              reports (for metrics); none when empty

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/plexus/plexus/internal/cluster"
)

func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			t.Parallel()
			runScript(t, f)
		})
	}
}

type harness struct {
	t       *testing.T
	parts   int32 // __consumer_offsets partitions
	cfg     Config
	m       *Machine
	now     time.Time
	img     *cluster.Image
	ids     map[string]uint64
	replies map[uint64]kmsg.Response
	vars    map[string]string
	nextID  uint64
	uuid    int
	hold    bool
	held    []Append
	log     map[int32][]logged // durable records per partition
	off     map[int32]int64
	line    string
}

type logged struct {
	off int64
	pid int64
	rec Record
}

func newHarness(t *testing.T) *harness {
	cfg := DefaultConfig()
	cfg.InitialRebalanceDelay = 3 * time.Second
	cfg.MinSessionTimeout = time.Second
	cfg.ConsumerSessionTimeout = 45 * time.Second
	cfg.ConsumerHeartbeatInterval = 5 * time.Second
	h := &harness{
		t: t, parts: 1, cfg: cfg, now: time.UnixMilli(1_700_000_000_000),
		img: cluster.Empty(), ids: map[string]uint64{}, replies: map[uint64]kmsg.Response{}, vars: map[string]string{},
		log: map[int32][]logged{}, off: map[int32]int64{},
	}
	h.boot(false)
	return h
}

// boot makes a fresh machine; with replay it loads the durable records.
func (h *harness) boot(replay bool) {
	h.m = NewMachine(h.cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	h.m.NewUUID = func() string { h.uuid++; return fmt.Sprintf("u%d", h.uuid) }
	h.m.SetImage(h.img)
	h.apply(h.m.SetOffsetsTopic(h.now, h.parts, replay))
	if replay {
		for part := range h.parts {
			for _, l := range h.log[part] {
				if l.rec.Key == nil {
					h.m.ReplayTxnMarker(part, l.pid, l.rec.Value != nil)
					continue
				}
				if err := h.m.Replay(part, l.off, l.pid, l.rec); err != nil {
					h.t.Fatalf("replay: %v", err)
				}
			}
			h.apply(h.m.LoadDone(h.now, part))
		}
	}
}

func (h *harness) fatalf(format string, args ...any) {
	h.t.Helper()
	h.t.Fatalf("%s: %s", h.line, fmt.Sprintf(format, args...))
}

func (h *harness) apply(out Output) {
	for _, r := range out.Replies {
		if _, dup := h.replies[r.ID]; dup {
			h.fatalf("request %d answered twice", r.ID)
		}
		h.replies[r.ID] = r.Response
	}
	for _, a := range out.Appends {
		if h.hold {
			h.held = append(h.held, a)
			continue
		}
		h.complete(a, 0)
	}
}

func (h *harness) complete(a Append, code int16) {
	if code == 0 {
		for _, r := range a.Records {
			h.log[a.Partition] = append(h.log[a.Partition], logged{off: h.off[a.Partition], pid: a.ProducerID, rec: r})
			h.off[a.Partition]++
		}
	}
	h.apply(h.m.Appended(h.now, a.Token, code))
}

func (h *harness) request(name string) uint64 {
	h.nextID++
	if name != "" {
		h.ids[name] = h.nextID
	}
	return h.nextID
}

func runScript(t *testing.T, path string) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := newHarness(t)
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		h.line = fmt.Sprintf("%s:%d: %s", filepath.Base(path), n, line)
		h.exec(line)
	}
	h.line = filepath.Base(path) + ": end"
	h.checkReplay()
}

// checkReplay is the invariant behind durability: a machine that replays
// every durable record holds the same consumer groups, offsets and settled
// classic groups as the live one.
func (h *harness) checkReplay() {
	if len(h.held) > 0 {
		return
	}
	live := dumpState(h.m, nil)
	saved := h.m
	h.boot(true)
	replayed := dumpState(h.m, saved)
	h.m = saved
	if live != replayed {
		h.fatalf("replayed state differs from the live one:\nlive:\n%s\nreplayed:\n%s", live, replayed)
	}
}

// dumpState renders what the log must reproduce. Classic groups are only
// compared when settled (Stable or Empty) in the live machine.
func dumpState(m *Machine, live *Machine) string {
	if live == nil {
		live = m
	}
	var b strings.Builder
	for _, gid := range slices.Sorted(keysOf(live.groups)) {
		lg := live.groups[gid]
		if lg.classic != nil && lg.classic.state != stStable && lg.classic.state != stEmpty {
			continue
		}
		gr := m.groups[gid]
		if gr == nil {
			fmt.Fprintf(&b, "group %s: missing\n", gid)
			continue
		}
		if g := gr.classic; g != nil {
			fmt.Fprintf(&b, "classic %s state=%s gen=%d type=%s proto=%s leader=%s\n", gid, g.state, g.generation, derefOr(g.protocolType, "-"), derefOr(g.protocol, "-"), g.leader)
			for _, id := range slices.Sorted(keysOf(g.members)) {
				mem := g.members[id]
				fmt.Fprintf(&b, "  member %s inst=%s assign=%q\n", id, derefOr(mem.instanceID, "-"), mem.assignment)
			}
			continue
		}
		g := gr.consumer
		fmt.Fprintf(&b, "consumer %s epoch=%d assignment-epoch=%d hash=%d regexes=%v\n", gid, g.epoch, g.assignmentEpoch, g.metadataHash, len(g.regexes))
		for _, id := range slices.Sorted(keysOf(g.members)) {
			mem := g.members[id]
			fmt.Fprintf(&b, "  member %s inst=%s epoch=%d/%d state=%d topics=%v regex=%s assigned=%v pending=%v target=%v\n",
				id, derefOr(mem.instanceID, "-"), mem.epoch, mem.prevEpoch, mem.state, mem.topics, derefOr(mem.regex, "-"),
				mem.assigned.list(), mem.pending.list(), g.target[id].list())
			for _, p := range mem.assigned.list() {
				e, _ := mem.epochOf(p)
				fmt.Fprintf(&b, "    %v@%d\n", p, e)
			}
		}
	}
	for _, gid := range slices.Sorted(keysOf(m.offsets)) {
		for _, t := range sortedTPs(m.offsets[gid]) {
			o := m.offsets[gid][t]
			fmt.Fprintf(&b, "offset %s %s-%d=%d epoch=%d md=%q ts=%d exp=%d\n", gid, t.topic, t.partition, o.offset, o.leaderEpoch, o.metadata, o.commitTimestamp, o.expireTimestamp)
		}
	}
	keys := slices.SortedFunc(maps.Keys(m.txns), func(a, b txnKey) int {
		return cmp.Or(cmp.Compare(a.pid, b.pid), cmp.Compare(a.part, b.part))
	})
	for _, k := range keys {
		tx := m.txns[k]
		for _, gid := range slices.Sorted(keysOf(tx.offsets)) {
			for _, t := range sortedTPs(tx.offsets[gid]) {
				fmt.Fprintf(&b, "txn %d %s %s-%d=%d\n", k.pid, gid, t.topic, t.partition, tx.offsets[gid][t].offset)
			}
		}
	}
	return b.String()
}

// args parses k=v words, substituting $vars.
func (h *harness) args(words []string) map[string]string {
	out := map[string]string{}
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			h.fatalf("bad argument %q", w)
		}
		out[k] = h.subst(v)
	}
	return out
}

func (h *harness) subst(v string) string {
	for strings.Contains(v, "$") {
		i := strings.Index(v, "$")
		j := i + 1
		for j < len(v) && (v[j] == '_' || v[j] >= 'a' && v[j] <= 'z' || v[j] >= 'A' && v[j] <= 'Z' || v[j] >= '0' && v[j] <= '9') {
			j++
		}
		val, ok := h.vars[v[i+1:j]]
		if !ok {
			h.fatalf("unknown variable %s", v[i:j])
		}
		v = v[:i] + val + v[j:]
	}
	return v
}

func dur(h *harness, s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		h.fatalf("bad duration %q", s)
	}
	return d
}

func num(h *harness, s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		h.fatalf("bad number %q", s)
	}
	return n
}

func get(a map[string]string, k, def string) string {
	if v, ok := a[k]; ok {
		return v
	}
	return def
}

func optStr(a map[string]string, k string) *string {
	if v, ok := a[k]; ok && v != "-" {
		return &v
	}
	return nil
}

func errName(code int16) string {
	if code == 0 {
		return "ok"
	}
	if e := kerr.ErrorForCode(code); e != nil {
		return e.(*kerr.Error).Message
	}
	return strconv.Itoa(int(code))
}

func errCode(h *harness, name string) int16 {
	for c := int16(1); c < 200; c++ {
		if errName(c) == name {
			return c
		}
	}
	h.fatalf("unknown error %q", name)
	return 0
}

func (h *harness) topicID(name string) [16]byte {
	t := h.img.Topics[name]
	if t == nil {
		h.fatalf("unknown topic %q", name)
	}
	return t.ID
}

func (h *harness) topicName(id [16]byte) string {
	if t := h.img.ByID[id]; t != nil {
		return t.Name
	}
	return fmt.Sprintf("%x", id[:2])
}

// parseTPs reads "t:0,1;u:2".
func (h *harness) parseTPs(s string) map[string][]int32 {
	out := map[string][]int32{}
	if s == "none" || s == "" {
		return out
	}
	for _, part := range strings.Split(s, ";") {
		name, ps, _ := strings.Cut(part, ":")
		out[name] = []int32{}
		for _, p := range strings.Split(ps, ",") {
			if p != "" {
				out[name] = append(out[name], int32(num(h, p)))
			}
		}
	}
	return out
}

// fmtAssign formats an assignment as "t:0,1;u:2" in topic name order.
func (h *harness) fmtAssign(byID map[[16]byte][]int32) string {
	var parts []string
	names := map[string][]int32{}
	for id, ps := range byID {
		ps = slices.Clone(ps)
		slices.Sort(ps)
		names[h.topicName(id)] = ps
	}
	for _, n := range slices.Sorted(keysOf(names)) {
		var s []string
		for _, p := range names[n] {
			s = append(s, strconv.Itoa(int(p)))
		}
		parts = append(parts, n+":"+strings.Join(s, ","))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ";")
}

func (h *harness) exec(line string) {
	words := strings.Fields(line)
	cmd, rest := words[0], words[1:]
	switch cmd {
	case "offsets-partitions":
		if h.nextID > 0 || len(h.log) > 0 {
			h.fatalf("offsets-partitions must come first")
		}
		h.parts = int32(num(h, rest[0]))
		h.boot(false)
	case "config":
		a := h.args(rest)
		for k, v := range a {
			switch k {
			case "initial.delay":
				h.cfg.InitialRebalanceDelay = dur(h, v)
			case "min.session":
				h.cfg.MinSessionTimeout = dur(h, v)
			case "max.session":
				h.cfg.MaxSessionTimeout = dur(h, v)
			case "max.size":
				h.cfg.MaxSize = int(num(h, v))
			case "cg.session":
				h.cfg.ConsumerSessionTimeout = dur(h, v)
			case "cg.max.size":
				h.cfg.ConsumerMaxSize = int(num(h, v))
			case "retention":
				h.cfg.OffsetsRetention = dur(h, v)
			case "md.max":
				h.cfg.OffsetMetadataMaxBytes = int(num(h, v))
			case "assignors":
				h.cfg.ConsumerAssignors = strings.Split(v, ",")
			case "new.member.timeout":
				h.cfg.NewMemberJoinTimeout = dur(h, v)
			default:
				h.fatalf("unknown config %q", k)
			}
		}
		h.m.cfg = h.cfg
	case "topic":
		name, n := rest[0], int32(num(h, rest[1]))
		var rec *cluster.Record
		if t := h.img.Topics[name]; t != nil {
			rec = &cluster.Record{Type: cluster.CreatePartition, ID: t.ID, Name: name, Partitions: n}
		} else {
			var id cluster.TopicID
			copy(id[:], fmt.Sprintf("%-16s", name))
			rec = &cluster.Record{Type: cluster.CreateTopic, Name: name, ID: id, Partitions: n}
		}
		h.img = h.img.Apply(h.img.Offset+1, rec)
		h.apply(h.m.MetadataChanged(h.now, h.img))
	case "deltopic":
		t := h.img.Topics[rest[0]]
		h.img = h.img.Apply(h.img.Offset+1, &cluster.Record{Type: cluster.DeleteTopic, ID: t.ID, Name: t.Name})
		h.apply(h.m.MetadataChanged(h.now, h.img))
	case "time":
		h.now = h.now.Add(dur(h, strings.TrimPrefix(rest[0], "+")))
		h.apply(h.m.Tick(h.now))
	case "appends":
		switch {
		case rest[0] == "hold":
			h.hold = true
		case rest[0] == "auto":
			h.hold = false
		default:
			code := int16(0)
			if v, ok := strings.CutPrefix(rest[0], "fail="); ok {
				code = errCode(h, v)
			}
			held := h.held
			h.held = nil
			for _, a := range held {
				h.complete(a, code)
			}
		}
	case "restart":
		if len(h.held) > 0 {
			h.fatalf("restart with parked appends")
		}
		h.boot(true)
	case "expire":
		h.apply(h.m.ExpireOffsets(h.now))
	case "txnend":
		// The transaction coordinator wrote a marker: commit or abort.
		a := h.args(rest)
		pid, commit := num(h, a["pid"]), a["result"] == "commit"
		var v []byte
		if commit {
			v = []byte{1}
		}
		for part := range h.parts {
			if p, ok := a["part"]; ok && num(h, p) != int64(part) {
				continue
			}
			h.log[part] = append(h.log[part], logged{off: h.off[part], pid: pid, rec: Record{Value: v}})
			h.off[part]++
			h.apply(h.m.CompleteTxn(h.now, part, pid, commit))
		}
	case "expect":
		h.expect(rest)
	case "save":
		resp := h.reply(rest[0])
		f := fields(h, resp)
		for k, v := range h.args(rest[1:]) {
			val, ok := f[k]
			if !ok {
				h.fatalf("reply has no field %q: %v", k, f)
			}
			h.vars[v] = val
		}
	case "check":
		h.check(rest)
	case "committed":
		offs := h.m.CommittedOffsets(nil)
		got := make([]string, 0, len(offs))
		for _, o := range offs {
			got = append(got, fmt.Sprintf("%s/%s/%d=%d", o.Group, o.Topic, o.Partition, o.Offset))
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(rest))
		if !slices.Equal(got, want) {
			h.fatalf("committed offsets %v, want %v", got, want)
		}
	case "owned":
		g := h.m.consumerGroupOf(rest[0])
		seen := map[tidp]string{}
		for id, mem := range g.members {
			for _, p := range append(mem.assigned.list(), mem.pending.list()...) {
				if o, dup := seen[p]; dup {
					h.fatalf("partition %v owned by %s and %s", p, o, id)
				}
				seen[p] = id
			}
		}
	default:
		h.request1(cmd, rest)
	}
}

func (h *harness) reply(name string) kmsg.Response {
	id, ok := h.ids[name]
	if !ok {
		h.fatalf("no request %q", name)
	}
	r, ok := h.replies[id]
	if !ok {
		h.fatalf("request %q has no reply", name)
	}
	return r
}

func (h *harness) expect(rest []string) {
	if len(rest) == 2 && rest[1] == "pending" {
		if _, ok := h.replies[h.ids[rest[0]]]; ok {
			h.fatalf("request %q was answered: %v", rest[0], fields(h, h.replies[h.ids[rest[0]]]))
		}
		return
	}
	f := fields(h, h.reply(rest[0]))
	for k, v := range h.args(rest[1:]) {
		if f[k] != v {
			h.fatalf("%s=%q, want %q (reply %v)", k, f[k], v, f)
		}
	}
}

func (h *harness) check(rest []string) {
	gr := h.m.groups[rest[0]]
	f := map[string]string{"exists": strconv.FormatBool(gr != nil)}
	if gr != nil {
		f["type"], f["state"] = gr.typeName(), gr.stateName()
		if g := gr.classic; g != nil {
			f["gen"], f["members"], f["leader"] = strconv.Itoa(int(g.generation)), strconv.Itoa(len(g.members)), g.leader
			f["protocol"] = derefOr(g.protocol, "-")
		} else {
			g := gr.consumer
			f["epoch"], f["assignment-epoch"], f["members"] = strconv.Itoa(int(g.epoch)), strconv.Itoa(int(g.assignmentEpoch)), strconv.Itoa(len(g.members))
		}
	}
	f["offsets"] = strconv.Itoa(len(h.m.offsets[rest[0]]))
	for k, v := range h.args(rest[1:]) {
		if f[k] != v {
			h.fatalf("group %s: %s=%q, want %q (%v)", rest[0], k, f[k], v, f)
		}
	}
}

// request1 sends one request.
func (h *harness) request1(cmd string, rest []string) {
	var groups []string
	if cmd != "list" {
		groups = strings.Split(rest[0], ",")
		rest = rest[1:]
	}
	a := h.args(rest)
	id := h.request(a["as"])
	v := int16(num(h, get(a, "v", "-1")))
	ver := func(max int16) int16 {
		if v < 0 {
			return max
		}
		return v
	}
	for i := range groups {
		if groups[i] == "-" {
			groups[i] = "" // the empty group id
		}
	}
	g := ""
	if len(groups) > 0 {
		g = groups[0]
	}
	c := Client{ID: get(a, "client", "client"), Host: "/127.0.0.1"}
	var out Output
	switch cmd {
	case "join":
		req := kmsg.NewPtrJoinGroupRequest()
		req.Version = ver(9)
		req.Group, req.MemberID, req.InstanceID = g, get(a, "member", ""), optStr(a, "instance")
		req.SessionTimeoutMillis = int32(dur(h, get(a, "session", "10s")) / time.Millisecond)
		req.RebalanceTimeoutMillis = int32(dur(h, get(a, "rebalance", "30s")) / time.Millisecond)
		req.ProtocolType = get(a, "ptype", "consumer")
		for _, p := range strings.Split(get(a, "protocols", "range:x"), ",") {
			name, md, _ := strings.Cut(p, ":")
			meta := []byte(md)
			if ts, ok := a["topics"]; ok {
				// A ConsumerProtocolSubscription v0 of these topics.
				sub := kmsg.NewConsumerMemberMetadata()
				sub.Topics = strings.Split(ts, ",")
				meta = sub.AppendTo(nil)
			}
			req.Protocols = append(req.Protocols, kmsg.JoinGroupRequestProtocol{Name: name, Metadata: meta})
		}
		out = h.m.JoinGroup(h.now, id, c, req)
	case "sync":
		req := kmsg.NewPtrSyncGroupRequest()
		req.Version = ver(5)
		req.Group, req.MemberID, req.InstanceID = g, get(a, "member", ""), optStr(a, "instance")
		req.Generation = int32(num(h, get(a, "gen", "-1")))
		req.ProtocolType, req.Protocol = optStr(a, "ptype"), optStr(a, "pname")
		if as := get(a, "assign", ""); as != "" {
			for _, p := range strings.Split(as, ",") {
				mid, data, _ := strings.Cut(p, ":")
				req.GroupAssignment = append(req.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: h.subst(mid), MemberAssignment: []byte(data)})
			}
		}
		out = h.m.SyncGroup(h.now, id, req)
	case "heartbeat":
		req := kmsg.NewPtrHeartbeatRequest()
		req.Version = ver(4)
		req.Group, req.MemberID, req.InstanceID = g, get(a, "member", ""), optStr(a, "instance")
		req.Generation = int32(num(h, get(a, "gen", "-1")))
		out = h.m.Heartbeat(h.now, id, req)
	case "leave":
		req := kmsg.NewPtrLeaveGroupRequest()
		req.Version = ver(5)
		req.Group = g
		for _, mm := range strings.Split(get(a, "members", ""), ",") {
			if inst, ok := strings.CutPrefix(mm, "@"); ok {
				req.Members = append(req.Members, kmsg.LeaveGroupRequestMember{InstanceID: &inst})
			} else {
				req.Members = append(req.Members, kmsg.LeaveGroupRequestMember{MemberID: mm})
			}
		}
		if req.Version < 3 && len(req.Members) > 0 {
			req.MemberID = req.Members[0].MemberID
		}
		out = h.m.LeaveGroup(h.now, id, req)
	case "commit":
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version = ver(9)
		req.Group, req.MemberID, req.InstanceID = g, get(a, "member", ""), optStr(a, "instance")
		req.Generation = int32(num(h, get(a, "gen", "-1")))
		req.RetentionTimeMillis = -1
		if r, ok := a["retention"]; ok {
			req.RetentionTimeMillis = int64(dur(h, r) / time.Millisecond)
		}
		md := get(a, "md", "")
		for _, part := range strings.Split(get(a, "offsets", ""), ";") {
			name, ps, _ := strings.Cut(part, ":")
			rt := kmsg.NewOffsetCommitRequestTopic()
			rt.Topic = name
			if req.Version >= 10 {
				rt.TopicID = h.topicID(name)
			}
			for _, p := range strings.Split(ps, ",") {
				pn, off, _ := strings.Cut(p, "=")
				rp := kmsg.NewOffsetCommitRequestTopicPartition()
				rp.Partition, rp.Offset, rp.Metadata = int32(num(h, pn)), num(h, off), &md
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
		}
		out = h.m.OffsetCommit(h.now, id, req)
	case "txncommit":
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.Version = ver(4)
		req.Group, req.MemberID = g, get(a, "member", "")
		req.Generation = int32(num(h, get(a, "gen", "-1")))
		req.ProducerID, req.ProducerEpoch = num(h, a["pid"]), int16(num(h, get(a, "pepoch", "0")))
		for name, ps := range h.parseTPs(get(a, "offsets", "")) {
			rt := kmsg.NewTxnOffsetCommitRequestTopic()
			rt.Topic = name
			for _, p := range ps {
				rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
				rp.Partition, rp.Offset = p, num(h, get(a, "at", "0"))
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
		}
		out = h.m.TxnOffsetCommit(h.now, id, req)
	case "fetch":
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = ver(9)
		req.RequireStable = get(a, "stable", "false") == "true"
		topics := get(a, "topics", "all")
		if req.Version >= 8 {
			rg := kmsg.NewOffsetFetchRequestGroup()
			rg.Group, rg.MemberID = g, optStr(a, "member")
			rg.MemberEpoch = int32(num(h, get(a, "epoch", "-1")))
			if topics != "all" {
				rg.Topics = []kmsg.OffsetFetchRequestGroupTopic{}
				for name, ps := range h.parseTPs(topics) {
					rt := kmsg.OffsetFetchRequestGroupTopic{Topic: name, Partitions: ps}
					if req.Version >= 10 {
						rt.TopicID = h.topicID(name)
					}
					rg.Topics = append(rg.Topics, rt)
				}
			}
			req.Groups = append(req.Groups, rg)
		} else {
			req.Group = g
			if topics != "all" {
				req.Topics = []kmsg.OffsetFetchRequestTopic{}
				for name, ps := range h.parseTPs(topics) {
					req.Topics = append(req.Topics, kmsg.OffsetFetchRequestTopic{Topic: name, Partitions: ps})
				}
			}
		}
		out = h.m.OffsetFetch(h.now, id, req)
	case "delete-offsets":
		req := kmsg.NewPtrOffsetDeleteRequest()
		req.Group = g
		for name, ps := range h.parseTPs(get(a, "topics", "")) {
			rt := kmsg.OffsetDeleteRequestTopic{Topic: name}
			for _, p := range ps {
				rt.Partitions = append(rt.Partitions, kmsg.OffsetDeleteRequestTopicPartition{Partition: p})
			}
			req.Topics = append(req.Topics, rt)
		}
		out = h.m.OffsetDelete(h.now, id, req)
	case "cg":
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version = ver(1)
		req.Group, req.MemberID, req.InstanceID = g, get(a, "member", ""), optStr(a, "instance")
		req.MemberEpoch = int32(num(h, get(a, "epoch", "0")))
		req.RebalanceTimeoutMillis = int32(num(h, get(a, "rebalance", "-1")))
		if req.MemberEpoch == 0 && a["rebalance"] == "" {
			req.RebalanceTimeoutMillis = 30000
		}
		if ts, ok := a["topics"]; ok && ts != "-" {
			req.SubscribedTopicNames = []string{}
			if ts != "none" {
				req.SubscribedTopicNames = strings.Split(ts, ",")
			}
		}
		req.SubscribedTopicRegex, req.ServerAssignor, req.RackID = optStr(a, "regex"), optStr(a, "assignor"), optStr(a, "rack")
		owned := get(a, "owned", "-")
		if req.MemberEpoch == 0 && a["owned"] == "" {
			owned = "none"
		}
		if owned != "-" {
			req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
			for name, ps := range h.parseTPs(owned) {
				req.Topics = append(req.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: h.topicID(name), Partitions: ps})
			}
		}
		out = h.m.ConsumerGroupHeartbeat(h.now, id, c, req)
	case "describe":
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Version = ver(6)
		req.Groups = groups
		out = h.m.DescribeGroups(h.now, id, req)
	case "cgdescribe":
		req := kmsg.NewPtrConsumerGroupDescribeRequest()
		req.Version = ver(1)
		req.Groups = groups
		out = h.m.ConsumerGroupDescribe(h.now, id, req)
	case "list":
		req := kmsg.NewPtrListGroupsRequest()
		req.Version = ver(5)
		if s := get(a, "states", ""); s != "" {
			req.StatesFilter = strings.Split(s, ",")
		}
		if s := get(a, "types", ""); s != "" {
			req.TypesFilter = strings.Split(s, ",")
		}
		out = h.m.ListGroups(h.now, id, req)
	case "delete":
		req := kmsg.NewPtrDeleteGroupsRequest()
		req.Version = ver(3)
		req.Groups = groups
		out = h.m.DeleteGroups(h.now, id, req)
	default:
		h.fatalf("unknown command %q", cmd)
	}
	h.apply(out)
}

// fields flattens a reply into the names scripts check.
func fields(h *harness, resp kmsg.Response) map[string]string {
	f := map[string]string{}
	switch r := resp.(type) {
	case *kmsg.JoinGroupResponse:
		f["err"], f["member"], f["gen"], f["leader"] = errName(r.ErrorCode), r.MemberID, strconv.Itoa(int(r.Generation)), r.LeaderID
		f["protocol"], f["members"], f["skip"] = derefOr(r.Protocol, "-"), strconv.Itoa(len(r.Members)), strconv.FormatBool(r.SkipAssignment)
		var ids []string
		for _, m := range r.Members {
			ids = append(ids, m.MemberID)
		}
		f["memberids"] = strings.Join(ids, ",")
	case *kmsg.SyncGroupResponse:
		f["err"], f["assignment"], f["protocol"] = errName(r.ErrorCode), string(r.MemberAssignment), derefOr(r.Protocol, "-")
	case *kmsg.HeartbeatResponse:
		f["err"] = errName(r.ErrorCode)
	case *kmsg.LeaveGroupResponse:
		f["err"] = errName(r.ErrorCode)
		var ms []string
		for _, m := range r.Members {
			ms = append(ms, errName(m.ErrorCode))
		}
		f["members"] = strings.Join(ms, ",")
	case *kmsg.OffsetCommitResponse:
		var parts []string
		for _, t := range r.Topics {
			name := t.Topic
			if r.Version >= 10 {
				name = h.topicName(t.TopicID)
			}
			var ps []string
			for _, p := range t.Partitions {
				ps = append(ps, fmt.Sprintf("%d=%s", p.Partition, errName(p.ErrorCode)))
			}
			parts = append(parts, name+":"+strings.Join(ps, ","))
		}
		slices.Sort(parts)
		f["res"] = strings.Join(parts, ";")
	case *kmsg.OffsetFetchResponse:
		var parts []string
		add := func(name string, ps []string) { parts = append(parts, name+":"+strings.Join(ps, ",")) }
		if r.Version >= 8 {
			g := r.Groups[0]
			f["err"] = errName(g.ErrorCode)
			for _, t := range g.Topics {
				var ps []string
				for _, p := range t.Partitions {
					ps = append(ps, fetchStr(p.Partition, p.Offset, p.ErrorCode))
				}
				name := t.Topic
				if r.Version >= 10 {
					name = h.topicName(t.TopicID)
				}
				add(name, ps)
			}
		} else {
			f["err"] = errName(r.ErrorCode)
			for _, t := range r.Topics {
				var ps []string
				for _, p := range t.Partitions {
					ps = append(ps, fetchStr(p.Partition, p.Offset, p.ErrorCode))
				}
				add(t.Topic, ps)
			}
		}
		slices.Sort(parts)
		f["offsets"] = strings.Join(parts, ";")
	case *kmsg.TxnOffsetCommitResponse:
		var parts []string
		for _, t := range r.Topics {
			var ps []string
			for _, p := range t.Partitions {
				ps = append(ps, fmt.Sprintf("%d=%s", p.Partition, errName(p.ErrorCode)))
			}
			parts = append(parts, t.Topic+":"+strings.Join(ps, ","))
		}
		slices.Sort(parts)
		f["res"] = strings.Join(parts, ";")
	case *kmsg.OffsetDeleteResponse:
		f["err"] = errName(r.ErrorCode)
		var parts []string
		for _, t := range r.Topics {
			var ps []string
			for _, p := range t.Partitions {
				ps = append(ps, fmt.Sprintf("%d=%s", p.Partition, errName(p.ErrorCode)))
			}
			parts = append(parts, t.Topic+":"+strings.Join(ps, ","))
		}
		slices.Sort(parts)
		f["res"] = strings.Join(parts, ";")
	case *kmsg.ConsumerGroupHeartbeatResponse:
		f["err"], f["member"], f["epoch"], f["hb"] = errName(r.ErrorCode), derefOr(r.MemberID, "-"), strconv.Itoa(int(r.MemberEpoch)), strconv.Itoa(int(r.HeartbeatIntervalMillis))
		f["msg"] = derefOr(r.ErrorMessage, "")
		f["assign"] = "-"
		if r.Assignment != nil {
			byID := map[[16]byte][]int32{}
			for _, t := range r.Assignment.Topics {
				byID[t.TopicID] = t.Partitions
			}
			f["assign"] = h.fmtAssign(byID)
		}
	case *kmsg.DescribeGroupsResponse:
		for i, g := range r.Groups {
			p := strconv.Itoa(i)
			f["err"+p], f["state"+p], f["protocol"+p], f["ptype"+p], f["members"+p] = errName(g.ErrorCode), g.State, g.Protocol, g.ProtocolType, strconv.Itoa(len(g.Members))
			if len(g.Members) > 0 {
				f["assignment"+p] = string(g.Members[0].MemberAssignment)
			}
		}
	case *kmsg.ConsumerGroupDescribeResponse:
		for i, g := range r.Groups {
			p := strconv.Itoa(i)
			f["err"+p], f["state"+p], f["epoch"+p], f["assignor"+p], f["members"+p] = errName(g.ErrorCode), g.State, strconv.Itoa(int(g.Epoch)), g.AssignorName, strconv.Itoa(len(g.Members))
		}
	case *kmsg.ListGroupsResponse:
		f["err"] = errName(r.ErrorCode)
		var gs []string
		for _, g := range r.Groups {
			gs = append(gs, fmt.Sprintf("%s/%s/%s", g.Group, g.GroupType, g.GroupState))
		}
		slices.Sort(gs)
		f["groups"] = strings.Join(gs, ",")
	case *kmsg.DeleteGroupsResponse:
		var gs []string
		for _, g := range r.Groups {
			gs = append(gs, g.Group+"="+errName(g.ErrorCode))
		}
		f["res"] = strings.Join(gs, ",")
	default:
		h.fatalf("unexpected reply %T", resp)
	}
	return f
}

func fetchStr(p int32, off int64, code int16) string {
	if code != 0 {
		return fmt.Sprintf("%d=%s", p, errName(code))
	}
	return fmt.Sprintf("%d=%d", p, off)
}

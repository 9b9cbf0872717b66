package broker

// Fetch, v4-v18.
//
// v4 adds the isolation level and aborted transactions, v5 the log start
// offset, v7 incremental fetch sessions (fetch_session.go), v9 the current
// leader epoch, v11 the rack and preferred read replica, v12 flexible
// encoding, v13 topic ids instead of names, v15 the replica state (for
// followers), v16-v18 fields for followers and leader discovery.
//
// The whole fetch runs in the reply's Wait, on the writer goroutine, so a
// long poll holds back only the responses queued behind it on the same
// connection, as with Kafka's in-order processing. Batches are returned as
// they are stored; the response is the only copy.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/plexus/plexus/internal/bufpool"
	"github.com/plexus/plexus/internal/cluster"
	plog "github.com/plexus/plexus/internal/log"
	"github.com/plexus/plexus/internal/partition"
	"github.com/plexus/plexus/internal/records"
	"github.com/plexus/plexus/internal/server"
)

func handleFetch(b *Broker, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.FetchRequest)
	f := &fetch{b: b, req: req}
	if r.Conn != nil {
		f.gone = r.Conn.Done
	}
	return server.Reply{Wait: f.run, Release: f.release, Encode: f.encode}
}

type fetch struct {
	b       *Broker
	req     *kmsg.FetchRequest
	bufs    [][]byte
	regions []*plog.Region  // held until the response is sent
	order   []fetchRegion   // per response partition, in encoding order
	out     []byte          // the encoded frame's bytes
	gone    <-chan struct{} // the connection stopped reading: answer now
}

// fetchResult is one partition's outcome in one pass.
type fetchResult struct {
	fp       *fetchPart
	topic    *cluster.Topic
	part     *partition.Partition
	code     int16
	hwm      int64
	lso      int64
	logStart int64
	data     []byte       // batches read into memory, or
	region   *plog.Region // batches sent from the file
}

// size is the bytes of record batches the result returns.
func (r *fetchResult) size() int {
	if r.region != nil {
		return r.region.Len
	}
	return len(r.data)
}

// encode encodes the response as a frame whose record batches are the
// file regions read, sent with sendfile, and whose other bytes go in one
// pooled buffer sized for them.
func (f *fetch) encode(resp kmsg.Response) *server.Frame {
	n := 256
	for _, buf := range f.bufs {
		n += len(buf)
	}
	for _, t := range resp.(*kmsg.FetchResponse).Topics {
		n += 64 + len(t.Topic) + 96*len(t.Partitions)
	}
	f.out = bufpool.Get(n)[:0]
	frame := encodeFetch(f.out, resp.(*kmsg.FetchResponse), f.order)
	f.out = frame.Bytes
	return frame
}

// release returns what the last read pass held: buffers and regions.
func (f *fetch) release() {
	for _, buf := range f.bufs {
		bufpool.Put(buf)
	}
	f.bufs = nil
	for _, r := range f.regions {
		r.Release()
	}
	f.regions = nil
	if f.out != nil {
		bufpool.Put(f.out)
		f.out = nil
	}
}

func (f *fetch) run() kmsg.Response {
	b, req := f.b, f.req
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	byID := req.Version >= 13
	var (
		parts       []*fetchPart
		sess        *fetchSession
		incremental bool
	)
	fromRequest := func(add func(k fetchKey, offset int64, maxBytes, epoch int32)) {
		for _, rt := range req.Topics {
			for _, rp := range rt.Partitions {
				k := fetchKey{index: rp.Partition}
				if byID {
					k.id = rt.TopicID
				} else {
					k.name = rt.Topic
				}
				add(k, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch)
			}
		}
	}
	transient := func(k fetchKey, offset int64, maxBytes, epoch int32) {
		parts = append(parts, &fetchPart{key: k, offset: offset, maxBytes: maxBytes, leaderEpoch: epoch})
	}
	switch {
	case req.Version < 7 || req.SessionEpoch == -1:
		if req.Version >= 7 && req.SessionID != 0 {
			b.sessions.remove(req.SessionID)
		}
		fromRequest(transient)
	case req.SessionEpoch == 0:
		if req.SessionID != 0 {
			b.sessions.remove(req.SessionID)
		}
		if sess = b.sessions.create(); sess == nil {
			fromRequest(transient)
			break
		}
		fromRequest(sess.upsert)
		parts = sess.parts
	default:
		var busy bool
		sess, busy = b.sessions.acquire(req.SessionID)
		if sess == nil {
			resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
			return resp
		}
		if busy {
			// Another request is using the session: this one cannot
			// carry the epoch the session will expect next.
			sess = nil
			resp.ErrorCode = kerr.InvalidFetchSessionEpoch.Code
			return resp
		}
		if sess.epoch != req.SessionEpoch {
			b.sessions.release(sess)
			resp.ErrorCode = kerr.InvalidFetchSessionEpoch.Code
			return resp
		}
		for _, ft := range req.ForgottenTopics {
			for _, p := range ft.Partitions {
				k := fetchKey{index: p}
				if byID {
					k.id = ft.TopicID
				} else {
					k.name = ft.Topic
				}
				sess.forget(k)
			}
		}
		fromRequest(sess.upsert)
		parts = sess.parts
		incremental = true
	}
	if sess != nil {
		defer b.sessions.release(sess)
		resp.SessionID = sess.id
	}

	results := f.poll(parts)

	if sess != nil {
		if incremental {
			sess.epoch = nextEpoch(req.SessionEpoch)
		} else {
			sess.epoch = 1
		}
	}
	returned := map[*fetchPart]bool{}
	var cur *kmsg.FetchResponseTopic
	for i := range results {
		res := &results[i]
		fp := res.fp
		news := res.size() > 0 || res.code != 0 || !fp.sent || res.hwm != fp.hwm || res.lso != fp.lso || res.logStart != fp.logStart
		if incremental && !news {
			continue
		}
		if sess != nil {
			fp.sent, fp.hwm, fp.lso, fp.logStart = true, res.hwm, res.lso, res.logStart
			if res.size() > 0 {
				returned[fp] = true
			}
		}
		if cur == nil || cur.Topic != fp.key.name || cur.TopicID != fp.key.id {
			resp.Topics = append(resp.Topics, kmsg.NewFetchResponseTopic())
			cur = &resp.Topics[len(resp.Topics)-1]
			cur.Topic, cur.TopicID = fp.key.name, fp.key.id
		}
		rp := kmsg.NewFetchResponseTopicPartition()
		rp.Partition = fp.key.index
		rp.ErrorCode = res.code
		rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = res.hwm, res.lso, res.logStart
		// Never null: librdkafka and older sarama fail to parse a null
		// record set, and Kafka always sends an empty one.
		rp.RecordBatches = res.data
		if rp.RecordBatches == nil {
			rp.RecordBatches = []byte{}
		}
		if res.region != nil {
			f.order = append(f.order, res.region)
		} else {
			f.order = append(f.order, nil)
		}
		if req.IsolationLevel == 1 && res.part != nil && res.code == 0 {
			rp.AbortedTransactions = f.abortedTxns(res)
		}
		cur.Partitions = append(cur.Partitions, rp)
		if b.metrics != nil && res.size() > 0 {
			if res.region != nil {
				// Counted by offsets: the batches were not read.
				b.metrics.Fetched(res.topic.Name, res.region.Len, int(res.region.NextOffset-res.region.BaseOffset))
			} else {
				b.metrics.Fetched(res.topic.Name, len(res.data), countRecords(res.data))
			}
		}
	}
	if sess != nil {
		sess.rotate(returned)
	}
	return resp
}

// poll reads every partition, waiting for min_bytes up to max_wait_ms.
func (f *fetch) poll(parts []*fetchPart) []fetchResult {
	b, req := f.b, f.req
	results := make([]fetchResult, len(parts))
	var (
		w        *partition.Watcher
		watched  []*partition.Partition
		timer    *time.Timer
		deadline = time.Now().Add(time.Duration(req.MaxWaitMillis) * time.Millisecond)
	)
	defer func() {
		for _, p := range watched {
			p.Unwatch(w)
		}
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		total, failed := f.readAll(parts, results)
		// Nothing to fetch (a consumer closing its session sends no
		// partitions) is answered at once, as in Kafka: no append could
		// satisfy min_bytes.
		if failed || len(parts) == 0 || total >= int(req.MinBytes) || req.MaxWaitMillis <= 0 || !time.Now().Before(deadline) {
			return results
		}
		if w == nil {
			w = partition.NewWatcher()
			for i := range results {
				if p := results[i].part; p != nil {
					p.Watch(w)
					watched = append(watched, p)
				}
			}
			timer = time.NewTimer(time.Until(deadline))
			// Data may have arrived between the read and the watch.
			continue
		}
		select {
		case <-w.C:
		case <-timer.C:
			f.readAll(parts, results)
			return results
		case <-b.stop:
			return results
		case <-f.gone:
			return results
		}
	}
}

// readAll reads each partition once, honouring the response and
// per-partition byte limits; only the first partition with data may exceed
// them, by its first batch (KIP-74).
func (f *fetch) readAll(parts []*fetchPart, results []fetchResult) (total int, failed bool) {
	b, req := f.b, f.req
	f.release()
	img := b.store.Image()
	limit := int(req.MaxBytes)
	if req.Version < 3 || limit <= 0 {
		limit = int(^uint32(0) >> 1)
	}
	if max := b.cfg.Int("fetch.max.bytes"); max > 0 && limit > max {
		limit = max
	}
	readCommitted := req.IsolationLevel == 1
	for i, fp := range parts {
		res := &results[i]
		*res = fetchResult{fp: fp, hwm: -1, lso: -1, logStart: -1}
		var t *cluster.Topic
		if fp.key.id != (cluster.TopicID{}) {
			t = img.ByID[fp.key.id]
		} else {
			t = img.Topics[fp.key.name]
		}
		if t == nil {
			res.code = kerr.UnknownTopicOrPartition.Code
			if req.Version >= 13 {
				res.code = kerr.UnknownTopicID.Code
			}
			failed = true
			continue
		}
		res.topic = t
		p := b.Partition(t.ID, fp.key.index)
		if p == nil {
			res.code = kerr.UnknownTopicOrPartition.Code
			failed = true
			continue
		}
		res.part = p
		res.hwm, res.lso, res.logStart = p.HighWatermark(), p.LastStableOffset(), p.LogStartOffset()
		if e := fp.leaderEpoch; e >= 0 && req.Version >= 9 {
			if cur := p.LeaderEpoch(); e < cur {
				res.code = kerr.FencedLeaderEpoch.Code
				failed = true
				continue
			} else if e > cur {
				res.code = kerr.UnknownLeaderEpoch.Code
				failed = true
				continue
			}
		}
		remaining := limit - total
		if remaining <= 0 && total > 0 {
			continue
		}
		max := min(int(fp.maxBytes), remaining)
		if max <= 0 {
			continue
		}
		if region, ok, err := p.ReadRegion(fp.offset, max, readCommitted); err != nil {
			res.code = errorCode(err)
			failed = true
			continue
		} else if ok {
			if region.Empty() || (total > 0 && region.Len > max) {
				region.Release()
				continue
			}
			f.regions = append(f.regions, &region)
			res.region = &region
			total += region.Len
			continue
		}
		buf := bufpool.Get(min(max, 1<<20))[:0]
		data, err := p.Read(buf, fp.offset, max, readCommitted)
		if err != nil {
			bufpool.Put(buf)
			res.code = errorCode(err)
			failed = true
			continue
		}
		if len(data) == 0 || (total > 0 && len(data) > max) {
			bufpool.Put(data)
			continue
		}
		f.bufs = append(f.bufs, data)
		res.data = data
		total += len(data)
	}
	return total, failed
}

// countRecords sums the record counts of the batch headers in data.
func countRecords(data []byte) int {
	n := 0
	for len(data) > 0 {
		b, rest, err := records.Next(data)
		if err != nil {
			break
		}
		n += int(b.NumRecords())
		data = rest
	}
	return n
}

// abortedTxns lists the aborted transactions overlapping the returned
// range, for read_committed consumers to drop.
func (f *fetch) abortedTxns(res *fetchResult) []kmsg.FetchResponseTopicPartitionAbortedTransaction {
	out := []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
	if res.size() == 0 {
		return out
	}
	var last int64
	if res.region != nil {
		last = res.region.NextOffset - 1 // an upper bound is enough: overlap
	} else {
		last = lastOffset(res.data)
	}
	for _, a := range res.part.AbortedTransactions(res.fp.offset, last) {
		at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
		at.ProducerID, at.FirstOffset = a.ProducerID, a.FirstOffset
		out = append(out, at)
	}
	return out
}

// lastOffset is the last offset of the last batch in data.
func lastOffset(data []byte) int64 {
	last := int64(-1)
	for len(data) > 0 {
		b, rest, err := records.Next(data)
		if err != nil {
			break
		}
		last = b.LastOffset()
		data = rest
	}
	return last
}

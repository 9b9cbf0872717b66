package broker

// The transaction APIs:
//
//	AddPartitionsToTxn    v0-v5  (v0-v3 clients; v4+ batched transactions and
//	                             verify-only, from brokers; v5 TRANSACTION_ABORTABLE)
//	AddOffsetsToTxn       v0-v4
//	EndTxn                v0-v5  (v5: transaction version 2, the epoch is bumped
//	                             and returned)
//	WriteTxnMarkers       v1     (what `plexus txn abort` sends for a hanging
//	                             transaction)
//	TxnOffsetCommit       v0-v5  (v3: group generation and member; v5: the
//	                             group's partition is added implicitly, TV2)
//	DescribeProducers     v0
//	DescribeTransactions  v0
//	ListTransactions      v0-v2  (v1: duration filter; v2: transactional id pattern)
//
// InitProducerID is in producer_ids.go and the transactional produce check
// in produce.go (through Transactions.CheckProduce). A handler hands its
// request to the coordinator on the connection's reader goroutine, so
// requests of one connection reach it in order, and waits in Wait.
//
// Kafka answers PRODUCER_FENCED as INVALID_PRODUCER_EPOCH to the versions
// that predate it (InitProducerId < v4, AddPartitionsToTxn, AddOffsetsToTxn
// and EndTxn < v2); the coordinator does the same.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/plexus/plexus/internal/group"
	"github.com/plexus/plexus/internal/partition"
	"github.com/plexus/plexus/internal/server"
	"github.com/plexus/plexus/internal/txn"
)

// txnOp runs a request through the transaction coordinator; failed builds
// the answer when there is none (stopping, or not started).
func txnOp(b *Broker, fn func(m *txn.Machine, now time.Time, id uint64) txn.Output, failed func(code int16) kmsg.Response) server.Reply {
	s := b.txnService()
	if s == nil {
		return server.Reply{Response: failed(kerr.CoordinatorNotAvailable.Code)}
	}
	wait := s.c.Do(fn)
	return server.Reply{Wait: func() kmsg.Response {
		r, ok := wait()
		if !ok || r.Response == nil {
			return failed(kerr.NotCoordinator.Code)
		}
		return r.Response
	}}
}

func handleAddPartitionsToTxn(b *Broker, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.AddPartitionsToTxnRequest)
	return txnOp(b, func(m *txn.Machine, now time.Time, id uint64) txn.Output {
		return m.AddPartitionsToTxn(now, id, req)
	}, func(code int16) kmsg.Response {
		resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
		if req.Version >= 4 {
			resp.ErrorCode = code
			return resp
		}
		for _, t := range req.Topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	})
}

func handleAddOffsetsToTxn(b *Broker, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.AddOffsetsToTxnRequest)
	failed := func(code int16) kmsg.Response {
		resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
		resp.ErrorCode = code
		return resp
	}
	part, code := b.offsetsPartition(req.Group)
	if code != 0 {
		return server.Reply{Response: failed(code)}
	}
	return txnOp(b, func(m *txn.Machine, now time.Time, id uint64) txn.Output {
		return m.AddOffsetsToTxn(now, id, req, part)
	}, failed)
}

// offsetsPartition is the __consumer_offsets partition of a group,
// creating the topic on first use.
func (b *Broker) offsetsPartition(groupID string) (int32, int16) {
	gc := b.GroupCoordinator()
	if gc == nil {
		return -1, kerr.CoordinatorNotAvailable.Code
	}
	if groupID == "" {
		return -1, kerr.InvalidGroupID.Code
	}
	if err := gc.EnsureTopic(); err != nil {
		return -1, errorCode(err)
	}
	part := gc.PartitionFor(groupID)
	if part < 0 {
		return -1, kerr.CoordinatorNotAvailable.Code
	}
	return part, 0
}

func handleEndTxn(b *Broker, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.EndTxnRequest)
	return txnOp(b, func(m *txn.Machine, now time.Time, id uint64) txn.Output {
		return m.EndTxn(now, id, req)
	}, func(code int16) kmsg.Response {
		resp := req.ResponseKind().(*kmsg.EndTxnResponse)
		resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = code, -1, -1
		return resp
	})
}

// ---- TxnOffsetCommit ----

// handleTxnOffsetCommit checks the commit against the transaction (the
// group's __consumer_offsets partition must be in it; v5+ adds it), then
// hands it to the group coordinator, which writes the offsets as a
// transactional batch that the transaction's marker makes visible.
func handleTxnOffsetCommit(b *Broker, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.TxnOffsetCommitRequest)
	failed := func(code int16) kmsg.Response {
		if req.Version < 2 && code == kerr.CoordinatorLoadInProgress.Code {
			// Clients before 2.0 do not expect it (KAFKA-7296).
			code = kerr.CoordinatorNotAvailable.Code
		}
		resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
		for _, t := range req.Topics {
			rt := kmsg.NewTxnOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	s := b.txnService()
	if b.GroupCoordinator() == nil || s == nil {
		return server.Reply{Response: failed(kerr.CoordinatorNotAvailable.Code)}
	}
	if req.TransactionalID == "" {
		return server.Reply{Response: failed(kerr.InvalidRequest.Code)}
	}
	part, code := b.offsetsPartition(req.Group)
	if code != 0 {
		return server.Reply{Response: failed(code)}
	}
	// Partitions of unknown topics are answered here, as Kafka does; the
	// rest go on.
	img := b.store.Image()
	var unknown []kmsg.TxnOffsetCommitResponseTopic
	known := *req
	known.Topics = nil
	for _, t := range req.Topics {
		tt := img.Topics[t.Topic]
		kt := t
		kt.Partitions = nil
		var ut kmsg.TxnOffsetCommitResponseTopic
		for _, p := range t.Partitions {
			if tt == nil || p.Partition < 0 || p.Partition >= tt.Partitions {
				if ut.Topic == "" {
					ut = kmsg.NewTxnOffsetCommitResponseTopic()
					ut.Topic = t.Topic
				}
				up := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				up.Partition, up.ErrorCode = p.Partition, kerr.UnknownTopicOrPartition.Code
				ut.Partitions = append(ut.Partitions, up)
				continue
			}
			kt.Partitions = append(kt.Partitions, p)
		}
		if ut.Topic != "" {
			unknown = append(unknown, ut)
		}
		if len(kt.Partitions) > 0 {
			known.Topics = append(known.Topics, kt)
		}
	}
	if len(known.Topics) == 0 {
		resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
		resp.Topics = unknown
		return server.Reply{Response: resp}
	}
	release, code := s.c.Admit(txn.Write{
		TransactionalID: req.TransactionalID, ProducerID: req.ProducerID, ProducerEpoch: req.ProducerEpoch,
		Partition:   txn.TP{Topic: txn.OffsetsTopic, Partition: part},
		ImplicitAdd: req.Version >= 5 && transactionVersion >= 2,
	})
	if code != 0 {
		switch code {
		case kerr.ProducerFenced.Code:
			code = kerr.InvalidProducerEpoch.Code
		case kerr.TransactionAbortable.Code:
			if req.Version < 4 {
				code = kerr.InvalidTxnState.Code
			}
		case kerr.ConcurrentTransactions.Code, kerr.CoordinatorLoadInProgress.Code, kerr.NotCoordinator.Code:
			// The group coordinator is fine; the transaction could not
			// be verified yet: retriable.
			code = kerr.CoordinatorNotAvailable.Code
		}
		return server.Reply{Response: failed(code)}
	}
	reply := groupOp(b, r, func(m *group.Machine, now time.Time, id uint64) group.Output {
		return m.TxnOffsetCommit(now, id, &known)
	}, func() kmsg.Response { return failed(kerr.NotCoordinator.Code) })
	if reply.Wait == nil {
		release()
		return reply
	}
	wait := reply.Wait
	reply.Wait = func() kmsg.Response {
		// The transaction's markers wait until the offsets are written.
		defer release()
		out := wait()
		if resp, ok := out.(*kmsg.TxnOffsetCommitResponse); ok {
			resp.Topics = append(resp.Topics, unknown...)
		}
		return out
	}
	return reply
}

// ---- WriteTxnMarkers ----

// handleWriteTxnMarkers writes the requested markers. In Kafka the
// transaction coordinator sends it to partition leaders; here the
// coordinator writes its markers directly, and this API serves the tools
// that end a hanging transaction (`plexus txn abort`, kafka-transactions.sh
// abort).
func handleWriteTxnMarkers(b *Broker, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.WriteTxnMarkersRequest)
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	type wait struct {
		ack    *partition.Ack
		rp     *kmsg.WriteTxnMarkersResponseMarkerTopicPartition
		offset int32 // __consumer_offsets partition, -1 otherwise
		pid    int64
		commit bool
	}
	var waits []wait
	resp.Markers = make([]kmsg.WriteTxnMarkersResponseMarker, len(req.Markers))
	for i, m := range req.Markers {
		rm := &resp.Markers[i]
		*rm = kmsg.NewWriteTxnMarkersResponseMarker()
		rm.ProducerID = m.ProducerID
		rm.Topics = make([]kmsg.WriteTxnMarkersResponseMarkerTopic, len(m.Topics))
		for j, t := range m.Topics {
			rt := &rm.Topics[j]
			*rt = kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			rt.Topic = t.Topic
			rt.Partitions = make([]kmsg.WriteTxnMarkersResponseMarkerTopicPartition, len(t.Partitions))
			for k, pi := range t.Partitions {
				rp := &rt.Partitions[k]
				*rp = kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				rp.Partition = pi
				p := b.PartitionByName(t.Topic, pi)
				if p == nil {
					rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
					continue
				}
				_, ack, err := p.WriteMarker(partition.Marker{
					ProducerID: m.ProducerID, ProducerEpoch: m.ProducerEpoch, Commit: m.Committed,
					CoordinatorEpoch: m.CoordinatorEpoch,
					Strict:           req.Version >= 2 && m.TransactionVersion >= 2,
				})
				if err != nil {
					rp.ErrorCode = errorCode(err)
					continue
				}
				w := wait{ack: ack, rp: rp, offset: -1, pid: m.ProducerID, commit: m.Committed}
				if t.Topic == group.OffsetsTopic {
					w.offset = pi
				}
				waits = append(waits, w)
			}
		}
	}
	if len(waits) == 0 {
		return server.Reply{Response: resp}
	}
	return server.Reply{Wait: func() kmsg.Response {
		deadline := time.Now().Add(30 * time.Second)
		for _, w := range waits {
			if err := w.ack.Wait(time.Until(deadline)); err != nil {
				w.rp.ErrorCode = errorCode(err)
				continue
			}
			if w.offset >= 0 {
				if gc := b.GroupCoordinator(); gc != nil {
					gc.CompleteTxn(w.offset, w.pid, w.commit)
				}
			}
		}
		return resp
	}}
}

// ---- DescribeProducers ----

// handleDescribeProducers lists the producers each partition holds state
// for: epoch, last sequence and timestamp, coordinator epoch, and the first
// offset of an open transaction (what a hanging transaction looks like).
func handleDescribeProducers(b *Broker, r *server.Request) kmsg.Response {
	req := r.Body.(*kmsg.DescribeProducersRequest)
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewDescribeProducersResponseTopic()
		rt.Topic = t.Topic
		for _, pi := range t.Partitions {
			rp := kmsg.NewDescribeProducersResponseTopicPartition()
			rp.Partition = pi
			p := b.PartitionByName(t.Topic, pi)
			if p == nil {
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				rt.Partitions = append(rt.Partitions, rp)
				continue
			}
			for _, pr := range p.Producers() {
				ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
				ap.ProducerID, ap.ProducerEpoch = pr.ProducerID, int32(pr.Epoch)
				ap.LastSequence, ap.LastTimestamp = pr.LastSequence, pr.LastTimestamp
				ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = pr.CoordinatorEpoch, pr.TxnStartOffset
				rp.ActiveProducers = append(rp.ActiveProducers, ap)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// ---- DescribeTransactions, ListTransactions ----

func handleDescribeTransactions(b *Broker, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.DescribeTransactionsRequest)
	return txnOp(b, func(m *txn.Machine, now time.Time, id uint64) txn.Output {
		return m.DescribeTransactions(now, id, req)
	}, func(code int16) kmsg.Response {
		resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
		for _, t := range req.TransactionalIDs {
			st := kmsg.NewDescribeTransactionsResponseTransactionState()
			st.TransactionalID, st.ErrorCode = t, code
			st.ProducerID, st.ProducerEpoch, st.StartTimestamp = -1, -1, -1
			resp.TransactionStates = append(resp.TransactionStates, st)
		}
		return resp
	})
}

func handleListTransactions(b *Broker, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.ListTransactionsRequest)
	return txnOp(b, func(m *txn.Machine, now time.Time, id uint64) txn.Output {
		return m.ListTransactions(now, id, req)
	}, func(code int16) kmsg.Response {
		resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
		if code == kerr.NotCoordinator.Code {
			code = kerr.CoordinatorNotAvailable.Code
		}
		resp.ErrorCode = code
		return resp
	})
}

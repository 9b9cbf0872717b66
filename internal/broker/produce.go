package broker

// Produce, v3-v13.
//
// v3 introduced record batches v2 (the only format stored); v5 adds the log
// start offset to the response, v8 record errors and an error message, v9
// flexible encoding, v10 the current leader (tag), v13 topic ids instead of
// names. Each partition carries exactly one batch (Kafka rejects anything
// else with INVALID_RECORD since v3).
//
// The append happens here, on the connection's reader goroutine, so that
// pipelined requests from one producer land in order; the wait for
// durability (acks=all) happens in Wait on the writer goroutine.

import (
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/plexus/plexus/internal/cluster"
	"github.com/plexus/plexus/internal/partition"
	"github.com/plexus/plexus/internal/records"
	"github.com/plexus/plexus/internal/server"
)

type pendingAck struct {
	ack  *partition.Ack
	part *kmsg.ProduceResponseTopicPartition
}

func handleProduce(b *Broker, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	acks := req.Acks
	img := b.store.Image()
	var waits []pendingAck
	failed := false

	resp.Topics = make([]kmsg.ProduceResponseTopic, len(req.Topics))
	for ti := range req.Topics {
		rt := &req.Topics[ti]
		st := &resp.Topics[ti]
		*st = kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		var t *cluster.Topic
		if req.Version >= 13 {
			t = img.ByID[cluster.TopicID(rt.TopicID)]
		} else {
			t = img.Topics[rt.Topic]
		}
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		for pi := range rt.Partitions {
			rp := &rt.Partitions[pi]
			sp := &st.Partitions[pi]
			*sp = kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			err := b.produceOne(req, t, rp, sp, acks, &waits)
			if err != nil {
				failed = true
				sp.ErrorCode = errorCode(err)
				if req.Version >= 8 {
					sp.ErrorMessage = errorMessage(err)
				}
				if sp.ErrorCode == kerr.UnknownServerError.Code || sp.ErrorCode == kerr.KafkaStorageError.Code {
					b.logger.Warn("produce failed", "topic", rt.Topic, "partition", rp.Partition, "err", err)
				}
			}
		}
	}
	if acks == 0 {
		// No response is sent; after an error Kafka closes the
		// connection so the client notices and refreshes metadata.
		return server.Reply{NoResponse: true, Close: failed}
	}
	if len(waits) == 0 {
		return server.Reply{Response: resp}
	}
	timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
	return server.Reply{Wait: func() kmsg.Response {
		deadline := time.Now().Add(timeout)
		for _, w := range waits {
			if err := w.ack.Wait(time.Until(deadline)); err != nil {
				w.part.ErrorCode = errorCode(err)
				w.part.BaseOffset = -1
				if req.Version >= 8 {
					w.part.ErrorMessage = errorMessage(err)
				}
			}
		}
		return resp
	}}
}

func (b *Broker) produceOne(req *kmsg.ProduceRequest, t *cluster.Topic, rp *kmsg.ProduceRequestTopicPartition, sp *kmsg.ProduceResponseTopicPartition, acks int16, waits *[]pendingAck) error {
	if acks != -1 && acks != 0 && acks != 1 {
		return errf(kerr.InvalidRequiredAcks, "acks must be -1, 0 or 1, not %d", acks)
	}
	if t == nil {
		if req.Version >= 13 {
			return errf(kerr.UnknownTopicID, "unknown topic id")
		}
		return errf(kerr.UnknownTopicOrPartition, "unknown topic")
	}
	if t.Internal {
		return errf(kerr.InvalidTopicException, "clients may not produce to internal topic %q", t.Name)
	}
	p := b.Partition(t.ID, rp.Partition)
	if p == nil {
		return errf(kerr.UnknownTopicOrPartition, "topic %q has no partition %d", t.Name, rp.Partition)
	}
	batch, rest, err := records.Next(rp.Records)
	switch {
	case err == nil && len(rest) != 0:
		return errf(kerr.InvalidRecord, "a produce request must carry exactly one record batch per partition")
	// As Kafka's ProduceRequest.validateRecords: an old message format,
	// or bytes that hold no whole batch, are INVALID_RECORD, which the
	// Java producer does not retry; a malformed batch is CORRUPT_MESSAGE.
	case errors.Is(err, records.ErrUnsupportedMagic):
		return errf(kerr.InvalidRecord, "produce requests v3 and later may only carry record batches v2 (magic 2)")
	case err != nil && (len(rp.Records) == 0 || errors.Is(err, records.ErrTruncated)):
		return errf(kerr.InvalidRecord, "no whole record batch (%d bytes)", len(rp.Records))
	case err != nil:
		return errf(kerr.CorruptMessage, "%v", err)
	case req.Version < 7 && batch.Codec() == records.CodecZstd:
		return errf(kerr.UnsupportedCompressionType, "zstd needs produce request v7 or later")
	}
	if acks == -1 && p.Config().MinInsyncReplicas > 1 {
		return errf(kerr.NotEnoughReplicas, "min.insync.replicas=%d but only 1 replica is in sync", p.Config().MinInsyncReplicas)
	}
	if req.TransactionID != nil && !batch.IsTransactional() {
		return errf(kerr.InvalidRecord, "a transactional produce request carried a non-transactional batch")
	}
	if batch.ProducerID() >= 0 && batch.BaseSequence() < 0 {
		return errf(kerr.InvalidRecord, "invalid sequence number %d in a batch with producer id %d", batch.BaseSequence(), batch.ProducerID())
	}
	if batch.IsTransactional() {
		if b.txns == nil {
			return errf(kerr.TransactionalIDNotFound, "transactions are not available on this broker")
		}
		release, err := b.txns.CheckProduce(req.TransactionID, req.Version, batch.ProducerID(), batch.ProducerEpoch(), t.Name, rp.Partition)
		if err != nil {
			return err
		}
		// The transaction's markers wait until this append is done.
		defer release()
	}
	res, ack, err := p.Append(batch, acks)
	if err != nil {
		for _, re := range res.RecordErrors {
			e := kmsg.NewProduceResponseTopicPartitionErrorRecord()
			e.RelativeOffset = re.Index
			msg := re.Message
			e.ErrorMessage = &msg
			sp.ErrorRecords = append(sp.ErrorRecords, e)
		}
		return err
	}
	sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = res.BaseOffset, res.LogAppendTime, res.LogStartOffset
	if b.metrics != nil {
		b.metrics.Produced(t.Name, len(batch), int(batch.NumRecords()))
	}
	if ack != nil {
		*waits = append(*waits, pendingAck{ack: ack, part: sp})
	}
	return nil
}

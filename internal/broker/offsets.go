package broker

// ListOffsets (v1-v11), OffsetForLeaderEpoch (v2-v4), DeleteRecords
// (v0-v2).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/plexus/plexus/internal/partition"
	"github.com/plexus/plexus/internal/records"
	"github.com/plexus/plexus/internal/server"
)

// Special timestamps of ListOffsets.
const (
	tsLatest         = -1
	tsEarliest       = -2
	tsMax            = -3 // v7+
	tsEarliestLocal  = -4 // v8+ (KIP-1005)
	tsLatestTiered   = -5 // v9+
	tsEarliestUpload = -6 // v11+ (KIP-1023)
)

// checkLeaderEpoch applies Kafka's fencing of a client's known leader
// epoch: older is fenced, newer means our metadata is behind.
func checkLeaderEpoch(p *partition.Partition, epoch int32) int16 {
	if epoch < 0 {
		return 0
	}
	switch cur := p.LeaderEpoch(); {
	case epoch < cur:
		return kerr.FencedLeaderEpoch.Code
	case epoch > cur:
		return kerr.UnknownLeaderEpoch.Code
	}
	return 0
}

func handleListOffsets(b *Broker, r *server.Request) kmsg.Response {
	req := r.Body.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	img := b.store.Image()
	readCommitted := req.IsolationLevel == 1
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		t := img.Topics[rt.Topic]
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
			var p *partition.Partition
			if t != nil {
				p = b.Partition(t.ID, rp.Partition)
			}
			if p == nil {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			if code := checkLeaderEpoch(p, rp.CurrentLeaderEpoch); code != 0 {
				sp.ErrorCode = code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			if !specialTimestampIn(rp.Timestamp, req.Version) {
				// As Kafka (KAFKA-17331): a special timestamp the
				// request's version does not have, or none at all.
				sp.ErrorCode = kerr.UnsupportedVersion.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			ts, off, epoch, err := b.listOffset(p, rp.Timestamp, readCommitted)
			if err != nil {
				sp.ErrorCode = errorCode(err)
			} else {
				sp.Timestamp, sp.Offset, sp.LeaderEpoch = ts, off, epoch
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// specialTimestampIn reports whether ts, when negative, is a special
// timestamp ListOffsets has at version v: -1 and -2 always, the others
// from the version that brought them. Any timestamp from 0 is a time.
func specialTimestampIn(ts int64, v int16) bool {
	switch ts {
	case tsLatest, tsEarliest:
		return true
	case tsMax:
		return v >= 7
	case tsEarliestLocal:
		return v >= 8
	case tsLatestTiered:
		return v >= 9
	case tsEarliestUpload:
		return v >= 11
	}
	return ts >= 0
}

// listOffset resolves one ListOffsets query to (timestamp, offset, epoch).
func (b *Broker) listOffset(p *partition.Partition, ts int64, readCommitted bool) (int64, int64, int32, error) {
	epoch := p.LeaderEpoch()
	switch ts {
	case tsLatest:
		if readCommitted {
			return -1, p.LastStableOffset(), epoch, nil
		}
		return -1, p.HighWatermark(), epoch, nil
	case tsEarliest, tsEarliestLocal:
		return -1, p.LogStartOffset(), epoch, nil
	case tsLatestTiered, tsEarliestUpload:
		// Nothing is tiered: Kafka answers "no offset" when remote
		// storage is off.
		return -1, -1, -1, nil
	case tsMax:
		buf, err := p.Log().MaxTimestampBatch(nil)
		if err != nil || len(buf) == 0 {
			return -1, -1, -1, err
		}
		batch := records.Batch(buf)
		off, rts := recordAt(batch, batch.MaxTimestamp(), p.LogStartOffset())
		limit := p.HighWatermark()
		if readCommitted {
			limit = p.LastStableOffset()
		}
		if off < 0 || off >= limit {
			return -1, -1, -1, nil
		}
		return rts, off, batch.PartitionLeaderEpoch(), nil
	}
	buf, err := p.Log().FindTimestamp(nil, ts)
	if err != nil || len(buf) == 0 {
		return -1, -1, -1, err
	}
	batch := records.Batch(buf)
	off, rts := recordAt(batch, ts, p.LogStartOffset())
	limit := p.HighWatermark()
	if readCommitted {
		limit = p.LastStableOffset()
	}
	if off < 0 || off >= limit {
		return -1, -1, -1, nil
	}
	return rts, off, batch.PartitionLeaderEpoch(), nil
}

// recordAt finds, in a batch whose max timestamp is at least ts, the first
// record at or after minOffset with a timestamp >= ts, and returns its
// offset and timestamp. With LogAppendTime every record carries the
// batch's time. A batch that cannot be read yields the batch's first
// offset and max timestamp, which is still a correct lower bound for a
// consumer to start from.
func recordAt(batch records.Batch, ts, minOffset int64) (int64, int64) {
	if batch.LogAppendTime() {
		return max(batch.BaseOffset(), minOffset), batch.MaxTimestamp()
	}
	it, _, err := batch.Records(nil, 64<<20)
	if err != nil {
		return max(batch.BaseOffset(), minOffset), batch.MaxTimestamp()
	}
	var rec records.Record
	for it.Next(&rec) {
		off := batch.BaseOffset() + int64(rec.OffsetDelta)
		rts := batch.BaseTimestamp() + rec.TimestampDelta
		if off >= minOffset && rts >= ts {
			return off, rts
		}
	}
	return -1, -1
}

func handleOffsetForLeaderEpoch(b *Broker, r *server.Request) kmsg.Response {
	req := r.Body.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	img := b.store.Image()
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		t := img.Topics[rt.Topic]
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LeaderEpoch, sp.EndOffset = -1, -1
			var p *partition.Partition
			if t != nil {
				p = b.Partition(t.ID, rp.Partition)
			}
			switch {
			case p == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				if code := checkLeaderEpoch(p, rp.CurrentLeaderEpoch); code != 0 {
					sp.ErrorCode = code
					break
				}
				sp.LeaderEpoch, sp.EndOffset = p.EndOffsetForEpoch(rp.LeaderEpoch)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func handleDeleteRecords(b *Broker, r *server.Request) kmsg.Response {
	req := r.Body.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	img := b.store.Image()
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		t := img.Topics[rt.Topic]
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
			var p *partition.Partition
			if t != nil {
				p = b.Partition(t.ID, rp.Partition)
			}
			switch {
			case p == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case t.Internal:
				// Committed offsets and transaction state are not the
				// client's to delete; Kafka refuses before anything else.
				sp.ErrorCode = kerr.InvalidTopicException.Code
			case !b.cfg.Topic(t.Configs).CleanupPolicy.Delete:
				// Kafka refuses to delete records of a compacted topic
				// whose policy does not include delete.
				sp.ErrorCode = kerr.PolicyViolation.Code
			default:
				low, err := p.DeleteRecords(rp.Offset)
				if err != nil {
					sp.ErrorCode = errorCode(err)
				} else {
					sp.LowWatermark = low
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

package broker

// InitProducerID (v0-v5) for idempotent producers, and the producer id
// allocator shared with the transaction coordinator.

import (
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/plexus/plexus/internal/cluster"
	"github.com/plexus/plexus/internal/server"
)

// producerIDBlock is how many ids one metadata record reserves: a restart
// skips the rest of the block, which is how Kafka's controller hands out
// ids to brokers too.
const producerIDBlock = 1000

type producerIDs struct {
	b    *Broker
	mu   sync.Mutex
	next int64
	end  int64
}

func newProducerIDs(b *Broker) *producerIDs { return &producerIDs{b: b} }

// Next returns a producer id never handed out before, on this data
// directory, even across restarts.
func (ids *producerIDs) Next() (int64, error) {
	ids.mu.Lock()
	defer ids.mu.Unlock()
	if ids.next == ids.end {
		var start int64
		_, err := ids.b.update(func(img *cluster.Image) ([]*cluster.Record, error) {
			start = img.NextProducerID
			return []*cluster.Record{{Type: cluster.ProducerIDs, NextProducerID: start + producerIDBlock}}, nil
		})
		if err != nil {
			return -1, err
		}
		ids.next, ids.end = start, start+producerIDBlock
	}
	id := ids.next
	ids.next++
	return id, nil
}

// NextProducerID hands out a producer id (for the transaction coordinator).
func (b *Broker) NextProducerID() (int64, error) { return b.pids.Next() }

func handleInitProducerID(b *Broker, r *server.Request) kmsg.Response {
	req := r.Body.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.Version >= 3 && (req.ProducerID == -1) != (req.ProducerEpoch == -1) {
		// A producer id without an epoch, or the reverse (KIP-360).
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp
	}
	if req.TransactionalID != nil {
		if b.txns == nil {
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
			return resp
		}
		resp.ProducerID, resp.ProducerEpoch, resp.ErrorCode = b.txns.InitProducerID(req)
		return resp
	}
	// An idempotent producer always gets a fresh id at epoch 0, as in
	// Kafka, even when it names its old one (KIP-360 epoch bumps apply
	// to transactional ids).
	id, err := b.pids.Next()
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp
}

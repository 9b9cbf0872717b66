package broker

// The transaction coordinator's wiring. The coordinator itself is
// internal/txn; its APIs are in txn_api.go, the ApiVersions feature in
// txn_features.go. The produce path asks it (Transactions.CheckProduce)
// before every transactional batch; InitProducerID hands it transactional
// ids.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/plexus/plexus/internal/config"
	"github.com/plexus/plexus/internal/txn"
)

func init() {
	// FindCoordinator key type 1: transactional ids.
	coordinatorLookups[1] = (*Broker).findTxnCoordinator
}

// txnService is the broker's Transactions: the coordinator and the
// mapping of its answers to what each API reports.
type txnService struct {
	b *Broker
	c *txn.Coordinator
}

// txnService returns the running coordinator's service, or nil.
func (b *Broker) txnService() *txnService {
	s, _ := b.txns.(*txnService)
	return s
}

func (b *Broker) txnConfig() txn.Config {
	ms := func(key string) time.Duration { return time.Duration(b.cfg.Long(key)) * time.Millisecond }
	return txn.Config{
		MaxTimeout:         ms(config.TransactionMaxTimeoutMs),
		IDExpiration:       ms(config.TransactionalIDExpirationMs),
		AbortInterval:      ms(config.TransactionAbortTimedOutTransactionCleanupIntervalMs),
		ExpireInterval:     ms(config.TransactionRemoveExpiredTransactionCleanupIntervalMs),
		TransactionVersion: transactionVersion,
	}
}

// startTxns starts the transaction coordinator, loading its state from
// __transaction_state, and the expiry of idle producers' state.
func (b *Broker) startTxns() error {
	c, err := txn.Start(txn.Options{
		Config:       b.txnConfig(),
		Partitions:   int32(b.cfg.Int(config.TransactionStateLogNumPartitions)),
		SegmentBytes: b.cfg.Long(config.TransactionStateLogSegmentBytes),
		Host:         b,
		Logger:       b.logger,
		Now:          b.now,
		ErrorCode:    errorCode,
		OffsetsCompleted: func(part int32, pid int64, commit bool) {
			if gc := b.GroupCoordinator(); gc != nil {
				gc.CompleteTxn(part, pid, commit)
			}
		},
	})
	if err != nil {
		return err
	}
	// No metadata hook: the coordinator creates __transaction_state itself
	// (EnsureTopic), and it allocates producer ids, which are metadata
	// changes, under its lock.
	b.txns = &txnService{b: b, c: c}
	b.wg.Add(1)
	go b.producerExpiryLoop()
	return nil
}

// stopTxns stops the transaction coordinator. Requests that reach it later
// are answered NOT_COORDINATOR.
func (b *Broker) stopTxns() error {
	if s := b.txnService(); s != nil {
		return s.c.Close()
	}
	return nil
}

// producerExpiryLoop forgets, in every partition, the state of producers
// idle for producer.id.expiration.ms (Kafka checks every 10 minutes).
func (b *Broker) producerExpiryLoop() {
	defer b.wg.Done()
	for {
		idle := b.cfg.Long(config.ProducerIDExpirationMs)
		interval := min(10*time.Minute, max(time.Duration(idle)*time.Millisecond/2, time.Second))
		t := time.NewTimer(interval)
		select {
		case <-b.stop:
			t.Stop()
			return
		case <-t.C:
		}
		now := b.now().UnixMilli()
		img := b.store.Image()
		n := 0
		for id := range img.ByID {
			for _, p := range b.Partitions(id) {
				if p != nil {
					n += p.ExpireProducers(now, idle)
				}
			}
		}
		if n > 0 {
			b.logger.Info("forgot the state of idle producers", "producers", n)
		}
	}
}

// findTxnCoordinator answers FindCoordinator for a transactional id: this
// broker, once __transaction_state exists.
func (b *Broker) findTxnCoordinator(key string) error {
	if key == "" {
		return errf(kerr.InvalidRequest, "the transactional id is empty")
	}
	s := b.txnService()
	if s == nil {
		return errf(kerr.CoordinatorNotAvailable, "the transaction coordinator is not running")
	}
	return s.c.EnsureTopic()
}

// InitProducerID implements Transactions.
func (s *txnService) InitProducerID(req *kmsg.InitProducerIDRequest) (int64, int16, int16) {
	wait := s.c.Do(func(m *txn.Machine, now time.Time, id uint64) txn.Output { return m.InitProducerID(now, id, req) })
	r, ok := wait()
	if !ok {
		return -1, -1, kerr.NotCoordinator.Code
	}
	resp := r.Response.(*kmsg.InitProducerIDResponse)
	return resp.ProducerID, resp.ProducerEpoch, resp.ErrorCode
}

// CheckProduce implements Transactions: the batch's partition must be in
// the producer's ongoing transaction (KIP-890 part 1), or is added to it
// by a produce v12+ (part 2). On success release must be called once the
// append is done, so the transaction's markers wait for it.
func (s *txnService) CheckProduce(txnID *string, version int16, pid int64, epoch int16, topic string, part int32) (func(), error) {
	if txnID == nil {
		return nil, errf(kerr.TransactionalIDAuthorizationFailed, "transactional records need the request's transactional id")
	}
	release, code := s.c.Admit(txn.Write{
		TransactionalID: *txnID, ProducerID: pid, ProducerEpoch: epoch,
		Partition:   txn.TP{Topic: topic, Partition: part},
		ImplicitAdd: version >= 12 && transactionVersion >= 2,
	})
	if code == 0 {
		return release, nil
	}
	switch code {
	case kerr.ConcurrentTransactions.Code, kerr.CoordinatorLoadInProgress.Code, kerr.CoordinatorNotAvailable.Code, kerr.NotCoordinator.Code:
		// Retriable for every client without a metadata refresh, as
		// Kafka answers a verification that could not complete.
		return nil, errf(kerr.NotEnoughReplicas, "unable to verify the partition is in the transaction: %s", kerr.ErrorForCode(code))
	case kerr.ProducerFenced.Code:
		return nil, errf(kerr.InvalidProducerEpoch, "the producer epoch %d is fenced", epoch)
	case kerr.TransactionAbortable.Code:
		if version >= 11 {
			return nil, errf(kerr.TransactionAbortable, "partition %s-%d was not added to the transaction", topic, part)
		}
		return nil, errf(kerr.InvalidTxnState, "partition %s-%d was not added to the transaction", topic, part)
	}
	return nil, errf(kerrFor(code), "transaction check failed")
}

// kerrFor is the kerr error of a non-zero code.
func kerrFor(code int16) *kerr.Error {
	if ke, ok := kerr.ErrorForCode(code).(*kerr.Error); ok {
		return ke
	}
	return kerr.UnknownServerError
}

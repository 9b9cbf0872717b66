package broker

import (
	"errors"
	"io/fs"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/plexus/plexus/internal/cluster"
	"github.com/plexus/plexus/internal/config"
	"github.com/plexus/plexus/internal/group"
	plog "github.com/plexus/plexus/internal/log"
	"github.com/plexus/plexus/internal/partition"
	"github.com/plexus/plexus/internal/records"
	"github.com/plexus/plexus/internal/txn"
)

// errorCode is the one place where Go errors become Kafka error codes.
// Anything unrecognised that came from the disk is a storage error, and
// anything else an unknown server error: the client retries, and the log
// line names the cause.
func errorCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	switch {
	case errors.Is(err, plog.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, partition.ErrCorrupt), errors.Is(err, records.ErrCorrupt), errors.Is(err, records.ErrTruncated):
		return kerr.CorruptMessage.Code
	case errors.Is(err, partition.ErrInvalidRecord), errors.Is(err, records.ErrUnsupportedMagic):
		return kerr.InvalidRecord.Code
	case errors.Is(err, partition.ErrTooLarge), errors.Is(err, records.ErrTooLarge):
		return kerr.MessageTooLarge.Code
	case errors.Is(err, partition.ErrInvalidTimestamp):
		return kerr.InvalidTimestamp.Code
	case errors.Is(err, partition.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber.Code
	case errors.Is(err, partition.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch.Code
	case errors.Is(err, partition.ErrInvalidTxnState):
		return kerr.InvalidTxnState.Code
	case errors.Is(err, partition.ErrCoordinatorFenced):
		return kerr.TransactionCoordinatorFenced.Code
	case errors.Is(err, txn.ErrNotAvailable):
		return kerr.CoordinatorNotAvailable.Code
	case errors.Is(err, txn.ErrStopped):
		return kerr.NotCoordinator.Code
	case errors.Is(err, partition.ErrTimeout):
		return kerr.RequestTimedOut.Code
	case errors.Is(err, partition.ErrClosed), errors.Is(err, plog.ErrClosed):
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, partition.ErrNotDurable):
		return kerr.KafkaStorageError.Code
	case errors.Is(err, cluster.ErrTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, cluster.ErrUnknownTopic):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, cluster.ErrInvalidTopic):
		return kerr.InvalidTopicException.Code
	case errors.Is(err, config.ErrInvalid):
		return kerr.InvalidConfig.Code
	case errors.Is(err, group.ErrCoordinatorNotAvailable):
		return kerr.CoordinatorNotAvailable.Code
	case errors.Is(err, group.ErrNotCoordinator):
		return kerr.NotCoordinator.Code
	case isStorage(err):
		return kerr.KafkaStorageError.Code
	}
	return kerr.UnknownServerError.Code
}

func isStorage(err error) bool {
	var pe *fs.PathError
	var errno syscall.Errno
	return errors.As(err, &pe) || errors.As(err, &errno)
}

// errorMessage is the message sent beside a code in APIs that carry one.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}

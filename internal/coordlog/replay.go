package coordlog

import (
	"errors"
	"fmt"

	plog "github.com/plexus/plexus/internal/log"
	"github.com/plexus/plexus/internal/partition"
	"github.com/plexus/plexus/internal/records"
)

// Replay reads part from its log start offset to its high watermark and
// hands fn each batch in offset order with the offset replay has reached:
// records of the batch below it were replayed already (a batch can start
// below the log start, or be read twice across reads). Retention moving
// the start offset meanwhile is followed. When stop closes, Replay returns
// stopped.
func Replay(part *partition.Partition, stop <-chan struct{}, stopped error, fn func(b records.Batch, from int64) error) error {
	off := part.LogStartOffset()
	end := part.HighWatermark()
	var buf []byte
	for off < end {
		select {
		case <-stop:
			return stopped
		default:
		}
		var err error
		buf, err = part.Read(buf[:0], off, 1<<20, false)
		if errors.Is(err, plog.ErrOffsetOutOfRange) {
			if start := part.LogStartOffset(); start > off {
				off = start
				continue
			}
			return err
		}
		if err != nil {
			return err
		}
		if len(buf) == 0 {
			break
		}
		for rest := buf; len(rest) > 0; {
			var b records.Batch
			b, rest, err = records.Next(rest)
			if err != nil {
				return fmt.Errorf("offset %d: %w", off, err)
			}
			next := b.LastOffset() + 1
			if next <= off {
				continue
			}
			if err := fn(b, off); err != nil {
				return err
			}
			off = next
		}
	}
	return nil
}

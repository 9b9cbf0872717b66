package broker

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/plexus/plexus/internal/server"
)

// memRegion is a region held in memory, for the encoder test.
type memRegion []byte

func (r memRegion) Size() int { return len(r) }
func (r memRegion) ReadAt(p []byte, off int64) (int, error) {
	return copy(p, r[off:]), nil
}
func (r memRegion) RawFile() (syscall.RawConn, int64, bool) { return nil, 0, false }

// flatten lays a frame out as the bytes it stands for.
func flatten(f *server.Frame) []byte {
	var out []byte
	from := 0
	for _, p := range f.Parts {
		out = append(out, f.Bytes[from:p.End]...)
		from = p.End
		if p.Region != nil {
			buf := make([]byte, p.Region.Size())
			p.Region.ReadAt(buf, 0)
			out = append(out, buf...)
		}
	}
	return out
}

// The hand encoder produces exactly kmsg's bytes, for every version the
// broker serves, whether a partition's batches are bytes or a region.
func TestFetchEncodeMatchesKmsg(t *testing.T) {
	min, max, _ := (&Broker{}).Versions(1)
	rng := rand.New(rand.NewPCG(3, 5))
	for v := min; v <= max; v++ {
		for trial := 0; trial < 50; trial++ {
			resp := kmsg.NewPtrFetchResponse()
			resp.Version = v
			resp.ThrottleMillis = rng.Int32N(100)
			resp.ErrorCode = int16(rng.IntN(3))
			resp.SessionID = rng.Int32()
			var regions []fetchRegion
			for ti := rng.IntN(4); ti > 0; ti-- {
				topic := kmsg.NewFetchResponseTopic()
				topic.Topic = fmt.Sprintf("topic-%d", rng.IntN(1000))
				for i := range topic.TopicID {
					topic.TopicID[i] = byte(rng.IntN(256))
				}
				for pi := rng.IntN(5); pi > 0; pi-- {
					p := kmsg.NewFetchResponseTopicPartition()
					p.Partition = rng.Int32N(100)
					p.ErrorCode = int16(rng.IntN(2))
					p.HighWatermark, p.LastStableOffset, p.LogStartOffset = rng.Int64(), rng.Int64(), rng.Int64()
					if rng.IntN(2) == 0 {
						p.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
						for n := rng.IntN(3); n > 0; n-- {
							a := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
							a.ProducerID, a.FirstOffset = rng.Int64(), rng.Int64()
							p.AbortedTransactions = append(p.AbortedTransactions, a)
						}
					}
					data := make([]byte, rng.IntN(300))
					for i := range data {
						data[i] = byte(rng.IntN(256))
					}
					p.RecordBatches = data
					if rng.IntN(2) == 0 {
						regions = append(regions, memRegion(data))
					} else {
						regions = append(regions, nil)
					}
					topic.Partitions = append(topic.Partitions, p)
				}
				resp.Topics = append(resp.Topics, topic)
			}
			want := resp.AppendTo(nil)
			// The partitions sent as regions carry no bytes themselves.
			k := 0
			for i := range resp.Topics {
				for j := range resp.Topics[i].Partitions {
					if regions[k] != nil {
						resp.Topics[i].Partitions[j].RecordBatches = []byte{}
					}
					k++
				}
			}
			f := encodeFetch(nil, resp, regions)
			if got := flatten(f); !bytes.Equal(got, want) {
				t.Fatalf("v%d trial %d: encoding differs from kmsg's (%d vs %d bytes)", v, trial, len(got), len(want))
			}
			if f.Size() != len(want) {
				t.Fatalf("v%d: frame size %d, encoded %d", v, f.Size(), len(want))
			}
		}
	}
}

package broker

// The Fetch response is the one response Plexus encodes itself rather than
// with kmsg's AppendTo: its record batches are file regions that the server
// sends from the page cache with sendfile. Encoding through kmsg copied
// every fetched byte twice through user space (a pread into a buffer, then
// AppendTo into the response), the largest part of the broker's CPU when
// serving consumers. Everything else in the response is encoded here
// exactly as kmsg encodes it; TestFetchEncodeMatchesKmsg checks that byte
// for byte across every version served.

import (
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/plexus/plexus/internal/server"
)

// fetchRegion is what a response partition's record batches are: a file
// region (server.Region) or, when nil, the partition's RecordBatches bytes.
type fetchRegion = server.Region

// encodeFetch encodes resp into dst as a frame. regions holds, for each
// partition in encoding order, the region standing for its record batches,
// or nil to encode RecordBatches itself. Tagged fields Plexus never sets
// (diverging epoch, current leader, snapshot id, node endpoints) are
// encoded as kmsg encodes them: absent when at their defaults.
func encodeFetch(dst []byte, resp *kmsg.FetchResponse, regions []fetchRegion) *server.Frame {
	f := &server.Frame{}
	v := resp.Version
	flex := v >= 12
	if v >= 1 {
		dst = kbin.AppendInt32(dst, resp.ThrottleMillis)
	}
	if v >= 7 {
		dst = kbin.AppendInt16(dst, resp.ErrorCode)
		dst = kbin.AppendInt32(dst, resp.SessionID)
	}
	dst = appendArrayLen(dst, len(resp.Topics), flex)
	k := 0
	for i := range resp.Topics {
		t := &resp.Topics[i]
		if v <= 12 {
			if flex {
				dst = kbin.AppendCompactString(dst, t.Topic)
			} else {
				dst = kbin.AppendString(dst, t.Topic)
			}
		} else {
			dst = kbin.AppendUuid(dst, t.TopicID)
		}
		dst = appendArrayLen(dst, len(t.Partitions), flex)
		for j := range t.Partitions {
			p := &t.Partitions[j]
			dst = kbin.AppendInt32(dst, p.Partition)
			dst = kbin.AppendInt16(dst, p.ErrorCode)
			dst = kbin.AppendInt64(dst, p.HighWatermark)
			if v >= 4 {
				dst = kbin.AppendInt64(dst, p.LastStableOffset)
			}
			if v >= 5 {
				dst = kbin.AppendInt64(dst, p.LogStartOffset)
			}
			if v >= 4 {
				at := p.AbortedTransactions
				if flex {
					dst = kbin.AppendCompactNullableArrayLen(dst, len(at), at == nil)
				} else {
					dst = kbin.AppendNullableArrayLen(dst, len(at), at == nil)
				}
				for _, a := range at {
					dst = kbin.AppendInt64(dst, a.ProducerID)
					dst = kbin.AppendInt64(dst, a.FirstOffset)
					if flex {
						dst = append(dst, 0) // no tagged fields
					}
				}
			}
			if v >= 11 {
				dst = kbin.AppendInt32(dst, p.PreferredReadReplica)
			}
			var region fetchRegion
			if k < len(regions) {
				region = regions[k]
			}
			k++
			if region == nil {
				if flex {
					dst = kbin.AppendCompactNullableBytes(dst, p.RecordBatches)
				} else {
					dst = kbin.AppendNullableBytes(dst, p.RecordBatches)
				}
			} else {
				n := region.Size()
				if flex {
					dst = kbin.AppendUvarint(dst, uint32(n)+1)
				} else {
					dst = kbin.AppendInt32(dst, int32(n))
				}
				f.Parts = append(f.Parts, server.FramePart{End: len(dst), Region: region})
			}
			if flex {
				dst = append(dst, 0) // no tagged fields
			}
		}
		if flex {
			dst = append(dst, 0)
		}
	}
	if flex {
		dst = append(dst, 0)
	}
	f.Bytes = dst
	f.Parts = append(f.Parts, server.FramePart{End: len(dst)})
	return f
}

func appendArrayLen(dst []byte, n int, flex bool) []byte {
	if flex {
		return kbin.AppendCompactArrayLen(dst, n)
	}
	return kbin.AppendArrayLen(dst, n)
}

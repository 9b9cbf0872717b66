package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/plexus/plexus/internal/brokertest"
	"github.com/plexus/plexus/internal/records"
	"github.com/plexus/plexus/internal/server"
)

// makeBatch builds an uncompressed batch of n records of size bytes each.
func makeBatch(n, size int) []byte {
	h := records.NewHeader()
	h.BaseTimestamp = time.Now().UnixMilli()
	var b records.Builder
	b.Reset(h)
	v := make([]byte, size)
	for i := 0; i < n; i++ {
		b.Add(int32(i), h.BaseTimestamp, nil, v, nil)
	}
	out, err := b.AppendTo(nil)
	if err != nil {
		panic(err)
	}
	return out
}

func produceRequest(topic string, batch []byte, acks int16) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version = 9
	req.Acks = acks
	req.TimeoutMillis = 30000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = []kmsg.ProduceRequestTopicPartition{rp}
	req.Topics = []kmsg.ProduceRequestTopic{rt}
	return req
}

func call(b *brokertest.Broker, body kmsg.Request) kmsg.Response {
	r := &server.Request{Key: body.Key(), Version: body.GetVersion(), Body: body, Received: time.Now()}
	reply := b.Broker.Handle(r)
	resp := reply.Response
	if reply.Wait != nil {
		resp = reply.Wait()
	}
	if reply.Release != nil {
		defer reply.Release()
	}
	return resp
}

// fetchBatchBytes runs a fetch as the server does (Wait, then Encode when
// the handler encodes its response itself) and returns the bytes of record
// batches it would send: in the response, or as file regions that the
// server sends with sendfile.
func fetchBatchBytes(b *brokertest.Broker, req *kmsg.FetchRequest) int {
	reply := b.Broker.Handle(&server.Request{Key: req.Key(), Version: req.GetVersion(), Body: req, Received: time.Now()})
	resp := reply.Response
	if reply.Wait != nil {
		resp = reply.Wait()
	}
	if reply.Release != nil {
		defer reply.Release()
	}
	n := 0
	for _, t := range resp.(*kmsg.FetchResponse).Topics {
		for _, p := range t.Partitions {
			n += len(p.RecordBatches)
		}
	}
	if reply.Encode != nil {
		for _, p := range reply.Encode(resp).Parts {
			if p.Region != nil {
				n += p.Region.Size()
			}
		}
	}
	return n
}

// BenchmarkProduce appends batches through the broker's Produce handler.
// allocs/op stays the same whatever the records per batch: the path does
// not allocate per record.
func BenchmarkProduce(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("records=%d/acks=1", n), func(b *testing.B) {
			br := brokertest.Start(b)
			if _, err := br.Broker.CreateTopic("bench", 1, nil, false); err != nil {
				b.Fatal(err)
			}
			batch := makeBatch(n, 100)
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// Each append patches the batch in place, so one buffer
				// serves every iteration.
				resp := call(br, produceRequest("bench", batch, 1)).(*kmsg.ProduceResponse)
				if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
					b.Fatalf("produce error %d", code)
				}
			}
		})
	}
}

// BenchmarkFetch reads stored batches through the broker's Fetch handler.
func BenchmarkFetch(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			br := brokertest.Start(b)
			if _, err := br.Broker.CreateTopic("bench", 1, nil, false); err != nil {
				b.Fatal(err)
			}
			batch := makeBatch(n, 100)
			for i := 0; i < 64; i++ {
				call(br, produceRequest("bench", batch, -1))
			}
			req := kmsg.NewPtrFetchRequest()
			req.Version = 11
			req.MaxBytes = 1 << 20
			req.SessionEpoch = -1
			ft := kmsg.NewFetchRequestTopic()
			ft.Topic = "bench"
			fp := kmsg.NewFetchRequestTopicPartition()
			fp.PartitionMaxBytes = int32(len(batch))
			ft.Partitions = []kmsg.FetchRequestTopicPartition{fp}
			req.Topics = []kmsg.FetchRequestTopic{ft}
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				req.Topics[0].Partitions[0].FetchOffset = int64(i%64) * int64(n)
				if got := fetchBatchBytes(br, req); got != len(batch) {
					b.Fatalf("fetched %d bytes, want %d", got, len(batch))
				}
			}
		})
	}
}

// The produce and fetch paths allocate per request, never per record: a
// batch of 1,000 records costs the same allocations as a batch of one.
func TestNoPerRecordAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("measures allocations over many requests")
	}
	allocs := func(n int) (produce, fetch float64) {
		br := brokertest.Start(t)
		if _, err := br.Broker.CreateTopic("bench", 1, nil, false); err != nil {
			t.Fatal(err)
		}
		batch := makeBatch(n, 100)
		req := produceRequest("bench", batch, 1)
		produce = testing.AllocsPerRun(200, func() {
			if code := call(br, req).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
				t.Fatalf("produce error %d", code)
			}
		})
		call(br, produceRequest("bench", batch, -1)) // make everything durable
		freq := kmsg.NewPtrFetchRequest()
		freq.Version = 11
		freq.MaxBytes = 1 << 20
		freq.SessionEpoch = -1
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = "bench"
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.PartitionMaxBytes = int32(len(batch))
		ft.Partitions = []kmsg.FetchRequestTopicPartition{fp}
		freq.Topics = []kmsg.FetchRequestTopic{ft}
		i := 0
		fetch = testing.AllocsPerRun(200, func() {
			freq.Topics[0].Partitions[0].FetchOffset = int64(i%64) * int64(n)
			i++
			if got := fetchBatchBytes(br, freq); got != len(batch) {
				t.Fatalf("fetched %d bytes, want %d", got, len(batch))
			}
		})
		return produce, fetch
	}
	p1, f1 := allocs(1)
	p1000, f1000 := allocs(1000)
	t.Logf("allocations per request: produce %.0f (1 record) %.0f (1,000); fetch %.0f / %.0f", p1, p1000, f1, f1000)
	// A little slack for map growth and pool misses, far below one per record.
	if p1000 > p1+4 || f1000 > f1+4 {
		t.Fatalf("allocations grow with records: produce %.0f -> %.0f, fetch %.0f -> %.0f", p1, p1000, f1, f1000)
	}
}

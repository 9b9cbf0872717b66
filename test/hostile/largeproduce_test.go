package hostile

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/plexus/plexus/internal/brokertest"
	"github.com/plexus/plexus/internal/records"
)

// TestLargeProduceChecksums sends produce requests of 2.7 and 18 MiB (the
// second larger than the chunk the broker reads a frame in, so assembled
// from chunks) in uneven pieces, with single bytes corrupted at the start,
// the middle and the end of some batches. Those partitions must answer
// CORRUPT_MESSAGE and store nothing; every other batch must be stored
// byte for byte.
func TestLargeProduceChecksums(t *testing.T) {
	b := brokertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const parts = 20
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, parts, 1, nil, "big"); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	// corrupt says which byte of a partition's batch is flipped: in its
	// first block (the header), deep inside, and its very last byte.
	corrupt := map[int32]func(n int) int{
		3:  func(int) int { return 30 },
		7:  func(n int) int { return n / 2 },
		11: func(n int) int { return n - 1 },
	}
	want := map[int32][][]byte{} // values stored per partition
	for round, nparts := range []int32{3, parts} {
		req := kmsg.NewPtrProduceRequest()
		req.Acks = -1
		req.TimeoutMillis = 10000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "big"
		for p := range nparts {
			// About 900 KiB: under max.message.bytes, and many blocks.
			h := records.NewHeader()
			h.BaseTimestamp = time.Now().UnixMilli()
			var bld records.Builder
			bld.Reset(h)
			var values [][]byte
			for i := range 900 {
				v := make([]byte, 1000+rng.IntN(48))
				for j := range v {
					v[j] = byte(rng.Uint32())
				}
				values = append(values, v)
				bld.Add(int32(i), h.BaseTimestamp, nil, v, nil)
			}
			batch, err := bld.AppendTo(nil)
			if err != nil {
				t.Fatal(err)
			}
			if at, bad := corrupt[p]; bad && round == 1 {
				batch[at(len(batch))] ^= 0x5a
			} else {
				want[p] = append(want[p], values...)
			}
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition = p
			rp.Records = batch
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		frame := request(req, 9, int32(round))
		t.Logf("round %d: a %d-byte produce request", round, len(frame))

		r := dial(t, b.Addr)
		for len(frame) > 0 {
			n := min(len(frame), 1+rng.IntN(200<<10))
			r.send(frame[:n])
			frame = frame[n:]
		}
		corr, body, err := r.readResponse()
		if err != nil || corr != int32(round) {
			t.Fatalf("round %d: corr %d, %v", round, corr, err)
		}
		resp := kmsg.NewPtrProduceResponse()
		resp.Version = 9
		if err := resp.ReadFrom(body[1:]); err != nil {
			t.Fatal(err)
		}
		for _, sp := range resp.Topics[0].Partitions {
			code := kerr.CorruptMessage.Code
			if _, bad := corrupt[sp.Partition]; !bad || round == 0 {
				code = 0
			}
			if sp.ErrorCode != code {
				t.Fatalf("round %d, partition %d: %v, want %v", round, sp.Partition, kerr.ErrorForCode(sp.ErrorCode), kerr.ErrorForCode(code))
			}
		}
	}

	// Everything acknowledged is stored as sent, and nothing else.
	total := 0
	for _, vs := range want {
		total += len(vs)
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.ConsumeTopics("big"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	got := map[int32][][]byte{}
	for n := 0; n < total; {
		fs := cons.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatalf("consuming after %d of %d records: %v", n, total, err)
		}
		fs.EachRecord(func(rec *kgo.Record) {
			got[rec.Partition] = append(got[rec.Partition], rec.Value)
			n++
		})
	}
	for p := range int32(parts) {
		if len(got[p]) != len(want[p]) {
			t.Fatalf("partition %d: %d records, want %d", p, len(got[p]), len(want[p]))
		}
		for i := range want[p] {
			if !bytes.Equal(got[p][i], want[p][i]) {
				t.Fatalf("partition %d, record %d differs", p, i)
			}
		}
	}
}

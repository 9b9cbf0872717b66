package hostile

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/plexus/plexus/internal/brokertest"
	"github.com/plexus/plexus/internal/records"
)

// heapInUse is the in-process heap after a collection: the broker runs in
// this process, so its allocations show here.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// waitClosed waits until the broker closes c (a read returns EOF or a
// reset), failing after a generous deadline.
func waitClosed(t *testing.T, c net.Conn, within time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if err != nil && errorsAs(err, &ne) && ne.Timeout() {
		t.Fatalf("the broker kept a stalled connection open for %v", within)
	}
}

func errorsAs(err error, target *net.Error) bool {
	ne, ok := err.(net.Error)
	if ok {
		*target = ne
	}
	return ok
}

// Clients that announce huge frames and trickle a few bytes make the broker
// hold only what they sent: memory does not follow announced sizes, other
// clients carry on, and the stalled connections are dropped.
func TestSlowlorisAnnouncedSizes(t *testing.T) {
	b := brokertest.Start(t,
		brokertest.WithConfig("connections.max.idle.ms", "3000", "queued.max.request.bytes", "134217728"))
	healthy(t, b.Addr, 1)
	before := heapInUse()
	const attackers = 40
	var conns []net.Conn
	for i := 0; i < attackers; i++ {
		c, err := net.Dial("tcp", b.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// 100 MB announced, 64 KiB sent: 4 GB announced in all.
		msg := binary.BigEndian.AppendUint32(nil, 100_000_000)
		msg = append(msg, bytes.Repeat([]byte{0}, 64<<10)...)
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	healthy(t, b.Addr, 2)
	if grew := int64(heapInUse()) - int64(before); grew > 256<<20 {
		t.Fatalf("the heap grew by %d MiB for %d stalled frames that sent 64 KiB each", grew>>20, attackers)
	}
	for _, c := range conns {
		waitClosed(t, c, 2*time.Minute)
	}
	healthy(t, b.Addr, 3)
}

// Thousands of idle connections cost little and do not get in the way.
func TestManyIdleConnections(t *testing.T) {
	b := brokertest.Start(t)
	healthy(t, b.Addr, 1)
	before := heapInUse()
	const n = 3000
	conns := make([]net.Conn, 0, n)
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", b.Addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// Each connection has done one request, so the broker holds its state.
	for _, c := range conns[:200] {
		if _, err := c.Write(request(kmsg.NewPtrApiVersionsRequest(), 0, 1)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range conns[:200] {
		r := &rawConn{t: t, c: c}
		if _, _, err := r.readResponse(); err != nil {
			t.Fatal(err)
		}
	}
	healthy(t, b.Addr, 2)
	grew := int64(heapInUse()) - int64(before)
	if perConn := grew / n; perConn > 64<<10 {
		t.Fatalf("%d idle connections grew the heap by %d MiB (%d KiB each)", n, grew>>20, perConn>>10)
	}
}

// A client that sends fetches and never reads the responses holds a
// bounded amount of broker memory, and others are unaffected.
func TestClientNeverReads(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithConfig("connections.max.idle.ms", "5000"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic("big"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "big"); err != nil {
		t.Fatal(err)
	}
	value := bytes.Repeat([]byte("x"), 512<<10)
	for i := 0; i < 8; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	before := heapInUse()
	c, err := net.Dial("tcp", b.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The socket's receive buffer is kept small so that the broker's
	// writes block soon.
	c.(*net.TCPConn).SetReadBuffer(4 << 10)
	fetch := kmsg.NewPtrFetchRequest()
	fetch.MaxBytes = 8 << 20
	fetch.SessionEpoch = -1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "big"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 8 << 20
	ft.Partitions = []kmsg.FetchRequestTopicPartition{fp}
	fetch.Topics = []kmsg.FetchRequestTopic{ft}
	frame := request(fetch, 11, 1)
	// Writes stop succeeding once the broker stops reading (its in-flight
	// cap): the client is not allowed to queue without limit either.
	const limit = 200000 // ~25 MB of requests: more than kernel buffers hold
	sent := 0
	for i := 0; i < limit; i++ {
		c.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write(frame); err != nil {
			break
		}
		sent++
	}
	healthy(t, b.Addr, 1)
	if grew := int64(heapInUse()) - int64(before); grew > 512<<20 {
		t.Fatalf("a client that never reads grew the heap by %d MiB after %d fetches of 4 MiB", grew>>20, sent)
	}
	if sent == limit {
		t.Fatalf("the broker read %d fetches from a client that reads no responses", limit)
	}
	waitClosed(t, c, 2*time.Minute)
}

// A small batch that inflates far beyond max.message.bytes is rejected
// where the broker must decompress it (a compacted topic checks keys), and
// costs no more memory than the limit.
func TestCompressionBomb(t *testing.T) {
	b := brokertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, "table")
	if err != nil {
		t.Fatal(err)
	}
	for _, codec := range []records.Codec{records.CodecGzip, records.CodecZstd, records.CodecLZ4, records.CodecSnappy} {
		t.Run(codec.String(), func(t *testing.T) {
			// Records of zeros: 32 of 4 MiB inflate to 128 MiB from a few
			// hundred KiB. Snappy cannot do better than about 21:1, so its
			// bomb is 18 records of 1 MiB, still past the broker's bound.
			h := records.NewHeader()
			h.Codec = codec
			h.BaseTimestamp = time.Now().UnixMilli()
			var bld records.Builder
			bld.Reset(h)
			zeros := make([]byte, 4<<20)
			for i := 0; i < 32; i++ {
				bld.Add(int32(i), h.BaseTimestamp, []byte{byte(i)}, zeros, nil)
			}
			batch, err := bld.AppendTo(nil)
			if err != nil {
				t.Fatal(err)
			}
			if codec == records.CodecSnappy {
				// Snappy's format caps expansion near 21:1, so its bomb
				// is a block whose header claims 1 GiB.
				batch = snappyLiar(t)
			}
			if len(batch) > 1<<20 {
				t.Fatalf("the %s bomb is %d bytes, over max.message.bytes: it would not test decompression", codec, len(batch))
			}
			before := heapInUse()
			req := kmsg.NewPtrProduceRequest()
			req.Acks = -1
			req.TimeoutMillis = 10000
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic, rt.TopicID = "table", resp.ID
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Records = batch
			rt.Partitions = []kmsg.ProduceRequestTopicPartition{rp}
			req.Topics = []kmsg.ProduceRequestTopic{rt}
			presp, err := req.RequestWith(ctx, cl)
			if err != nil {
				t.Fatal(err)
			}
			if code := presp.Topics[0].Partitions[0].ErrorCode; code != kerr.MessageTooLarge.Code {
				t.Fatalf("bomb answered %v, want MESSAGE_TOO_LARGE", kerr.ErrorForCode(code))
			}
			if grew := int64(heapInUse()) - int64(before); grew > 64<<20 {
				t.Fatalf("a %d-byte bomb grew the heap by %d MiB", len(batch), grew>>20)
			}
		})
	}
	healthy(t, b.Addr, 1)
}

// snappyLiar is a batch whose snappy records section declares a decoded
// length of 1 GiB and holds a few bytes.
func snappyLiar(t *testing.T) []byte {
	h := records.NewHeader()
	h.BaseTimestamp = time.Now().UnixMilli()
	var bld records.Builder
	bld.Reset(h)
	bld.Add(0, h.BaseTimestamp, []byte("k"), []byte("v"), nil)
	out, err := bld.AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	out = out[:records.HeaderSize]
	out = binary.AppendUvarint(out, 1<<30)
	out = append(out, 0x08, 'b', 'o', 'm', 'b') // a 3-byte literal... and nothing else
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	binary.BigEndian.PutUint16(out[21:], uint16(records.CodecSnappy))
	records.Batch(out).UpdateCRC()
	return out
}

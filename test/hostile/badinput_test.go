// Package hostile drives the broker over raw TCP with malformed and hostile
// input and checks that each case gets Kafka's answer (an error code, or a
// closed connection where Kafka closes), that other clients carry on, and
// that nothing stored is lost.
package hostile

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/plexus/plexus/internal/brokertest"
	"github.com/plexus/plexus/internal/records"
)

// header encodes a request header v1 (or v2 when flexible) and the body.
func request(req kmsg.Request, version int16, corr int32) []byte {
	req.SetVersion(version)
	b := make([]byte, 4, 64)
	b = binary.BigEndian.AppendUint16(b, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, 7)
	b = append(b, "hostile"...)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	b = req.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// rawHeader encodes just a header for key/version, for bodies built by hand.
func rawHeader(key, version int16, corr int32) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, 0xffff) // null client id
	return b
}

func framed(body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

type rawConn struct {
	t *testing.T
	c net.Conn
}

func dial(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c}
}

func (r *rawConn) send(b []byte) {
	r.t.Helper()
	if _, err := r.c.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// readResponse reads one response frame: correlation id and the rest.
func (r *rawConn) readResponse() (int32, []byte, error) {
	r.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(r.c, size[:]); err != nil {
		return 0, nil, err
	}
	buf := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(r.c, buf); err != nil {
		return 0, nil, err
	}
	return int32(binary.BigEndian.Uint32(buf)), buf[4:], nil
}

// expectClosed asserts the broker closes the connection without answering.
func (r *rawConn) expectClosed() {
	r.t.Helper()
	_, _, err := r.readResponse()
	if err == nil {
		r.t.Fatal("the broker answered; Kafka closes the connection here")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		r.t.Fatal("the connection stayed open; Kafka closes it here")
	}
}

// healthy produces and reads back through a real client, proving the
// broker still serves others and kept earlier data.
func healthy(t *testing.T, addr string, wantAtLeast int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "canary", Value: []byte("alive")}).FirstErr(); err != nil {
		t.Fatalf("a healthy client cannot produce: %v", err)
	}
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = "canary"
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if off := resp.Topics[0].Partitions[0].Offset; off < wantAtLeast {
		t.Fatalf("canary log end %d, want at least %d: stored data was lost", off, wantAtLeast)
	}
}

func validBatch(t *testing.T) []byte {
	h := records.NewHeader()
	h.BaseTimestamp = time.Now().UnixMilli()
	var b records.Builder
	b.Reset(h)
	b.Add(0, h.BaseTimestamp, []byte("k"), []byte("v"), nil)
	out, err := b.AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func produceReq(batch []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "canary"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func TestBadInput(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithConfig("socket.request.max.bytes", "1048576"))
	healthy(t, b.Addr, 1)
	produced := int64(1)

	closing := []struct {
		name  string
		bytes func() []byte
	}{
		{"frame over socket.request.max.bytes", func() []byte { return binary.BigEndian.AppendUint32(nil, 1<<20+1) }},
		{"absurd frame size", func() []byte { return []byte{0x7f, 0xff, 0xff, 0xff} }},
		{"negative frame size", func() []byte { return []byte{0xff, 0xff, 0xff, 0xfe} }},
		{"frame too short for a header", func() []byte { return framed([]byte{0, 3, 0, 1}) }},
		{"unknown api key", func() []byte { return framed(rawHeader(999, 0, 1)) }},
		{"unsupported version", func() []byte { return framed(rawHeader(0, 99, 1)) }},
		{"version below the supported range", func() []byte { return framed(append(rawHeader(0, 1, 1), make([]byte, 16)...)) }},
		{"huge array length", func() []byte {
			return framed(append(rawHeader(3, 1, 1), 0x7f, 0xff, 0xff, 0xff))
		}},
		{"huge string length", func() []byte {
			// Metadata v1: one topic whose name claims 30000 bytes.
			return framed(append(rawHeader(3, 1, 1), 0, 0, 0, 1, 0x75, 0x30, 'a'))
		}},
		{"bad varint in a flexible request", func() []byte {
			// Metadata v9 (flexible) with a never-ending uvarint.
			h := rawHeader(3, 9, 1)
			h = append(h, 0) // header tags
			return framed(append(h, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff))
		}},
		{"bad tagged fields", func() []byte {
			h := rawHeader(3, 9, 1)
			// One header tag claiming 200 bytes that are not there.
			return framed(append(h, 1, 0, 0xc8, 0x01, 'x'))
		}},
		{"garbage after a valid header", func() []byte {
			// Produce v9: the body is noise that runs out mid-field.
			return framed(append(rawHeader(0, 9, 1), 0, 0x13, 0x37, 0xde, 0xad, 0xbe, 0xef, 0x05))
		}},
	}
	for _, c := range closing {
		t.Run(c.name, func(t *testing.T) {
			r := dial(t, b.Addr)
			r.send(c.bytes())
			r.expectClosed()
			healthy(t, b.Addr, produced+1)
			produced++
		})
	}

	t.Run("negative array length reads as null, as in Kafka", func(t *testing.T) {
		// Metadata v1 with topic count -2: nullable arrays treat every
		// negative count as null, which asks for all topics.
		r := dial(t, b.Addr)
		r.send(framed(append(rawHeader(3, 1, 5), 0xff, 0xff, 0xff, 0xfe)))
		corr, body, err := r.readResponse()
		if err != nil {
			t.Fatal(err)
		}
		resp := kmsg.NewPtrMetadataResponse()
		resp.Version = 1
		if err := resp.ReadFrom(body); err != nil || corr != 5 || len(resp.Topics) == 0 {
			t.Fatalf("corr %d, %d topics, err %v; want every topic", corr, len(resp.Topics), err)
		}
	})

	t.Run("truncated frame then hang up", func(t *testing.T) {
		r := dial(t, b.Addr)
		r.send(append(binary.BigEndian.AppendUint32(nil, 100), 0, 3, 0, 1))
		r.c.Close()
		healthy(t, b.Addr, produced+1)
		produced++
	})

	t.Run("unsupported ApiVersions version is answered with v0", func(t *testing.T) {
		r := dial(t, b.Addr)
		r.send(framed(append(rawHeader(18, 99, 42), 0, 0)))
		corr, body, err := r.readResponse()
		if err != nil {
			t.Fatal(err)
		}
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.Version = 0
		if err := resp.ReadFrom(body); err != nil {
			t.Fatalf("v0 body: %v", err)
		}
		if corr != 42 || resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) == 0 {
			t.Fatalf("corr %d, error %d, %d keys; want 42, UNSUPPORTED_VERSION and the key list", corr, resp.ErrorCode, len(resp.ApiKeys))
		}
	})

	batchCases := []struct {
		name  string
		batch func() []byte
		code  int16
	}{
		{"bad crc", func() []byte {
			bt := validBatch(t)
			bt[len(bt)-1] ^= 0xff
			return bt
		}, kerr.CorruptMessage.Code},
		{"batch length longer than the bytes", func() []byte {
			bt := validBatch(t)
			binary.BigEndian.PutUint32(bt[8:], binary.BigEndian.Uint32(bt[8:])+50)
			return bt
		}, kerr.InvalidRecord.Code}, // no whole batch, as Kafka answers it
		{"batch length shorter than the header", func() []byte {
			bt := validBatch(t)
			binary.BigEndian.PutUint32(bt[8:], 10)
			return bt
		}, kerr.CorruptMessage.Code},
		{"two batches in one partition", func() []byte {
			return append(validBatch(t), validBatch(t)...)
		}, kerr.InvalidRecord.Code},
		{"record count lies", func() []byte {
			bt := validBatch(t)
			binary.BigEndian.PutUint32(bt[57:], 5)
			records.Batch(bt).UpdateCRC()
			return bt
		}, kerr.CorruptMessage.Code},
		{"old message format", func() []byte {
			bt := validBatch(t)
			bt[16] = 1
			return bt
		}, kerr.InvalidRecord.Code},
	}
	for _, c := range batchCases {
		t.Run(c.name, func(t *testing.T) {
			r := dial(t, b.Addr)
			r.send(request(produceReq(c.batch()), 9, 7))
			corr, body, err := r.readResponse()
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			resp := kmsg.NewPtrProduceResponse()
			resp.Version = 9
			if err := resp.ReadFrom(body[1:]); err != nil { // skip response header tags
				t.Fatal(err)
			}
			got := resp.Topics[0].Partitions[0].ErrorCode
			if corr != 7 || got != c.code {
				t.Fatalf("error %s, want %s", kerr.ErrorForCode(got), kerr.ErrorForCode(c.code))
			}
			// The connection stays usable after a per-partition error.
			r.send(request(produceReq(validBatch(t)), 9, 8))
			if corr, _, err := r.readResponse(); err != nil || corr != 8 {
				t.Fatalf("connection unusable after the error: corr %d err %v", corr, err)
			}
			produced++
			healthy(t, b.Addr, produced+1)
			produced++
		})
	}

	// zstd came with Produce v7 (KIP-110): below it Kafka refuses such a
	// batch with UNSUPPORTED_COMPRESSION_TYPE; from v7 it is stored.
	t.Run("zstd before produce v7", func(t *testing.T) {
		zstd, _, err := records.Recompress(nil, nil, records.Batch(validBatch(t)), records.CodecZstd, 0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			version int16
			code    int16
		}{{6, kerr.UnsupportedCompressionType.Code}, {7, 0}} {
			r := dial(t, b.Addr)
			r.send(request(produceReq(zstd), c.version, 9))
			_, body, err := r.readResponse()
			if err != nil {
				t.Fatalf("v%d: no answer: %v", c.version, err)
			}
			resp := kmsg.NewPtrProduceResponse()
			resp.Version = c.version
			if err := resp.ReadFrom(body); err != nil {
				t.Fatal(err)
			}
			if got := resp.Topics[0].Partitions[0].ErrorCode; got != c.code {
				t.Fatalf("zstd batch in produce v%d: error %s, want %s", c.version, kerr.ErrorForCode(got), kerr.ErrorForCode(c.code))
			}
			if c.code == 0 {
				produced++
			}
		}
		healthy(t, b.Addr, produced+1)
		produced++
	})

	// Whatever happened, a restart finds every acknowledged record.
	b.Restart()
	healthy(t, b.Addr, produced+1)
}

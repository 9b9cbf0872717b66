package server

import (
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// echoHandler accepts every version kmsg knows and answers with an empty
// response of the request's kind.
type echoHandler struct{ calls int }

func (h *echoHandler) Versions(key int16) (int16, int16, bool) {
	r := kmsg.RequestForKey(key)
	if r == nil {
		return 0, 0, false
	}
	return 0, r.MaxVersion(), true
}

func (h *echoHandler) Handle(r *Request) Reply {
	h.calls++
	return Reply{Response: r.Body.ResponseKind()}
}

func testConn(h Handler) *conn {
	s := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, h)
	return &conn{srv: s, info: Conn{Remote: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, Done: make(chan struct{})}}
}

// frame builds a request frame body (without the size prefix).
func frame(req kmsg.Request, version int16, corr int32) []byte {
	req.SetVersion(version)
	var b []byte
	b = binary.BigEndian.AppendUint16(b, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, 4)
	b = append(b, "fuzz"...)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	return req.AppendTo(b)
}

// FuzzDecode feeds arbitrary frames to the header and body decoder: it must
// never panic, and whatever it accepts must have been handed to the
// handler with a body of the key's type.
func FuzzDecode(f *testing.F) {
	for key := int16(0); key < 100; key++ {
		r := kmsg.RequestForKey(key)
		if r == nil {
			continue
		}
		f.Add(frame(r, 0, 1))
		f.Add(frame(kmsg.RequestForKey(key), r.MaxVersion(), 2))
	}
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff})
	f.Add([]byte{0, 18, 0, 99, 0, 0, 0, 7, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h := &echoHandler{}
		c := testConn(h)
		p, ok := c.decode(b)
		if !ok {
			if h.calls != 0 {
				t.Fatalf("rejected frame reached the handler")
			}
			return
		}
		if h.calls != 1 || p == nil || p.reply.Response == nil {
			t.Fatalf("accepted frame: calls=%d pending=%v", h.calls, p)
		}
		// The response must encode without panicking.
		appendResponse(nil, p.corr, p.key, p.reply.Response)
	})
}

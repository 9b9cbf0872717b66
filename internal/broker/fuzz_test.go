package broker_test

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/plexus/plexus/internal/brokertest"
	plog "github.com/plexus/plexus/internal/log"
	"github.com/plexus/plexus/internal/server"
)

var (
	fuzzOnce   sync.Once
	fuzzBroker *brokertest.Broker
)

// closedDone ends long polls at once: the fuzzer wants answers, not waits.
var closedDone = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// FuzzHandlers decodes arbitrary bytes as any request the broker serves, at
// any version it serves, and runs the real handler on one long-lived
// in-memory broker: no input may panic it, every request must get a
// response that encodes, and the broker must keep answering afterwards.
// Input: key (2 bytes), version (2 bytes), then the request body.
func FuzzHandlers(f *testing.F) {
	seed := func(req kmsg.Request, version int16) {
		req.SetVersion(version)
		b := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
		b = binary.BigEndian.AppendUint16(b, uint16(version))
		f.Add(req.AppendTo(b))
	}
	for key := int16(0); key < 100; key++ {
		r := kmsg.RequestForKey(key)
		if r == nil {
			continue
		}
		seed(r, r.MaxVersion())
		seed(kmsg.RequestForKey(key), 0)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		fuzzOnce.Do(func() {
			// Shared across inputs, as a broker is across clients; the
			// cleanup of the first test would close it, so it is started
			// on a testing.T that lives for the process.
			fuzzBroker = brokertest.Start(&testing.T{}, brokertest.WithFS(plog.NewMemFS()), brokertest.WithDataDir("/fuzz"))
		})
		b := fuzzBroker
		if len(in) < 4 {
			return
		}
		key := int16(binary.BigEndian.Uint16(in))
		version := int16(binary.BigEndian.Uint16(in[2:]))
		min, max, ok := b.Broker.Versions(key)
		if !ok || version < min || version > max {
			return
		}
		req := kmsg.RequestForKey(key)
		req.SetVersion(version)
		if err := req.ReadFrom(in[4:]); err != nil {
			return
		}
		if tooBig(req) {
			return
		}
		conn := &server.Conn{Done: closedDone}
		reply := b.Broker.Handle(&server.Request{Key: key, Version: version, Body: req, Conn: conn, Received: time.Now()})
		resp := reply.Response
		if reply.Wait != nil {
			done := make(chan kmsg.Response, 1)
			go func() { done <- reply.Wait() }()
			select {
			case resp = <-done:
			case <-time.After(30 * time.Second):
				t.Fatalf("%s v%d: no answer within 30s on a closed connection: %+v", kmsg.NameForKey(key), version, req)
			}
		}
		if reply.Release != nil {
			defer reply.Release()
		}
		if resp == nil && !reply.NoResponse {
			t.Fatalf("%s v%d: no response", kmsg.NameForKey(key), version)
		}
		if resp != nil {
			resp.AppendTo(nil)
		}
	})
}

// tooBig skips inputs that would only make the fuzzer slow: creating
// thousands of partitions is valid and tested elsewhere.
func tooBig(req kmsg.Request) bool {
	switch r := req.(type) {
	case *kmsg.CreateTopicsRequest:
		for _, t := range r.Topics {
			if t.NumPartitions > 16 || len(t.ReplicaAssignment) > 16 {
				return true
			}
		}
		return len(r.Topics) > 16
	case *kmsg.CreatePartitionsRequest:
		for _, t := range r.Topics {
			if t.Count > 16 {
				return true
			}
		}
	}
	return false
}

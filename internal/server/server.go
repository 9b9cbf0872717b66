// Package server accepts Kafka client connections, frames and decodes
// requests, hands them to a Handler and writes responses back in request
// order.
//
// Per connection a reader goroutine reads a frame, checks its size against
// socket.request.max.bytes before allocating, takes the frame's bytes from
// the server-wide budget (queued.max.request.bytes), parses the request
// header, checks the version against the Handler's table, decodes the body
// with kmsg and calls Handler.Handle. Handle runs on the reader goroutine,
// so effects that must follow request order (appends from one producer) do.
// What must wait (an acks=all flush, a long-polling fetch) is returned as
// Reply.Wait and run by the writer goroutine in request order, so responses
// leave in the order requests came while the reader carries on.
//
// A malformed frame closes the connection with one log line, as Kafka does.
package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Handler serves decoded requests.
type Handler interface {
	// Versions reports the version range the broker serves for key.
	Versions(key int16) (min, max int16, ok bool)
	// Handle processes one request on the connection's reader goroutine.
	Handle(r *Request) Reply
}

// Request is one decoded request. Byte fields of Body alias the frame
// buffer, which stays valid until the reply has been produced (after Wait
// returns).
type Request struct {
	Key           int16
	Version       int16
	CorrelationID int32
	ClientID      string
	Body          kmsg.Request
	Conn          *Conn
	Received      time.Time
	Size          int // frame size in bytes
}

// Reply is a handler's answer: a response now, a function that produces it
// later, or nothing.
type Reply struct {
	Response kmsg.Response
	// Wait, when set, is called on the writer goroutine in request order
	// and returns the response; it may block (acks, long polls).
	Wait func() kmsg.Response
	// NoResponse sends nothing back (acks=0 produce).
	NoResponse bool
	// Encode, when set, encodes the response itself (after Wait) into a
	// Frame whose file regions are sent with sendfile. The frame stays the
	// handler's until Release.
	Encode func(resp kmsg.Response) *Frame
	// SizeHint, when set, is called after Wait and estimates the encoded
	// size of a large response, so the writer encodes it into a buffer of
	// that size.
	SizeHint func() int
	// Release, when set, runs once the response has been encoded: the
	// handler returns pooled buffers the response referenced.
	Release func()
	// Close closes the connection once the earlier responses are written
	// (an acks=0 produce that failed: Kafka closes so the client refreshes
	// its metadata).
	Close bool
}

// Conn is what a handler may know about a client connection.
type Conn struct {
	ID       uint64
	Remote   net.Addr
	Local    net.Addr
	Listener string
	// Done is closed once the connection stops reading: the client went
	// away or the server is shutting down. Waits that can end early (long
	// polls) watch it, so they neither hold a dead connection's resources
	// nor delay a shutdown.
	Done <-chan struct{}
	// State is the handler's per-connection state (SASL, ...). Only the
	// reader goroutine touches it.
	State any
}

// Config bounds what clients may make the server hold.
type Config struct {
	// MaxRequestBytes is socket.request.max.bytes: a larger frame closes the
	// connection before anything is allocated for it.
	MaxRequestBytes int
	// QueuedMaxRequestBytes caps the bytes of requests read but not yet
	// answered, across all connections (queued.max.request.bytes). Readers
	// stop reading when it is reached, which pushes back on clients.
	QueuedMaxRequestBytes int64
	// MaxInFlight caps the requests per connection waiting for their
	// response; the reader stops reading at the cap.
	MaxInFlight int
	// IdleTimeout closes a connection that sends nothing for this long
	// while nothing is in flight (connections.max.idle.ms).
	IdleTimeout time.Duration
	// MaxConnections caps open connections (max.connections); 0 = none.
	MaxConnections int
	Logger         *slog.Logger
}

func (c *Config) defaults() {
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = 100 << 20
	}
	if c.QueuedMaxRequestBytes <= 0 {
		c.QueuedMaxRequestBytes = 256 << 20
	}
	if c.QueuedMaxRequestBytes < int64(c.MaxRequestBytes) {
		// One maximal request must always fit, or it would wait forever.
		c.QueuedMaxRequestBytes = int64(c.MaxRequestBytes)
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 64
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 10 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Server serves Kafka clients on one or more listeners.
type Server struct {
	cfg     Config
	handler Handler
	budget  *budget

	mu        sync.Mutex
	listeners []net.Listener
	conns     map[*conn]struct{}
	closing   bool
	wg        sync.WaitGroup
	nextID    atomic.Uint64
	open      atomic.Int64

	// Stats for metrics.
	Stats Stats
}

// Stats counts connection events; all fields are read atomically.
type Stats struct {
	Accepted   atomic.Int64
	Rejected   atomic.Int64 // over max.connections
	Malformed  atomic.Int64 // closed for a bad frame
	InFlightB  atomic.Int64
	OpenConns  atomic.Int64
	BytesIn    atomic.Int64
	BytesOut   atomic.Int64
	RequestsIn atomic.Int64
}

// New returns a server; Serve starts it on a listener.
func New(cfg Config, h Handler) *Server {
	cfg.defaults()
	return &Server{cfg: cfg, handler: h, budget: newBudget(cfg.QueuedMaxRequestBytes), conns: make(map[*conn]struct{})}
}

// Serve accepts connections on l until Shutdown. It returns nil after a
// Shutdown.
func (s *Server) Serve(l net.Listener, name string) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return nil
	}
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscallEMFILE) {
				// Out of descriptors: back off rather than spin.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.cfg.Logger.Warn("accept failed, backing off", "err", err, "backoff", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		if s.cfg.MaxConnections > 0 && s.open.Load() >= int64(s.cfg.MaxConnections) {
			s.Stats.Rejected.Add(1)
			nc.Close()
			continue
		}
		s.start(nc, name)
	}
}

func (s *Server) start(nc net.Conn, listener string) {
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	readDone := make(chan struct{})
	c := &conn{
		srv:      s,
		nc:       nc,
		readDone: readDone,
		info: Conn{
			ID:       s.nextID.Add(1),
			Remote:   nc.RemoteAddr(),
			Local:    nc.LocalAddr(),
			Listener: listener,
			Done:     readDone,
		},
		pending: make(chan *pending, s.cfg.MaxInFlight),
		done:    make(chan struct{}),
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(2)
	s.mu.Unlock()
	s.open.Add(1)
	s.Stats.Accepted.Add(1)
	s.Stats.OpenConns.Add(1)
	go c.read()
	go c.write()
}

func (s *Server) remove(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.open.Add(-1)
	s.Stats.OpenConns.Add(-1)
}

// Shutdown stops accepting, stops reading new requests, lets requests
// already read finish and their responses be written (until ctx ends), then
// closes every connection.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for _, l := range s.listeners {
		l.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.stopReading()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, c := range conns {
			c.nc.Close()
		}
		<-done
		return ctx.Err()
	}
}

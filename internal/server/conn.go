package server

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/plexus/plexus/internal/bufpool"
)

var syscallEMFILE = syscall.EMFILE

// errUnsupportedVersion is the Kafka error code UNSUPPORTED_VERSION.
const errUnsupportedVersion = 35

// apiVersionsKey is special: an unsupported version is answered rather than
// closed, and its response always uses the v0 response header.
const apiVersionsKey = 18

type conn struct {
	srv  *Server
	nc   net.Conn
	info Conn

	pending  chan *pending // requests read, in order; closed when the reader stops
	readDone chan struct{} // closed when the reader stops (Conn.Done)
	done     chan struct{} // closed when the writer stops

	stopOnce sync.Once
	stopping bool // set under stopMu; tells the reader a read error is ours
	stopMu   sync.Mutex
}

type pending struct {
	key, version int16
	corr         int32
	reply        Reply
	frame        []byte // pooled; released after the response is produced
	size         int64  // bytes taken from the budget
	closeAfter   bool
}

// stopReading makes the reader stop at the next frame boundary (or now, if
// it is blocked reading), leaving the writer to answer what was read.
func (c *conn) stopReading() {
	c.stopMu.Lock()
	c.stopping = true
	c.stopMu.Unlock()
	c.nc.SetReadDeadline(time.Now())
	c.srv.budget.wake()
}

func (c *conn) isStopping() bool {
	c.stopMu.Lock()
	defer c.stopMu.Unlock()
	return c.stopping
}

func (c *conn) logClose(reason string, args ...any) {
	c.srv.Stats.Malformed.Add(1)
	args = append([]any{"remote", c.info.Remote.String(), "reason", reason}, args...)
	c.srv.cfg.Logger.Warn("closing client connection", args...)
}

func (c *conn) read() {
	defer c.srv.wg.Done()
	defer close(c.pending)
	defer close(c.readDone)
	// A small buffer: enough to take a header and a small request in one
	// read, small enough that ten thousand idle connections stay cheap.
	br := bufio.NewReaderSize(c.nc, 4<<10)
	var sizeBuf [4]byte
	for {
		if c.isStopping() {
			return
		}
		// The idle timeout applies between requests; a long poll in
		// flight keeps the connection alive because the writer holds it.
		if len(c.pending) == 0 {
			c.nc.SetReadDeadline(time.Now().Add(c.srv.cfg.IdleTimeout))
		} else {
			c.nc.SetReadDeadline(time.Time{})
		}
		if _, err := io.ReadFull(br, sizeBuf[:]); err != nil {
			c.readErr(err, "reading frame size")
			return
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		if size < 8 || int(size) > c.srv.cfg.MaxRequestBytes {
			// Kafka closes without a response: there is no header to
			// answer, and the rest of the stream cannot be trusted.
			c.logClose("frame size out of bounds", "size", size, "max", c.srv.cfg.MaxRequestBytes)
			return
		}
		// A frame that has started must arrive in full in a time that
		// grows with its size: a client trickling bytes cannot hold a
		// connection, or the budget its bytes took, indefinitely.
		c.nc.SetReadDeadline(time.Now().Add(frameTimeout(int(size), c.srv.cfg.IdleTimeout)))
		frame, err := c.readFrame(br, int(size))
		if err != nil {
			c.readErr(err, "reading frame body")
			return
		}
		c.srv.Stats.BytesIn.Add(int64(size) + 4)
		p, ok := c.decode(frame)
		if !ok {
			c.release(frame, int64(size))
			return
		}
		p.size = int64(size)
		c.srv.Stats.RequestsIn.Add(1)
		c.pending <- p
		if p.reply.Close {
			return
		}
	}
}

// frameChunk is the most a frame takes from the budget before its bytes
// have arrived: a larger frame is read, and charged, a chunk at a time, so
// the memory a client holds is what it sent, not what it announced. Frames
// up to it are read straight into their buffer; larger ones pay a copy to
// assemble their chunks. 16 MiB covers the produce requests of busy
// producers: a 1 MiB chunk made that copy 7% of the broker's produce CPU
// at 100 partitions, 4 MiB still 6% (perf). Clients that announce big
// frames and stall cannot starve small requests: see budget.
const frameChunk = 16 << 20

// smallFrame is the largest frame that may use the last quarter of the
// budget: metadata, fetches, small produces.
const smallFrame = 1 << 20

// readFrame reads a frame body of size bytes, charging it to the budget.
// On error nothing stays charged.
func (c *conn) readFrame(br io.Reader, size int) ([]byte, error) {
	if size <= frameChunk {
		if !c.srv.budget.acquire(int64(size), size <= smallFrame, c) {
			return nil, errStopping
		}
		frame := bufpool.Get(size)
		if _, err := io.ReadFull(br, frame); err != nil {
			c.release(frame, int64(size))
			return nil, err
		}
		return frame, nil
	}
	var chunks [][]byte
	charged := 0
	fail := func(err error) ([]byte, error) {
		for _, ch := range chunks {
			bufpool.Put(ch)
		}
		c.srv.budget.release(int64(charged))
		return nil, err
	}
	for charged < size {
		n := min(frameChunk, size-charged)
		if !c.srv.budget.acquire(int64(n), false, c) {
			return fail(errStopping)
		}
		charged += n
		ch := bufpool.Get(n)
		chunks = append(chunks, ch)
		if _, err := io.ReadFull(br, ch); err != nil {
			return fail(err)
		}
	}
	frame := bufpool.Get(size)
	off := 0
	for _, ch := range chunks {
		off += copy(frame[off:], ch)
		bufpool.Put(ch)
	}
	return frame, nil
}

var errStopping = errors.New("server: connection stopping")

// frameTimeout is how long a frame of size bytes may take to arrive once
// its size prefix has: half a minute plus a quarter MiB per second, within
// the idle timeout.
func frameTimeout(size int, idle time.Duration) time.Duration {
	return min(30*time.Second+time.Duration(size)*time.Second/(256<<10), idle)
}

func (c *conn) readErr(err error, what string) {
	if errors.Is(err, errStopping) {
		return
	}
	if c.isStopping() || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) {
		return
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		c.logClose("connection closed mid-frame", "while", what)
		return
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.srv.cfg.Logger.Info("closing idle client connection", "remote", c.info.Remote.String(), "while", what)
		return
	}
	c.srv.cfg.Logger.Info("client connection read failed", "remote", c.info.Remote.String(), "err", err)
}

func (c *conn) release(frame []byte, size int64) {
	bufpool.Put(frame)
	c.srv.budget.release(size)
}

// decode parses the request header and body and runs the handler. It
// returns false when the connection must close.
func (c *conn) decode(frame []byte) (*pending, bool) {
	r := kbin.Reader{Src: frame}
	key := r.Int16()
	version := r.Int16()
	corr := r.Int32()
	clientID := r.NullableString()
	if !r.Ok() {
		c.logClose("truncated request header")
		return nil, false
	}
	body := kmsg.RequestForKey(key)
	if body == nil {
		c.logClose("unknown api key", "key", key, "version", version, "client_id", deref(clientID))
		return nil, false
	}
	p := &pending{key: key, version: version, corr: corr, frame: frame}
	min, max, ok := c.srv.handler.Versions(key)
	if !ok || version < min || version > max {
		if key != apiVersionsKey {
			c.logClose("unsupported api version", "api", kmsg.NameForKey(key), "version", version, "supported_min", min, "supported_max", max, "client_id", deref(clientID))
			return nil, false
		}
		// A client newer than us: answer with a v0 body listing what we
		// support, so it can pick a version and retry (KIP-511).
		p.version = 0
		body.SetVersion(0)
		req := &Request{Key: key, Version: 0, CorrelationID: corr, ClientID: deref(clientID), Body: body, Conn: &c.info, Received: time.Now(), Size: len(frame)}
		p.reply = c.srv.handler.Handle(req)
		if resp, ok := p.reply.Response.(*kmsg.ApiVersionsResponse); ok {
			resp.ErrorCode = errUnsupportedVersion
		}
		return p, true
	}
	body.SetVersion(version)
	if body.IsFlexible() {
		kmsg.SkipTags(&r)
		if !r.Ok() {
			c.logClose("malformed request header tags", "api", kmsg.NameForKey(key), "version", version)
			return nil, false
		}
	}
	if err := body.ReadFrom(r.Src); err != nil {
		c.logClose("malformed request body", "api", kmsg.NameForKey(key), "version", version, "client_id", deref(clientID), "err", err)
		return nil, false
	}
	req := &Request{Key: key, Version: version, CorrelationID: corr, ClientID: deref(clientID), Body: body, Conn: &c.info, Received: time.Now(), Size: len(frame)}
	p.reply = c.srv.handler.Handle(req)
	return p, true
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// write answers pending requests in order. Ready responses are coalesced
// into one write; the buffer is flushed whenever no further response is
// immediately available.
func (c *conn) write() {
	defer c.srv.wg.Done()
	defer close(c.done)
	defer c.srv.remove(c)
	defer c.nc.Close()
	var (
		out    []byte
		broken bool
	)
	flush := func() {
		if len(out) == 0 || broken {
			out = out[:0]
			return
		}
		c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.IdleTimeout))
		n, err := c.nc.Write(out)
		c.srv.Stats.BytesOut.Add(int64(n))
		if err != nil {
			broken = true
			// Unblock the reader: its requests can no longer be answered.
			c.stopReading()
			c.nc.Close()
		}
		if cap(out) > 1<<20 {
			// Back to the pool: an idle connection does not pin a big
			// buffer, and the next big response reuses it.
			bufpool.Put(out)
			out = nil
		} else {
			out = out[:0]
		}
	}
	defer func() { bufpool.Put(out) }()
	for {
		var p *pending
		var ok bool
		select {
		case p, ok = <-c.pending:
		default:
			flush()
			p, ok = <-c.pending
		}
		if !ok {
			flush()
			return
		}
		resp := p.reply.Response
		if p.reply.Wait != nil {
			resp = p.reply.Wait()
		}
		if !p.reply.NoResponse && resp != nil && !broken && p.reply.Encode != nil {
			frame := p.reply.Encode(resp)
			out = appendFrameHeader(out, p.corr, p.key, resp.IsFlexible(), frame.Size())
			var err error
			if out, err = c.writeFrame(out, frame); err != nil {
				broken = true
				c.srv.cfg.Logger.Info("writing a response failed; closing the connection", "remote", c.info.Remote.String(), "err", err)
				c.stopReading()
				c.nc.Close()
			}
		} else if !p.reply.NoResponse && resp != nil && !broken {
			if p.reply.SizeHint != nil {
				// A large response (a fetch) gets a pooled buffer of its
				// size up front: encoding it then copies each byte once,
				// with no growth, no zeroing and no garbage.
				if hint := p.reply.SizeHint() + 64; cap(out)-len(out) < hint {
					flush()
					if cap(out) < hint {
						bufpool.Put(out)
						out = bufpool.Get(hint)[:0]
					}
				}
			}
			out = appendResponse(out, p.corr, p.key, resp)
		}
		if p.reply.Release != nil {
			p.reply.Release()
		}
		c.release(p.frame, p.size)
		if p.reply.Close {
			flush()
			c.nc.Close()
			// Drain so the reader never blocks on a full channel.
			for p := range c.pending {
				if p.reply.Wait != nil {
					p.reply.Wait()
				}
				if p.reply.Release != nil {
					p.reply.Release()
				}
				c.release(p.frame, p.size)
			}
			return
		}
		if len(out) > 1<<20 {
			flush()
		}
	}
}

// appendFrameHeader appends the size prefix and response header of a
// response whose body (size bytes) the handler encoded as a Frame.
func appendFrameHeader(out []byte, corr int32, key int16, flexible bool, size int) []byte {
	hdr := 4
	if flexible && key != apiVersionsKey {
		hdr++
	}
	out = binary.BigEndian.AppendUint32(out, uint32(hdr+size))
	out = binary.BigEndian.AppendUint32(out, uint32(corr))
	if hdr == 5 {
		out = append(out, 0)
	}
	return out
}

func appendResponse(out []byte, corr int32, key int16, resp kmsg.Response) []byte {
	start := len(out)
	out = append(out, 0, 0, 0, 0)
	out = binary.BigEndian.AppendUint32(out, uint32(corr))
	if resp.IsFlexible() && key != apiVersionsKey {
		out = append(out, 0) // empty tagged fields of response header v1
	}
	out = resp.AppendTo(out)
	binary.BigEndian.PutUint32(out[start:], uint32(len(out)-start-4))
	return out
}

// budget is a byte semaphore over requests read but not answered.
type budget struct {
	mu   sync.Mutex
	cond *sync.Cond
	cap  int64
	used int64
}

func newBudget(n int64) *budget {
	b := &budget{cap: n}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// acquire waits until n bytes fit, or the connection stops reading. Big
// frames may use only three quarters of the budget, so that clients that
// announce big frames and then stall (slowloris) cannot block the small
// requests everyone else depends on.
func (b *budget) acquire(n int64, small bool, c *conn) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	limit := b.cap
	if !small {
		limit -= b.cap / 4
	}
	for b.used > 0 && b.used+n > limit {
		if c.isStopping() {
			return false
		}
		b.cond.Wait()
	}
	b.used += n
	c.srv.Stats.InFlightB.Store(b.used)
	return true
}

func (b *budget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
	b.cond.Broadcast()
}

func (b *budget) wake() {
	b.mu.Lock()
	b.mu.Unlock()
	b.cond.Broadcast()
}

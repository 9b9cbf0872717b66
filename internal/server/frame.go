package server

import (
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/plexus/plexus/internal/bufpool"
)

// A Frame is a response body encoded by its handler, with file regions in
// it sent straight from the page cache (sendfile) instead of being copied
// through the broker's memory: Fetch's record batches. The server adds the
// size prefix and the response header.
type Frame struct {
	// Bytes holds the encoded parts; Parts says what goes between them.
	Bytes []byte
	Parts []FramePart
}

// FramePart is the encoded bytes up to End (from the previous part's End),
// followed by Region when it is not nil.
type FramePart struct {
	End    int
	Region Region
}

// Region is a run of bytes of an open file.
type Region interface {
	// Size is the number of bytes.
	Size() int
	// ReadAt reads them at off, relative to the region's start: the way
	// they are sent when the file or the connection cannot use sendfile.
	ReadAt(p []byte, off int64) (int, error)
	// RawFile gives the file's descriptor for sendfile, when it has one,
	// and the region's start in the file.
	RawFile() (rc syscall.RawConn, pos int64, ok bool)
}

// Size is the frame's encoded size.
func (f *Frame) Size() int {
	n := len(f.Bytes)
	for _, p := range f.Parts {
		if p.Region != nil {
			n += p.Region.Size()
		}
	}
	return n
}

// errShortRegion means a file region ended early (the file was cut under
// it): the frame's length prefix is now wrong, so the connection closes.
var errShortRegion = errors.New("server: file region shorter than announced")

// writeFrame writes a frame's parts after whatever out holds (the header
// already encoded there), sending regions with sendfile when it can. It
// returns out emptied (or a fresh buffer) for reuse.
func (c *conn) writeFrame(out []byte, f *Frame) ([]byte, error) {
	from := 0
	for _, p := range f.Parts {
		out = append(out, f.Bytes[from:p.End]...)
		from = p.End
		if p.Region == nil {
			continue
		}
		if rc, pos, ok := p.Region.RawFile(); ok && canSendfile {
			if tc, isTCP := c.nc.(*net.TCPConn); isTCP {
				if err := c.writeOut(out); err != nil {
					return out[:0], err
				}
				out = out[:0]
				c.nc.SetWriteDeadline(timeNow().Add(c.srv.cfg.IdleTimeout))
				if err := sendfile(tc, rc, pos, p.Region.Size()); err != nil {
					return out, err
				}
				c.srv.Stats.BytesOut.Add(int64(p.Region.Size()))
				continue
			}
		}
		// No sendfile: copy through a buffer.
		n := p.Region.Size()
		start := len(out)
		if cap(out)-start < n {
			grown := bufpool.Get(start + n)
			copy(grown, out)
			bufpool.Put(out)
			out = grown[:start]
		}
		out = out[:start+n]
		if m, err := p.Region.ReadAt(out[start:], 0); m < n {
			if err == nil || err == io.EOF {
				err = errShortRegion
			}
			return out[:0], err
		}
	}
	out = append(out, f.Bytes[from:]...)
	return out, nil
}

// writeOut writes out to the connection.
func (c *conn) writeOut(out []byte) error {
	if len(out) == 0 {
		return nil
	}
	c.nc.SetWriteDeadline(timeNow().Add(c.srv.cfg.IdleTimeout))
	n, err := c.nc.Write(out)
	c.srv.Stats.BytesOut.Add(int64(n))
	return err
}

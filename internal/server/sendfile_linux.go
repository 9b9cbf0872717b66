package server

import (
	"net"
	"syscall"
	"time"
)

var timeNow = time.Now

// canSendfile: regions go from the page cache to the socket directly.
const canSendfile = true

// sendfile sends n bytes of the file behind file, from pos, to the TCP
// connection without copying them through user space, waiting for the
// socket to drain as the poller says (and giving up at the connection's
// write deadline).
func sendfile(tc *net.TCPConn, file syscall.RawConn, pos int64, n int) error {
	var ffd int
	if err := file.Control(func(fd uintptr) { ffd = int(fd) }); err != nil {
		return err
	}
	sc, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = sc.Write(func(sfd uintptr) bool {
		for n > 0 {
			m, e := syscall.Sendfile(int(sfd), ffd, &pos, n)
			if m > 0 {
				n -= m
			}
			switch {
			case e == syscall.EAGAIN:
				return false // wait until the socket can take more
			case e == syscall.EINTR:
				continue
			case e != nil:
				serr = e
				return true
			case m == 0:
				serr = errShortRegion
				return true
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	return serr
}

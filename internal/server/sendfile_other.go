//go:build !linux

package server

import (
	"errors"
	"net"
	"syscall"
	"time"
)

var timeNow = time.Now

// canSendfile: regions are copied through a buffer here.
const canSendfile = false

// sendfile is not used off Linux: regions are copied through a buffer.
func sendfile(tc *net.TCPConn, file syscall.RawConn, pos int64, n int) error {
	return errors.ErrUnsupported
}

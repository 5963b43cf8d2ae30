package central

import (
	"context"
	"net"
	"syscall"
)

// notSentLowat bounds the bytes central keeps queued and not yet sent on
// each accepted TCP connection (TCP_NOTSENT_LOWAT, Linux): a write waits
// until the unsent part of the socket's buffer is below it. Fragment
// responses then stay close to what the network carries. A relay or WAN
// owner that splits the last fragments of a package into byte ranges cuts
// the response it took a range from; without a bound, everything central
// had queued for that response (the send buffer, grown for a long link)
// counted as served and partly crossed the WAN for nothing. The bound
// costs no throughput: the bytes in flight are set by the congestion
// window, not by it, and 32 KiB refills within milliseconds (HTTP/2
// servers commonly run with 16 KiB). 32 KiB instead of 128 KiB cut what a
// split response wastes from ~150 KB to ~50 KB per cut in the lab.
const notSentLowat = 32 << 10

// lowatListener sets notSentLowat on every connection it accepts (Linux
// does not copy the option from the listening socket).
type lowatListener struct {
	net.Listener
}

// listen opens a TCP listener on addr whose connections get notSentLowat
// where the system has it.
func listen(ctx context.Context, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return lowatListener{ln}, nil
}

// Accept accepts a connection and bounds its unsent bytes; a connection
// whose option cannot be set is served anyway (it only costs WAN bytes).
func (l lowatListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if sc, ok := c.(syscall.Conn); ok {
		if raw, rerr := sc.SyscallConn(); rerr == nil {
			_ = raw.Control(func(fd uintptr) { _ = setNotSentLowat(fd, notSentLowat) })
		}
	}
	return c, nil
}

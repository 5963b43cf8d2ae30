// Package connlimit caps the connections a listener keeps open, in total
// and per client address. netutil.LimitListener caps only the total, so one
// client could take every slot; here a client past its share, or any client
// past the total, has its new connection closed at once.
package connlimit

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Listener wraps a net.Listener with the caps. Exempt addresses (trusted
// reverse proxies, whose connections carry many clients) count only
// towards the total.
type Listener struct {
	net.Listener
	perIP, total int
	exempt       func(netip.Addr) bool

	mu    sync.Mutex         // owns open and n
	open  map[netip.Addr]int // open connections per client address
	n     int                // open connections in total
	count atomic.Int64       // connections refused
}

// New returns ln capped at perIP connections per client address and total
// connections in all (values below 1 mean 1). exempt may be nil.
func New(ln net.Listener, perIP, total int, exempt func(netip.Addr) bool) *Listener {
	if exempt == nil {
		exempt = func(netip.Addr) bool { return false }
	}
	return &Listener{Listener: ln, perIP: max(perIP, 1), total: max(total, 1), exempt: exempt, open: map[netip.Addr]int{}}
}

// Accept returns the next connection within the caps; connections over a
// cap are closed without a word and not returned.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := addrOf(c.RemoteAddr())
		if !l.take(ip) {
			l.count.Add(1)
			c.Close()
			continue
		}
		return &conn{Conn: c, l: l, ip: ip}, nil
	}
}

// Refused returns the number of connections closed over a cap.
func (l *Listener) Refused() int64 { return l.count.Load() }

func (l *Listener) take(ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n >= l.total || !l.exempt(ip) && l.open[ip] >= l.perIP {
		return false
	}
	l.n++
	l.open[ip]++
	return true
}

func (l *Listener) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n--
	if l.open[ip]--; l.open[ip] <= 0 {
		delete(l.open, ip)
	}
}

func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap()
		}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// conn gives its slot back once, on the first Close.
type conn struct {
	net.Conn
	l    *Listener
	ip   netip.Addr
	once sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.ip) })
	return err
}

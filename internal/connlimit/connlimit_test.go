package connlimit

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

// accepted serves ln, keeping every accepted connection open until the test
// ends, and reports each on the channel.
func accepted(t *testing.T, ln net.Listener) <-chan net.Conn {
	t.Helper()
	ch := make(chan net.Conn, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ch <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		close(ch)
		for c := range ch {
			c.Close()
		}
	})
	return ch
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByServer reports whether the server closed c (a read ends with EOF
// or a reset within the deadline).
func closedByServer(c net.Conn, within time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(within))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return err != nil
}

func TestPerClientCap(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := New(raw, 2, 100, nil)
	got := accepted(t, ln)
	addr := raw.Addr().String()
	c1, c2 := dial(t, addr), dial(t, addr)
	s1, s2 := <-got, <-got
	c3 := dial(t, addr)
	if !closedByServer(c3, 5*time.Second) {
		t.Fatal("third connection from one client stayed open")
	}
	if ln.Refused() != 1 {
		t.Errorf("refused %d, want 1", ln.Refused())
	}
	for _, c := range []net.Conn{c1, c2} {
		if closedByServer(c, 10*time.Millisecond) {
			t.Fatal("a connection within the cap was closed")
		}
	}
	// A closed connection frees its slot.
	s1.Close()
	if !closedByServer(c1, 5*time.Second) {
		t.Fatal("server side close not seen")
	}
	c4 := dial(t, addr)
	s4 := <-got
	if _, err := s4.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c4, make([]byte, 1)); err != nil {
		t.Fatalf("connection after a slot freed: %v", err)
	}
	s2.Close()
}

func TestTotalCapAndExempt(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := New(raw, 1, 3, func(a netip.Addr) bool { return a.IsLoopback() })
	got := accepted(t, ln)
	addr := raw.Addr().String()
	for range 3 {
		dial(t, addr)
		<-got
	}
	if c := dial(t, addr); !closedByServer(c, 5*time.Second) {
		t.Fatal("connection over the total stayed open")
	}
}

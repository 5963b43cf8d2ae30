package wol

import (
	"context"
	"net"
	"testing"
	"time"
)

func TestMagicPacket(t *testing.T) {
	tests := []struct {
		name, mac string
		ok        bool
	}{
		{"colons", "00:1a:2b:3c:4d:5e", true},
		{"dashes_upper", "00-1A-2B-3C-4D-5E", true},
		{"dots", "001a.2b3c.4d5e", true},
		{"eight_bytes", "00:1a:2b:3c:4d:5e:6f:70", false},
		{"empty", "", false},
		{"garbage", "zz:zz", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := MagicPacket(tt.mac)
			if !tt.ok {
				if err == nil {
					t.Fatalf("MagicPacket(%q) = nil error", tt.mac)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(p) != 102 {
				t.Fatalf("len = %d, want 102", len(p))
			}
			hw, err := Target(p)
			if err != nil {
				t.Fatal(err)
			}
			if hw.String() != "00:1a:2b:3c:4d:5e" {
				t.Fatalf("target %s", hw)
			}
		})
	}
}

func TestTargetRejects(t *testing.T) {
	p, _ := MagicPacket("00:1a:2b:3c:4d:5e")
	bad := append([]byte(nil), p...)
	bad[0] = 0
	if _, err := Target(bad); err == nil {
		t.Error("header not checked")
	}
	bad = append([]byte(nil), p...)
	bad[101] ^= 1
	if _, err := Target(bad); err == nil {
		t.Error("repetitions not checked")
	}
	if _, err := Target(p[:100]); err == nil {
		t.Error("length not checked")
	}
}

func TestBroadcast(t *testing.T) {
	tests := []struct{ name, ip, mask, want string }{
		{"dotted", "192.168.10.23", "255.255.255.0", "192.168.10.255"},
		{"prefix", "10.1.2.3", "16", "10.1.255.255"},
		{"slash22", "10.0.5.9", "255.255.252.0", "10.0.7.255"},
		{"no_mask", "10.0.5.9", "", ""},
		{"ipv6", "fe80::1", "64", ""},
		{"host_route", "10.0.5.9", "255.255.255.255", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Broadcast(tt.ip, tt.mask); got != tt.want {
				t.Errorf("Broadcast(%q, %q) = %q, want %q", tt.ip, tt.mask, got, tt.want)
			}
		})
	}
}

// TestSendReachesListener sends to a loopback listener (the LAN test with
// a real broadcast is itest TestWakeOnLANRelay).
func TestSendReachesListener(t *testing.T) {
	l, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.LocalAddr().(*net.UDPAddr).Port
	p, _ := MagicPacket("00:1a:2b:3c:4d:5e")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := send(ctx, p, []string{"127.0.0.1", "not-an-ip"}, []int{port}); err != nil {
		t.Fatal(err)
	}
	if err := l.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 200)
	n, _, err := l.ReadFromUDP(buf)
	if err != nil {
		t.Fatal(err)
	}
	hw, err := Target(buf[:n])
	if err != nil || hw.String() != "00:1a:2b:3c:4d:5e" {
		t.Fatalf("received %x: %v", buf[:n], err)
	}
	if err := send(ctx, p, []string{"not-an-ip"}, []int{port}); err == nil {
		t.Fatal("send with no valid address succeeded")
	}
}

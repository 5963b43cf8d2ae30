// Package wol sends Wake-on-LAN magic packets: 6 bytes 0xFF followed by
// the target's 6-byte MAC address 16 times, in a UDP datagram to a
// broadcast address on port 9 (discard) and port 7 (echo), which is what
// network cards listen for while the computer sleeps. A relay or a Shoal
// agent sends them for central (proto.WakeOrder); the packet never leaves
// the sender's LAN unless a router forwards directed broadcasts.
package wol

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// Ports are the UDP ports a magic packet is sent to.
var Ports = []int{9, 7}

// PacketSize is the length of a magic packet.
const PacketSize = 6 + 16*6

// ErrBadMAC reports an address that is not a 6-byte MAC.
var ErrBadMAC = errors.New("not a 6-byte MAC address")

// ParseMAC parses a 6-byte MAC address in any form net.ParseMAC accepts
// (01:23:45:67:89:ab, 01-23-45-67-89-AB, 0123.4567.89ab).
func ParseMAC(s string) (net.HardwareAddr, error) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return nil, fmt.Errorf("mac %q: %w", s, ErrBadMAC)
	}
	return hw, nil
}

// MagicPacket returns the magic packet that wakes the card with MAC mac.
func MagicPacket(mac string) ([]byte, error) {
	hw, err := ParseMAC(mac)
	if err != nil {
		return nil, err
	}
	p := make([]byte, 0, PacketSize)
	for range 6 {
		p = append(p, 0xff)
	}
	for range 16 {
		p = append(p, hw...)
	}
	return p, nil
}

// Target parses a magic packet and returns the MAC it wakes.
func Target(p []byte) (net.HardwareAddr, error) {
	if len(p) != PacketSize {
		return nil, fmt.Errorf("magic packet of %d bytes, want %d", len(p), PacketSize)
	}
	for i := range 6 {
		if p[i] != 0xff {
			return nil, errors.New("magic packet without its 6-byte 0xFF header")
		}
	}
	hw := net.HardwareAddr(p[6:12])
	for i := 1; i < 16; i++ {
		if string(p[6+6*i:12+6*i]) != string(hw) {
			return nil, fmt.Errorf("magic packet repetition %d differs from the first", i+1)
		}
	}
	return hw, nil
}

// Broadcast returns the directed broadcast address of the network of ip
// with netmask mask ("255.255.255.0" or a prefix length "24"); "" when
// either does not parse or is not IPv4.
func Broadcast(ip, mask string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil || !addr.Is4() {
		return ""
	}
	bits := -1
	if m, err := netip.ParseAddr(mask); err == nil && m.Is4() {
		ones, size := net.IPMask(m.AsSlice()).Size()
		if size == 32 {
			bits = ones
		}
	} else if n, err := fmt.Sscanf(mask, "%d", &bits); n != 1 || err != nil {
		bits = -1
	}
	if bits < 1 || bits > 30 {
		return ""
	}
	b := addr.As4()
	host := uint32(1)<<(32-bits) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String()
}

// Send sends the magic packet for mac to the limited broadcast address
// 255.255.255.255 and to each of extra (directed broadcast addresses,
// without port), on every port of Ports. It succeeds when at least one
// datagram left; the errors of the others are returned joined only when
// none did. Go sets SO_BROADCAST on UDP sockets, so no privilege is needed.
func Send(ctx context.Context, mac string, extra ...string) error {
	p, err := MagicPacket(mac)
	if err != nil {
		return err
	}
	return send(ctx, p, append([]string{"255.255.255.255"}, extra...), Ports)
}

func send(ctx context.Context, p []byte, hosts []string, ports []int) error {
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(ctx, "udp4", ":0")
	if err != nil {
		return fmt.Errorf("wake-on-lan socket: %w", err)
	}
	defer pc.Close()
	deadline := time.Now().Add(2 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := pc.SetWriteDeadline(deadline); err != nil {
		return fmt.Errorf("wake-on-lan deadline: %w", err)
	}
	var errs []error
	sent := 0
	seen := map[string]bool{}
	for _, h := range hosts {
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		ip := net.ParseIP(h)
		if ip == nil || ip.To4() == nil {
			errs = append(errs, fmt.Errorf("broadcast address %q is not IPv4", h))
			continue
		}
		for _, port := range ports {
			if _, err := pc.WriteTo(p, &net.UDPAddr{IP: ip, Port: port}); err != nil {
				errs = append(errs, fmt.Errorf("send magic packet to %s:%d: %w", h, port, err))
				continue
			}
			sent++
		}
	}
	if sent == 0 {
		return errors.Join(append([]error{errors.New("no magic packet sent")}, errs...)...)
	}
	return nil
}

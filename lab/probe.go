package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"slices"
	"syscall"
	"time"
)

// ProbeRTT returns the median TCP connect time, one round trip, of five
// connects from namespace ns to addr, where something must listen.
func ProbeRTT(ctx context.Context, ns, addr string) (time.Duration, error) {
	var rtts []time.Duration
	for range 5 {
		err := inNetns(ns, func() error {
			start := time.Now()
			c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", addr)
			if err != nil {
				return fmt.Errorf("probe %s from %s: %w", addr, ns, err)
			}
			rtts = append(rtts, time.Since(start))
			return c.Close()
		})
		if err != nil {
			return 0, err
		}
	}
	slices.Sort(rtts)
	return rtts[len(rtts)/2], nil
}

// ProbeRate sends n bytes over TCP from namespace from (listening on
// addr's host) to namespace to and returns the goodput in Mbit/s over the
// last three quarters of the transfer, after TCP's slow start. The sender
// uses BBR when the kernel has it, whatever the namespaces' congestion
// control: the probe checks the shaper, and a loss-based congestion
// control on a lossy uplink would measure the loss instead.
func ProbeRate(ctx context.Context, from, to string, host string, n int64) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var ln net.Listener
	if err := inNetns(from, func() error {
		var err error
		ln, err = (&net.ListenConfig{}).Listen(ctx, "tcp", net.JoinHostPort(host, "0"))
		return err
	}); err != nil {
		return 0, fmt.Errorf("probe rate: listen: %w", err)
	}
	defer ln.Close()
	sent := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			sent <- err
			return
		}
		defer c.Close()
		setCongestion(c, CCBBR)
		_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
		_, err = io.CopyN(c, zeros{}, n)
		sent <- err
	}()
	var conn net.Conn
	if err := inNetns(to, func() error {
		var err error
		conn, err = (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, "tcp", ln.Addr().String())
		return err
	}); err != nil {
		return 0, fmt.Errorf("probe rate: dial: %w", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Minute))
	buf := make([]byte, 64*1024)
	var got int64
	var mark time.Time
	for got < n {
		k, err := conn.Read(buf)
		got += int64(k)
		if mark.IsZero() && got >= n/4 {
			mark = time.Now()
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("probe rate: read: %w", err)
		}
	}
	end := time.Now()
	if err := <-sent; err != nil {
		return 0, fmt.Errorf("probe rate: send: %w", err)
	}
	if got < n || !end.After(mark) {
		return 0, fmt.Errorf("probe rate: received %d of %d bytes", got, n)
	}
	return float64(got-n/4) * 8 / end.Sub(mark).Seconds() / 1e6, nil
}

// setCongestion sets a TCP connection's congestion control, where the
// kernel allows it; otherwise the connection keeps its namespace's.
func setCongestion(c net.Conn, cc string) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		_ = syscall.SetsockoptString(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, cc)
	})
}

// UplinkTolerance is how far the uplink check's goodput may be from the
// rate a perfect shaper gives TCP payload, U·WireShare, before the lab
// refuses to run: its numbers would describe another uplink.
const UplinkTolerance = 0.10

// checkUplink decides the uplink check: measured goodput (Mbit/s) against
// configured rate U.
func checkUplink(measured, uplink float64) error {
	want := uplink * WireShare
	if math.Abs(measured-want) > UplinkTolerance*want {
		return fmt.Errorf("uplink check: TCP goodput %.1f Mbit/s towards the branch, want U·1448/1500 = %.1f Mbit/s ± %.0f %%: the shaping does not hold (a loaded host, or a broken delay line)",
			measured, want, UplinkTolerance*100)
	}
	return nil
}

// uplinkProbes is how many probes the uplink check takes when the first
// is off: one 4 s reading can be thrown by a scheduling hiccup of the
// delay line (17.4 Mbit/s on a 16 Mbit/s uplink once, on an idle host,
// right after another lab run), so the check decides on the median.
const uplinkProbes = 3

// probeUplink runs probe and checks its goodput against uplink (Mbit/s);
// when the reading is off, it probes until it has uplinkProbes readings
// and decides on their median. It returns the rate it decided on.
func probeUplink(probe func() (float64, error), uplink float64) (float64, error) {
	var rates []float64
	for len(rates) < uplinkProbes {
		rate, err := probe()
		if err != nil {
			return 0, err
		}
		rates = append(rates, rate)
		if len(rates) == 1 && checkUplink(rate, uplink) == nil {
			return rate, nil
		}
	}
	slices.Sort(rates)
	med := rates[len(rates)/2]
	if err := checkUplink(med, uplink); err != nil {
		return med, fmt.Errorf("%w (decided on the median of %d readings, %.1f Mbit/s)", err, len(rates), rates)
	}
	return med, nil
}

// zeros is an endless reader of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
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
// last three quarters of the transfer, after TCP's slow start.
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

// zeros is an endless reader of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

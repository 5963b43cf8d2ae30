package upstream

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

const mbitps = 1e6 / 8 // bytes per second of 1 Mbit/s

// link models an uplink: each stream moves at most perStream (the Mathis
// limit of a lossy long path), all of them together at most rate.
type link struct {
	perStream, rate float64 // bytes/s
	// slowStart doubles perStream for this long from the start: fresh
	// connections before their first loss.
	slowStart time.Duration
}

// result is what a simulated download saw.
type result struct {
	final, peak int
	goodput     float64 // bytes/s over the last 10 s
}

// simulate runs workers that take a slot, move one 1 MiB fragment over l in
// 50 ms ticks, and release it, for dur of fake time.
func simulate(t *testing.T, cfg Config, l link, workers int, dur time.Duration) result {
	t.Helper()
	var res result
	synctest.Test(t, func(t *testing.T) {
		s := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		ctx, cancel := context.WithCancel(t.Context())
		var active atomic.Int64
		var late atomic.Int64 // bytes in the last 10 s
		begin := time.Now()
		end := begin.Add(dur)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for ctx.Err() == nil {
					if s.Acquire(ctx) != nil {
						return
					}
					active.Add(1)
					for left := float64(1 << 20); left > 0 && ctx.Err() == nil; {
						time.Sleep(50 * time.Millisecond)
						per := l.perStream
						if time.Since(begin) < l.slowStart {
							per *= 2
						}
						rate := min(per, l.rate/float64(active.Load()))
						n := min(left, rate*0.05)
						left -= n
						s.Add(int64(n))
						if time.Until(end) < 10*time.Second {
							late.Add(int64(n))
						}
					}
					active.Add(-1)
					s.Release()
				}
			})
		}
		for time.Now().Before(end) {
			time.Sleep(100 * time.Millisecond)
			res.peak = max(res.peak, s.Limit())
		}
		res.final = s.Limit()
		cancel()
		wg.Wait()
		res.goodput = float64(late.Load()) / 10
	})
	return res
}

func TestStreamsFillLossyLink(t *testing.T) {
	tests := []struct {
		name              string
		cfg               Config
		link              link
		workers           int
		minFinal, maxPeak int
		minShare          float64 // of the link's rate, over the last 10 s
	}{
		// 16 Mbit/s, 80 ms RTT, 1 % loss, Reno: 1.77 Mbit/s per stream.
		{name: "reno-lossy", cfg: Config{Min: 4, Max: 24}, link: link{perStream: 1.77 * mbitps, rate: 16 * mbitps}, workers: 24,
			minFinal: 9, maxPeak: 24, minShare: 0.9},
		// The first windows after the start are inflated by slow start (4
		// streams look like 8): they must not become the base.
		{name: "slow-start", cfg: Config{Min: 4, Max: 24}, link: link{perStream: 1.77 * mbitps, rate: 16 * mbitps, slowStart: 4100 * time.Millisecond}, workers: 24,
			minFinal: 9, maxPeak: 24, minShare: 0.9},
		// One stream fills a clean link: a probe never pays.
		{name: "clean", cfg: Config{Min: 4, Max: 24}, link: link{perStream: 100 * mbitps, rate: 16 * mbitps}, workers: 24,
			minFinal: 4, maxPeak: 6, minShare: 0.95},
		// Lossier still: 0.9 Mbit/s per stream needs about 18.
		{name: "very-lossy", cfg: Config{Min: 4, Max: 32}, link: link{perStream: 0.9 * mbitps, rate: 16 * mbitps}, workers: 32,
			minFinal: 16, maxPeak: 32, minShare: 0.9},
		// The max bounds it.
		{name: "max", cfg: Config{Min: 2, Max: 6}, link: link{perStream: 1 * mbitps, rate: 16 * mbitps}, workers: 24,
			minFinal: 6, maxPeak: 6, minShare: 6.0 / 16 * 0.95},
		// The WAN rate limiter's cap (8 Mbit/s) stops the growth.
		{name: "wan-cap", cfg: Config{Min: 2, Max: 24, Cap: func() float64 { return 8 * mbitps }},
			link: link{perStream: 1.77 * mbitps, rate: 8 * mbitps}, workers: 24, minFinal: 5, maxPeak: 7, minShare: 0.9},
		// Two workers never fill four slots: nothing to decide.
		{name: "no-demand", cfg: Config{Min: 4, Max: 24}, link: link{perStream: 1.77 * mbitps, rate: 16 * mbitps}, workers: 2,
			minFinal: 4, maxPeak: 4, minShare: 2 * 1.77 / 16 * 0.95},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := simulate(t, tt.cfg, tt.link, tt.workers, 90*time.Second)
			share := got.goodput / tt.link.rate
			t.Logf("final %d, peak %d, goodput %.1f Mbit/s (%.0f %%)", got.final, got.peak, got.goodput/mbitps, share*100)
			if got.final < tt.minFinal || got.peak > tt.maxPeak {
				t.Errorf("streams: final %d (want ≥ %d), peak %d (want ≤ %d)", got.final, tt.minFinal, got.peak, tt.maxPeak)
			}
			if share < tt.minShare {
				t.Errorf("goodput %.1f Mbit/s is %.0f %% of the link, want ≥ %.0f %%", got.goodput/mbitps, share*100, tt.minShare*100)
			}
		})
	}
}

// TestStreamsGrowQuickly: a lossy link is filled within a few windows, not
// minutes (a 48 MiB package takes 25 s at 16 Mbit/s), although the first
// window, in slow start, shows twice the rate the streams then keep.
func TestStreamsGrowQuickly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(Config{Min: 4, Max: 24}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		// Unbounded demand: hold every slot; each stream moves 1.77 Mbit/s.
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		held := 0
		start := time.Now()
		for time.Since(start) < 12*time.Second {
			for held < s.Limit() {
				if err := s.Acquire(ctx); err != nil {
					t.Fatal(err)
				}
				held++
			}
			time.Sleep(100 * time.Millisecond)
			n := float64(min(held, 9)) * 1.77 * mbitps / 10 // 16 Mbit/s fill at 9
			if time.Since(start) < 4100*time.Millisecond {
				n *= 2 // Slow start of the fresh connections.
			}
			s.Add(int64(n))
		}
		if got := s.Limit(); got < 9 {
			t.Errorf("after 12 s: %d streams, want ≥ 9", got)
		}
	})
}

func TestAcquireCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(Config{Min: 1, Max: 1}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err := s.Acquire(t.Context()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if err := s.Acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Acquire on a full semaphore: %v, want deadline exceeded", err)
		}
		done := make(chan error, 1)
		go func() { done <- s.Acquire(t.Context()) }()
		synctest.Wait()
		s.Release()
		if err := <-done; err != nil {
			t.Fatalf("Acquire after Release: %v", err)
		}
		s.Release()
		// The cancelled waiter left no trace: the slot is free once.
		if err := s.Acquire(t.Context()); err != nil {
			t.Fatal(err)
		}
		s.Release()
	})
}

// TestAcquireGrantedAndCancelled: a waiter whose slot is granted as its
// context ends must not start a request (select picks either ready case),
// and the slot goes to the next waiter.
func TestAcquireGrantedAndCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(Config{Min: 1, Max: 1}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := s.Acquire(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Acquire with a cancelled context and a free slot: %v, want canceled", err)
		}
		for range 50 {
			if err := s.Acquire(t.Context()); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- s.Acquire(ctx) }()
			synctest.Wait()
			cancel()
			s.Release()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("Acquire granted and cancelled at once: %v, want canceled", err)
			}
			if err := s.Acquire(t.Context()); err != nil {
				t.Fatalf("the slot was not handed on: %v", err)
			}
			s.Release()
		}
	})
}

// TestTryAcquire: spare slots are lent only while nobody waits for one.
func TestTryAcquire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(Config{Min: 2, Max: 2}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if !s.TryAcquire() {
			t.Fatal("TryAcquire on an idle semaphore: false")
		}
		if err := s.Acquire(t.Context()); err != nil {
			t.Fatal(err)
		}
		if s.TryAcquire() {
			t.Fatal("TryAcquire on a full semaphore: true")
		}
		done := make(chan error, 1)
		go func() { done <- s.Acquire(t.Context()) }()
		synctest.Wait()
		if !s.Waiting() {
			t.Fatal("Waiting: false with a caller in Acquire")
		}
		s.Release()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if s.Waiting() {
			t.Fatal("Waiting: true after the waiter got its slot")
		}
		s.Release()
		if !s.TryAcquire() {
			t.Fatal("TryAcquire with a free slot: false")
		}
		s.Release()
		s.Release()
	})
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{name: "zero", cfg: Config{}, ok: true},
		{name: "min-above-max", cfg: Config{Min: 8, Max: 4}},
		{name: "negative", cfg: Config{Min: -1}},
		{name: "huge", cfg: Config{Max: 1000}},
		{name: "ok", cfg: Config{Min: 4, Max: 32}, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

package lab

import (
	"context"
	"sync"
	"time"
)

// busyInterval is how often the busy sampler reads the uplinks' byte
// counters: the busy span's resolution at each end.
const busyInterval = 100 * time.Millisecond

// busySpan is the span in which one uplink carried package bytes: from
// the start of the first sample interval whose growth exceeds wanQuiet
// per second to the end of the last one. It is fed the counter's running
// total; the zero value is ready.
type busySpan struct {
	from, to time.Time // zero until an interval was busy
	prev     int64
	prevAt   time.Time
}

// observe records the counter's total at time at.
func (b *busySpan) observe(at time.Time, total int64) {
	if !b.prevAt.IsZero() {
		dt := at.Sub(b.prevAt).Seconds()
		if dt > 0 && float64(total-b.prev) > wanQuiet*dt {
			if b.from.IsZero() {
				b.from = b.prevAt
			}
			b.to = at
		}
	}
	b.prev, b.prevAt = total, at
}

// seconds is the span's length, 0 when no interval was busy.
func (b busySpan) seconds() float64 {
	if b.from.IsZero() {
		return 0
	}
	return b.to.Sub(b.from).Seconds()
}

// busySampler follows the branches' downstream byte counters every
// interval (read returns them in branch order) in its own goroutine,
// which owns the spans until stop returns them.
type busySampler struct {
	cancel context.CancelFunc
	done   chan []busySpan
	once   sync.Once
	spans  []busySpan // set by stop
}

// startBusySampler takes the first reading and starts the goroutine; call
// stop to end it.
func startBusySampler(ctx context.Context, read func() []int64, interval time.Duration) *busySampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &busySampler{cancel: cancel, done: make(chan []busySpan, 1)}
	spans := make([]busySpan, len(read()))
	observe := func() {
		now := time.Now()
		for i, v := range read() {
			if i < len(spans) {
				spans[i].observe(now, v)
			}
		}
	}
	observe()
	go func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				observe()
				s.done <- spans
				return
			case <-tick.C:
				observe()
			}
		}
	}()
	return s
}

// stop ends the goroutine after a last reading and returns the spans; it
// may be called more than once.
func (s *busySampler) stop() []busySpan {
	s.once.Do(func() {
		s.cancel()
		s.spans = <-s.done
	})
	return s.spans
}

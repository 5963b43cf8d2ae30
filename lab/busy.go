package lab

import (
	"context"
	"sync"
	"time"
)

// busyInterval is how often the busy sampler reads the uplinks' byte
// counters: the busy span's resolution at each end.
const busyInterval = 100 * time.Millisecond

// busyCore is the share of the uplink rate U at which a reading's interval
// certainly carried package bytes (see busySpanOf).
const busyCore = 0.25

// reading is a byte counter's total at a time.
type reading struct {
	at    time.Time
	total int64
}

// busySpanOf returns the span in which an uplink carried package bytes,
// from its counter's readings (in time order) and the uplink's rate in
// bytes per second; zero times when no interval did. The core of the span
// runs from the first to the last interval at ≥ busyCore·U (gaps inside
// it count as busy: the deployment left the uplink idle); each end then
// takes in the adjoining intervals above wanQuiet per second (a TCP start
// or tail). Chatter after the transfer (results, PROLOGs), a few kB at a
// time, may cross wanQuiet in one 100 ms interval, but it joins the span
// only if no quiet interval separates it from the transfer. Without an
// interval at busyCore·U the span is the first to the last above wanQuiet.
func busySpanOf(rs []reading, bytesPerSec float64) (from, to time.Time) {
	n := len(rs) - 1 // intervals; interval i ends at rs[i+1]
	rate := func(i int) float64 {
		dt := rs[i+1].at.Sub(rs[i].at).Seconds()
		if dt <= 0 {
			return 0
		}
		return float64(rs[i+1].total-rs[i].total) / dt
	}
	first, last := -1, -1
	for _, min := range []float64{busyCore * bytesPerSec, wanQuiet} {
		for i := range n {
			if rate(i) >= min && min > 0 {
				if first < 0 {
					first = i
				}
				last = i
			}
		}
		if first >= 0 {
			break
		}
	}
	if first < 0 {
		return time.Time{}, time.Time{}
	}
	for first > 0 && rate(first-1) > wanQuiet {
		first--
	}
	for last < n-1 && rate(last+1) > wanQuiet {
		last++
	}
	return rs[first].at, rs[last+1].at
}

// busySampler reads the branches' downstream byte counters every
// interval (read returns them in branch order) in its own goroutine,
// which owns the readings until stop returns them.
type busySampler struct {
	cancel context.CancelFunc
	done   chan [][]reading
	once   sync.Once
	rs     [][]reading // set by stop
}

// startBusySampler takes the first reading and starts the goroutine; call
// stop to end it.
func startBusySampler(ctx context.Context, read func() []int64, interval time.Duration) *busySampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &busySampler{cancel: cancel, done: make(chan [][]reading, 1)}
	rs := make([][]reading, len(read()))
	observe := func() {
		now := time.Now()
		for i, v := range read() {
			if i < len(rs) {
				rs[i] = append(rs[i], reading{at: now, total: v})
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
				s.done <- rs
				return
			case <-tick.C:
				observe()
			}
		}
	}()
	return s
}

// stop ends the goroutine after a last reading and returns the readings
// per branch; it may be called more than once.
func (s *busySampler) stop() [][]reading {
	s.once.Do(func() {
		s.cancel()
		s.rs = <-s.done
	})
	return s.rs
}

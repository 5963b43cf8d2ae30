package sim

import (
	"context"
	"io"
	"math"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// chunk is the unit a flow waits for on each link it crosses.
const chunk = 64 << 10

// mss is the TCP payload of a full-size segment.
const mss = 1448

// link is one direction of a shaped link: a rate that the flows crossing
// it share, chunk by chunk. The limiter is its own lock; the counters are
// atomic.
type link struct {
	lim   *rate.Limiter // nil: unlimited
	bytes atomic.Int64
	last  atomic.Int64 // virtual UnixNano of the last byte that crossed
}

// newLink returns a link of mbit Mbit/s; 0 is unlimited.
func newLink(mbit float64) *link {
	if mbit <= 0 {
		return &link{}
	}
	return &link{lim: rate.NewLimiter(rate.Limit(mbit*1e6/8), chunk)}
}

// newCap returns a per-flow limiter of bytesPerSec, nil for none.
func newCap(bytesPerSec float64) *rate.Limiter {
	if bytesPerSec <= 0 || math.IsInf(bytesPerSec, 1) {
		return nil
	}
	return rate.NewLimiter(rate.Limit(bytesPerSec), chunk)
}

// mathis is the rate in bytes per second one Reno TCP stream keeps on a
// path of round trip rtt and loss (0..1): MSS/RTT · 1.22/√loss. No loss is
// no cap.
func mathis(rtt time.Duration, loss float64) float64 {
	if loss <= 0 || rtt <= 0 {
		return 0
	}
	return mss / rtt.Seconds() * 1.22 / math.Sqrt(loss)
}

// flow delivers data across links, at the pace they and the per-flow cap
// allow. It is read by one goroutine.
type flow struct {
	ctx     context.Context
	data    []byte
	off     int
	links   []*link
	cap     *rate.Limiter
	onClose func()
	closed  bool
}

func (f *flow) Read(p []byte) (int, error) {
	if f.off >= len(f.data) {
		return 0, io.EOF
	}
	n := min(len(p), chunk, len(f.data)-f.off)
	for _, l := range f.links {
		if l.lim == nil {
			continue
		}
		if err := l.lim.WaitN(f.ctx, n); err != nil {
			return 0, err
		}
	}
	if f.cap != nil {
		if err := f.cap.WaitN(f.ctx, n); err != nil {
			return 0, err
		}
	}
	if err := f.ctx.Err(); err != nil {
		return 0, err
	}
	now := time.Now().UnixNano()
	for _, l := range f.links {
		l.bytes.Add(int64(n))
		l.last.Store(now)
	}
	copy(p, f.data[f.off:f.off+n])
	f.off += n
	return n, nil
}

func (f *flow) Close() error {
	if !f.closed && f.onClose != nil {
		f.onClose()
	}
	f.closed = true
	return nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// WANConfig caps the relay's upstream transfers, all of them together.
// Serving the LAN is never capped.
type WANConfig struct {
	// RateMbit is the cap in Mbit/s (0: none).
	RateMbit float64 `yaml:"rate_mbit"`
	// Windows override RateMbit at times of day (local time); the first
	// window that contains the time wins.
	Windows []WANWindow `yaml:"windows"`
}

// WANWindow is a daily time range with its own cap. From after To wraps
// past midnight ("22:00" to "06:00").
type WANWindow struct {
	From     string  `yaml:"from"`
	To       string  `yaml:"to"`
	RateMbit float64 `yaml:"rate_mbit"`
}

func (c WANConfig) validate() error {
	var errs []error
	if c.RateMbit < 0 {
		errs = append(errs, errors.New("wan.rate_mbit is negative"))
	}
	for i, w := range c.Windows {
		_, err1 := clockMinutes(w.From)
		_, err2 := clockMinutes(w.To)
		if err := errors.Join(err1, err2); err != nil {
			errs = append(errs, fmt.Errorf("wan.windows[%d]: %w", i, err))
		}
		if w.RateMbit < 0 {
			errs = append(errs, fmt.Errorf("wan.windows[%d]: rate_mbit is negative", i))
		}
	}
	return errors.Join(errs...)
}

// clockMinutes parses "HH:MM" into minutes since midnight.
func clockMinutes(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("time of day %q: want HH:MM", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// bitsAt returns the cap in bit/s at t (0: none).
func (c WANConfig) bitsAt(t time.Time) float64 {
	m := t.Hour()*60 + t.Minute()
	for _, w := range c.Windows {
		from, _ := clockMinutes(w.From)
		to, _ := clockMinutes(w.To)
		in := from <= m && m < to
		if from > to {
			in = m >= from || m < to
		}
		if in {
			return w.RateMbit * 1e6
		}
	}
	return c.RateMbit * 1e6
}

// wanBurst is the limiter's bucket: reads are cut to this size.
const wanBurst = 32 << 10

// wan is the token bucket every upstream read goes through.
type wan struct {
	cfg WANConfig
	now func() time.Time
	lim *rate.Limiter
	n   atomic.Int64 // bytes read through the limiter, as they arrive

	mu   sync.Mutex // guards bits
	bits float64    // cap applied to lim now
}

func newWAN(cfg WANConfig, now func() time.Time) *wan {
	return &wan{cfg: cfg, now: now, lim: rate.NewLimiter(rate.Inf, wanBurst)}
}

// current applies the cap of this moment and returns it in bit/s.
func (w *wan) current() float64 {
	bits := w.cfg.bitsAt(w.now())
	w.mu.Lock()
	defer w.mu.Unlock()
	if bits != w.bits {
		w.bits = bits
		if bits == 0 {
			w.lim.SetLimit(rate.Inf)
		} else {
			w.lim.SetLimit(rate.Limit(bits / 8))
		}
	}
	return bits
}

// reader wraps an upstream body so that its bytes count against the cap.
func (w *wan) reader(ctx context.Context, r io.Reader) io.Reader {
	return &wanReader{ctx: ctx, w: w, r: r}
}

type wanReader struct {
	ctx context.Context
	w   *wan
	r   io.Reader
}

func (r *wanReader) Read(p []byte) (int, error) {
	if r.w.current() == 0 {
		n, err := r.r.Read(p)
		r.w.n.Add(int64(n))
		return n, err
	}
	n, err := r.r.Read(p[:min(len(p), wanBurst)])
	r.w.n.Add(int64(n))
	if n > 0 {
		if werr := r.w.lim.WaitN(r.ctx, n); werr != nil {
			return n, fmt.Errorf("wan limiter: %w", werr)
		}
	}
	return n, err
}

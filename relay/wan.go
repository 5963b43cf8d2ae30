package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
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
// past midnight ("22:00" to "06:00"); From equal to To is the whole day.
type WANWindow struct {
	From string `yaml:"from"`
	To   string `yaml:"to"`
	// Days, when set, limits the window to these days of the week ("mon",
	// "tuesday", …). A window that wraps past midnight belongs to the day
	// it starts: {from: "22:00", to: "06:00", days: [fri]} runs from
	// Friday 22:00 to Saturday 06:00.
	Days     []string `yaml:"days"`
	RateMbit float64  `yaml:"rate_mbit"`
}

// parseDay returns the weekday of a name such as "mon" or "Monday".
func parseDay(s string) (time.Weekday, error) {
	l := strings.ToLower(strings.TrimSpace(s))
	for d := time.Sunday; d <= time.Saturday; d++ {
		name := strings.ToLower(d.String())
		if len(l) >= 3 && strings.HasPrefix(name, l) {
			return d, nil
		}
	}
	return 0, fmt.Errorf("day %q: want mon, tue, wed, thu, fri, sat or sun", s)
}

// onDay reports whether the window runs on day d (every day without Days).
func (w WANWindow) onDay(d time.Weekday) bool {
	if len(w.Days) == 0 {
		return true
	}
	for _, s := range w.Days {
		if wd, err := parseDay(s); err == nil && wd == d {
			return true
		}
	}
	return false
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
		for _, d := range w.Days {
			if _, err := parseDay(d); err != nil {
				errs = append(errs, fmt.Errorf("wan.windows[%d]: %w", i, err))
			}
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

// bitsAt returns the cap in bit/s at t (0: none), in t's location (the
// relay passes local time).
func (c WANConfig) bitsAt(t time.Time) float64 {
	m := t.Hour()*60 + t.Minute()
	for _, w := range c.Windows {
		from, _ := clockMinutes(w.From)
		to, _ := clockMinutes(w.To)
		day := t.Weekday()
		var in bool
		switch {
		case from < to:
			in = from <= m && m < to
		case from == to:
			in = true
		case m >= from:
			in = true
		case m < to:
			in, day = true, (day+6)%7 // The window started yesterday.
		}
		if in && w.onDay(day) {
			return w.RateMbit * 1e6
		}
	}
	return c.RateMbit * 1e6
}

// LANConfig optionally caps serving the branch (all clients together).
type LANConfig struct {
	// RateMbit is the cap in Mbit/s (0, the default: none).
	RateMbit float64 `yaml:"rate_mbit"`
}

// lanBurst is the LAN limiter's bucket: writes are cut to this size.
const lanBurst = 64 << 10

// newLAN returns the LAN limiter, nil without a cap.
func newLAN(c LANConfig) *rate.Limiter {
	if c.RateMbit <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(c.RateMbit*1e6/8), lanBurst)
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

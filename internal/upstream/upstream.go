// Package upstream sizes the parallel streams of a WAN download: the relay's
// fragment fetches from central and a WAN-owner agent's. One TCP connection
// on a long, lossy uplink moves about MSS/RTT·1.22/√p whatever the link's
// rate (Mathis et al.; 1.8 Mbit/s at 80 ms and 1 % loss with Reno), so a
// fixed handful of streams leaves most of a 16 Mbit/s uplink idle, while a
// fixed large number is wasted on a short clean link and unfair to the
// branch's other traffic.
//
// Streams is a counting semaphore whose size follows the measured goodput:
// a hill climber over fixed windows. Each window in which every slot was
// busy (the demand was there) yields the goodput at the current size,
// except the first two after an idle spell: fresh TCP connections start
// with a burst (slow start, then a queue to drain), and on a lossy long
// link the first seconds show up to twice the rate the same streams keep
// afterwards (seen in the branch lab: 13.9 Mbit/s from 6 Reno streams at
// 80 ms and 1 % loss, which then settled at 9), a base no probe could
// beat. The
// size then grows by half (at least one stream) and the next window says
// whether that paid: goodput up by more than MinGain keeps the step and
// grows again; anything less reverts to the previous size, which is held
// for Hold windows before the next probe. A size whose goodput reaches the
// cap (Config.Cap, the WAN rate limiter) is not grown. Windows in which the
// slots were not all busy (the end of a package, an idle relay) decide
// nothing. Every stream must be its own TCP connection (HTTP/1.1, no HTTP/2
// multiplexing) for this to mean anything.
//
// Streams starts no goroutine: windows are closed by the calls that find
// them over (Acquire, Release, Add), so the controller runs exactly while
// there is traffic, and testing/synctest drives it with the fake clock.
package upstream

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Config tunes a Streams.
type Config struct {
	// Min is the starting size and the smallest (default 4).
	Min int `yaml:"min"`
	// Max is the largest size (default 24).
	Max int `yaml:"max"`
	// Window is the measuring window (default 2s).
	Window time.Duration `yaml:"window"`
	// MinGain is the goodput increase, as a fraction, that a larger size
	// must bring to be kept (default 0.1).
	MinGain float64 `yaml:"min_gain"`
	// Hold is how many windows a size is kept after a probe that did not
	// pay before the next probe (default 3).
	Hold int `yaml:"hold"`
	// Cap returns the current cap on goodput in bytes per second (0: none);
	// a size at 95 % of it is not grown. Nil means no cap.
	Cap func() float64 `yaml:"-"`
}

func (c Config) withDefaults() Config {
	if c.Min <= 0 {
		c.Min = 4
	}
	if c.Max <= 0 {
		c.Max = 24
	}
	c.Max = max(c.Max, c.Min)
	if c.Window <= 0 {
		c.Window = 2 * time.Second
	}
	if c.MinGain <= 0 {
		c.MinGain = 0.1
	}
	if c.Hold <= 0 {
		c.Hold = 3
	}
	return c
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Min < 0 || c.Max < 0:
		return fmt.Errorf("upstream streams: min %d, max %d: must not be negative", c.Min, c.Max)
	case c.Max > 0 && c.Min > c.Max:
		return fmt.Errorf("upstream streams: min %d is above max %d", c.Min, c.Max)
	case c.Max > 256:
		return fmt.Errorf("upstream streams: max %d: want at most 256", c.Max)
	case c.Window < 0 || c.MinGain < 0 || c.Hold < 0:
		return fmt.Errorf("upstream streams: window, min_gain and hold must not be negative")
	}
	return nil
}

// warmup is how many saturated windows after an idle spell decide nothing.
const warmup = 2

// saturated is the share of the window's slot-time that must have been in
// use (or waited for) for the window to decide.
const saturated = 0.9

// Streams is an adaptive counting semaphore; see the package comment. Its
// mutex owns every field below it.
type Streams struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	limit   int
	inUse   int
	waiters []chan struct{} // FIFO; a closed channel holds a granted slot

	// The current window.
	start time.Time // zero: no window open
	last  time.Time // last time busy was integrated
	bytes int64
	busy  float64 // slot-seconds in use or waited for

	// The climber.
	base      float64 // goodput at the size before a probe, bytes/s
	probeFrom int     // size before the pending probe; 0: no probe pending
	hold      int     // windows to wait before the next probe
	warm      int     // saturated windows since the last idle spell
	good      float64 // goodput of the last deciding window, bytes/s
}

// New returns a Streams of cfg.Min slots.
func New(cfg Config, log *slog.Logger) *Streams {
	cfg = cfg.withDefaults()
	return &Streams{cfg: cfg, log: log, limit: cfg.Min}
}

// Limit returns the current number of slots.
func (s *Streams) Limit() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tickLocked(time.Now())
	return s.limit
}

// Max returns the largest number of slots, the workers worth starting.
func (s *Streams) Max() int { return s.cfg.Max }

// Goodput returns the goodput of the last window that decided, in bytes
// per second.
func (s *Streams) Goodput() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.good
}

// Acquire waits for a slot or ctx's end. Each successful Acquire needs one
// Release.
func (s *Streams) Acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	s.tickLocked(time.Now())
	if s.inUse < s.limit && len(s.waiters) == 0 {
		s.inUse++
		s.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	s.waiters = append(s.waiters, ch)
	s.mu.Unlock()
	select {
	case <-ch:
		if err := ctx.Err(); err != nil {
			// Granted and cancelled at once (select picks either): a
			// cancelled caller must not start a request.
			s.Release()
			return err
		}
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		defer s.mu.Unlock()
		select {
		case <-ch: // Granted meanwhile: hand it on.
			s.inUse--
			s.grantLocked()
		default:
			for i, w := range s.waiters {
				if w == ch {
					s.waiters = append(s.waiters[:i], s.waiters[i+1:]...)
					break
				}
			}
		}
		return ctx.Err()
	}
}

// TryAcquire takes a slot only if one is free and nobody waits for one:
// spare capacity, which the relay lends to the last fragments of a package
// (byte ranges over idle streams). Each true needs one Release.
func (s *Streams) TryAcquire() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tickLocked(time.Now())
	if s.inUse < s.limit && len(s.waiters) == 0 {
		s.inUse++
		return true
	}
	return false
}

// Waiting reports whether a caller waits for a slot.
func (s *Streams) Waiting() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.waiters) > 0
}

// Release frees a slot taken by Acquire or TryAcquire.
func (s *Streams) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tickLocked(time.Now())
	s.inUse--
	s.grantLocked()
}

// Add counts n bytes of goodput (payload read from upstream).
func (s *Streams) Add(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tickLocked(time.Now())
	s.bytes += n
}

// grantLocked hands free slots to waiters in order.
func (s *Streams) grantLocked() {
	for s.inUse < s.limit && len(s.waiters) > 0 {
		close(s.waiters[0])
		s.waiters = s.waiters[1:]
		s.inUse++
	}
}

// tickLocked integrates the busy slot-time up to now and closes the window
// when it is over.
func (s *Streams) tickLocked(now time.Time) {
	if s.start.IsZero() {
		s.start, s.last = now, now
		return
	}
	s.busy += float64(min(s.inUse+len(s.waiters), s.limit)) * now.Sub(s.last).Seconds()
	s.last = now
	el := now.Sub(s.start)
	if el < s.cfg.Window {
		return
	}
	if el > 3*s.cfg.Window {
		// Nothing happened for a while: the window says nothing about
		// the current traffic, a pending probe is stale, and the next
		// window starts fresh connections again.
		s.probeFrom, s.warm = 0, 0
		s.resetLocked(now)
		return
	}
	secs := el.Seconds()
	full := s.busy >= saturated*float64(s.limit)*secs
	g := float64(s.bytes) / secs
	s.resetLocked(now)
	if !full {
		s.probeFrom = 0 // Too little demand to tell; keep the size.
		return
	}
	if s.warm < warmup {
		s.warm++ // Slow start inflates it; see the package comment.
		return
	}
	s.decideLocked(g)
}

func (s *Streams) resetLocked(now time.Time) {
	s.start, s.last, s.bytes, s.busy = now, now, 0, 0
}

// decideLocked is the hill climber, fed with the goodput g of a window in
// which every slot was busy.
func (s *Streams) decideLocked(g float64) {
	s.good = g
	if s.probeFrom > 0 {
		from, to := s.probeFrom, s.limit
		s.probeFrom = 0
		if g > s.base*(1+s.cfg.MinGain) {
			s.base = g
			s.log.Debug("upstream streams: more paid", "from", from, "to", to, "goodput_mbit", mbit(g))
			s.growLocked(g)
			return
		}
		s.setLocked(from)
		s.hold = s.cfg.Hold
		s.log.Debug("upstream streams: more did not pay; back", "tried", to, "streams", from,
			"goodput_mbit", mbit(g), "before_mbit", mbit(s.base))
		return
	}
	s.base = g
	if s.hold > 0 {
		s.hold--
		return
	}
	s.growLocked(g)
}

// growLocked probes a larger size unless the size is at Max or at the cap.
func (s *Streams) growLocked(g float64) {
	if s.limit >= s.cfg.Max {
		return
	}
	if s.cfg.Cap != nil {
		if c := s.cfg.Cap(); c > 0 && g >= 0.95*c {
			return
		}
	}
	s.probeFrom = s.limit
	s.setLocked(min(s.cfg.Max, s.limit+max(1, s.limit/2)))
}

func (s *Streams) setLocked(n int) {
	if n == s.limit {
		return
	}
	s.log.Debug("upstream streams changed", "from", s.limit, "to", n)
	s.limit = n
	s.grantLocked()
}

func mbit(bytesPerSec float64) float64 {
	return float64(int(bytesPerSec*8/1e4)) / 100
}

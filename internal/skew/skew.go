// Package skew measures this host's clock offset from central's, from the
// Date header of central's answers, so that agents and relays can sign
// time-checked requests (tracker calls) in central's time and warn when
// their clock is far off.
//
// The Date header has a resolution of one second and is written when the
// answer starts (for a long poll: when it ends), so the offset is
// Date + 0.5 s − the local time the answer arrived, within about a second
// plus the network delay: plenty against the tracker's five minutes.
// Only answers from central count: the caller wraps the transport of its
// central client (TLS to central's pinned CA) and nothing else.
package skew

import (
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// WarnOffset is the offset above which the clock is reported as far off
// (the tracker refuses requests more than five minutes off).
const WarnOffset = 5 * time.Minute

// reportStep is the change of offset that is reported again (OnChange).
const reportStep = 2 * time.Second

// Status is the last measurement.
type Status struct {
	// Offset is central's clock minus ours.
	Offset time.Duration
	// Measured is false until a Date header has been seen.
	Measured bool
	// At is the local time of the measurement.
	At time.Time
}

// Large reports whether the offset is above WarnOffset either way.
func (s Status) Large() bool { return s.Offset > WarnOffset || s.Offset < -WarnOffset }

// Clock is the local clock corrected by the offset last measured from
// central; it is safe for concurrent use.
type Clock struct {
	local func() time.Time
	log   *slog.Logger

	mu       sync.Mutex // guards the fields below
	st       Status
	reported Status
	onChange func(Status)
}

// New returns a Clock over local (nil: time.Now) that has measured
// nothing yet: Now is local time until the first Observe.
func New(local func() time.Time, logger *slog.Logger) *Clock {
	if local == nil {
		local = time.Now
	}
	return &Clock{local: local, log: logger.With("component", "clock")}
}

// OnChange sets f, called (outside the Clock's lock, on the goroutine of
// the answer) after the first measurement and whenever the offset moved
// by two seconds or more, or crossed WarnOffset.
func (c *Clock) OnChange(f func(Status)) {
	c.mu.Lock()
	c.onChange = f
	c.mu.Unlock()
}

// Local is the local clock.
func (c *Clock) Local() time.Time { return c.local() }

// Now is central's time as far as it was measured.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	off := c.st.Offset
	c.mu.Unlock()
	return c.local().Add(off)
}

// Status returns the last measurement.
func (c *Clock) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st
}

// Observe takes the Date header value of an answer from central that
// arrived at local time received. An empty or malformed value is ignored.
func (c *Clock) Observe(date string, received time.Time) {
	if date == "" {
		return
	}
	t, err := http.ParseTime(date)
	if err != nil {
		return
	}
	off := t.Add(500 * time.Millisecond).Sub(received)
	c.mu.Lock()
	c.st = Status{Offset: off, Measured: true, At: received}
	prev := c.reported
	report := !prev.Measured || prev.Large() != c.st.Large() || absDur(off-prev.Offset) >= reportStep
	if report {
		c.reported = c.st
	}
	st, f := c.st, c.onChange
	c.mu.Unlock()
	if !report {
		return
	}
	switch {
	case st.Large():
		c.log.Warn("local clock is far off central's; tracker requests are signed in central's time",
			"offset", off.Round(time.Second), "limit", WarnOffset)
	case prev.Large():
		c.log.Info("local clock is back near central's", "offset", off.Round(time.Second))
	default:
		c.log.Debug("clock offset from central", "offset", off.Round(time.Second))
	}
	if f != nil {
		f(st)
	}
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// Transport returns a RoundTripper that sends through base (nil:
// http.DefaultTransport) and observes the Date of every answer.
func (c *Clock) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{base: base, clock: c}
}

type transport struct {
	base  http.RoundTripper
	clock *Clock
}

// RoundTrip implements http.RoundTripper.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err == nil {
		t.clock.Observe(resp.Header.Get("Date"), t.clock.local())
	}
	return resp, err
}

// CloseIdleConnections passes on to base, so that http.Client's
// CloseIdleConnections keeps working.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

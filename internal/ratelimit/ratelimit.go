// Package ratelimit holds a token bucket per key (a client address or a
// user name), used to slow down password guessing.
package ratelimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// MaxKeys bounds the keys a limiter remembers; past it, keys whose
// bucket is full again are forgotten.
const MaxKeys = 10000

// Keyed is a token bucket per key: perMinute attempts a minute with a
// burst of the same size.
type Keyed struct {
	perMinute int
	// mu guards buckets.
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	last time.Time
}

// New returns a Keyed limiter of perMinute attempts a minute per key.
func New(perMinute int) *Keyed {
	return &Keyed{perMinute: perMinute, buckets: map[string]*bucket{}}
}

// Allow takes one token from key's bucket at now and reports whether there
// was one.
func (l *Keyed) Allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= MaxKeys {
			l.prune(now)
		}
		b = &bucket{lim: rate.NewLimiter(rate.Every(time.Minute/time.Duration(l.perMinute)), l.perMinute)}
		l.buckets[key] = b
	}
	b.last = now
	return b.lim.AllowN(now, 1)
}

// prune forgets the buckets that have refilled since their last use; when
// none has, it forgets them all rather than grow without bound. l.mu is held.
func (l *Keyed) prune(now time.Time) {
	for k, b := range l.buckets {
		if now.Sub(b.last) >= time.Minute {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= MaxKeys {
		clear(l.buckets)
	}
}

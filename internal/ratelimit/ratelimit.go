// Package ratelimit holds a token bucket per key (a client address or a
// user name), used to slow down password guessing, and Logins, the guard
// that central's UI login and the REST API's HTTP Basic authentication put
// in front of every password check.
package ratelimit

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// MaxKeys bounds the keys a limiter remembers; past it, keys whose
// bucket is full again are forgotten first, then the least restricted one.
const MaxKeys = 10000

// Keyed is a token bucket per key: perMinute attempts a minute with a
// burst (by default the same number).
type Keyed struct {
	perMinute, burst int
	// mu guards buckets.
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	last time.Time
	// refused is set from a refusal until the bucket is full again, so
	// that the first refusal of an episode can be told apart (and audited
	// once, however long an attacker keeps it empty).
	refused bool
}

// New returns a Keyed limiter of perMinute attempts a minute per key, with
// a burst of the same size.
func New(perMinute int) *Keyed {
	return NewBurst(perMinute, perMinute)
}

// NewBurst returns a Keyed limiter of perMinute attempts a minute per key
// with the given burst.
func NewBurst(perMinute, burst int) *Keyed {
	return &Keyed{perMinute: perMinute, burst: max(burst, 1), buckets: map[string]*bucket{}}
}

// Allow takes one token from key's bucket at now and reports whether there
// was one.
func (l *Keyed) Allow(key string, now time.Time) bool {
	ok, _ := l.Take(key, now)
	return ok
}

// Take takes one token from key's bucket at now. ok reports whether there
// was one; first is set on the first refusal since the bucket was last full:
// the start of a lock-out episode.
func (l *Keyed) Take(key string, now time.Time) (ok, first bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= MaxKeys {
			l.prune(now)
		}
		b = &bucket{lim: rate.NewLimiter(rate.Every(time.Minute/time.Duration(l.perMinute)), l.burst)}
		l.buckets[key] = b
	}
	b.last = now
	if b.refused && b.lim.TokensAt(now) >= float64(l.burst) {
		b.refused = false
	}
	if b.lim.AllowN(now, 1) {
		return true, false
	}
	first = !b.refused
	b.refused = true
	return false, first
}

// prune forgets the buckets that are full again (a fresh bucket is the
// same); when that frees too little, it forgets the tenth of the keys with
// the most tokens, so that a flood of new keys never resets the most
// restricted ones, and each insert costs O(log n) amortised. l.mu is held.
func (l *Keyed) prune(now time.Time) {
	type entry struct {
		key    string
		tokens float64
	}
	entries := make([]entry, 0, len(l.buckets))
	for k, b := range l.buckets {
		tokens := b.lim.TokensAt(now)
		if tokens >= float64(l.burst) {
			delete(l.buckets, k)
			continue
		}
		entries = append(entries, entry{k, tokens})
	}
	if len(l.buckets) < MaxKeys*9/10 {
		return
	}
	slices.SortFunc(entries, func(a, b entry) int { return cmp.Compare(b.tokens, a.tokens) })
	for _, e := range entries[:len(entries)/10] {
		delete(l.buckets, e.key)
	}
}

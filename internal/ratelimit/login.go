package ratelimit

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// LoginConfig sets the budgets of a Logins guard, in attempts a minute.
type LoginConfig struct {
	// PerClient bounds attempts from one client address, whatever the user
	// name (it also bounds the bcrypt work one client causes).
	PerClient int
	// PerClientUser bounds attempts for one user name from one client
	// address: a client that guesses wrong this often is refused for that
	// user, and only that client is.
	PerClientUser int
	// PerUser is the per-user back-off: attempts for one user name from
	// every client that is not known good together, with a burst of
	// PerUserBurst. Once it is spent, only known-good clients (clients that
	// logged in as that user before) may try that user. It must not be
	// below PerClientUser, so that one client alone can never set it off.
	PerUser, PerUserBurst int
}

// Validate checks the budgets.
func (c LoginConfig) Validate() error {
	if c.PerClient < 1 || c.PerClientUser < 1 || c.PerUser < 1 || c.PerUserBurst < 1 {
		return errors.New("login rates must be at least 1 per minute")
	}
	if c.PerUser < c.PerClientUser || c.PerUserBurst < c.PerClientUser {
		return fmt.Errorf("the per-user back-off (%d a minute, burst %d) must not be below the per-client-and-user limit (%d a minute), or one client could lock a user out",
			c.PerUser, c.PerUserBurst, c.PerClientUser)
	}
	return nil
}

// Verdict is the answer of Logins.Check.
type Verdict int

// Verdicts of Logins.Check.
const (
	// Allowed: check the password.
	Allowed Verdict = iota
	// ClientLimited: this client tried too often (for any user, or for this
	// user).
	ClientLimited
	// UserBackoff: the user's back-off is active and this client is not
	// known good for that user.
	UserBackoff
)

// Decision is a Verdict and whether it starts a lock-out episode (the first
// refusal after an allowed attempt), which is worth one audit row.
type Decision struct {
	Verdict Verdict
	First   bool
}

// maxUserKey bounds the part of a user name used as a key.
const maxUserKey = 128

// Logins guards password checks with a per-client limit, a per-client-and-
// user limit and a per-user back-off that known-good clients skip: guessing
// from one address never locks the real user out, guessing from many
// addresses is slowed to the back-off's rate for clients the user never
// logged in from, and the user's own browser still gets in.
type Logins struct {
	client, clientUser, user *Keyed
}

// NewLogins returns a guard; cfg must be valid.
func NewLogins(cfg LoginConfig) *Logins {
	return &Logins{
		client:     New(cfg.PerClient),
		clientUser: New(cfg.PerClientUser),
		user:       NewBurst(cfg.PerUser, cfg.PerUserBurst),
	}
}

// UserKey is the key of a user name: case-folded and bounded.
func UserKey(user string) string {
	user = strings.ToLower(user)
	if len(user) > maxUserKey {
		user = user[:maxUserKey]
	}
	return user
}

// Check spends one attempt of client for user at now, before the password
// is checked. knownGood is whether client proved it logged in as user
// before; such clients skip the per-user back-off but not the per-client
// limits.
func (g *Logins) Check(client, user string, knownGood bool, now time.Time) Decision {
	user = UserKey(user)
	if ok, first := g.client.Take(client, now); !ok {
		return Decision{ClientLimited, first}
	}
	if ok, first := g.clientUser.Take(client+"\x00"+user, now); !ok {
		return Decision{ClientLimited, first}
	}
	if knownGood {
		return Decision{Verdict: Allowed}
	}
	if ok, first := g.user.Take(user, now); !ok {
		return Decision{UserBackoff, first}
	}
	return Decision{Verdict: Allowed}
}

// Sampler lets through at most perMinute events a minute and counts the
// rest, so that a flood of failed logins writes a bounded number of audit
// rows, each saying how many were left out before it.
type Sampler struct {
	// mu guards lim and dropped.
	mu      sync.Mutex
	lim     *rate.Limiter
	dropped int
}

// NewSampler returns a Sampler of perMinute events a minute (and a burst of
// the same size).
func NewSampler(perMinute int) *Sampler {
	return &Sampler{lim: rate.NewLimiter(rate.Every(time.Minute/time.Duration(perMinute)), perMinute)}
}

// Take reports whether an event at now may be recorded and, if so, how many
// were left out since the last recorded one.
func (s *Sampler) Take(now time.Time) (ok bool, dropped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.lim.AllowN(now, 1) {
		s.dropped++
		return false, 0
	}
	dropped, s.dropped = s.dropped, 0
	return true, dropped
}

// Annotate decides like Take whether an event at now may be recorded and
// returns its detail, followed by how many events (what they are, e.g.
// "failed logins or lock-outs") were left out before it, if any.
func (s *Sampler) Annotate(now time.Time, detail, what string) (string, bool) {
	ok, dropped := s.Take(now)
	if ok && dropped > 0 {
		detail += fmt.Sprintf(" (%d earlier %s not recorded one by one)", dropped, what)
	}
	return detail, ok
}

// Known remembers keys (a user name and a client address) for a while,
// bounded to MaxKeys: the clients known good for a user.
type Known struct {
	ttl time.Duration
	// mu guards seen.
	mu   sync.Mutex
	seen map[string]time.Time
}

// NewKnown returns a Known that forgets a key ttl after it was last added.
func NewKnown(ttl time.Duration) *Known {
	return &Known{ttl: ttl, seen: map[string]time.Time{}}
}

// Add remembers key at now.
func (k *Known) Add(key string, now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.seen[key]; !ok && len(k.seen) >= MaxKeys {
		oldest, at := "", now
		for kk, t := range k.seen {
			if now.Sub(t) > k.ttl {
				delete(k.seen, kk)
			} else if t.Before(at) {
				oldest, at = kk, t
			}
		}
		if len(k.seen) >= MaxKeys {
			delete(k.seen, oldest)
		}
	}
	k.seen[key] = now
}

// Has reports whether key was added within the ttl before now.
func (k *Known) Has(key string, now time.Time) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	t, ok := k.seen[key]
	return ok && now.Sub(t) <= k.ttl
}

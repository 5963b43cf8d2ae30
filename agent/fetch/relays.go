package fetch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/shoal-project/shoal/internal/fragstore"
	"github.com/shoal-project/shoal/proto"
)

// SetRelays replaces the site's relays, tried before the fixed sources.
// The agent calls it with every job list; a relay that stays listed keeps
// its failure count and cool-off.
func (f *Fetcher) SetRelays(relays []Source) { f.relays.set(relays) }

// HasRelays reports whether relays are configured (cooling off or not).
func (f *Fetcher) HasRelays() bool { return f.relays.count() > 0 }

// ErrNoRelay reports that no relay is usable now (none configured, or all
// cooling off after failures).
var ErrNoRelay = errors.New("fetch: no usable relay")

// FetchFromRelays fetches and verifies one fragment from the site's relays
// only, each usable one once, in order. The swarm uses it while a relay is
// the site's WAN owner: a relay that fails must not send the agent to
// central on its own (every agent of the site would fetch the fragment
// from central then), but back to WAN-owner leases. It returns ErrNoRelay
// when no relay is usable, and a relay's ErrSeeding at once (a swarm
// request, p2p.SwarmRequest, for a fragment the relay seeds to others).
func (f *Fetcher) FetchFromRelays(ctx context.Context, pkg string, fr proto.Fragment, buf []byte, st *Stats) (*fragstore.Writer, error) {
	if buf == nil {
		buf = make([]byte, burst)
	}
	relays := f.relays.usable(time.Now())
	if len(relays) == 0 {
		return nil, ErrNoRelay
	}
	var errs []error
	for i, src := range relays {
		w, stop, err := f.attempt(ctx, src, pkg, fr, buf, st, i)
		if stop {
			return w, err
		}
		if errors.Is(err, ErrSeeding) {
			// The relay hands this fragment to other peers first: its
			// HTTP listener must not serve it around that.
			return nil, err
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("fetch fragment %d (%s) of %s from relays: %w", fr.Index, fr.CID, pkg, errors.Join(errs...))
}

// DownRelays returns the relays skipped now: they failed RelayFailures
// times in a row and are cooling off.
func (f *Fetcher) DownRelays() []Source { return f.relays.down(time.Now()) }

// Name returns how src is named in logs and reports: its String method
// when it has one, else its Kind.
func Name(src Source) string {
	if s, ok := src.(fmt.Stringer); ok {
		return s.String()
	}
	return src.Kind()
}

// relayHealth is one relay's recent record.
type relayHealth struct {
	fails     int       // consecutive failures
	downUntil time.Time // skipped until then
}

// relaySet holds the site's relays and their health.
type relaySet struct {
	failures int
	cooloff  time.Duration
	log      *slog.Logger

	mu     sync.Mutex // guards relays and health
	relays []Source
	health map[string]*relayHealth // by Name
}

func newRelaySet(failures int, cooloff time.Duration, log *slog.Logger) *relaySet {
	return &relaySet{failures: failures, cooloff: cooloff, log: log, health: map[string]*relayHealth{}}
}

func (r *relaySet) set(relays []Source) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.relays = append([]Source(nil), relays...)
	keep := map[string]*relayHealth{}
	for _, s := range relays {
		if h, ok := r.health[Name(s)]; ok {
			keep[Name(s)] = h
		}
	}
	r.health = keep
}

func (r *relaySet) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.relays)
}

// usable returns the relays not cooling off at now.
func (r *relaySet) usable(now time.Time) []Source {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Source
	for _, s := range r.relays {
		if h := r.health[Name(s)]; h == nil || !now.Before(h.downUntil) {
			out = append(out, s)
		}
	}
	return out
}

// down returns the relays cooling off at now.
func (r *relaySet) down(now time.Time) []Source {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Source
	for _, s := range r.relays {
		if h := r.health[Name(s)]; h != nil && now.Before(h.downUntil) {
			out = append(out, s)
		}
	}
	return out
}

// report records the outcome of a request to relay src; a cancelled
// request says nothing about the relay.
func (r *relaySet) report(src Source, err error, cancelled bool) {
	if cancelled {
		return
	}
	name := Name(src)
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.health[name]
	if h == nil {
		h = &relayHealth{}
		r.health[name] = h
	}
	if err == nil {
		if h.fails >= r.failures {
			r.log.Info("relay is back", "relay", name)
		}
		h.fails = 0
		return
	}
	h.fails++
	if h.fails >= r.failures {
		h.downUntil = time.Now().Add(r.cooloff)
		if h.fails == r.failures {
			r.log.Warn("relay failing; going straight to central", "relay", name, "failures", h.fails, "cooloff", r.cooloff, "err", err)
		}
	}
}

// sourceFailure is the record of one source's failed requests in a
// download.
type sourceFailure struct {
	name, kind string
	count      int
	first      string
}

// sourceFailed records a failed request to src (peers are reported by the
// swarm scheduler, which knows more).
func (s *Stats) sourceFailed(src Source, err error) {
	if src.Kind() == KindPeer {
		return
	}
	name := Name(src)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.failures {
		if s.failures[i].name == name {
			s.failures[i].count++
			return
		}
	}
	s.failures = append(s.failures, sourceFailure{name: name, kind: src.Kind(), count: 1, first: err.Error()})
}

// Note adds a line to the download's report (a fallback, a dropped peer).
// Repeated lines are kept once.
func (s *Stats) Note(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.notes {
		if n == line {
			return
		}
	}
	if len(s.notes) < 32 {
		s.notes = append(s.notes, line)
	}
}

// Notes returns the lines added with Note.
func (s *Stats) Notes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.notes...)
}

// Summary describes the download for a result's detail: the sources that
// failed, the notes, and the bytes by source, e.g. "relay http://r:8080
// unreachable (…); 8.0 MiB from central".
func (s *Stats) Summary() string {
	var parts []string
	s.mu.Lock()
	for _, f := range s.failures {
		served := s.BytesRelay.Load() > 0
		if f.kind == KindCentral {
			served = s.BytesCentral.Load() > 0
		}
		if served {
			parts = append(parts, fmt.Sprintf("%s failed %d request(s) (%s)", f.name, f.count, f.first))
		} else {
			parts = append(parts, fmt.Sprintf("%s unreachable (%s)", f.name, f.first))
		}
	}
	parts = append(parts, s.notes...)
	s.mu.Unlock()
	var bytes []string
	for _, b := range []struct {
		n    int64
		from string
	}{{s.BytesPeer.Load(), "peers"}, {s.BytesRelay.Load(), "relay"}, {s.BytesCentral.Load(), "central"}} {
		if b.n > 0 {
			bytes = append(bytes, Size(b.n)+" from "+b.from)
		}
	}
	if len(bytes) == 0 {
		bytes = []string{"nothing downloaded (fragments already present)"}
	}
	return strings.Join(append(parts, strings.Join(bytes, ", ")), "; ")
}

// Size formats a byte count with one decimal: KiB below 1 MiB, MiB
// below 1 GiB, else GiB.
func Size(n int64) string {
	switch {
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}

// Package fetch downloads the fragments of a package into the agent's
// fragment store: several streams in parallel, every fragment verified
// against its CID while it streams, a bad or failed fragment fetched again
// alone, and a restarted download resumed from the fragments already on
// disk.
//
// Fragments come from Sources, each labelled with a Kind so that progress
// reports bytes by source. The Fetcher's own order is upstream: the site's
// relays (SetRelays, from the latest job list) before its fixed sources
// (central), one source per attempt, so a fragment a relay fails to give is
// asked of central next. A relay that fails RelayFailures times in a row is
// skipped for RelayCooloff, so a dead relay costs a few failed requests,
// not a timeout per fragment. Every source that failed is remembered in the
// download's Stats and named in its Summary, so a fallback is reported.
// The swarm scheduler (agent/swarm) reuses TryOne for LAN peers and
// FetchOne for upstream fragments.
package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/shoal-project/shoal/internal/fragstore"
	"github.com/shoal-project/shoal/internal/source"
	"github.com/shoal-project/shoal/internal/upstream"
	"github.com/shoal-project/shoal/proto"
)

// Kinds of sources, for bytes-by-source accounting (see internal/source).
const (
	KindCentral = source.KindCentral
	KindRelay   = source.KindRelay
	KindPeer    = source.KindPeer
)

// ErrBusy is wrapped by a source's error when the source is alive but
// cannot answer now (a peer at its upload limit, a relay still fetching
// the fragment from upstream). It does not count against a relay's
// health. It is source.ErrBusy.
var ErrBusy = source.ErrBusy

// ErrSeeding is wrapped by a relay's answer to a swarm request for a
// fragment it hands to other peers of the site first (super-seeding): the
// swarm takes it from them. It wraps ErrBusy. It is source.ErrSeeding.
var ErrSeeding = source.ErrSeeding

// ErrFragment reports a fragment that could not be fetched and verified
// within Config.MaxAttempts tries.
var ErrFragment = errors.New("fetch: fragment failed")

// Source is somewhere fragments can be read from (source.Source).
type Source = source.Source

// Config tunes the fetcher.
type Config struct {
	// Streams is the number of fragments fetched in parallel (default
	// 4). Without a usable relay (the agent fetches across the WAN from
	// central) it is where the count starts, and the fewest: more are
	// added while they raise the measured goodput (internal/upstream), up
	// to MaxStreams, because on a long lossy uplink one TCP stream moves
	// a fraction of the link's rate. From a relay on the LAN the count
	// stays at Streams: there more streams would only take the relay's
	// port from the branch's other agents.
	Streams int `yaml:"streams"`
	// MaxStreams is the most fragments in parallel from central (default
	// 24, or Streams when larger).
	MaxStreams int `yaml:"max_streams"`
	// MaxAttempts bounds the tries per fragment (default 5).
	MaxAttempts int `yaml:"max_attempts"`
	// RateLimit caps the download rate in bytes per second; 0 is no cap.
	RateLimit int64 `yaml:"rate_limit"`
	// FragmentTimeout bounds one fragment request (default 2m).
	FragmentTimeout time.Duration `yaml:"fragment_timeout"`
	// RelayFailures is the number of consecutive failed requests after
	// which a relay is skipped (default 3).
	RelayFailures int `yaml:"relay_failures"`
	// RelayCooloff is how long a failing relay is skipped before it is
	// tried again (default 1m).
	RelayCooloff time.Duration `yaml:"relay_cooloff"`
}

func (c Config) withDefaults() Config {
	if c.Streams == 0 {
		c.Streams = 4
		if c.MaxStreams > 0 {
			c.Streams = min(c.Streams, c.MaxStreams)
		}
	}
	if c.MaxStreams == 0 {
		c.MaxStreams = max(24, c.Streams)
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 5
	}
	if c.FragmentTimeout == 0 {
		c.FragmentTimeout = 2 * time.Minute
	}
	if c.RelayFailures == 0 {
		c.RelayFailures = 3
	}
	if c.RelayCooloff == 0 {
		c.RelayCooloff = time.Minute
	}
	return c
}

// Validate checks the configuration.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Streams < 1 || c.Streams > 64:
		return fmt.Errorf("fetch: streams %d: want 1..64", c.Streams)
	case c.MaxStreams < c.Streams || c.MaxStreams > 256:
		return fmt.Errorf("fetch: max_streams %d: want streams (%d) to 256", c.MaxStreams, c.Streams)
	case c.MaxAttempts < 1:
		return fmt.Errorf("fetch: max_attempts %d: want at least 1", c.MaxAttempts)
	case c.RateLimit < 0:
		return fmt.Errorf("fetch: rate_limit %d is negative", c.RateLimit)
	case c.FragmentTimeout < time.Second:
		return fmt.Errorf("fetch: fragment_timeout %s: want at least 1s", c.FragmentTimeout)
	case c.RelayFailures < 1:
		return fmt.Errorf("fetch: relay_failures %d: want at least 1", c.RelayFailures)
	case c.RelayCooloff < time.Second:
		return fmt.Errorf("fetch: relay_cooloff %s: want at least 1s", c.RelayCooloff)
	}
	return nil
}

// Stats counts one download's progress. Its counters are updated by the
// fetcher's streams and read by whoever reports progress; its notes (source
// failures, dropped peers, fallbacks) end up in the result's detail.
type Stats struct {
	Done, Total    atomic.Int64
	BytesCentral   atomic.Int64
	BytesRelay     atomic.Int64
	BytesPeer      atomic.Int64
	BadFragments   atomic.Int64
	FailedRequests atomic.Int64
	// BadPeers counts peers dropped for sending a bad fragment.
	BadPeers atomic.Int64
	// firstStored is set by the first Stored call.
	firstStored atomic.Bool
	// stored, once StoredSignal made it, gets a token at every Stored call.
	stored atomic.Pointer[chan struct{}]

	mu       sync.Mutex // guards notes and failures
	notes    []string
	failures []sourceFailure
}

// Stored counts a verified fragment committed to the store and logs the
// first one of the run ("first fragment stored"): the lab measures the
// time to the first fragment from that line. log should carry the package.
func (s *Stats) Stored(log *slog.Logger, fragment int) {
	s.Done.Add(1)
	if s.firstStored.CompareAndSwap(false, true) {
		log.Info("first fragment stored", "fragment", fragment)
	}
	if ch := s.stored.Load(); ch != nil {
		select {
		case *ch <- struct{}{}:
		default:
		}
	}
}

// StoredSignal returns a channel that gets a token (at most one waiting)
// whenever a fragment is stored; call it before the fetch starts.
func (s *Stats) StoredSignal() <-chan struct{} {
	if ch := s.stored.Load(); ch != nil {
		return *ch
	}
	ch := make(chan struct{}, 1)
	if !s.stored.CompareAndSwap(nil, &ch) {
		return *s.stored.Load()
	}
	return ch
}

func (s *Stats) bytesOf(kind string) *atomic.Int64 {
	switch kind {
	case KindRelay:
		return &s.BytesRelay
	case KindPeer:
		return &s.BytesPeer
	}
	return &s.BytesCentral
}

// Fetcher downloads packages into a fragment store.
type Fetcher struct {
	cfg     Config
	store   *fragstore.Store
	sources []Source          // fixed, after the relays
	limiter *rate.Limiter     // nil without a rate cap; shared by all downloads
	streams *upstream.Streams // upstream fragments in flight, sized by goodput; shared by all downloads
	log     *slog.Logger
	relays  *relaySet
	// noRanges: central answered a Range request with something else;
	// FetchRanges fetches whole fragments from then on.
	noRanges atomic.Bool
}

// burst is the rate limiter's bucket and the largest read.
const burst = 256 << 10

// New returns a Fetcher that reads from sources in order (the next one on
// each retry).
func New(cfg Config, st *fragstore.Store, sources []Source, logger *slog.Logger) (*Fetcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(sources) == 0 {
		return nil, errors.New("fetch: no source")
	}
	cfg = cfg.withDefaults()
	f := &Fetcher{cfg: cfg, store: st, sources: sources, log: logger.With("component", "fetch")}
	f.relays = newRelaySet(cfg.RelayFailures, cfg.RelayCooloff, f.log)
	if f.cfg.RateLimit > 0 {
		f.limiter = rate.NewLimiter(rate.Limit(f.cfg.RateLimit), burst)
	}
	f.streams = upstream.New(upstream.Config{Min: cfg.Streams, Max: cfg.MaxStreams,
		Cap: func() float64 { return float64(cfg.RateLimit) }}, f.log)
	return f, nil
}

// Missing returns the fragments of m that are not in the store yet. Files
// left by an earlier run are verified on the way and dropped when bad.
func (f *Fetcher) Missing(m *proto.Manifest) ([]proto.Fragment, error) {
	var out []proto.Fragment
	for _, fr := range m.Fragments {
		ok, err := f.store.Check(fr.CID, fr.Size)
		if err != nil {
			return nil, fmt.Errorf("resume %s: %w", m.PackageID, err)
		}
		if !ok {
			out = append(out, fr)
		}
	}
	return out, nil
}

// Fetch makes every fragment of m present and verified in the store,
// updating st as it goes. It returns ctx's error when ctx ends, an error
// wrapping ErrFragment when a fragment failed MaxAttempts times, and
// syscall.ENOSPC at once when the disk is full.
func (f *Fetcher) Fetch(ctx context.Context, m *proto.Manifest, st *Stats) error {
	missing, err := f.Missing(m)
	if err != nil {
		return err
	}
	st.Total.Store(int64(len(m.Fragments)))
	st.Done.Store(int64(len(m.Fragments) - len(missing)))
	if len(missing) == 0 {
		return nil
	}
	// Across the WAN (no usable relay) the streams adapt to the goodput.
	wan := len(f.relays.usable(time.Now())) == 0
	workers := f.cfg.Streams
	if wan {
		workers = f.cfg.MaxStreams
	}
	f.log.Info("fetching", "package", m.PackageID, "missing", len(missing), "total", len(m.Fragments), "streams", f.StreamLimit(), "adaptive", wan)
	plog := f.log.With("package", m.PackageID)
	work := make(chan proto.Fragment)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(work)
		for _, fr := range missing {
			select {
			case work <- fr:
			case <-gctx.Done():
				return nil
			}
		}
		return nil
	})
	// Each stream commits (fsync, rename) a fragment before it asks for
	// the next one, so a kill -9 loses at most one fragment per stream.
	// Workers beyond the WAN streams' current limit wait for a slot.
	for range min(workers, len(missing)) {
		g.Go(func() error {
			var buf []byte
			for fr := range work {
				if buf == nil {
					buf = make([]byte, burst)
				}
				w, err := f.fetchOneOf(gctx, wan, m.PackageID, fr, buf, st)
				if err != nil {
					return err
				}
				if err := w.Finish(); err != nil {
					return err
				}
				st.Stored(plog, fr.Index)
			}
			return nil
		})
	}
	err = g.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// FetchOne fetches and verifies one fragment from upstream, trying the
// relays that are not cooling off, then the fixed sources, one per attempt.
// It returns the verified fragment, still to be finished (Finish) or
// dropped (Abort). buf may be nil. Without a usable relay it first waits
// for one of the WAN streams (StreamLimit).
func (f *Fetcher) FetchOne(ctx context.Context, pkg string, fr proto.Fragment, buf []byte, st *Stats) (*fragstore.Writer, error) {
	return f.fetchOneOf(ctx, len(f.relays.usable(time.Now())) == 0, pkg, fr, buf, st)
}

// fetchOneOf is fetchOne, on one of the WAN streams when wan is set.
func (f *Fetcher) fetchOneOf(ctx context.Context, wan bool, pkg string, fr proto.Fragment, buf []byte, st *Stats) (*fragstore.Writer, error) {
	if wan {
		if err := f.streams.Acquire(ctx); err != nil {
			return nil, err
		}
		defer f.streams.Release()
	}
	return f.fetchOne(ctx, pkg, fr, buf, st)
}

// StreamLimit returns how many fragments may come from central at once
// now: from Config.Streams, grown while more raise the measured goodput,
// up to Config.MaxStreams. FetchOne calls beyond it wait, when no relay is
// usable.
func (f *Fetcher) StreamLimit() int { return f.streams.Limit() }

// MaxAttempts returns the tries per fragment (Config.MaxAttempts).
func (f *Fetcher) MaxAttempts() int { return f.cfg.MaxAttempts }

// order returns the sources of the next attempts: usable relays first.
func (f *Fetcher) order() []Source {
	r := f.relays.usable(time.Now())
	if len(r) == 0 {
		return f.sources
	}
	return append(r, f.sources...)
}

func (f *Fetcher) fetchOne(ctx context.Context, pkg string, fr proto.Fragment, buf []byte, st *Stats) (*fragstore.Writer, error) {
	if buf == nil {
		buf = make([]byte, burst)
	}
	var last error
	var srcs []Source
	for attempt := range f.cfg.MaxAttempts {
		if attempt%max(len(srcs), 1) == 0 {
			srcs = f.order() // Again once every source had its turn.
		}
		src := srcs[attempt%len(srcs)]
		w, stop, err := f.attempt(ctx, src, pkg, fr, buf, st, attempt)
		if stop {
			return w, err
		}
		last = err
		delay := min(time.Duration(attempt)*500*time.Millisecond, 5*time.Second)
		if src.Kind() == KindRelay && attempt == 0 {
			delay = 0 // Fall back to central at once.
		}
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
		}
	}
	return nil, fmt.Errorf("fetch fragment %d (%s) of %s after %d attempts: %w: %w", fr.Index, fr.CID, pkg, f.cfg.MaxAttempts, ErrFragment, last)
}

// attempt asks src once for fragment fr and records the outcome: the
// relay's health, the download's stats and a log line. stop reports that
// the caller is done, with w or err: success, cancellation or a full disk.
func (f *Fetcher) attempt(ctx context.Context, src Source, pkg string, fr proto.Fragment, buf []byte, st *Stats, n int) (w *fragstore.Writer, stop bool, err error) {
	w, err = f.tryOne(ctx, src, pkg, fr, buf, st)
	if src.Kind() == KindRelay {
		// A busy relay is alive: it says nothing about its health.
		f.relays.report(src, err, ctx.Err() != nil || errors.Is(err, ErrBusy))
	}
	switch {
	case err == nil:
		return w, true, nil
	case ctx.Err() != nil:
		return nil, true, ctx.Err()
	case errors.Is(err, syscall.ENOSPC):
		return nil, true, fmt.Errorf("fetch fragment %s: %w", fr.CID, err)
	}
	if errors.Is(err, ErrBusy) {
		f.log.Debug("source busy", "package", pkg, "fragment", fr.Index, "source", Name(src))
		return nil, false, err
	}
	st.sourceFailed(src, err)
	if IsBadData(err) {
		st.BadFragments.Add(1)
		f.log.Warn("bad fragment, fetching it again", "package", pkg, "fragment", fr.Index, "source", Name(src), "err", err)
	} else {
		st.FailedRequests.Add(1)
		f.log.Warn("fragment request failed", "package", pkg, "fragment", fr.Index, "source", Name(src), "attempt", n+1, "err", err)
	}
	return nil, false, err
}

// fill reads into p until it is full, the reader ends or fails.
func fill(r io.Reader, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := r.Read(p[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// TryOne streams fragment fr of pkg from src into a temporary file of the
// store, hashing it as it comes (bounded to fr.Size bytes, rate-capped),
// counts the bytes under src's Kind in st, and verifies them. It returns
// the verified fragment, still to be finished (Finish) or dropped (Abort);
// bytes that do not match fr.CID give an error wrapping
// proto.ErrDigestMismatch or fragstore.ErrSize. buf may be nil.
func (f *Fetcher) TryOne(ctx context.Context, src Source, pkg string, fr proto.Fragment, buf []byte, st *Stats) (*fragstore.Writer, error) {
	if buf == nil {
		buf = make([]byte, burst)
	}
	return f.tryOne(ctx, src, pkg, fr, buf, st)
}

// IsBadData reports whether err from TryOne or FetchOne means the source
// sent wrong bytes (as opposed to failing to send any).
func IsBadData(err error) bool {
	return errors.Is(err, proto.ErrDigestMismatch) || errors.Is(err, fragstore.ErrSize)
}

// tryOne streams one fragment from src into a temporary file, hashing it
// as it comes, and verifies it.
func (f *Fetcher) tryOne(ctx context.Context, src Source, pkg string, fr proto.Fragment, buf []byte, st *Stats) (*fragstore.Writer, error) {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.FragmentTimeout)
	defer cancel()
	rc, err := src.Fetch(ctx, pkg, fr)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	w, err := f.store.Create(fr.CID, fr.Size)
	if err != nil {
		return nil, err
	}
	counter := st.bytesOf(src.Kind())
	wan := src.Kind() == KindCentral // goodput of the WAN streams
	var got int64
	for {
		// One byte more than expected reveals an overlong answer.
		n, rerr := fill(rc, buf[:min(int64(len(buf)), fr.Size-got+1)])
		if n > 0 {
			if f.limiter != nil {
				if err := f.limiter.WaitN(ctx, n); err != nil {
					w.Abort()
					return nil, err
				}
			}
			got += int64(n)
			counter.Add(int64(n))
			if wan {
				f.streams.Add(int64(n))
			}
			if got > fr.Size {
				w.Abort()
				return nil, fmt.Errorf("fragment %s: more than %d bytes: %w", fr.CID, fr.Size, fragstore.ErrSize)
			}
			if _, err := w.Write(buf[:n]); err != nil {
				w.Abort()
				return nil, err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			w.Abort()
			return nil, fmt.Errorf("read fragment %s: %w", fr.CID, rerr)
		}
	}
	if err := w.Verify(); err != nil {
		return nil, err
	}
	return w, nil
}

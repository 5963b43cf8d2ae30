package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"

	"github.com/shoal-project/shoal/agent/fetch"
	"github.com/shoal-project/shoal/internal/fragstore"
	"github.com/shoal-project/shoal/internal/p2p"
	"github.com/shoal-project/shoal/internal/trackerclient"
	"github.com/shoal-project/shoal/proto"
)

// Relay defaults of a relay's libp2p node (relay/p2p.go P2PConfig): 32
// uploads at once, super-seeding 3 copies within 2 s; and of its upstream
// fetches (relay.Config MaxParallel).
const (
	relayMaxUploads  = 32
	relaySeedCopies  = 3
	relaySeedWindow  = 2 * time.Second
	relayMaxParallel = 24
	// relayMinGap spaces the relay's announces that new fragments
	// trigger (relay trackerMinGap).
	relayMinGap = time.Second
)

// relayHost is the branch's relay as a host with its own LAN port: it
// prefetches the package from central over the uplink as soon as the
// deployment is known (relay/control.go prefetch: every fragment, up to
// MaxParallel at once, each fetched once), pulls a fragment an agent asks
// for before the prefetch stored it through from upstream (single-flight
// with the prefetch, as relay ensure does), and serves the agents from its
// fragment store: over libp2p (at most 32 uploads, "busy" beyond, the
// shipped super-seeding policy p2p.Seeder for swarm requests) and over
// HTTP (no upload bound, no seeding). Its WAN fetches go through the
// shipped agent/fetch Fetcher, whose upstream streams grow with the
// goodput (internal/upstream) as the relay's do; the relay's endgame
// (its last fragments split in byte ranges) is not simulated. It announces
// what it holds to the site's tracker as a relay (kind relay), at once and
// after new fragments (spaced by relayMinGap), so the tracker tells the
// agents that the relay owns the WAN.
type relayHost struct {
	b      *branch
	h      *host // name, id, addrs and LAN links
	store  *fragstore.Store
	up     *fetch.Fetcher
	seeder *p2p.Seeder
	tc     *trackerclient.Client
	flight singleflight.Group
	kick   chan struct{}
	stats  fetch.Stats

	uploads atomic.Int32
	served  atomic.Int64 // bytes sent to agents
}

// ensure makes fragment f present and verified, fetching it from central
// once however many callers ask at the same time.
func (r *relayHost) ensure(ctx context.Context, f proto.Fragment) error {
	if ok, err := r.store.Check(f.CID, f.Size); err == nil && ok {
		return nil
	}
	_, err, _ := r.flight.Do(f.CID, func() (any, error) {
		if ok, err := r.store.Check(f.CID, f.Size); err == nil && ok {
			return nil, nil
		}
		w, err := r.up.FetchOne(ctx, r.b.m.PackageID, f, nil, &r.stats)
		if err != nil {
			return nil, err
		}
		if err := w.Finish(); err != nil {
			return nil, err
		}
		select {
		case r.kick <- struct{}{}:
		default:
		}
		return nil, nil
	})
	return err
}

// prefetch fetches every fragment of the package, as relay prefetch does.
func (r *relayHost) prefetch(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(relayMaxParallel)
	for _, f := range r.b.m.Fragments {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return r.ensure(gctx, f) })
	}
	return g.Wait()
}

// announcement is the relay's tracker entry (relay announcement).
func (r *relayHost) announcement() proto.TrackerAnnounce {
	m := r.b.m
	a := proto.TrackerAnnounce{Kind: proto.HolderRelay, RelayURL: "http://10.98.1.1:8090", Addrs: r.h.addrs, Packages: []proto.PackageHave{}}
	bits := proto.NewBitfield(len(m.Fragments))
	held := false
	for _, f := range m.Fragments {
		if ok, err := r.store.Check(f.CID, f.Size); err == nil && ok {
			bits.Set(f.Index)
			held = true
		}
	}
	if held {
		a.Packages = append(a.Packages, proto.PackageHave{PackageID: m.PackageID, Total: len(m.Fragments), Have: bits})
	}
	return a
}

// trackerLoop keeps the relay's tracker entry, as relay trackerLoop does.
func (r *relayHost) trackerLoop(ctx context.Context, log *slog.Logger) {
	interval := 30 * time.Second
	var last time.Time
	for {
		actx, cancel := context.WithTimeout(ctx, trackerclient.DefaultTimeout)
		resp, err := r.tc.Announce(actx, r.announcement())
		cancel()
		last = time.Now()
		if ctx.Err() != nil {
			return
		}
		wait := interval
		if err != nil {
			log.Warn("relay announce", "err", err)
			wait = time.Second
		} else if resp.Interval > 0 {
			interval = max(time.Duration(resp.Interval)*time.Second, 5*time.Second)
			wait = interval
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		case <-r.kick:
			if gap := relayMinGap - time.Since(last); gap > 0 && sleep(ctx, gap) != nil {
				return
			}
		}
	}
}

// relaySource is the relay as one agent's fragment source: its libp2p
// listener (p2p set; the agent's swarm RelaySource and the first of the
// fetcher's relays) or its HTTP listener.
type relaySource struct {
	r    *relayHost
	from *host
	p2p  bool
}

func (s relaySource) Kind() string { return fetch.KindRelay }

func (s relaySource) String() string {
	if s.p2p {
		return "relay (libp2p)"
	}
	return "relay (http)"
}

// PeerID names the relay for the swarm's relayGone.
func (s relaySource) PeerID() string { return s.r.h.id }

// Fetch serves fragment f as the relay's node (internal/p2p admit) or
// HTTP listener does: pulled through when missing, then, over libp2p, a
// swarm request is refused while the fragment seeds, and a request beyond
// the uploads bound is answered busy.
func (s relaySource) Fetch(ctx context.Context, pkg string, f proto.Fragment) (io.ReadCloser, error) {
	r := s.r
	if err := sleep(ctx, r.b.lanRTT); err != nil {
		return nil, err
	}
	if f.Index < 0 || f.Index >= len(r.b.m.Fragments) || r.b.m.Fragments[f.Index].CID != f.CID {
		return nil, p2p.ErrNotFound
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	err := r.ensure(pctx, f)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("relay pull: %w", errors.Join(p2p.ErrPeer, err))
	}
	seeded := func(bool) {}
	if s.p2p {
		if p2p.IsSwarmRequest(ctx) && r.seeder != nil {
			ok, done := r.seeder.Admit(f.CID, time.Now())
			if !ok {
				return nil, p2p.ErrSeeding
			}
			seeded = done
		}
		if r.uploads.Add(1) > relayMaxUploads {
			r.uploads.Add(-1)
			seeded(false)
			return nil, p2p.ErrBusy
		}
	} else {
		r.uploads.Add(1)
	}
	fh, err := r.store.Open(f.CID)
	if err != nil {
		r.uploads.Add(-1)
		seeded(false)
		return nil, p2p.ErrNotFound
	}
	data, err := io.ReadAll(fh)
	fh.Close()
	if err != nil {
		r.uploads.Add(-1)
		seeded(false)
		return nil, fmt.Errorf("read fragment: %w", p2p.ErrPeer)
	}
	r.served.Add(int64(len(data)))
	fl := &flow{ctx: ctx, data: data, links: []*link{r.h.up, s.from.down}}
	var once sync.Once
	fl.onClose = func() {
		once.Do(func() {
			r.uploads.Add(-1)
			seeded(fl.off == len(fl.data))
		})
	}
	return fl, nil
}

package relay

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/shoal-project/shoal/internal/enroll"
	"github.com/shoal-project/shoal/internal/p2p"
	"github.com/shoal-project/shoal/internal/trackerclient"
	"github.com/shoal-project/shoal/proto"
)

// P2PConfig configures the libp2p listener an enrolled relay serves the
// site's Shoal agents on (the fragment protocol of internal/p2p, with
// pull-through), and its entry in the site's tracker.
type P2PConfig struct {
	// Disabled turns libp2p off: Shoal agents then fetch over HTTP.
	Disabled bool `yaml:"disabled"`
	// Announce are the multiaddrs told to central and the tracker, for a
	// relay behind NAT or a port forward; empty: the listen addresses.
	Announce []string `yaml:"announce"`
	// Listen, limits and timeouts of the libp2p host. A relay serves many
	// agents: max_uploads defaults to 32 and max_inbound_streams to 256.
	// It super-seeds (internal/p2p seed.go): seed_copies defaults to 3
	// here; -1 turns it off.
	p2p.Config `yaml:",inline"`
}

func (c P2PConfig) withDefaults() P2PConfig {
	if c.MaxUploads == 0 {
		c.MaxUploads = 32
	}
	if c.MaxInboundStreams == 0 {
		c.MaxInboundStreams = 256
	}
	if c.SeedCopies == 0 {
		c.SeedCopies = defaultSeedCopies
	}
	return c
}

func (c P2PConfig) validate() error {
	if c.Disabled {
		return nil
	}
	if err := c.withDefaults().Config.Validate(); err != nil {
		return err
	}
	if len(c.Announce) > proto.MaxRelayAddrs {
		return fmt.Errorf("p2p.announce: %d addresses, at most %d", len(c.Announce), proto.MaxRelayAddrs)
	}
	for _, a := range c.Announce {
		if _, err := multiaddr.NewMultiaddr(a); err != nil {
			return fmt.Errorf("p2p.announce %q: %w", a, err)
		}
	}
	return nil
}

// defaultSeedCopies: a fragment the relay just stored goes to three
// agents of the swarm at a time; they serve it to the others. A negative
// seed_copies turns super-seeding off (internal/p2p).
const defaultSeedCopies = p2p.DefaultSeedCopies

// trackerMinGap spaces announces that changes (new fragments, purges)
// trigger; the tracker's interval spaces the others.
const trackerMinGap = time.Second

// newNode creates the relay's libp2p node with its enrolled identity.
func (r *Relay) newNode() error {
	key, err := enroll.LoadIdentity(filepath.Join(r.cfg.DataDir, identityFile))
	if err != nil {
		return fmt.Errorf("relay p2p: %w", err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return fmt.Errorf("relay p2p: %w", err)
	}
	if id.String() != r.enr.PeerID {
		return fmt.Errorf("relay p2p: identity key is peer %s, enrolled as %s; enroll again", id, r.enr.PeerID)
	}
	node, err := p2p.New(r.cfg.P2P.withDefaults().Config, key, r.log, p2p.Deps{
		Store: r.store, CentralKey: r.enr.ManifestPublicKey,
		Pull: r.pullFragment, Served: r.servedP2P, Limiter: r.lan, Now: r.cfg.Clock,
	})
	if err != nil {
		return fmt.Errorf("relay p2p: %w", err)
	}
	node.SetSite(r.enr.Site, nil)
	if err := node.SetPeerRecord(r.enr.PeerRecord); err != nil {
		r.log.Warn("peer record refused; serving over libp2p after its renewal", "err", err)
	}
	r.node, r.signer = node, trackerclient.NewSigner(key, r.enr.PeerRecord)
	r.signer.SetClock(r.clock.Now) // Tracker requests in central's time.
	return nil
}

// pullFragment is the node's Pull hook: the fragment of a package of the
// signed manifest, fetched from upstream once (single-flight with HTTP
// requests and the prefetch) and verified before it is stored.
func (r *Relay) pullFragment(ctx context.Context, pkg, cid string, size int64) error {
	if !proto.IsPackageID(pkg) {
		return fmt.Errorf("package %q: %w", pkg, p2p.ErrNotFound)
	}
	m, err := r.manifest(ctx, pkg)
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w: %w", p2p.ErrNotFound, err)
	}
	if err != nil {
		return err
	}
	f, ok := fragmentByCID(m, cid)
	if !ok || f.Size != size {
		return fmt.Errorf("fragment %s of %d bytes is not in package %s: %w", cid, size, pkg, p2p.ErrNotFound)
	}
	defer r.pin([]string{cid})()
	_, err = r.ensure(ctx, pkg, f)
	return err
}

// servedP2P is the node's Served hook: counters and LRU.
func (r *Relay) servedP2P(pkg, cid string, n int64, pulled bool) {
	r.p2pServed.Add(n)
	r.touch(cid)
	m, ok := r.cachedManifest(pkg)
	if _, in := fragmentByCID(m, cid); !ok || !in {
		// A peer may name any package; count only real ones per package.
		r.stats.total.servedBytes.Add(n)
		return
	}
	if !pulled {
		r.stats.hit(pkg)
	}
	r.stats.served(pkg, n)
}

// fragmentByCID returns the fragment of m with CID cid (m may be nil).
func fragmentByCID(m *proto.Manifest, cid string) (proto.Fragment, bool) {
	if m == nil {
		return proto.Fragment{}, false
	}
	for _, f := range m.Fragments {
		if f.CID == cid {
			return f, true
		}
	}
	return proto.Fragment{}, false
}

// p2pAddrs are the libp2p addresses told to central and the tracker: the
// configured announce addresses, else the node's listen addresses.
func (r *Relay) p2pAddrs() []string {
	if r.node == nil {
		return nil
	}
	if len(r.cfg.P2P.Announce) > 0 {
		return slices.Clone(r.cfg.P2P.Announce)
	}
	a := r.node.Addrs()
	return a[:min(len(a), proto.MaxRelayAddrs)]
}

// applySite takes the site description of a job list: revocations for the
// node, the tracker URL for the announce loop.
func (r *Relay) applySite(si *proto.SiteInfo) {
	if si == nil {
		return
	}
	r.site.Store(si)
	if r.node != nil && si.Name != "" {
		r.node.SetSite(si.Name, si.RevokedPeers)
	}
	r.kickTracker()
}

func (r *Relay) kickTracker() {
	select {
	case r.trackerKick <- struct{}{}:
	default:
	}
}

// announcement is the relay's tracker entry: kind relay, its URL and
// libp2p addresses, and which fragments of each cached package it holds.
func (r *Relay) announcement() proto.TrackerAnnounce {
	a := proto.TrackerAnnounce{Kind: proto.HolderRelay, RelayURL: r.enr.HTTPURL, Addrs: r.p2pAddrs(), Packages: []proto.PackageHave{}}
	r.mu.Lock()
	for id, m := range r.manifests {
		bits := proto.NewBitfield(len(m.Fragments))
		held := false
		for i, f := range m.Fragments {
			if _, ok := r.have[f.CID]; ok {
				bits.Set(i)
				held = true
			}
		}
		if held {
			a.Packages = append(a.Packages, proto.PackageHave{PackageID: id, Total: len(m.Fragments), Have: bits})
		}
	}
	r.mu.Unlock()
	slices.SortFunc(a.Packages, func(x, y proto.PackageHave) int { return cmp.Compare(x.PackageID, y.PackageID) })
	if len(a.Packages) > maxAnnouncedPackages {
		a.Packages = a.Packages[:maxAnnouncedPackages]
	}
	return a
}

// maxAnnouncedPackages stays under the tracker's default max_packages.
const maxAnnouncedPackages = 1024

// trackerLoop keeps the relay's entry in the site's tracker: at once when
// the node listens, on the tracker's interval, and after changes (spaced
// by trackerMinGap). While the entry lives, the tracker tells the site's
// agents that the relay is the WAN owner and lists it first as a holder.
func (r *Relay) trackerLoop(ctx context.Context) error {
	select {
	case <-r.node.Ready():
	case <-ctx.Done():
		return nil
	}
	var (
		client    *trackerclient.Client
		url       string
		interval  = 30 * time.Second
		fails     int
		last      time.Time
		announced bool
	)
	defer func() {
		// Stopping: agents stop counting on this relay at once instead of
		// when its entry expires.
		if client != nil && announced {
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
			if err := client.Leave(lctx); err != nil {
				r.log.Warn("tracker leave", "err", err)
			}
			cancel()
		}
	}()
	for {
		if si := r.site.Load(); si != nil && si.TrackerURL != url {
			url, client = si.TrackerURL, nil
			if url != "" {
				c, err := trackerclient.NewClient(url, r.central, r.signer)
				if err != nil {
					r.recordError("tracker", err)
				} else {
					client = c
					r.log.Info("site tracker", "url", url)
				}
			}
		}
		wait := interval
		if client != nil {
			actx, cancel := context.WithTimeout(ctx, trackerclient.DefaultTimeout)
			resp, err := client.Announce(actx, r.announcement())
			cancel()
			last = time.Now()
			if ctx.Err() != nil {
				return nil
			}
			r.setTrackerErr(err)
			if err != nil {
				fails++
				wait = min(backoff(fails), interval)
				if fails == 1 || fails%10 == 0 {
					r.recordError("tracker announce", err)
				}
			} else {
				fails, announced = 0, true
				if resp.Interval > 0 {
					interval = max(time.Duration(resp.Interval)*time.Second, 5*time.Second)
				}
				wait = interval
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		case <-r.trackerKick:
			t.Stop()
			if gap := trackerMinGap - time.Since(last); gap > 0 && !sleep(ctx, gap) {
				return nil
			}
		}
	}
}

// setTrackerErr keeps the last announce failure for /healthz (nil: the
// last announce went through).
func (r *Relay) setTrackerErr(err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	r.mu.Lock()
	r.trackerErr = msg
	r.mu.Unlock()
}

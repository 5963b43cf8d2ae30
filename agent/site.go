package agent

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-project/shoal/agent/client"
	"github.com/shoal-project/shoal/agent/fetch"
	"github.com/shoal-project/shoal/agent/lan"
	"github.com/shoal-project/shoal/agent/swarm"
	"github.com/shoal-project/shoal/internal/p2p"
	"github.com/shoal-project/shoal/internal/trackerclient"
	"github.com/shoal-project/shoal/proto"
)

// peers answers the swarm scheduler's questions about the site's peers:
// how to reach one (over the p2p node), who is alive (the LAN cluster),
// what to announce and which members to join. The scheduler is built from
// it, and the site keeps it up to date (relays, cluster); it knows neither.
type peers struct {
	node    *p2p.Node
	peerID  string
	cluster atomic.Pointer[lan.Cluster] // set and cleared by site.lanLoop
	seeds   chan []string               // join requests for site.lanLoop (buffered, 1)

	mu     sync.Mutex // guards relays
	relays []proto.RelayRef
}

func newPeers(n *p2p.Node, peerID string) *peers {
	return &peers{node: n, peerID: peerID, seeds: make(chan []string, 1)}
}

// setRelays records the site's relays and reports whether they changed.
func (p *peers) setRelays(relays []proto.RelayRef) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	changed := !slices.EqualFunc(relays, p.relays, func(a, b proto.RelayRef) bool {
		return a.Name == b.Name && a.URL == b.URL && a.PeerID == b.PeerID && slices.Equal(a.Addrs, b.Addrs)
	})
	p.relays = slices.Clone(relays)
	return changed
}

// swarmControl is the part of the swarm scheduler the site drives.
type swarmControl interface {
	SetTracker(swarm.Tracker)
	Kick()
}

// site applies the site description that comes with every job list to
// the download components: the relays (fetch, peers), the tracker (swarm),
// the site and revocations (p2p) and the gossip key (lan). Its mutable
// state is guarded by mu; the LAN cluster is created and run by lanLoop
// alone and published through peers.cluster.
type site struct {
	log      *slog.Logger
	fetcher  *fetch.Fetcher
	sched    swarmControl
	node     *p2p.Node
	peers    *peers
	signer   *trackerclient.Signer
	relayHC  *http.Client
	trackHC  *http.Client
	lanCfg   lan.Config
	identity lan.Identity // PeerID, Version, Record, RecordKey; Site and key from SiteInfo
	noSwarm  bool         // swarm.disabled: relays and central only

	updates chan *proto.SiteInfo // latest for lanLoop (buffered, 1)
	p2pUp   atomic.Bool          // node.Run is serving

	mu         sync.Mutex // guards the fields below
	trackerURL string
}

func newSite(log *slog.Logger, f *fetch.Fetcher, sched swarmControl, n *p2p.Node, pe *peers, signer *trackerclient.Signer, roots *x509.CertPool,
	lanCfg lan.Config, id lan.Identity, noSwarm bool) *site {
	return &site{log: log, fetcher: f, sched: sched, node: n, peers: pe, signer: signer, lanCfg: lanCfg, identity: id, noSwarm: noSwarm,
		relayHC: client.NewRelayHTTPClient(roots),
		trackHC: &http.Client{Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout: 5 * time.Second, ResponseHeaderTimeout: 15 * time.Second, MaxIdleConnsPerHost: 4,
		}},
		updates: make(chan *proto.SiteInfo, 1)}
}

// apply takes the SiteInfo of a job list (nil: no site).
func (s *site) apply(si *proto.SiteInfo) {
	if si == nil {
		si = &proto.SiteInfo{}
	}
	s.mu.Lock()
	relaysChanged := s.peers.setRelays(si.Relays)
	if s.noSwarm {
		// Peer sharing is off: no tracker, no LAN cluster.
		si = &proto.SiteInfo{Name: si.Name, Relays: si.Relays, RevokedPeers: si.RevokedPeers}
	}
	trackerChanged := si.TrackerURL != s.trackerURL
	s.trackerURL = si.TrackerURL
	noSwarm := s.noSwarm
	s.mu.Unlock()

	if relaysChanged {
		s.fetcher.SetRelays(s.relaySources(si.Relays, !noSwarm))
	}
	if trackerChanged {
		var tr swarm.Tracker
		if si.TrackerURL != "" {
			c, err := trackerclient.NewClient(si.TrackerURL, s.trackHC, s.signer)
			if err != nil {
				s.log.Warn("unusable tracker URL; no P2P", "url", si.TrackerURL, "err", err)
			} else {
				tr = c
			}
		}
		s.sched.SetTracker(tr)
		s.log.Info("site tracker", "site", si.Name, "tracker", si.TrackerURL)
	}
	s.node.SetSite(si.Name, si.RevokedPeers)
	select {
	case <-s.updates:
	default:
	}
	s.updates <- si
}

// relaySources returns the fetch sources of the site's relays: each
// relay's libp2p listener first (when p2p runs and the relay reported
// addresses), then its HTTP URL, so a relay whose libp2p port is blocked
// still serves over HTTP before central is asked.
func (s *site) relaySources(relays []proto.RelayRef, p2pOn bool) []fetch.Source {
	var srcs []fetch.Source
	var names []string
	for _, r := range relays {
		if p2pOn && r.PeerID != "" && len(r.Addrs) > 0 {
			if src, err := s.node.RelaySource(r.Name, r.PeerID, r.Addrs); err != nil {
				s.log.Warn("unusable relay libp2p address", "relay", r.Name, "addrs", r.Addrs, "err", err)
			} else {
				srcs = append(srcs, src)
				names = append(names, src.String())
			}
		}
		src, err := client.NewRelaySource(r.URL, s.relayHC)
		if err != nil {
			s.log.Warn("unusable relay URL", "relay", r.Name, "url", r.URL, "err", err)
			continue
		}
		srcs = append(srcs, src)
		names = append(names, src.String())
	}
	s.log.Info("site relays", "relays", names)
	return srcs
}

// setRecord passes a renewed peer record to the components that present it.
func (s *site) setRecord(rec proto.SignedPeerRecord) {
	s.signer.SetRecord(rec)
	if err := s.node.SetPeerRecord(rec); err != nil {
		s.log.Warn("p2p peer record", "err", err)
	}
	if c := s.peers.cluster.Load(); c != nil {
		if err := c.SetRecord(rec); err != nil {
			s.log.Warn("lan peer record", "err", err)
		}
	}
}

// runP2P runs the libp2p node. A node that cannot start leaves the agent
// without peers (upstream through leases still works) rather than down.
func (s *site) runP2P(ctx context.Context) error {
	s.p2pUp.Store(true)
	err := s.node.Run(ctx)
	s.p2pUp.Store(false)
	if err != nil && ctx.Err() == nil {
		s.log.Error("p2p stopped; fetching without serving peers", "err", err)
	}
	return nil
}

// peerSource is the swarm's PeerSourceFunc.
func (p *peers) peerSource(peerID string, addrs []string) (fetch.Source, error) {
	src, err := p.node.Source(peerID, addrs)
	if err != nil {
		return nil, err
	}
	return src, nil
}

// relaySource is the swarm's RelaySource: a relay listed by the tracker,
// named as central names it when it is one of the site's relays.
func (p *peers) relaySource(peerID string, addrs []string) (fetch.Source, error) {
	name := peerID
	p.mu.Lock()
	for _, r := range p.relays {
		if r.PeerID == peerID {
			name = r.Name
		}
	}
	p.mu.Unlock()
	src, err := p.node.RelaySource(name, peerID, addrs)
	if err != nil {
		return nil, err
	}
	return src, nil
}

// self is what the swarm announces.
func (p *peers) self() swarm.Self {
	out := swarm.Self{PeerID: p.peerID, Addrs: p.node.Addrs()}
	if c := p.cluster.Load(); c != nil {
		out.GossipAddr = c.LocalAddr()
		out.Lonely = c.MemberCount() == 0
	}
	return out
}

// alive reports the LAN members, once the cluster runs.
func (p *peers) alive() (map[string]bool, bool) {
	c := p.cluster.Load()
	if c == nil {
		return nil, false
	}
	select {
	case <-c.Ready():
	default:
		return nil, false
	}
	return c.MemberIDs(), true
}

// onMembers hands the tracker's site members to lanLoop as join seeds
// while this agent is alone in its cluster.
func (p *peers) onMembers(members []proto.TrackerMember) {
	c := p.cluster.Load()
	if c == nil || c.MemberCount() > 0 {
		return
	}
	seeds := c.Seeds(members)
	if len(seeds) == 0 {
		return
	}
	select {
	case p.seeds <- seeds:
	default:
	}
}

// lanLoop starts the site's memberlist cluster once a job list names the
// site and its gossip key, then follows key rotations and revocations and
// joins seeds. A cluster that cannot start (port taken, bad identity) is
// logged and the agent goes on without LAN membership.
func (s *site) lanLoop(ctx context.Context) error {
	var c *lan.Cluster
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return nil
		case seeds := <-s.peers.seeds:
			if c == nil {
				continue
			}
			jctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			n, err := c.Join(jctx, seeds)
			cancel()
			if err != nil {
				s.log.Warn("lan join", "seeds", len(seeds), "err", err)
			} else {
				s.log.Info("lan joined", "seeds", n)
			}
		case si := <-s.updates:
			if c != nil {
				if si.Name != s.identity.Site && si.Name != "" {
					s.log.Warn("site changed; LAN membership keeps the old site until restart", "old", s.identity.Site, "new", si.Name)
				}
				if len(si.GossipKey) > 0 {
					if err := c.SetKeys(si.GossipKey, si.GossipKeys); err != nil {
						s.log.Warn("lan keys", "err", err)
					}
				}
				c.SetRevoked(si.RevokedPeers)
				continue
			}
			if si.Name == "" || len(si.GossipKey) == 0 {
				continue
			}
			id := s.identity
			id.Site, id.GossipKey, id.GossipKeys = si.Name, si.GossipKey, si.GossipKeys
			nc, err := lan.New(s.lanCfg, s.log, id)
			if err != nil {
				s.log.Warn("no LAN membership", "site", si.Name, "err", err)
				continue
			}
			nc.SetRevoked(si.RevokedPeers)
			c = nc
			s.identity.Site = si.Name
			wg.Go(func() {
				if err := c.Run(ctx); err != nil {
					s.log.Error("lan stopped; going on without LAN membership", "err", err)
					s.peers.cluster.Store(nil)
				}
			})
			s.peers.cluster.Store(c)
			s.sched.Kick() // Announce the gossip address.
		}
	}
}

// newIdentity is the LAN identity of the agent before its site is known.
func newIdentity(enr *enrollment, version string) lan.Identity {
	return lan.Identity{PeerID: enr.PeerID, Site: enr.Site, Version: version, Record: enr.PeerRecord, RecordKey: ed25519.PublicKey(enr.ManifestKey)}
}

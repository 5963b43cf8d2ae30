package agentapi

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto"
)

// SetTrackerURL sets the tracker URL agents are told (empty: no P2P).
// Central calls it once it knows its HTTPS URL, before serving.
func (a *API) SetTrackerURL(u string) { a.trackerURL.Store(u) }

// SetTrackerRoute sets how the tracker of a site is chosen when several
// trackers serve (replicas of central, standalone trackers): route returns
// the tracker URL of a site ID. Central calls it once before serving;
// without it every site gets SetTrackerURL's.
func (a *API) SetTrackerRoute(route func(siteID uint) string) { a.route = route }

// trackerFor returns the tracker URL agents of the site are told.
func (a *API) trackerFor(siteID *uint) string {
	if siteID == nil {
		return ""
	}
	if a.route != nil {
		return a.route(*siteID)
	}
	return loadString(&a.trackerURL)
}

// SetServerURL sets central's HTTPS base URL as agents reach it, for the
// enroll commands of new tokens.
func (a *API) SetServerURL(u string) { a.serverURL.Store(u) }

// SetUpstreamURL sets the base URL relays fetch fragments from when they
// enroll (central's plain-HTTP URL).
func (a *API) SetUpstreamURL(u string) { a.upstreamURL.Store(u) }

func loadString(v interface{ Load() any }) string {
	s, _ := v.Load().(string)
	return s
}

// siteInfo describes the site of a computer to its agent: relays, tracker,
// the site's gossip key ring and the peers no longer to trust. Nil without
// a site.
func (a *API) siteInfo(ctx context.Context, siteID *uint) (*proto.SiteInfo, error) {
	if siteID == nil {
		return nil, nil
	}
	site, err := a.store.Site(ctx, *siteID)
	if err != nil {
		return nil, fmt.Errorf("site info: %w", err)
	}
	key, others, err := a.store.GossipKeys(ctx, site.ID, a.now(),
		store.GossipKeyPolicy{Rotation: a.cfg.GossipKeyRotation, Overlap: a.cfg.GossipKeyOverlap})
	if err != nil {
		return nil, err
	}
	revoked, err := a.store.RevokedPeerIDs(ctx, a.now())
	if err != nil {
		return nil, err
	}
	relays, err := a.liveRelays(ctx, site.ID)
	if err != nil {
		return nil, err
	}
	return &proto.SiteInfo{Name: site.Name, Relays: relays, TrackerURL: a.trackerFor(siteID),
		GossipKey: key, GossipKeys: others, RevokedPeers: revoked}, nil
}

// liveRelays lists the relays of a site that reported recently.
func (a *API) liveRelays(ctx context.Context, siteID uint) ([]proto.RelayRef, error) {
	rs, err := a.store.LiveRelays(ctx, siteID, a.now().Add(-store.RelayStale))
	if err != nil {
		return nil, err
	}
	out := make([]proto.RelayRef, 0, len(rs))
	for _, r := range rs {
		ref := proto.RelayRef{Name: r.Name, URL: r.HTTPURL, PeerID: r.PeerID}
		var rep proto.RelayReport
		if r.LastReport != "" && json.Unmarshal([]byte(r.LastReport), &rep) == nil && validRelayAddrs(rep.P2PAddrs) == nil {
			ref.Addrs = rep.P2PAddrs
		}
		out = append(out, ref)
	}
	return out, nil
}

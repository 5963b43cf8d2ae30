// Package swarm is the agent's peer-to-peer download scheduler: it fetches
// a package's fragments from the peers of its site, rarest first, and lets
// a fragment cross the WAN once per site.
//
// # Message flow
//
// For each download, one event loop owns the download's state; workers
// only run one fragment request each and send back its outcome.
//
//  1. Announce the held fragments (a bitfield per package) to the tracker,
//     then look up the package's holders in the site (and the peers
//     fetching it that hold nothing yet), and open a have session
//     (internal/p2p, /shoal/have/1.0.0) to up to HavePeers of them. Peers
//     that look up later open theirs to us. Over a session both sides
//     push every fragment they store as they store it (Deps.Haves,
//     Scheduler.Claim), so availability is learned as it happens; lookups
//     are left for bootstrapping, for peers beyond the sessions and for
//     leases.
//  2. Schedule: the needed fragment held by the fewest live peers first,
//     to the free holder with the fewest requests in flight (PeerStreams
//     per peer, MaxPeerRequests in all). LAN membership (agent/lan), when
//     present, filters out peers the tracker still lists but that died.
//  3. Fragments no live peer holds come from upstream (agent/fetch:
//     relays, then central) only when the tracker granted this agent the
//     WAN-owner lease for them, or when the lease answer says the site's
//     relay is the owner: then from the relays alone (the relay pulls
//     through), and a relay the fetcher gives up on is excluded from the
//     next lease requests, so the site falls back to leases rather than
//     every agent to central. Otherwise the agent waits for the owner's
//     copy, which the owner's have sessions announce once it is stored.
//     It looks up again every LookupMax, and sooner, with backoff
//     (LookupMin to 2 × LookupMin), only while it has nothing to ask of
//     its peers and no have session is up (peers without the protocol); after
//     StallTimeout without a new fragment it asks for the lease again, so
//     a lease moves when its owner dies. A relay the tracker lists is also
//     asked like a peer for the fragments it holds (Deps.RelaySource),
//     whether or not it is a LAN member. Requests to a relay carry the
//     swarm mark (p2p.SwarmRequest) while the download knows a usable
//     peer: a super-seeding relay then answers ErrSeeding for a fresh
//     fragment it hands to a few other agents first, and the download
//     takes it from them (their have sessions announce it), asking the
//     relay for that fragment again only after busyBackoff.
//  4. Every fragment is verified against its manifest CID while it
//     streams (fetch.Fetcher.TryOne) before it is stored. A peer sending
//     one bad fragment is dropped for the package, counted
//     (Stats.BadPeers) and named in the result's detail.
//  5. Endgame: once the last EndgameFragments are all requested, each is
//     also asked of another peer; the first verified copy wins and the
//     others are cancelled. Hedging does the same earlier for a request
//     slower than HedgeFactor × the median fragment time.
//  6. Progress, not liveness, decides: a peer request that has not
//     delivered its fragment within ProgressFactor × its size at the
//     median measured peer rate (at least ProgressMin; ProgressMin before
//     there is a measure), and whose bytes so far do not promise to end
//     within half that bound, is cancelled; so is a peer that answers
//     only "busy" for three bounds. A late request is not blamed on its
//     peer while another peer's request, running 1 s (or half the bound,
//     if less) or more, is at most 4 times faster: then our own link is
//     the limit. The peer is left alone for
//     PeerCooloff (doubled each time it is too slow), like a peer that
//     fails PeerFailures times. Peers left alone, dropped, or gone from
//     LAN membership for StallTimeout are excluded from lease requests
//     (the gone ones are also named as Gone, so that the tracker drops a
//     dead WAN owner's leases once two peers say so):
//     the tracker then leases what only they hold to this agent (at most
//     its max_extra_copies more WAN copies per fragment), and with a
//     relay owning the WAN the fragment comes from the relay. A stalled
//     request so goes upstream when no second holder exists.
//  7. Every fragment stored is pushed at once to the package's have
//     sessions (to the peers that do not claim it). A peer's claims are
//     hints: a claimed fragment is asked of it, verified like any other,
//     and a peer that answers "not found" for a fragment it pushed no
//     longer counts for it; three such and it is dropped for the package.
//     Every AnnounceEvery new fragments, for every fragment it fetched as
//     WAN owner or copied first (no other listed peer held it), and at
//     the end, the agent announces again: the tracker grants a WAN owner
//     new leases only once its site copied what it fetched (lease_credit),
//     and says HeldBack meanwhile, when the agent asks again within
//     LookupMin. Run announces on the tracker's interval so that the
//     fragments are seeded after the install, until they are evicted.
//
// Without a tracker (no P2P in the site) or when the tracker cannot be
// reached, a download is the plain fetcher's (relays, then central), and
// the result's detail says so.
package swarm

// Package tracker is Shoal's tracker: which peer of which site holds which
// fragments of which package, who the members of a site are, and the
// per-site WAN-owner leases that make a fragment cross a branch uplink
// once. It runs inside central by default (at <central HTTPS>/tracker/v1)
// and as shoal-tracker at scale; agents and relays call it with Client.
// The wire types are in proto/swarm.go.
//
// # Authentication
//
// Every request carries "Authorization: ShoalPeer <base64url(JSON
// proto.TrackerAuth)>": the caller's central-signed peer record, the
// request time and a signature by the caller's libp2p Ed25519 identity over
// proto.TrackerAuthMessage(method, path and query as sent, time, body).
// The tracker checks, in order: the record's signature with central's
// manifest key and its expiry (401), the time within ±MaxSkew (401), the
// identity signature with the key embedded in the record's peer ID (401),
// the optional revocation hook (403: central's embedded tracker reads the
// database; shoal-tracker polls central's signed list at
// proto.RevokedPeersPath with central_url, see RevocationFeed) and that
// the record names a site (403). The site comes only from the verified record: a peer announces
// into, looks up and leases in its own site only. Announces must not go
// back in time (a replayed older announce is refused with 409); other
// requests are idempotent, so a replay within the skew window is harmless.
// Agents and relays sign with central's time, not their own: they measure
// their offset from the Date of central's answers (internal/skew,
// trackerclient Signer.SetClock), so a peer whose clock is off still gets its calls
// accepted (and warns in its log and status).
//
// # Message flow
//
//	POST /announce  TrackerAnnounce → TrackerAnnounceResponse{Interval, TTL, Members}
//	GET  /lookup?package=<ID>       → TrackerLookup
//	POST /lease     TrackerLeaseRequest → TrackerLeaseResponse
//	POST /leave     {} → {}: the caller's entry and leases go at once
//
// An announce replaces the caller's entry: its libp2p and gossip
// addresses, its kind (peer or relay) and the full set of packages it holds
// fragments of; a Lonely announce (the caller's LAN membership has no
// members yet) is answered with the site's members, as a lookup is, so an
// agent joins its LAN when it starts. Kind relay needs a peer record central signed with the relay
// role (proto.RoleRelay); the device ID proves nothing. An entry lives TTL (default 90s) after its last announce,
// and never past its peer record's expiry; peers announce every Interval
// (default 30s) and whenever their holdings change.
//
// A lookup answers the holders of the package in the caller's site, never
// the caller itself: live relays first, then peers by the number of
// fragments they hold, ties broken by a per-caller hash so that load
// spreads; at most MaxPeers. It also lists up to MaxMembers site members
// that gave a gossip address (most recently announced first), to seed
// memberlist.
//
// A lease request asks to become the WAN owner of up to Max of the
// fragments in Want. The tracker grants a fragment when no live entry of the
// site holds it and no other peer has an unexpired lease on it; the
// caller's own leases among Want are renewed first. A lease ends when
// anyone in the site announces the fragment, when LeaseTTL (default 60s)
// passes without renewal, or when its holder's entry expires (a dead agent):
// the next asker gets it. When the site has a live relay entry the answer
// is Relay=true and nothing is granted: the relay is the WAN owner.
//
// New leases need credit (LeaseCredit, default 2): a caller is granted new
// fragments only while its unexpired leases (counted while another peer
// announces the package without all of it, and during the package's first
// 15 s in the site while another live peer is there) plus the fragments it alone announces (counted while
// another peer announces the package without them) are fewer than
// LeaseCredit; a peer alone in its site is not bounded. Renewals are not
// bounded, nor are extra copies (below): the site waits for them. HeldBack
// in the answer says to ask again soon. A WAN owner whose fragments its
// peers copy within seconds keeps getting leases; one that cannot upload (a
// slow laptop) stalls at LeaseCredit fragments, and those are all its site
// must fetch again.
//
// Progress, not liveness, decides who holds a fragment: entries named in
// the request's Exclude (the caller cannot get fragments from them: bad
// data, failures, too slow) do not count as holders. Such an extra lease,
// for a fragment that only excluded live entries hold, needs an excluded
// holder that no earlier extra lease of that fragment bypassed, and there
// are at most MaxExtraCopies (default 2) per fragment, so agents that lie
// about their peers cannot make a fragment cross the uplink more than
// 1+MaxExtraCopies times. An extra lease that expires undelivered moves to
// the next asker without counting again. A holder an extra lease bypassed
// keeps its own leases but gets no new ones for two LeaseTTLs: what it
// fetched, its peers could not get from it. During that ban, a lease it
// holds is taken over by a caller that excludes it, as an extra copy that
// bypasses it: its site does not wait for a slow owner's own WAN fetch.
//
// A lease request also names the peers the caller's LAN membership
// (memberlist) lost for StallTimeout (Gone). Once two live peers of the
// site name the same agent within LeaseTTL (one, when it is the only
// other agent), its entry and leases are dropped at once: a WAN owner that
// died mid-fetch stops holding up its site before its leases expire
// (LeaseTTL, 60 s). An announce clears the reports against the announcer;
// relays are never dropped this way; a dropped peer that is alive gets
// ErrUnknownPeer and announces again.
//
// # Unknown peers and restarts
//
// The state lives in memory only. Lookups and leases from a caller without
// a live entry are answered 410 Gone (ErrUnknownPeer through trackerclient.Client); the
// rule for agents and relays is: on ErrUnknownPeer, announce at once, then
// retry the call. A restarted tracker is therefore rebuilt within one
// announce interval, and at once for every peer that is working.
//
// # Errors
//
// Errors are JSON {"error": "..."} with 400 (bad request), 401, 403, 409,
// 410, 413 (body over MaxBodyBytes) or 503 (MaxEntries reached). The client
// (internal/trackerclient) returns a *StatusError that errors.Is matches against the sentinel of its
// status.
package tracker

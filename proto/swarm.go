package proto

import (
	"crypto/sha256"
	"strconv"
)

// Swarm wire types: what an agent learns about its site, the tracker's
// HTTP API and the LAN fragment protocol's name.
//
// The tracker (package tracker, embedded in central at
// <central HTTPS>/tracker/v1 or run alone as shoal-tracker) answers
//
//	POST <tracker>/announce  TrackerAnnounce → TrackerAnnounceResponse
//	GET  <tracker>/lookup?package=<ID>       → TrackerLookup
//	POST <tracker>/lease     TrackerLeaseRequest → TrackerLeaseResponse
//	POST <tracker>/leave     {} → {} (drop the caller's entry and leases now)
//
// Every request carries "Authorization: ShoalPeer <base64url(JSON
// TrackerAuth)>": the caller's central-signed peer record (it names the
// peer ID and the site) and a signature by the peer's libp2p identity key
// over TrackerAuthMessage, so that only the holder of the record's key can
// use it, and only for its own site.

// FragmentProtocol is the libp2p protocol ID of the LAN fragment exchange.
const FragmentProtocol = "/shoal/fragment/1.0.0"

// HaveProtocol is the libp2p protocol ID of the LAN have exchange: one
// long-lived stream per peer and package over which both sides push the
// fragments they store (internal/p2p, have.go).
const HaveProtocol = "/shoal/have/1.0.0"

// TrackerPathPrefix is where central mounts its embedded tracker.
const TrackerPathPrefix = "/tracker/v1"

// TrackerAuthScheme is the Authorization scheme of tracker requests.
const TrackerAuthScheme = "ShoalPeer"

// Holder kinds.
const (
	HolderPeer  = "peer"
	HolderRelay = "relay"
)

// SiteInfo is what an agent (or relay) is told about its site with every
// job list.
type SiteInfo struct {
	Name string `json:"name"`
	// Relays of the site, preferred over central for upstream bytes.
	Relays []RelayRef `json:"relays,omitempty"`
	// TrackerURL is the tracker's base URL (…/tracker/v1); empty: no P2P.
	TrackerURL string `json:"tracker_url,omitempty"`
	// GossipKey is the site's 32-byte memberlist encryption key: the one
	// members send with.
	GossipKey []byte `json:"gossip_key,omitempty"`
	// GossipKeys are the site's other keys members still accept while a
	// rotation is under way (the next key, handed out before it is used,
	// and the previous ones, until every member has switched). A member's
	// keyring is GossipKey plus these, nothing else.
	GossipKeys [][]byte `json:"gossip_keys,omitempty"`
	// RevokedPeers are peer IDs whose records must no longer be honoured
	// although they have not expired yet.
	RevokedPeers []string `json:"revoked_peers,omitempty"`
}

// TrackerAuth is the decoded Authorization value of a tracker request.
type TrackerAuth struct {
	PeerRecord SignedPeerRecord `json:"peer_record"`
	// Time is the request time in Unix seconds; trackers refuse requests
	// more than five minutes off.
	Time int64 `json:"time"`
	// Signature is the libp2p identity key's signature over
	// TrackerAuthMessage(method, path, Time, body).
	Signature []byte `json:"signature"`
}

// TrackerAuthMessage is what a tracker request's identity signature
// covers: method, path (with query), time and the body's SHA-256.
func TrackerAuthMessage(method, pathAndQuery string, unix int64, body []byte) []byte {
	sum := sha256.Sum256(body)
	msg := []byte("shoal-tracker-v1\x00" + method + "\x00" + pathAndQuery + "\x00" + strconv.FormatInt(unix, 10) + "\x00")
	return append(msg, sum[:]...)
}

// PackageHave says which fragments (indexes into Manifest.Fragments) of a
// package a holder has.
type PackageHave struct {
	PackageID string   `json:"package_id"`
	Total     int      `json:"total"`
	Have      Bitfield `json:"have"`
}

// TrackerAnnounce is POST <tracker>/announce: the full set of packages the
// caller holds fragments of (an announce replaces the previous one).
type TrackerAnnounce struct {
	// Addrs are the caller's libp2p listen multiaddrs (no /p2p part).
	Addrs []string `json:"addrs"`
	// GossipAddr is the caller's memberlist address (host:port).
	GossipAddr string `json:"gossip_addr,omitempty"`
	// Kind is HolderPeer or HolderRelay; RelayURL a relay's HTTP base URL.
	Kind     string        `json:"kind"`
	RelayURL string        `json:"relay_url,omitempty"`
	Packages []PackageHave `json:"packages"`
	// Lonely says the caller's LAN membership has no members yet: the
	// answer lists the site's members to join (as a lookup does), so that
	// agents form their LAN when they start, not at their first download.
	Lonely bool `json:"lonely,omitempty"`
}

// TrackerAnnounceResponse tells when to announce again (seconds) and when
// the entry expires without one; Members answers a Lonely announce.
type TrackerAnnounceResponse struct {
	Interval int             `json:"interval"`
	TTL      int             `json:"ttl"`
	Members  []TrackerMember `json:"members,omitempty"`
}

// TrackerPeer is one holder in a lookup.
type TrackerPeer struct {
	PeerID   string   `json:"peer_id"`
	Addrs    []string `json:"addrs"`
	Kind     string   `json:"kind"`
	RelayURL string   `json:"relay_url,omitempty"`
	Have     Bitfield `json:"have"`
	Total    int      `json:"total"`
}

// TrackerMember is a live member of the caller's site, to seed memberlist.
type TrackerMember struct {
	PeerID     string `json:"peer_id"`
	GossipAddr string `json:"gossip_addr"`
}

// TrackerLookup answers GET <tracker>/lookup?package=<ID>: holders of the
// package in the caller's site (relays included), then the site's members.
type TrackerLookup struct {
	PackageID string          `json:"package_id"`
	Peers     []TrackerPeer   `json:"peers"`
	Members   []TrackerMember `json:"members"`
}

// TrackerLeaseRequest is POST <tracker>/lease: the caller asks to become
// the WAN owner of up to Max of the fragments in Want (fragment indexes it
// misses).
type TrackerLeaseRequest struct {
	PackageID string `json:"package_id"`
	Total     int    `json:"total"`
	Want      []int  `json:"want"`
	Max       int    `json:"max"`
	// Exclude names the peers the caller cannot get fragments from (they
	// sent a bad fragment, fail, deliver too slowly or left the LAN
	// membership) and relays it cannot reach: their holdings do not
	// count, so the caller can become the WAN owner of fragments only
	// they hold, and an excluded relay is not the WAN owner. The tracker
	// grants at most max_extra_copies such leases per fragment. At most
	// 256.
	Exclude []string `json:"exclude,omitempty"`
	// Gone names the peers of Exclude that the caller's LAN membership
	// (memberlist) no longer lists as alive: dead or left. Once two live
	// peers of the site name the same peer within a lease TTL (one, when
	// the caller is its only other peer), the tracker drops its entry and
	// its leases at once instead of when they expire (60 s), so a WAN
	// owner that died mid-fetch does not hold up its site. A peer dropped
	// while alive gets ErrUnknownPeer and announces again. At most 256.
	Gone []string `json:"gone,omitempty"`
}

// TrackerLeaseResponse grants fragments the caller alone fetches from
// upstream until TTL seconds have passed (asking again renews them).
// Fragments someone in the site holds or another peer leases are not
// granted. Relay is true when the site has a live relay: the relay is the
// WAN owner and agents fetch what no peer holds from it, without leases.
//
// HeldBack is true when the tracker granted fewer than asked because the
// caller already has as many fragments leased or alone in its site as it
// may (tracker lease_credit): ask again once the site copied them.
type TrackerLeaseResponse struct {
	Granted  []int `json:"granted"`
	TTL      int   `json:"ttl"`
	Relay    bool  `json:"relay,omitempty"`
	HeldBack bool  `json:"held_back,omitempty"`
}

// Bitfield is a set of fragment indexes, bit i of byte i/8 (MSB first).
type Bitfield []byte

// NewBitfield returns an empty bitfield for n fragments.
func NewBitfield(n int) Bitfield { return make(Bitfield, (n+7)/8) }

// Has reports whether index i is set.
func (b Bitfield) Has(i int) bool {
	return i >= 0 && i/8 < len(b) && b[i/8]&(0x80>>(i%8)) != 0
}

// Set sets index i; it is a no-op outside the bitfield.
func (b Bitfield) Set(i int) {
	if i >= 0 && i/8 < len(b) {
		b[i/8] |= 0x80 >> (i % 8)
	}
}

// Count returns the number of set indexes below n.
func (b Bitfield) Count(n int) int {
	c := 0
	for i := range n {
		if b.Has(i) {
			c++
		}
	}
	return c
}

package tracker

import (
	"cmp"
	"hash/fnv"
	"slices"
	"sync"
	"time"

	"github.com/shoal-project/shoal/proto"
)

// caller is a verified tracker caller: the peer and site of its
// central-signed record and the signed time of its request.
type caller struct {
	PeerID   string
	DeviceID string
	Site     string
	// Relay is true for a record central signed with proto.RoleRelay
	// (an enrolled relay); the device ID says nothing about the role.
	Relay bool
	// RecordExpires bounds the caller's entry: past it the caller must
	// authenticate with a renewed record anyway.
	RecordExpires time.Time
	// AuthTime is the request's signed Unix time.
	AuthTime int64
}

// have is what an entry holds of one package. Bits is never modified once
// stored, so answers may share it.
type have struct {
	total int
	bits  proto.Bitfield
	count int
}

// entry is one announcing peer or relay.
type entry struct {
	peerID     string
	site       string
	addrs      []string
	gossipAddr string
	kind       string
	relayURL   string
	pkgs       map[string]have
	seen       time.Time
	expires    time.Time
	// authTime is the signed time of the last accepted announce; older
	// announces (replays) are refused.
	authTime int64
}

func (e *entry) live(now time.Time) bool { return now.Before(e.expires) }

type leaseKey struct {
	pkg  string
	frag int
}

type lease struct {
	peer    string
	expires time.Time
}

// extra counts the leases granted for one fragment past its live holders
// (see Config.MaxExtraCopies).
type extra struct {
	n int
	// bypassed are the holders excluded by the requesters of those leases.
	bypassed map[string]bool
	// lessee got the last of them.
	lessee string
}

// site is the state of one site.
type site struct {
	entries map[string]*entry
	// byPkg indexes entries by the packages they hold.
	byPkg  map[string]map[string]*entry
	leases map[leaseKey]lease
	// extras is kept while anyone in the site holds the package.
	extras map[leaseKey]*extra
	// slow are the peers an extra lease bypassed, until when they get no
	// new leases: what they fetch, their peers could not get from them.
	slow map[string]time.Time
	// since is when each package was first announced in the site, kept
	// while anyone holds it (creditStart).
	since map[string]time.Time
	// gone are the peers that live peers reported gone from their LAN
	// membership (TrackerLeaseRequest.Gone): reported peer → reporter →
	// when (goneReports).
	gone map[string]map[string]time.Time
}

func newSite() *site {
	return &site{entries: map[string]*entry{}, byPkg: map[string]map[string]*entry{}, leases: map[leaseKey]lease{},
		extras: map[leaseKey]*extra{}, slow: map[string]time.Time{}, since: map[string]time.Time{},
		gone: map[string]map[string]time.Time{}}
}

// state is the tracker's whole memory. mu owns every field and everything
// reachable from it; no method holds mu across I/O.
type state struct {
	cfg     Config
	revoked func(peerID string) bool

	mu       sync.Mutex
	sites    map[string]*site
	peerSite map[string]string // peer ID → site name of its entry
}

func newState(cfg Config, revoked func(string) bool) *state {
	if revoked == nil {
		revoked = func(string) bool { return false }
	}
	return &state{cfg: cfg, revoked: revoked, sites: map[string]*site{}, peerSite: map[string]string{}}
}

// announce replaces the caller's entry with a. a must be validated.
func (st *state) announce(c caller, a proto.TrackerAnnounce, now time.Time) ([]proto.TrackerMember, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if name, ok := st.peerSite[c.PeerID]; ok {
		old := st.sites[name].entries[c.PeerID]
		if c.AuthTime < old.authTime {
			return nil, ErrReplay
		}
		// A removal drops the old entry's leases; keep the ones of a peer
		// that stays in its site and has not announced the fragment.
		if name == c.Site {
			st.reindex(st.sites[name], old, nil)
		} else {
			st.remove(st.sites[name], old)
		}
	} else if len(st.peerSite) >= st.cfg.MaxEntries {
		return nil, ErrFull
	}
	s := st.sites[c.Site]
	if s == nil {
		s = newSite()
		st.sites[c.Site] = s
	}
	kind := a.Kind
	if kind == "" {
		kind = proto.HolderPeer
	}
	e := &entry{
		peerID: c.PeerID, site: c.Site, addrs: a.Addrs, gossipAddr: a.GossipAddr, kind: kind, relayURL: a.RelayURL,
		pkgs: make(map[string]have, len(a.Packages)), seen: now, expires: now.Add(st.cfg.TTL), authTime: c.AuthTime,
	}
	if !c.RecordExpires.IsZero() && c.RecordExpires.Before(e.expires) {
		e.expires = c.RecordExpires
	}
	for _, p := range a.Packages {
		e.pkgs[p.PackageID] = have{total: p.Total, bits: p.Have, count: p.Have.Count(p.Total)}
	}
	s.entries[c.PeerID] = e
	st.peerSite[c.PeerID] = c.Site
	delete(s.gone, c.PeerID) // It speaks: reports of it gone are stale.
	st.reindex(s, nil, e)
	for pkg := range e.pkgs {
		if _, ok := s.since[pkg]; !ok {
			s.since[pkg] = now
		}
	}
	// A lease ends when anyone in the site holds its fragment, except an
	// extra copy's lease when the announcer is a holder that copy
	// bypassed: its lessee fetches what the site could not get from the
	// announcer. (A slow owner announces every few seconds; ending the
	// extra lease each time let the next peer that excluded it lease the
	// fragment again while the first lessee still fetched it: the
	// slow-owner lab fetched such fragments three times.)
	for k := range s.leases {
		if h, ok := e.pkgs[k.pkg]; ok && h.bits.Has(k.frag) {
			if x := s.extras[k]; x != nil && x.bypassed[c.PeerID] {
				continue
			}
			delete(s.leases, k)
		}
	}
	if !a.Lonely {
		return nil, nil
	}
	return st.members(s, c.PeerID, now), nil
}

// leave drops the caller's entry and its leases at once, as if it had
// expired: a peer or relay that stops says so. A leave older than the
// caller's last announce is a replay (ErrReplay); leaving twice is fine.
func (st *state) leave(c caller) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	name, ok := st.peerSite[c.PeerID]
	if !ok || name != c.Site {
		return nil
	}
	s := st.sites[name]
	e := s.entries[c.PeerID]
	if c.AuthTime < e.authTime {
		return ErrReplay
	}
	st.remove(s, e)
	if len(s.entries) == 0 && len(s.leases) == 0 {
		delete(st.sites, name)
	}
	return nil
}

// reindex removes old from and adds e to the package index of s.
func (st *state) reindex(s *site, old, e *entry) {
	if old != nil {
		for pkg := range old.pkgs {
			delete(s.byPkg[pkg], old.peerID)
			if len(s.byPkg[pkg]) == 0 {
				delete(s.byPkg, pkg)
			}
		}
	}
	if e != nil {
		for pkg := range e.pkgs {
			m := s.byPkg[pkg]
			if m == nil {
				m = map[string]*entry{}
				s.byPkg[pkg] = m
			}
			m[e.peerID] = e
		}
	}
}

// remove drops e from s with its leases, which become free for another
// peer: this is how a dead or stalled WAN owner's lease moves.
func (st *state) remove(s *site, e *entry) {
	st.reindex(s, e, nil)
	delete(s.entries, e.peerID)
	delete(st.peerSite, e.peerID)
	for k, l := range s.leases {
		if l.peer == e.peerID {
			delete(s.leases, k)
		}
	}
}

// self returns the caller's live entry in its site, or ErrUnknownPeer.
func (st *state) self(c caller, now time.Time) (*site, *entry, error) {
	s := st.sites[c.Site]
	if s == nil {
		return nil, nil, ErrUnknownPeer
	}
	e := s.entries[c.PeerID]
	if e == nil || !e.live(now) {
		return nil, nil, ErrUnknownPeer
	}
	return s, e, nil
}

// lookup lists the holders of pkg in the caller's site, relays first, then
// peers by fragments held (those fetching it and holding nothing yet
// last), and the site's members.
func (st *state) lookup(c caller, pkg string, now time.Time) (proto.TrackerLookup, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := proto.TrackerLookup{PackageID: pkg, Peers: []proto.TrackerPeer{}, Members: []proto.TrackerMember{}}
	s, _, err := st.self(c, now)
	if err != nil {
		return out, err
	}
	type ranked struct {
		e    *entry
		h    have
		tieb uint64
	}
	var hs []ranked
	for id, e := range s.byPkg[pkg] {
		if id == c.PeerID || !e.live(now) || st.revoked(id) {
			continue
		}
		// Peers that fetch the package and hold nothing yet are listed
		// too, after every holder: the caller opens have sessions to
		// them, and they push each fragment as they store it.
		h := e.pkgs[pkg]
		hs = append(hs, ranked{e: e, h: h, tieb: tiebreak(c.PeerID, id)})
	}
	slices.SortFunc(hs, func(a, b ranked) int {
		ar, br := a.e.kind == proto.HolderRelay, b.e.kind == proto.HolderRelay
		if ar != br {
			if ar {
				return -1
			}
			return 1
		}
		if n := cmp.Compare(b.h.count, a.h.count); n != 0 {
			return n
		}
		return cmp.Compare(a.tieb, b.tieb)
	})
	for _, r := range hs[:min(len(hs), st.cfg.MaxPeers)] {
		out.Peers = append(out.Peers, proto.TrackerPeer{PeerID: r.e.peerID, Addrs: r.e.addrs, Kind: r.e.kind,
			RelayURL: r.e.relayURL, Have: r.h.bits, Total: r.h.total})
	}
	out.Members = st.members(s, c.PeerID, now)
	return out, nil
}

// members returns up to MaxMembers live members of site s with a gossip
// address, other than self, the most recently announced first (the
// likeliest alive).
func (st *state) members(s *site, self string, now time.Time) []proto.TrackerMember {
	var ms []*entry
	for id, e := range s.entries {
		if id != self && e.gossipAddr != "" && e.live(now) && !st.revoked(id) {
			ms = append(ms, e)
		}
	}
	slices.SortFunc(ms, func(a, b *entry) int {
		if n := b.seen.Compare(a.seen); n != 0 {
			return n
		}
		return cmp.Compare(a.peerID, b.peerID)
	})
	out := make([]proto.TrackerMember, 0, min(len(ms), st.cfg.MaxMembers))
	for _, e := range ms[:min(len(ms), st.cfg.MaxMembers)] {
		out = append(out, proto.TrackerMember{PeerID: e.peerID, GossipAddr: e.gossipAddr})
	}
	return out
}

// tiebreak orders equally good holders differently for each caller, so that
// the same few peers are not everyone's first choice.
func tiebreak(callerID, peerID string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(callerID))
	h.Write([]byte{0})
	h.Write([]byte(peerID))
	return h.Sum64()
}

// lease grants WAN-owner leases (see TrackerLeaseResponse). req must be
// validated.
func (st *state) lease(c caller, req proto.TrackerLeaseRequest, now time.Time) (out proto.TrackerLeaseResponse, dropped []string, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	out = proto.TrackerLeaseResponse{Granted: []int{}, TTL: int(st.cfg.LeaseTTL / time.Second)}
	s, _, err := st.self(c, now)
	if err != nil {
		return out, nil, err
	}
	dropped = st.goneReports(s, c.PeerID, req.Gone, now)
	for id, e := range s.entries {
		if e.kind == proto.HolderRelay && e.live(now) && !st.revoked(id) && !slices.Contains(req.Exclude, id) {
			out.Relay = true
			return out, dropped, nil
		}
	}
	// held: fragments a holder the caller can use announces; excl: those
	// only holders it excluded announce.
	held, excl := proto.NewBitfield(req.Total), proto.NewBitfield(req.Total)
	for id, e := range s.byPkg[req.PackageID] {
		if !e.live(now) || st.revoked(id) {
			continue
		}
		dst := held
		if slices.Contains(req.Exclude, id) {
			dst = excl
		}
		bits := e.pkgs[req.PackageID].bits
		for i := range min(len(bits), len(dst)) {
			dst[i] |= bits[i]
		}
	}
	// free reports whether fragment i may be leased to the caller: mine
	// when the caller holds its lease, past when another live peer does
	// that the caller excluded and that an extra copy already bypassed
	// (s.slow): the site does not wait for a slow owner's fetch, and the
	// lease moves as an extra copy.
	free := func(i int) (mine, past, ok bool) {
		if held.Has(i) {
			return false, false, false
		}
		l, exists := s.leases[leaseKey{req.PackageID, i}]
		switch {
		case !exists || !now.Before(l.expires):
			return false, false, true
		case l.peer == c.PeerID:
			return true, false, true
		}
		// The lessee's entry may have expired before the sweep ran.
		o := s.entries[l.peer]
		if o == nil || !o.live(now) {
			return false, false, true
		}
		until, slow := s.slow[l.peer]
		past = slow && now.Before(until) && slices.Contains(req.Exclude, l.peer)
		return false, past, past
	}
	want := slices.Clone(req.Want)
	slices.Sort(want)
	want = slices.Compact(want)
	limit := min(req.Max, st.cfg.MaxLeaseGrant)
	if limit <= 0 {
		limit = 1
	}
	granted := map[int]bool{}
	// A peer others could not get fragments from keeps (renews) its
	// leases but gets no new ones for a while: its copies would cross the
	// WAN twice.
	passes := 2
	if until, ok := s.slow[c.PeerID]; ok && now.Before(until) {
		passes = 1
	}
	// New leases need credit: what the caller leased or holds alone must
	// be copied by its site first (Config.LeaseCredit).
	owed, bounded := st.owed(s, c.PeerID, req.PackageID, now)
	bounded = bounded && st.cfg.LeaseCredit > 0
	full := st.ownersFull(s, c.PeerID, req.PackageID, now)
	// Renewals first, so a WAN owner keeps what it is fetching.
	for pass := range passes {
		for _, i := range want {
			if len(granted) == limit {
				break
			}
			mine, past, ok := free(i)
			if !ok || granted[i] || (pass == 0 && !mine) {
				continue
			}
			// An extra copy (only excluded holders have i, or an excluded
			// slow peer leases it) is what its peers wait for: it needs
			// no credit.
			extra := excl.Has(i) || past
			if !mine && !extra && ((bounded && owed >= st.cfg.LeaseCredit) || full) {
				out.HeldBack = true
				continue
			}
			if !mine && extra && !st.extraCopy(s, c, req, i, now) {
				continue
			}
			if !mine {
				owed++
			}
			granted[i] = true
			s.leases[leaseKey{req.PackageID, i}] = lease{peer: c.PeerID, expires: now.Add(st.cfg.LeaseTTL)}
		}
	}
	for _, i := range want {
		if granted[i] {
			out.Granted = append(out.Granted, i)
		}
	}
	return out, dropped, nil
}

// owed counts the fragments of pkg that peer must see copied in its site
// before it gets new leases: its unexpired leases, while another peer
// announces the package without holding all of it or, for creditStart
// after the package's first announce in the site, while another live peer
// is there (it may ask for the package any moment); and the
// fragments it announces that no other entry holds, while another peer
// announces the package without holding all of it. A peer alone in its
// site is not bounded (false).
func (st *state) owed(s *site, peer, pkg string, now time.Time) (int, bool) {
	mine := s.entries[peer].pkgs[pkg]
	others := proto.NewBitfield(mine.total)
	needer := false
	for id, o := range s.byPkg[pkg] {
		if id == peer || !o.live(now) || st.revoked(id) {
			continue
		}
		h := o.pkgs[pkg]
		needer = needer || (o.kind != proto.HolderRelay && h.count < h.total)
		for i := range min(len(h.bits), len(others)) {
			others[i] |= h.bits[i]
		}
	}
	// Company without needers bounds a peer only while the package is new
	// in the site: its peers learn of a deployment within seconds, and the
	// first to ask must not take a full batch before they announce it.
	// Later, a peer deploying alone is not held to LeaseCredit fetches.
	start := s.since[pkg]
	early := start.IsZero() || now.Before(start.Add(creditStart))
	company := needer
	for id, o := range s.entries {
		if company || !early {
			break
		}
		company = id != peer && o.kind != proto.HolderRelay && o.live(now) && !st.revoked(id)
	}
	if !company {
		return 0, false
	}
	n := 0
	for k, l := range s.leases {
		if k.pkg == pkg && l.peer == peer && now.Before(l.expires) {
			n++
		}
	}
	if needer {
		for i := range mine.total {
			if mine.bits.Has(i) && !others.Has(i) {
				n++
			}
		}
	}
	return n, true
}

// ownersFull reports whether peer may not become one more WAN owner of
// pkg in site s: it holds no unexpired lease of pkg, and MaxSiteOwners
// other peers do.
func (st *state) ownersFull(s *site, peer, pkg string, now time.Time) bool {
	if st.cfg.MaxSiteOwners <= 0 {
		return false
	}
	owners := map[string]bool{}
	for k, l := range s.leases {
		if k.pkg != pkg || !now.Before(l.expires) {
			continue
		}
		if l.peer == peer {
			return false
		}
		owners[l.peer] = true
	}
	return len(owners) >= st.cfg.MaxSiteOwners
}

// creditStart is how long after a package's first announce in a site a
// peer with live company there is bounded by LeaseCredit although no peer
// has announced needing the package yet.
const creditStart = 15 * time.Second

// slowLeaseBan × LeaseTTL is how long a peer that an extra lease bypassed
// gets no new leases.
const slowLeaseBan = 2

// extraCopy decides whether the caller may fetch fragment i over the WAN
// although live holders it excluded announce it, and counts the copy: at
// most Config.MaxExtraCopies per fragment, and each needs an excluded
// holder that no earlier extra copy of i bypassed.
func (st *state) extraCopy(s *site, c caller, req proto.TrackerLeaseRequest, i int, now time.Time) bool {
	k := leaseKey{req.PackageID, i}
	x := s.extras[k]
	if x == nil {
		x = &extra{bypassed: map[string]bool{}}
	}
	// A lessee that lost its lease without announcing the fragment made no
	// copy: its lease goes to the caller without counting again.
	if x.lessee != "" {
		if o := s.entries[x.lessee]; o == nil || !o.live(now) || !o.pkgs[req.PackageID].bits.Has(i) {
			x.lessee = c.PeerID
			return true
		}
	}
	if x.n >= st.cfg.MaxExtraCopies {
		return false
	}
	var fresh []string
	for id, e := range s.byPkg[req.PackageID] {
		if e.live(now) && !st.revoked(id) && e.pkgs[req.PackageID].bits.Has(i) && !x.bypassed[id] {
			fresh = append(fresh, id) // Excluded by the caller: held does not have i.
		}
	}
	// A lease taken over from an excluded slow peer (see lease) bypasses
	// that lessee.
	if l, ok := s.leases[k]; ok && l.peer != c.PeerID && now.Before(l.expires) && !x.bypassed[l.peer] &&
		!slices.Contains(fresh, l.peer) && slices.Contains(req.Exclude, l.peer) {
		fresh = append(fresh, l.peer)
	}
	if len(fresh) == 0 {
		return false
	}
	for _, id := range fresh {
		x.bypassed[id] = true
		s.slow[id] = now.Add(slowLeaseBan * st.cfg.LeaseTTL)
	}
	x.n++
	x.lessee = c.PeerID
	s.extras[k] = x
	return true
}

// goneReports records that reporter's LAN membership lost the peers gone
// and drops each peer that enough live peers reported within LeaseTTL:
// two, or every other live agent of the site when fewer. Relays, which
// are not LAN members, and the reporter itself are never dropped. One
// agent alone cannot evict its peers in a larger site; a dropped peer that
// is alive announces again (ErrUnknownPeer). A report naming more than
// half of the reporter's live site peers (two at least) is ignored: the
// reporter's own LAN view is what is broken (agents cut off from their
// LAN, or that had not admitted their peers yet, reported everyone and
// made the tracker drop a whole lab branch); the leases of peers that
// really died end with their TTL.
func (st *state) goneReports(s *site, reporter string, gone []string, now time.Time) (dropped []string) {
	named, peers := 0, 0
	for _, id := range gone {
		if e := s.entries[id]; id != reporter && e != nil && e.live(now) && e.kind != proto.HolderRelay && !st.revoked(id) {
			named++ // A repeated ID only makes the report likelier ignored.
		}
	}
	for id, e := range s.entries {
		if id != reporter && e.live(now) && e.kind != proto.HolderRelay && !st.revoked(id) {
			peers++
		}
	}
	if named >= 2 && 2*named > peers {
		return nil
	}
	for _, id := range gone {
		e := s.entries[id]
		if id == reporter || e == nil || !e.live(now) || e.kind == proto.HolderRelay {
			continue
		}
		if s.gone[id] == nil {
			s.gone[id] = map[string]time.Time{}
		}
		s.gone[id][reporter] = now
		others := 0
		for oid, o := range s.entries {
			if oid != id && o.live(now) && o.kind != proto.HolderRelay && !st.revoked(oid) {
				others++
			}
		}
		reports := 0
		for rid, at := range s.gone[id] {
			if r := s.entries[rid]; r != nil && r.live(now) && now.Sub(at) < st.cfg.LeaseTTL && !st.revoked(rid) {
				reports++
			}
		}
		if reports >= min(2, others) {
			st.remove(s, e)
			delete(s.gone, id)
			dropped = append(dropped, id)
		}
	}
	return dropped
}

// sweep drops expired and revoked entries and expired leases, and reports
// how many entries it dropped.
func (st *state) sweep(now time.Time) (dropped int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for name, s := range st.sites {
		for id, e := range s.entries {
			if !e.live(now) || st.revoked(id) {
				st.remove(s, e)
				dropped++
			}
		}
		for k, l := range s.leases {
			if !now.Before(l.expires) {
				delete(s.leases, k)
			}
		}
		for k := range s.extras {
			if len(s.byPkg[k.pkg]) == 0 {
				delete(s.extras, k)
			}
		}
		for pkg := range s.since {
			if len(s.byPkg[pkg]) == 0 {
				delete(s.since, pkg)
			}
		}
		for id, until := range s.slow {
			if !now.Before(until) || s.entries[id] == nil {
				delete(s.slow, id)
			}
		}
		for id := range s.gone {
			if s.entries[id] == nil {
				delete(s.gone, id)
			}
		}
		if len(s.entries) == 0 && len(s.leases) == 0 {
			delete(st.sites, name)
		}
	}
	return dropped
}

// Stats counts the tracker's state.
type Stats struct {
	Sites   int `json:"sites"`
	Entries int `json:"entries"`
	Relays  int `json:"relays"`
	Leases  int `json:"leases"`
}

func (st *state) stats() Stats {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out Stats
	out.Sites = len(st.sites)
	for _, s := range st.sites {
		out.Entries += len(s.entries)
		out.Leases += len(s.leases)
		for _, e := range s.entries {
			if e.kind == proto.HolderRelay {
				out.Relays++
			}
		}
	}
	return out
}

package swarm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shoal-project/shoal/agent/fetch"
	"github.com/shoal-project/shoal/internal/fragstore"
	"github.com/shoal-project/shoal/internal/p2p"
	"github.com/shoal-project/shoal/internal/trackerclient"
	"github.com/shoal-project/shoal/proto"
)

// tickInterval paces the download loop's maintenance: hedging, stall
// detection, LAN membership, re-lookups and leases.
const tickInterval = 100 * time.Millisecond

// busyBackoff is how long a peer that answered "busy" is left alone.
const busyBackoff = 500 * time.Millisecond

// busyBounds: a peer answering only "busy" for this many progress bounds
// is too slow.
const busyBounds = 3

// busyGap: a busy answer more than this after a peer's previous one starts
// a new busy spell (a download that still wants something of a busy peer
// asks it again after busyBackoff).
const busyGap = 4 * busyBackoff

// peerState is what a download knows of one peer.
type peerState struct {
	id        string
	addrs     []string
	src       fetch.Source // nil when no source could be made
	have      proto.Bitfield
	listed    bool // in the latest lookup
	relay     bool // the site's relay: not a LAN member
	inflight  int
	fails     int       // consecutive failures
	downUntil time.Time // busy: left alone until then
	coolUntil time.Time // failing or too slow: left alone, and excluded from leases, until then
	slow      int       // times it was too slow; each doubles the next cool-off
	goneSince time.Time // listed but not a live LAN member since then (zero: alive)
	wasMember bool      // seen as a live LAN member once: only such a peer can be gone
	busySince time.Time // answering busy, with nothing delivered, since then (zero: not busy)
	lastBusy  time.Time // its latest busy answer
	dropped   bool      // sent a bad fragment or has no valid record
	watched   bool      // a have session to it was asked for
	pushed    bool      // it claimed fragments over a have session
	pushHave  proto.Bitfield
	refuted   proto.Bitfield    // answered "not found" for these
	lies      int               // pushed claims it answered "not found" for
	seedUntil map[int]time.Time // it seeds these to other peers first: not asked for them before then
	// member caches d.alive[id] for the membership of generation
	// memberGen (download.aliveGen): usable asks it for every peer on
	// every pass, and a string-keyed map lookup per peer was a large part
	// of the scheduler's CPU at 500 peers.
	member    bool
	memberGen int
}

// request is one fragment request in flight.
type request struct {
	idx       int
	peer      *peerState // nil: upstream
	relayOnly bool       // upstream from the site's relays only (relay-owned WAN)
	parts     int        // upstream: the WAN streams it takes (byte ranges of central's fragment)
	owned     bool       // upstream from central as the WAN owner (counts in download.ownReqs)
	cancel    context.CancelFunc
	start     time.Time
	got       *atomic.Int64 // bytes delivered so far (peer requests)
	hedged    bool          // a copy was started because this one was slow
	cancelled bool          // cancelled by the loop (another copy won, or too slow)
}

// outcome is a finished request.
type outcome struct {
	req *request
	err error
	dur time.Duration
}

// download is one package's swarm download. Its fields are owned by the
// goroutine running run; workers only send outcomes.
type download struct {
	s   *Scheduler
	cfg Config
	tr  Tracker
	m   *proto.Manifest
	st  *fetch.Stats
	log *slog.Logger
	// self is this node's peer ID, asked once (Deps.Self also lists the
	// node's addresses: asked on every turn of the loop it was 2.7 % of
	// the lab agents' CPU).
	self string

	need       map[int]bool
	needBits   proto.Bitfield // need as a bitfield, kept with it (avail walks it per peer)
	peers      map[string]*peerState
	alive      map[string]bool
	aliveKnown bool
	aliveGen   int // counts the membership snapshots taken (peerState.member)
	inflight   map[int][]*request
	peerReqs   int
	upReqs     int
	ownReqs    int               // requests in flight to central as the WAN owner (Config.OwnerFragments)
	leased     map[int]time.Time // granted until
	relay      bool              // the site's relay is the WAN owner
	relayDown  map[string]bool   // relays (peer IDs) found unreachable: excluded from leases
	relayFails map[int]int       // failed relay-only requests per fragment
	relayBusy  time.Time         // a relay answered busy: no relay-only request before then
	seeding    map[int]time.Time // a relay seeds these to other peers: not asked of it before then
	durs       []time.Duration   // recent peer fragment times
	rates      []float64         // recent peer fragment rates, bytes per second

	board   *board // have claims from the site's peers
	watched int    // have sessions asked for
	pushers int    // peers with a have session up (they claimed, maybe nothing)

	done          chan outcome
	wg            sync.WaitGroup
	lastProgress  time.Time
	sinceAnnounce int
	nextLookup    time.Time     // the periodic refresh (LookupMax), or sooner after an error or a stall
	lastLookup    time.Time     // the last lookup that answered
	lookupWait    time.Duration // how soon a starved download looks up again
	nextLease     time.Time
	leaseGranting bool // the last lease answer granted something
	trackerFails  int
	unknownFails  int // consecutive ErrUnknownPeer answers (trackerFailed)
	lastTrackErr  error
	// rank orders fragments equally rare (rankOrder): about in package
	// order, so the agent unpacks the package while it downloads, but
	// shuffled within a window, so agents that all start at fragment 0 do
	// not ask the relay (or the first holder) for the same fragments at
	// once and have something to trade.
	rank []int
}

// rankWindow is the number of fragments among which a download's order
// is shuffled.
const rankWindow = 16

// rankOrder returns the rank of each of n fragments: package order, each
// fragment moved by a random offset below window.
func rankOrder(n, window int) []int {
	keys := make([]float64, n)
	idx := make([]int, n)
	for i := range n {
		keys[i], idx[i] = float64(i)+rand.Float64()*float64(window), i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(keys[a], keys[b]) })
	rank := make([]int, n)
	for r, i := range idx {
		rank[i] = r
	}
	return rank
}

func newDownload(s *Scheduler, tr Tracker, m *proto.Manifest, missing []proto.Fragment, st *fetch.Stats) *download {
	d := &download{s: s, cfg: s.cfg, tr: tr, m: m, st: st, log: s.log.With("package", m.PackageID),
		need: map[int]bool{}, peers: map[string]*peerState{}, inflight: map[int][]*request{}, leased: map[int]time.Time{}, relayDown: map[string]bool{}, relayFails: map[int]int{}, seeding: map[int]time.Time{},
		done: make(chan outcome), lookupWait: s.cfg.LookupMin, rank: rankOrder(len(m.Fragments), rankWindow), board: s.openBoard(m.PackageID)}
	if s.deps.Self != nil {
		d.self = s.deps.Self().PeerID
	}
	d.needBits = proto.NewBitfield(len(m.Fragments))
	for _, f := range missing {
		d.need[f.Index] = true
		d.needBits.Set(f.Index)
	}
	return d
}

// run fetches every missing fragment. It returns a *trackerDownError when the tracker cannot be reached.
func (d *download) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		t0 := time.Now()
		d.drain()
		d.s.closeBoard(d.m.PackageID, d.board)
		d.log.Debug("download's workers ended", "dur", time.Since(t0))
	}()
	t0 := time.Now()
	if err := d.s.announce(ctx, d.tr); err != nil {
		return &trackerDownError{err: err}
	}
	d.log.Debug("tracker call", "call", "announce", "dur", time.Since(t0))
	now := time.Now()
	d.lastProgress = now
	if err := d.lookup(ctx, now); err != nil {
		return &trackerDownError{err: err}
	}
	tick := time.NewTicker(tickInterval)
	defer tick.Stop()
	for {
		if len(d.need) == 0 {
			d.log.Debug("every fragment stored")
			d.s.Kick()
			return nil
		}
		now = time.Now()
		d.takeClaims(now)
		if err := d.maintain(ctx, now); err != nil {
			return err
		}
		d.schedule(ctx, now)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case o := <-d.done:
			if err := d.handle(o, time.Now()); err != nil {
				return err
			}
		case <-tick.C:
		case <-d.board.wake:
		}
	}
}

// drain waits for the workers after the loop cancelled them.
func (d *download) drain() {
	go func() {
		d.wg.Wait()
		close(d.done)
	}()
	for range d.done {
	}
}

// usable reports whether p may be asked for fragments now.
func (d *download) usable(p *peerState, now time.Time) bool {
	if !(p.listed || p.pushed) || p.dropped || p.src == nil || now.Before(p.downUntil) || now.Before(p.coolUntil) {
		return false
	}
	return p.relay || !d.aliveKnown || d.isMember(p)
}

// isMember reports whether p is in the latest membership snapshot
// (d.alive), cached per snapshot.
func (d *download) isMember(p *peerState) bool {
	if p.memberGen != d.aliveGen {
		p.member, p.memberGen = d.alive[p.id], d.aliveGen
	}
	return p.member
}

// excluded reports whether the tracker should not count p as a holder
// when it leases fragments to us: p sent bad data, is left alone for
// failing or being too slow, or is gone (see gone). Progress, not the
// tracker's liveness, decides. A relay
// is excluded only once the fetcher gives up on it (relayGone), since it
// also pulls what it lacks through from upstream.
func (d *download) excluded(p *peerState, now time.Time) bool {
	if p.dropped {
		return true
	}
	return !p.relay && (now.Before(p.coolUntil) || d.gone(p, now) || d.neverAdmitted(p, now))
}

// unadmittedBounds × StallTimeout is how long a listed peer our LAN
// membership never admitted stays a holder for our lease requests.
const unadmittedBounds = 3

// neverAdmitted reports whether p, listed by the tracker, has not been a
// live LAN member since we learned of it, for unadmittedBounds ×
// StallTimeout: long enough for memberlist's gossip and push-pull to bring
// a live peer's record (then it was never dead but unknown to us), so the
// fragments only it holds may then come over the WAN once more. It is not
// reported gone (see gone): that is for members we saw die.
func (d *download) neverAdmitted(p *peerState, now time.Time) bool {
	return !p.relay && d.aliveKnown && !p.wasMember && !p.goneSince.IsZero() && now.Sub(p.goneSince) >= unadmittedBounds*d.cfg.StallTimeout
}

// gone reports whether p, once a live LAN member, has not been one for
// StallTimeout (memberlist declared it dead or it left): the lease request
// names it so that the tracker, once two peers say so, frees its leases at
// once instead of after their TTL (a WAN owner that died mid-fetch). A
// peer this agent's membership never admitted is not gone: its record may
// not have reached us yet (20 agents starting at once), and agents
// reporting the peers they had not admitted yet made the tracker drop
// the whole site, which then fetched the package once per agent.
func (d *download) gone(p *peerState, now time.Time) bool {
	return !p.relay && d.aliveKnown && p.wasMember && !p.goneSince.IsZero() && now.Sub(p.goneSince) >= d.cfg.StallTimeout
}

// lookup refreshes the holders of the package.
func (d *download) lookup(ctx context.Context, now time.Time) error {
	lctx, cancel := context.WithTimeout(ctx, trackerTimeout)
	t0 := time.Now()
	resp, err := d.tr.Lookup(lctx, d.m.PackageID)
	cancel()
	d.log.Debug("tracker call", "call", "lookup", "dur", time.Since(t0), "err", err)
	if err != nil {
		return fmt.Errorf("lookup: %w", err)
	}
	self := d.self
	for _, p := range d.peers {
		p.listed = false
	}
	grew := false
	n := len(d.m.Fragments)
	for _, tp := range resp.Peers {
		relay := tp.Kind == proto.HolderRelay
		mk := d.s.deps.PeerSource
		if relay {
			mk = d.s.deps.RelaySource
		}
		if (relay && mk == nil) || tp.PeerID == self || tp.Total != n || len(tp.Have) != (n+7)/8 {
			continue
		}
		p := d.peers[tp.PeerID]
		if p == nil {
			p = &peerState{id: tp.PeerID}
			d.peers[tp.PeerID] = p
		}
		if p.src == nil || p.relay != relay || !slices.Equal(p.addrs, tp.Addrs) {
			p.addrs = slices.Clone(tp.Addrs)
			p.src, p.relay = nil, relay
			if mk != nil {
				src, err := mk(tp.PeerID, tp.Addrs)
				if err != nil {
					d.log.Debug("unusable peer", "peer", tp.PeerID, "err", err)
				} else {
					p.src = src
				}
			}
		}
		for i := range d.need {
			if tp.Have.Has(i) && !p.have.Has(i) {
				grew = true
			}
		}
		p.setHave(tp.Have)
		p.listed = true
	}
	d.watch(ctx)
	// A starved download waits for its site's WAN owners, whose leases
	// need their fragments copied (tracker lease_credit): it looks again
	// within 2 × LookupMin.
	if grew {
		d.lookupWait = d.cfg.LookupMin
	} else {
		d.lookupWait = min(2*d.lookupWait, d.cfg.LookupMax, 2*d.cfg.LookupMin)
	}
	// A download with enough to ask of its peers refreshes every
	// LookupMax; maintain looks up sooner once it starves.
	d.lastLookup, d.nextLookup = now, now.Add(d.cfg.LookupMax)
	if d.s.deps.OnMembers != nil && len(resp.Members) > 0 {
		d.s.deps.OnMembers(resp.Members)
	}
	return nil
}

// unknownRetries bounds the consecutive "unknown peer" answers a download
// takes for a lost entry (and announces again) before it counts them as
// failures: a tracker that forgets us after every announce is broken.
const unknownRetries = 10

// trackerFailed counts a failed tracker call; too many in a row end the
// swarm download.
func (d *download) trackerFailed(err error) error {
	if errors.Is(err, trackerclient.ErrUnknownPeer) && d.unknownFails < unknownRetries {
		// The tracker has no entry for us: it restarted, our entry
		// expired, or our site's members reported us gone. That is not
		// the tracker being down: announce at once and carry on. (Taking
		// it for an outage made a whole lab branch fetch the package
		// once per agent.)
		d.unknownFails++
		d.log.Info("the tracker does not know this agent; announcing again", "err", err, "times", d.unknownFails)
		d.s.Kick()
		return nil
	}
	d.trackerFails++
	d.lastTrackErr = err
	d.log.Warn("tracker call failed", "err", err, "failures", d.trackerFails)
	if d.trackerFails >= d.cfg.TrackerFailures {
		return &trackerDownError{err: err}
	}
	return nil
}

// maintain runs the timed work: membership, stall detection, re-lookups,
// leases and hedging.
func (d *download) maintain(ctx context.Context, now time.Time) error {
	if d.s.deps.Alive != nil {
		d.alive, d.aliveKnown = d.s.deps.Alive()
		d.aliveGen++
	}
	for _, p := range d.peers {
		switch {
		case p.relay || !d.aliveKnown || d.isMember(p):
			p.wasMember = p.wasMember || (d.aliveKnown && !p.relay)
			p.goneSince = time.Time{}
		case p.goneSince.IsZero():
			p.goneSince = now
		}
	}
	d.checkProgress(now)
	if now.Sub(d.lastProgress) >= d.cfg.StallTimeout {
		d.log.Info("no progress; looking up and asking for leases again", "stalled", now.Sub(d.lastProgress).Round(time.Millisecond))
		d.lastProgress = now
		d.nextLookup, d.nextLease = now, now
	}
	if !now.Before(d.nextLookup) || (d.pushers == 0 && now.Sub(d.lastLookup) >= d.lookupWait && d.starved(now)) {
		if err := d.lookup(ctx, now); err != nil {
			d.nextLookup = now.Add(d.cfg.LookupMin)
			if err := d.trackerFailed(err); err != nil {
				return err
			}
		} else {
			d.trackerFails, d.unknownFails = 0, 0
		}
	}
	if err := d.maybeLease(ctx, now); err != nil {
		return err
	}
	d.hedge(ctx, now)
	return nil
}

// starved reports whether the download waits for news from the tracker:
// it has a free request slot, and no needed fragment that nobody is
// fetching is held by a usable peer, while some are needed. Only then is
// a lookup worth its bytes on the branch uplink; a download with known
// work (even if its peers are busy), or with everything in flight, looks
// up every LookupMax. So does a download with a have session up (a peer
// sent it its bitfield): its peers tell it what they store as they store
// it, and peers that start later open sessions to it. Peers that do not
// speak the have protocol (older versions) leave it to lookups.
func (d *download) starved(now time.Time) bool {
	if d.peerReqs >= d.cfg.MaxPeerRequests {
		return false
	}
	waiting := false
	for i := range d.need {
		if len(d.inflight[i]) > 0 {
			continue
		}
		for _, p := range d.peers {
			if p.have.Has(i) && d.usable(p, now) {
				return false
			}
		}
		waiting = true
	}
	return waiting
}

// avail returns, for every needed fragment i, how many usable peers hold
// it in out[i] (out has an entry per fragment; those not needed are 0).
// It walks each usable peer's bitfield against needBits a byte at a time:
// walking peers × needed fragments through maps was 36 % of the scale
// simulator's CPU.
func (d *download) avail(now time.Time) []int {
	out := make([]int, len(d.m.Fragments))
	for _, p := range d.peers {
		if !d.usable(p, now) {
			continue
		}
		for b := range min(len(p.have), len(d.needBits)) {
			for x := p.have[b] & d.needBits[b]; x != 0; {
				k := bits.LeadingZeros8(x)
				out[8*b+k]++
				x &^= 0x80 >> k
			}
		}
	}
	return out
}

func (d *download) leasedNow(i int, now time.Time) bool {
	until, ok := d.leased[i]
	return ok && now.Before(until)
}

// maybeLease asks the tracker for the WAN-owner lease of the fragments no
// usable peer holds: at first, whenever the last grant is used up while
// the tracker was granting, and after a stall.
func (d *download) maybeLease(ctx context.Context, now time.Time) error {
	if d.relay && !d.relayGone(now) {
		return nil
	}
	av := d.avail(now)
	var orphans []int
	pending := 0
	for i := range d.need {
		switch {
		case d.leasedNow(i, now):
			pending++
		case av[i] == 0 && len(d.inflight[i]) == 0:
			orphans = append(orphans, i)
		}
	}
	if len(orphans) == 0 {
		return nil
	}
	if now.Before(d.nextLease) && !(d.leaseGranting && pending < d.upStreams()) {
		return nil
	}
	slices.Sort(orphans)
	want := orphans
	for i, reqs := range d.inflight { // Renew what we fetch.
		for _, r := range reqs {
			if r.peer == nil && !d.relay {
				want = append(want, i)
				break
			}
		}
	}
	var exclude, gone []string
	for id, p := range d.peers {
		if d.excluded(p, now) && len(exclude) < 256 {
			exclude = append(exclude, id)
			if d.gone(p, now) {
				gone = append(gone, id)
			}
		}
	}
	for id := range d.relayDown {
		if len(exclude) < 256 && !slices.Contains(exclude, id) {
			exclude = append(exclude, id)
		}
	}
	if len(gone) > 0 {
		d.log.Info("reporting peers gone from the LAN to the tracker", "gone", len(gone), "members", len(d.alive), "first", gone[0])
	}
	lctx, cancel := context.WithTimeout(ctx, trackerTimeout)
	t0 := time.Now()
	resp, err := d.tr.Lease(lctx, proto.TrackerLeaseRequest{PackageID: d.m.PackageID, Total: len(d.m.Fragments), Want: want,
		Max: d.cfg.LeaseMax, Exclude: exclude, Gone: gone})
	cancel()
	d.log.Debug("tracker call", "call", "lease", "dur", time.Since(t0), "err", err)
	d.nextLease = now.Add(d.cfg.StallTimeout)
	if err != nil {
		d.leaseGranting = false
		return d.trackerFailed(fmt.Errorf("lease: %w", err))
	}
	d.trackerFails, d.unknownFails = 0, 0
	if resp.Relay {
		d.relay = true
		d.log.Info("the site's relay is the WAN owner; fetching what no peer holds from upstream")
		return nil
	}
	ttl := time.Duration(resp.TTL) * time.Second
	if ttl <= 0 {
		ttl = d.cfg.StallTimeout
	}
	fresh := 0
	for _, g := range resp.Granted {
		if d.need[g] {
			if !d.leasedNow(g, now) {
				fresh++
			}
			d.leased[g] = now.Add(ttl)
		}
	}
	// Only new grants make asking again at once worth it: renewals of what
	// we fetch say nothing about more orphans, and asking on every tick
	// then only loads the tracker (the scale simulator counted 117 lease
	// calls per agent at 20 agents).
	d.leaseGranting = fresh > 0 && !resp.HeldBack
	if resp.HeldBack {
		// What we fetched is not copied yet: ask again soon, it will be.
		d.nextLease = now.Add(d.cfg.LookupMin)
	}
	if fresh > 0 {
		// The lab (-slow-owner) finds the WAN owners by this line.
		d.log.Info("WAN-owner lease granted", "asked", len(want), "granted", len(resp.Granted), "new", fresh, "fragments", resp.Granted)
	} else {
		d.log.Debug("lease", "asked", len(want), "granted", len(resp.Granted), "held_back", resp.HeldBack, "want", want, "exclude", len(exclude))
	}
	return nil
}

// relayGone reports whether a relay the upstream fetcher reaches over
// libp2p has newly gone down (it failed RelayFailures times in a row):
// then the relay no longer counts as the WAN owner for this download, and
// leases are asked for at once with the relay excluded, so that the site
// fetches what nobody holds once from central rather than once per agent.
func (d *download) relayGone(now time.Time) bool {
	grew := false
	for _, src := range d.s.deps.Upstream.DownRelays() {
		p, ok := src.(interface{ PeerID() string })
		if !ok || d.relayDown[p.PeerID()] {
			continue
		}
		d.relayDown[p.PeerID()] = true
		grew = true
		d.log.Warn("the site's relay is unreachable; back to WAN-owner leases without it", "relay", fetch.Name(src))
	}
	if grew {
		d.relay = false
		d.nextLease = now
	}
	return grew
}

// schedule starts requests: rarest fragment first to a free peer holding
// it, upstream for what no peer holds when leased (or relay-owned), and
// duplicates in endgame.
func (d *download) schedule(ctx context.Context, now time.Time) {
	av := d.avail(now)
	var cands []int
	for i := range d.need {
		if len(d.inflight[i]) == 0 {
			cands = append(cands, i)
		}
	}
	slices.SortFunc(cands, func(a, b int) int { return cmp.Or(cmp.Compare(av[a], av[b]), cmp.Compare(d.rank[a], d.rank[b])) })
	for _, i := range cands {
		if av[i] > 0 {
			if d.peerReqs >= d.cfg.MaxPeerRequests {
				continue
			}
			if p := d.freePeer(i, now, nil); p != nil {
				d.start(ctx, i, p, now)
			}
			continue
		}
		if d.upReqs < d.upStreams() && ((d.relay && !now.Before(d.relayBusy) && !now.Before(d.seeding[i])) || (d.leasedNow(i, now) && (d.relay || d.heldByAny(i) || d.ownReqs < d.cfg.OwnerFragments))) {
			d.start(ctx, i, nil, now)
		}
	}
	if d.cfg.EndgameFragments <= 0 || len(d.need) > d.cfg.EndgameFragments {
		return
	}
	for i := range d.need {
		if len(d.inflight[i]) == 0 {
			return // Not everything is requested yet.
		}
	}
	idx := make([]int, 0, len(d.need))
	for i := range d.need {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	for _, i := range idx {
		if len(d.inflight[i]) >= d.cfg.EndgameCopies || d.peerReqs >= d.cfg.MaxPeerRequests {
			continue
		}
		if p := d.freePeer(i, now, d.inflight[i]); p != nil {
			d.log.Debug("endgame: asking another peer too", "fragment", i, "peer", p.id)
			d.start(ctx, i, p, now)
		}
	}
}

// freePeer returns the usable peer holding fragment i with a free stream
// and the fewest requests in flight, not one already serving busy (and,
// for such an extra copy, not the relay). A peer
// comes before the site's relay: the relay's one LAN port serves the whole
// branch, a peer's serves the few that ask it.
func (d *download) freePeer(i int, now time.Time, busy []*request) *peerState {
	var best *peerState
	for _, p := range d.peers {
		if !d.usable(p, now) || !p.have.Has(i) || p.inflight >= d.cfg.PeerStreams {
			continue
		}
		// An extra copy (endgame, hedging) never goes to the relay: its
		// one LAN port serves the whole branch, and at the end of a
		// package every agent would ask it for the same last fragments
		// twice, the losing copies cancelled half sent.
		if p.relay && (busy != nil || now.Before(d.seeding[i])) {
			continue
		}
		if now.Before(p.seedUntil[i]) {
			continue
		}
		if slices.ContainsFunc(busy, func(r *request) bool { return r.peer == p }) {
			continue
		}
		if best == nil || cmp.Or(cmpRelay(p, best), cmp.Compare(p.inflight, best.inflight), cmp.Compare(p.id, best.id)) < 0 {
			best = p
		}
	}
	return best
}

// cmpRelay orders peers before relays.
func cmpRelay(a, b *peerState) int {
	switch {
	case a.relay == b.relay:
		return 0
	case b.relay:
		return -1
	}
	return 1
}

// hedge asks another peer for fragments whose only request is slower than
// HedgeFactor × the median fragment time.
func (d *download) hedge(ctx context.Context, now time.Time) {
	if d.cfg.HedgeFactor <= 0 || len(d.durs) < 3 {
		return
	}
	s := slices.Clone(d.durs)
	slices.Sort(s)
	limit := max(d.cfg.HedgeMin, time.Duration(float64(s[len(s)/2])*d.cfg.HedgeFactor))
	for i, reqs := range d.inflight {
		if len(reqs) != 1 || reqs[0].peer == nil || reqs[0].hedged || now.Sub(reqs[0].start) < limit || d.peerReqs >= d.cfg.MaxPeerRequests {
			continue
		}
		if p := d.freePeer(i, now, reqs); p != nil {
			reqs[0].hedged = true
			d.log.Debug("hedging slow request", "fragment", i, "slow_peer", reqs[0].peer.id, "peer", p.id, "after", now.Sub(reqs[0].start))
			d.start(ctx, i, p, now)
		}
	}
}

// start requests fragment i from p (nil: upstream) on a worker.
func (d *download) start(ctx context.Context, i int, p *peerState, now time.Time) {
	rctx, cancel := context.WithCancel(ctx)
	// While the relay owns the WAN, upstream means the relay: a failure
	// comes back here (relayGone) instead of going to central. A fragment
	// the relay failed MaxAttempts times may go to central.
	up := d.s.deps.Upstream
	relayOnly := p == nil && d.relay && up.HasRelays() && d.relayFails[i] < up.MaxAttempts()
	r := &request{idx: i, peer: p, cancel: cancel, start: now, relayOnly: relayOnly, got: new(atomic.Int64), parts: 1}
	if (relayOnly || p != nil) && d.hasPeers(p, now) {
		// A super-seeding relay or peer may tell us to take this
		// fragment from the peers it hands it to (p2p.ErrSeeding). Never
		// on a request that may go to central: a fetcher stops at that
		// answer.
		rctx = p2p.SwarmRequest(rctx)
	}
	// A WAN owner's fragment from central (not an extra copy: a peer we
	// left alone holds that one) counts against OwnerFragments.
	r.owned = p == nil && !relayOnly && !d.relay && !d.heldByAny(i)
	if r.owned {
		// A WAN owner's fragment from central takes the free upstream
		// streams, in byte ranges (fetch.FetchRanges): its last fragments
		// do not crawl on one lossy stream each. An extra copy (a peer
		// we left alone holds it) comes whole: it races that peer's
		// copy reaching us some other way, and a faster fetch cut short
		// wastes more of the WAN (the slow-owner lab went from 1.042·S
		// to 1.061·S).
		r.parts = max(1, min(d.cfg.UpstreamRanges, d.upStreams()-d.upReqs))
	}
	d.inflight[i] = append(d.inflight[i], r)
	if p != nil {
		p.inflight++
		d.peerReqs++
	} else {
		d.upReqs += r.parts
	}
	if r.owned {
		d.ownReqs++
	}
	fr := d.m.Fragments[i]
	pkg := d.m.PackageID
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer cancel()
		bp := d.s.bufs.Get().(*[]byte)
		defer d.s.bufs.Put(bp)
		t0 := time.Now()
		var err error
		if p != nil {
			w, terr := up.TryOne(rctx, progressSource{p.src, r.got}, pkg, fr, *bp, d.st)
			if err = terr; err == nil {
				err = w.Finish()
			}
		} else {
			var w *fragstore.Writer
			var ferr error
			switch {
			case relayOnly:
				w, ferr = up.FetchFromRelays(rctx, pkg, fr, *bp, d.st)
			case r.parts > 1:
				w, ferr = up.FetchRanges(rctx, pkg, fr, r.parts, *bp, d.st)
			default:
				w, ferr = up.FetchOne(rctx, pkg, fr, *bp, d.st)
			}
			if err = ferr; err == nil {
				err = w.Finish()
			}
		}
		select {
		case d.done <- outcome{req: r, err: err, dur: time.Since(t0)}:
		case <-ctx.Done():
		}
	}()
}

// handle takes a finished request into account.
func (d *download) handle(o outcome, now time.Time) error {
	r := o.req
	i := r.idx
	d.inflight[i] = slices.DeleteFunc(d.inflight[i], func(x *request) bool { return x == r })
	if len(d.inflight[i]) == 0 {
		delete(d.inflight, i)
	}
	p := r.peer
	if p != nil {
		p.inflight--
		d.peerReqs--
	} else {
		d.upReqs -= r.parts
	}
	if r.owned {
		d.ownReqs--
	}
	switch {
	case o.err == nil:
		if p != nil {
			p.fails = 0
			p.busySince = time.Time{}
			d.durs = append(d.durs, o.dur)
			if len(d.durs) > 64 {
				d.durs = d.durs[1:]
			}
			if o.dur > 0 {
				d.rates = append(d.rates, float64(d.m.Fragments[i].Size)/o.dur.Seconds())
				if len(d.rates) > 64 {
					d.rates = d.rates[1:]
				}
			}
		}
		if !d.need[i] {
			return nil // Another copy won first.
		}
		if p == nil {
			// One line per WAN fragment: the lab's timelines read them.
			d.log.Info("upstream fragment stored", "fragment", i, "ranges", r.parts, "dur", o.dur.Round(time.Millisecond))
		} else {
			d.log.Debug("peer fragment stored", "fragment", i, "peer", p.id, "dur", o.dur.Round(time.Millisecond))
		}
		delete(d.need, i)
		d.needBits[i/8] &^= 0x80 >> (i % 8)
		delete(d.leased, i)
		delete(d.seeding, i)
		for _, q := range d.peers {
			delete(q.seedUntil, i)
		}
		d.st.Stored(d.log, i)
		if d.s.deps.Haves != nil {
			d.s.deps.Haves.PublishHave(d.m.PackageID, i)
		}
		d.lastProgress = now
		for _, other := range d.inflight[i] {
			other.cancelled = true
			other.cancel()
		}
		// Without a relay, a WAN owner's fragment and the first copy of
		// one are announced at once: the tracker gives the owner new
		// leases only once its site copied what it fetched (lease_credit).
		if d.sinceAnnounce++; d.sinceAnnounce >= d.cfg.AnnounceEvery || (!d.relay && (p == nil || d.holders(i) <= 1)) {
			d.sinceAnnounce = 0
			d.s.Kick()
		}
		if p == nil && d.leaseGranting {
			pending := false
			for j := range d.leased {
				pending = pending || d.need[j]
			}
			if !pending {
				d.nextLease = now // Our grant is used up: ask for more.
			}
		}
		return nil
	case r.cancelled || (errors.Is(o.err, context.Canceled) && !d.need[i]):
		return nil
	case errors.Is(o.err, syscall.ENOSPC):
		return fmt.Errorf("fetch fragment %d of %s: %w", i, d.m.PackageID, o.err)
	case p == nil && r.relayOnly:
		// Asked again; relayGone ends relay mode once the relay is down.
		// A relay busy fetching the fragment upstream is waited for: going
		// to central would cross the WAN twice.
		// A relay seeding the fragment to other peers is asked again
		// for it (past its seed window) only after busyBackoff; its other
		// fragments meanwhile as usual.
		switch {
		case errors.Is(o.err, fetch.ErrSeeding):
			d.seeding[i] = now.Add(busyBackoff)
		case errors.Is(o.err, fetch.ErrBusy):
			d.relayBusy = now.Add(busyBackoff)
		default:
			d.relayFails[i]++
		}
		d.log.Debug("relay request failed", "fragment", i, "err", o.err)
	case p == nil:
		// FetchOne already tried every upstream source MaxAttempts times.
		return fmt.Errorf("swarm upstream: %w", o.err)
	case fetch.IsBadData(o.err):
		d.drop(p, fmt.Sprintf("peer %s sent a bad fragment (%d) and was dropped for this package", p.id, i), o.err)
		d.st.BadFragments.Add(1)
		d.st.BadPeers.Add(1)
	case errors.Is(o.err, p2p.ErrUntrusted):
		d.drop(p, fmt.Sprintf("peer %s has no valid peer record for this site and was dropped", p.id), o.err)
	case errors.Is(o.err, p2p.ErrNotFound):
		if line := p.notFound(i, len(d.m.Fragments)); line != "" {
			d.drop(p, line, o.err)
		}
	case errors.Is(o.err, p2p.ErrSeeding):
		// The relay or peer hands fragment i to other peers first: take
		// it from them (their have sessions tell us), or from it again
		// after busyBackoff. Nothing is wrong with it.
		if p.relay {
			d.seeding[i] = now.Add(busyBackoff)
			break
		}
		if p.seedUntil == nil {
			p.seedUntil = map[int]time.Time{}
		}
		p.seedUntil[i] = now.Add(busyBackoff)
	case errors.Is(o.err, p2p.ErrBusy):
		// A peer whose upload slots stay taken delivers nothing to us
		// either: busy for longer than busyBounds fragment bounds is too
		// slow. (A popular fresh WAN owner is busy for a few seconds.)
		p.downUntil = now.Add(busyBackoff)
		if p.relay {
			break // A relay is busy while it pulls from upstream.
		}
		// Busy answers count together only while we keep asking: one
		// long after the last (we got those fragments elsewhere, then
		// had nothing to ask of it) starts afresh.
		if p.busySince.IsZero() || now.Sub(p.lastBusy) > busyGap {
			p.busySince = now
		}
		p.lastBusy = now
		if b := busyBounds * d.progressBound(d.m.Fragments[i].Size); b > 0 && now.Sub(p.busySince) >= b {
			d.tooSlow(p, now, "busy", "fragment", i, "for", now.Sub(p.busySince).Round(time.Millisecond), "bound", b.Round(time.Millisecond))
		}
	case errors.Is(o.err, context.Canceled):
		return nil
	default:
		d.st.FailedRequests.Add(1)
		p.fails++
		d.log.Debug("peer request failed", "peer", p.id, "fragment", i, "err", o.err)
		if p.fails >= d.cfg.PeerFailures {
			p.coolUntil = now.Add(d.cfg.PeerCooloff)
			p.fails = 0
			d.nextLease = now
			d.log.Warn("peer failing; leaving it alone", "peer", p.id, "cooloff", d.cfg.PeerCooloff, "err", o.err)
		}
	}
	return nil
}

// heldByAny reports whether any peer we know of, usable or not, claims
// fragment i: a lease for it is an extra WAN copy.
func (d *download) heldByAny(i int) bool {
	for _, p := range d.peers {
		if !p.dropped && p.have.Has(i) {
			return true
		}
	}
	return false
}

// hasPeers reports whether a usable peer other than a relay and than
// asked is known: a fragment asked seeds to others can then reach us from
// a peer.
func (d *download) hasPeers(asked *peerState, now time.Time) bool {
	for _, p := range d.peers {
		if p != asked && !p.relay && d.usable(p, now) {
			return true
		}
	}
	return false
}

// holders counts the listed peers (not relays) holding fragment i.
func (d *download) holders(i int) int {
	n := 0
	for _, p := range d.peers {
		if p.listed && !p.relay && p.have.Has(i) {
			n++
		}
	}
	return n
}

// drop excludes p from the rest of this download and reports it.
func (d *download) drop(p *peerState, line string, err error) {
	if p.dropped {
		return
	}
	p.dropped = true
	d.log.Warn("peer dropped for this package", "peer", p.id, "err", err)
	d.st.Note(line)
	for _, reqs := range d.inflight {
		for _, r := range reqs {
			if r.peer == p {
				r.cancelled = true
				r.cancel()
			}
		}
	}
}

// progressBound is how long a peer may take to deliver a fragment of size
// bytes (0: no bound): ProgressFactor × size at the median measured peer
// rate, at least ProgressMin, or ProgressMin before there is a measure.
func (d *download) progressBound(size int64) time.Duration {
	if d.cfg.ProgressFactor < 0 {
		return 0
	}
	if len(d.rates) < 3 {
		// A holder that owns fragments nobody else has must be found out
		// early: its site fetches them again, and the sooner the better.
		return d.cfg.ProgressMin
	}
	r := slices.Clone(d.rates)
	slices.Sort(r)
	med := r[len(r)/2]
	return max(d.cfg.ProgressMin, time.Duration(d.cfg.ProgressFactor*float64(size)/med*float64(time.Second)))
}

// checkProgress cancels peer requests past their progress bound whose
// bytes so far do not promise to finish within half a bound more. The
// peer is left alone (and excluded from leases) for PeerCooloff, doubled
// for each time it was too slow, so that its fragments come from another
// holder, the relay, or a WAN-owner lease.
func (d *download) checkProgress(now time.Time) {
	// best is the fastest rate of a request in flight for rateAge (or
	// half its progress bound, if shorter) at least, per peer: a late
	// request from a peer that delivers at least 1/ourLinkShare of the
	// fastest other peer's rate is late because of our own link (its
	// bytes share it with every other request), not because of that peer.
	// (A younger request's rate is noise.) Half the bound: requests
	// started together (have claims arrive as peers store fragments) are
	// judged together, and one that started a few milliseconds after a
	// late one must count against it.
	best := map[*peerState]float64{}
	for _, reqs := range d.inflight {
		for _, r := range reqs {
			if r.peer == nil || r.cancelled {
				continue
			}
			age := min(rateAge, d.progressBound(d.m.Fragments[r.idx].Size)/2)
			if el := now.Sub(r.start); age > 0 && el >= age {
				best[r.peer] = max(best[r.peer], float64(r.got.Load())/el.Seconds())
			}
		}
	}
	for _, reqs := range d.inflight {
		for _, r := range reqs {
			p := r.peer
			if p == nil || r.cancelled || p.relay {
				continue
			}
			size := d.m.Fragments[r.idx].Size
			bound := d.progressBound(size)
			el := now.Sub(r.start)
			if bound <= 0 || el < bound {
				continue
			}
			got := r.got.Load()
			if got > 0 && time.Duration(float64(el)*float64(size-got)/float64(got)) <= bound/2 {
				continue
			}
			if d.ourLink(p, float64(got)/el.Seconds(), best) {
				continue
			}
			r.cancelled = true
			r.cancel()
			d.st.FailedRequests.Add(1)
			if now.Before(p.coolUntil) {
				continue // Already found slow in this pass.
			}
			d.tooSlow(p, now, "late", "fragment", r.idx, "bytes", got, "of", size, "after", el.Round(time.Millisecond),
				"bound", bound.Round(time.Millisecond))
		}
	}
}

// ourLinkShare: a peer delivering at least 1/ourLinkShare of the rate of
// the fastest other peer in flight is not too slow (see ourLink).
const ourLinkShare = 4

// rateAge is how long a request must have run for its rate to count in
// ourLink (at most half its progress bound).
const rateAge = time.Second

// ourLink reports whether a late request from p, at rate bytes per second,
// is late because of our own link: another peer's request in flight is not
// more than ourLinkShare times faster. A peer that is the only one we ask
// is judged by the bound alone.
func (d *download) ourLink(p *peerState, rate float64, best map[*peerState]float64) bool {
	if rate <= 0 {
		return false
	}
	fastest := 0.0
	for q, r := range best {
		if q != p {
			fastest = max(fastest, r)
		}
	}
	return fastest > 0 && rate*ourLinkShare >= fastest
}

// tooSlow leaves p alone, and excluded from lease requests, for
// PeerCooloff doubled for each earlier time (up to 16 times), and asks
// for leases at once.
func (d *download) tooSlow(p *peerState, now time.Time, why string, args ...any) {
	cool := d.cfg.PeerCooloff << min(p.slow, 4)
	p.slow++
	p.coolUntil = now.Add(cool)
	p.fails = 0
	p.busySince = time.Time{}
	d.nextLease = now
	d.log.Warn("peer too slow; leaving it alone and getting its fragments elsewhere",
		append([]any{"peer", p.id, "why", why, "cooloff", cool}, args...)...)
}

// progressSource counts the bytes a source delivers.
type progressSource struct {
	fetch.Source
	got *atomic.Int64
}

func (s progressSource) Fetch(ctx context.Context, pkg string, f proto.Fragment) (io.ReadCloser, error) {
	rc, err := s.Source.Fetch(ctx, pkg, f)
	if err != nil {
		return nil, err
	}
	return &progressReader{ReadCloser: rc, got: s.got}, nil
}

// String names the wrapped source.
func (s progressSource) String() string { return fetch.Name(s.Source) }

type progressReader struct {
	io.ReadCloser
	got *atomic.Int64
}

func (r *progressReader) Read(b []byte) (int, error) {
	n, err := r.ReadCloser.Read(b)
	r.got.Add(int64(n))
	return n, err
}

// upStreams bounds the upstream requests in flight: UpstreamStreams.
// (Following the upstream fetcher's adaptive stream count here, as tried
// for issue 21, let agents that left a slow WAN owner alone take more
// extra WAN copies at once: 1.5·S in TestP2PSlowWANOwner instead of 1.25.)
func (d *download) upStreams() int {
	return d.cfg.UpstreamStreams
}

package swarm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/shoal-project/shoal/agent/fetch"
	"github.com/shoal-project/shoal/internal/fragstore"
	"github.com/shoal-project/shoal/internal/statefile"
	"github.com/shoal-project/shoal/proto"
)

// Tracker is the part of the tracker client (trackerclient.Client) the scheduler
// uses.
type Tracker interface {
	Announce(ctx context.Context, a proto.TrackerAnnounce) (*proto.TrackerAnnounceResponse, error)
	Lookup(ctx context.Context, packageID string) (*proto.TrackerLookup, error)
	Lease(ctx context.Context, req proto.TrackerLeaseRequest) (*proto.TrackerLeaseResponse, error)
}

// PeerSourceFunc returns a fragment source for a peer of the site (the
// agent wires internal/p2p Node.Source); its Kind is fetch.KindPeer.
type PeerSourceFunc func(peerID string, addrs []string) (fetch.Source, error)

// HaveNet is the have exchange with the site's peers (internal/p2p Node's
// have sessions): sessions opened to peers a lookup lists, and this
// agent's new fragments pushed to every session of the package. Peers'
// claims come back through Scheduler.Claim.
type HaveNet interface {
	WatchHaves(ctx context.Context, pkg string, total int, peerID string, addrs []string) error
	PublishHave(pkg string, idx int)
}

// Self is what the agent announces about itself.
type Self struct {
	PeerID string
	// Addrs are the libp2p listen multiaddrs, GossipAddr the memberlist
	// address (host:port, may be empty).
	Addrs      []string
	GossipAddr string
	// Lonely: the LAN membership runs and has no members yet; the
	// announce asks the tracker for the site's members (to OnMembers).
	Lonely bool
}

// Deps are the scheduler's collaborators.
type Deps struct {
	// Upstream is the plain fetcher: relays then central, with
	// verification. It is the fallback when the tracker is unreachable.
	Upstream *fetch.Fetcher
	// Store is the fragment store the announced bitfields are read from.
	Store *fragstore.Store
	// PeerSource makes peer sources; nil means no peers (upstream only,
	// through leases).
	PeerSource PeerSourceFunc
	// RelaySource makes sources for the site's relays that lookups list
	// (internal/p2p Node.RelaySource, Kind fetch.KindRelay): a relay is then
	// asked like a peer for what it holds, and it is not expected in LAN
	// membership. Nil: relays in lookups are ignored (the fetcher still
	// reaches them upstream).
	RelaySource PeerSourceFunc
	// Alive returns the peers LAN membership (agent/lan) sees alive; known
	// is false while there is no membership to ask. Nil: every peer the
	// tracker lists is used. The map is only read (it may be shared), and
	// a download asks on every turn of its loop.
	Alive func() (alive map[string]bool, known bool)
	// Self returns what to announce. Nil announces no addresses.
	Self func() Self
	// OnMembers, when set, receives the site members (seeds for
	// memberlist) of every lookup and of an announce made while Self was
	// Lonely.
	OnMembers func([]proto.TrackerMember)
	// Haves, when set, pushes and receives fragment availability as it
	// happens (the agent wires its p2p node and calls the node's SetHaves
	// with the Scheduler); without it peers learn of fragments only from
	// lookups.
	Haves HaveNet
	// SeedFile, when set, keeps the manifests of the packages the agent
	// seeds (JSON, mode 0600), so that a restarted agent (a reboot after
	// an install) offers its fragments to the site again at once.
	SeedFile string
}

// trackerDownError ends a swarm download that cannot reach the tracker;
// the rest is fetched like without P2P.
type trackerDownError struct{ err error }

func (e *trackerDownError) Error() string { return "swarm: tracker unreachable: " + e.err.Error() }
func (e *trackerDownError) Unwrap() error { return e.err }

// Scheduler fetches packages from the site's peers, rarest fragment first,
// and from upstream only through WAN-owner leases (or from the site's
// relay). It implements the job engine's fetcher, and Run announces what
// the store holds.
type Scheduler struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	kick chan struct{} // announce now (buffered, 1)
	bufs sync.Pool

	// ann serializes announces (capacity 1: a token held while one
	// runs). A channel rather than a sync.Mutex: an announce waiting for
	// another, which holds it across a tracker call, is then durably
	// blocked under testing/synctest, so the scale simulator (sim/) can
	// run the scheduler in virtual time.
	ann chan struct{}

	boardMu sync.Mutex                     // guards boards
	boards  map[string]map[*board]struct{} // the running downloads' have claims, by package

	mu       sync.Mutex // guards tracker, held, active, interval
	tracker  Tracker
	held     map[string]*proto.Manifest
	active   map[string]int // downloads running per package
	interval time.Duration
}

// New returns a Scheduler; it starts nothing.
func New(cfg Config, deps Deps, logger *slog.Logger) (*Scheduler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Upstream == nil || deps.Store == nil {
		return nil, errors.New("swarm: upstream fetcher and store are required")
	}
	cfg = cfg.withDefaults()
	s := &Scheduler{cfg: cfg, deps: deps, log: logger.With("component", "swarm"), kick: make(chan struct{}, 1), ann: make(chan struct{}, 1),
		held: map[string]*proto.Manifest{}, active: map[string]int{}, interval: cfg.AnnounceInterval, boards: map[string]map[*board]struct{}{}}
	s.bufs.New = func() any { b := make([]byte, 256<<10); return &b }
	if deps.SeedFile != "" {
		var mans []*proto.Manifest
		if _, err := statefile.Read(deps.SeedFile, &mans); err != nil {
			// Losing the list costs seeding until the next download, not
			// the agent.
			s.log.Warn("seeded packages not restored", "file", deps.SeedFile, "err", err)
		}
		for _, m := range mans {
			if m != nil && m.PackageID != "" && len(m.Fragments) > 0 {
				s.held[m.PackageID] = m
			}
		}
	}
	return s, nil
}

// saveHeld writes the held manifests to the seed file; s.mu must be held.
func (s *Scheduler) saveHeldLocked() {
	if s.deps.SeedFile == "" {
		return
	}
	mans := make([]*proto.Manifest, 0, len(s.held))
	for _, m := range s.held {
		mans = append(mans, m)
	}
	sort.Slice(mans, func(i, j int) bool { return mans[i].PackageID < mans[j].PackageID })
	if err := statefile.Write(s.deps.SeedFile, mans, 0o600); err != nil {
		s.log.Warn("save seeded packages", "file", s.deps.SeedFile, "err", err)
	}
}

// SetTracker sets the site's tracker client (from the job list's
// SiteInfo.TrackerURL); nil turns P2P off: downloads then use the plain
// fetcher.
func (s *Scheduler) SetTracker(t Tracker) {
	s.mu.Lock()
	s.tracker = t
	s.mu.Unlock()
	s.Kick()
}

func (s *Scheduler) currentTracker() Tracker {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tracker
}

// Kick asks Run to announce now.
func (s *Scheduler) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Missing implements the job engine's fetcher.
func (s *Scheduler) Missing(m *proto.Manifest) ([]proto.Fragment, error) {
	return s.deps.Upstream.Missing(m)
}

// Fetch implements the job engine's fetcher: with a tracker it fetches
// through the swarm, otherwise (or when the tracker cannot be reached)
// from relays and central, and says so in st.
func (s *Scheduler) Fetch(ctx context.Context, m *proto.Manifest, st *fetch.Stats) error {
	t := s.currentTracker()
	if t == nil {
		return s.deps.Upstream.Fetch(ctx, m, st)
	}
	missing, err := s.Missing(m)
	if err != nil {
		return err
	}
	st.Total.Store(int64(len(m.Fragments)))
	st.Done.Store(int64(len(m.Fragments) - len(missing)))
	s.begin(m)
	defer s.end(m.PackageID)
	if len(missing) == 0 {
		return nil
	}
	s.log.Info("fetching from the swarm", "package", m.PackageID, "missing", len(missing), "total", len(m.Fragments))
	d := newDownload(s, t, m, missing, st)
	err = d.run(ctx)
	var down *trackerDownError
	if !errors.As(err, &down) {
		return err
	}
	via := "central"
	if s.deps.Upstream.HasRelays() {
		via = "relay, then central"
	}
	st.Note(fmt.Sprintf("tracker unavailable (%s); fetched the rest from %s without peers", down.err.Error(), via))
	s.log.Warn("tracker unreachable; fetching without peers", "package", m.PackageID, "err", err)
	return s.deps.Upstream.Fetch(ctx, m, st)
}

// begin registers a download so that its package is announced (with its
// current bitfield) while it runs and seeded afterwards.
func (s *Scheduler) begin(m *proto.Manifest) {
	s.mu.Lock()
	_, known := s.held[m.PackageID]
	s.held[m.PackageID] = m
	s.active[m.PackageID]++
	if !known {
		s.saveHeldLocked()
	}
	s.mu.Unlock()
}

func (s *Scheduler) end(pkg string) {
	s.mu.Lock()
	if s.active[pkg]--; s.active[pkg] <= 0 {
		delete(s.active, pkg)
	}
	s.mu.Unlock()
	s.Kick()
}

// Run announces the held fragments on the tracker's interval and when
// kicked, until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	var retry time.Duration
	defer s.leave(ctx)
	for {
		s.mu.Lock()
		wait := s.interval
		s.mu.Unlock()
		if retry > 0 {
			wait = retry
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		case <-s.kick:
			t.Stop()
		}
		tr := s.currentTracker()
		if tr == nil {
			retry = 0
			continue
		}
		if err := s.announce(ctx, tr); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			retry = min(max(2*retry, time.Second), s.cfg.AnnounceInterval)
			s.log.Warn("announce", "err", err, "retry_in", retry)
			continue
		}
		retry = 0
	}
}

// leave tells the tracker, when the agent stops, that its fragments are
// gone from the site now rather than when its entry expires.
func (s *Scheduler) leave(ctx context.Context) {
	tr, ok := s.currentTracker().(interface{ Leave(context.Context) error })
	if !ok || tr == nil {
		return
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	if err := tr.Leave(lctx); err != nil {
		s.log.Debug("tracker leave", "err", err)
	}
}

// announce sends the full set of held fragments. Packages of which no
// fragment is left (evicted) and no download runs are forgotten.
func (s *Scheduler) announce(ctx context.Context, tr Tracker) error {
	s.ann <- struct{}{}
	defer func() { <-s.ann }()
	s.mu.Lock()
	mans := make([]*proto.Manifest, 0, len(s.held))
	for _, m := range s.held {
		mans = append(mans, m)
	}
	s.mu.Unlock()
	sort.Slice(mans, func(i, j int) bool { return mans[i].PackageID < mans[j].PackageID })
	a := proto.TrackerAnnounce{Kind: proto.HolderPeer, Packages: []proto.PackageHave{}}
	if s.deps.Self != nil {
		self := s.deps.Self()
		a.Addrs, a.GossipAddr, a.Lonely = self.Addrs, self.GossipAddr, self.Lonely
	}
	var gone []string
	for _, m := range mans {
		have := proto.NewBitfield(len(m.Fragments))
		n := 0
		for _, f := range m.Fragments {
			if ok, err := s.deps.Store.Check(f.CID, f.Size); err == nil && ok {
				have.Set(f.Index)
				n++
			}
		}
		s.mu.Lock()
		active := s.active[m.PackageID] > 0
		s.mu.Unlock()
		if n == 0 && !active {
			gone = append(gone, m.PackageID)
			continue
		}
		a.Packages = append(a.Packages, proto.PackageHave{PackageID: m.PackageID, Total: len(m.Fragments), Have: have})
	}
	if len(gone) > 0 {
		s.mu.Lock()
		for _, p := range gone {
			if s.active[p] == 0 {
				delete(s.held, p)
			}
		}
		s.saveHeldLocked()
		s.mu.Unlock()
	}
	actx, cancel := context.WithTimeout(ctx, trackerTimeout)
	defer cancel()
	resp, err := tr.Announce(actx, a)
	if err != nil {
		return fmt.Errorf("swarm announce: %w", err)
	}
	if s.deps.OnMembers != nil && len(resp.Members) > 0 {
		s.deps.OnMembers(resp.Members)
	}
	if resp.Interval > 0 {
		s.mu.Lock()
		s.interval = max(time.Duration(resp.Interval)*time.Second, time.Second)
		s.mu.Unlock()
	}
	return nil
}

// trackerTimeout bounds one tracker call.
const trackerTimeout = 10 * time.Second

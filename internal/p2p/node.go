package p2p

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
	"golang.org/x/time/rate"

	"github.com/shoal-project/shoal/internal/source"
	"github.com/shoal-project/shoal/proto"
)

// Sentinel errors. Fetch errors that a scheduler reacts to are typed so
// that errors.Is tells them apart.
var (
	// ErrNotFound: the peer does not hold the fragment (any more).
	ErrNotFound = errors.New("p2p: peer does not have the fragment")
	// ErrBusy: the peer is at its upload limit, or a relay is still
	// pulling the fragment from upstream; ask again later or elsewhere.
	// It wraps source.ErrBusy: the source is alive.
	ErrBusy = fmt.Errorf("p2p: peer is busy: %w", source.ErrBusy)
	// ErrSeeding: the peer (a super-seeding relay, Config.SeedCopies)
	// hands this fragment to other peers of the site first; a swarm
	// request (SwarmRequest) takes it from them. It wraps
	// source.ErrSeeding, and so source.ErrBusy, but not ErrBusy.
	ErrSeeding = fmt.Errorf("p2p: peer seeds this fragment to other peers first: %w", source.ErrSeeding)
	// ErrForbidden: the peer refused our peer record (expired, revoked,
	// other site); renewing the record may help.
	ErrForbidden = errors.New("p2p: peer refused our peer record")
	// ErrUntrusted: the peer's own record is not valid for our site
	// (forged, expired, revoked, other site or another peer's). Drop it.
	ErrUntrusted = errors.New("p2p: peer record not valid for our site")
	// ErrPeer: the peer answered with an error or broke the protocol.
	ErrPeer = errors.New("p2p: peer failed")
	// ErrNoPeerRecord: this node has no site or peer record yet
	// (SetSite/SetPeerRecord), so it can neither serve nor fetch.
	ErrNoPeerRecord = errors.New("p2p: no site or peer record")
	// ErrNotRunning: Run has not started the host yet, or has returned.
	ErrNotRunning = errors.New("p2p: node not running")
)

// fragments is the part of fragstore.Store the server needs: whether a
// verified fragment is present, and its bytes.
type fragments interface {
	Check(id string, size int64) (bool, error)
	Open(id string) (*os.File, error)
}

// Deps are a Node's collaborators.
type Deps struct {
	// Store holds the verified fragments the node serves
	// (*fragstore.Store).
	Store fragments
	// CentralKey is central's Ed25519 key pinned at enrollment; it signs
	// every peer record.
	CentralKey ed25519.PublicKey
	// Pull, when set, is asked for a fragment the store lacks before the
	// node answers: a relay fetches it from upstream, verifies and stores
	// it, so that a branch agent's request is a pull-through. It is called
	// only for peers with a valid record of the site, with a context that
	// ends after Config.PullTimeout; an error wrapping ErrNotFound (the
	// package or fragment is unknown) is answered "not found", the
	// context's end "busy", anything else an error.
	Pull func(ctx context.Context, pkg, cid string, size int64) error
	// Served, when set, is told of every fragment served whole: its
	// package, CID and bytes, and whether Pull fetched it for this request
	// (a relay's per-package counters and LRU).
	Served func(pkg, cid string, bytes int64, pulled bool)
	// Limiter, when set, caps the bytes served instead of
	// Config.UploadRate, so that a relay's LAN cap covers its HTTP and
	// libp2p serving together.
	Limiter *rate.Limiter
	// Now, when set, is the local clock the TLS identity certificate's
	// validity is computed from (default time.Now); tests set a skewed one.
	Now func() time.Time
}

// Node is a libp2p host that serves verified fragments to the peers of its
// site and fetches fragments from them.
type Node struct {
	cfg     Config
	key     crypto.PrivKey
	id      peer.ID
	log     *slog.Logger
	store   fragments
	central ed25519.PublicKey
	pull    func(ctx context.Context, pkg, cid string, size int64) error
	served  func(pkg, cid string, bytes int64, pulled bool)
	limiter *rate.Limiter    // nil without an upload cap
	now     func() time.Time // local clock for the TLS certificate
	uploads chan struct{}    // upload slots, a semaphore
	seeder  *seeder          // nil unless Config.SeedCopies > 0
	inbound atomic.Int64     // open inbound fragment streams
	// mangle, when set, alters bytes as they are served: only test code
	// and the shoalcorrupt build tag set it (corrupt_on.go).
	mangle func(p []byte, off int64)

	started atomic.Bool
	ready   chan struct{} // closed once host and ctx are set
	done    chan struct{} // closed when Run has returned
	host    host.Host     // written once by Run before ready is closed
	ctx     context.Context

	hmu      sync.Mutex // guards closing and the Add side of handlers
	closing  bool
	handlers sync.WaitGroup

	haveIn atomic.Int64 // open inbound have streams

	hvMu     sync.Mutex // guards the have sessions (have.go)
	haves    Haves
	hv       map[haveKey]*haveSession
	hvPkg    map[string]map[*haveSession]struct{}
	hvFailed map[haveKey]time.Time // outbound sessions not to open again before then

	mu      sync.Mutex // guards everything below
	site    string
	revoked map[string]bool
	own     *proto.SignedPeerRecord
	cache   map[[32]byte]proto.PeerRecord // verified records by hash
	stats   Stats
}

// New returns a Node with identity key. It starts nothing: Run creates the
// host and serves.
func New(cfg Config, key crypto.PrivKey, logger *slog.Logger, deps Deps) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if key == nil || deps.Store == nil {
		return nil, errors.New("p2p: identity key and store are required")
	}
	if len(deps.CentralKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("p2p: central key has %d bytes, want %d", len(deps.CentralKey), ed25519.PublicKeySize)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("p2p: peer id: %w", err)
	}
	cfg = cfg.withDefaults()
	n := &Node{
		cfg:     cfg,
		key:     key,
		id:      id,
		log:     logger.With("component", "p2p"),
		store:   deps.Store,
		central: deps.CentralKey,
		pull:    deps.Pull,
		served:  deps.Served,
		uploads: make(chan struct{}, cfg.MaxUploads),
		seeder:  newSeeder(cfg.SeedCopies, cfg.SeedWindow),
		ready:   make(chan struct{}),
		done:    make(chan struct{}),
		revoked: map[string]bool{},
		cache:   map[[32]byte]proto.PeerRecord{},
		stats:   Stats{Peers: map[string]PeerStats{}},
	}
	switch {
	case deps.Limiter != nil:
		n.limiter = deps.Limiter
	case cfg.UploadRate > 0:
		n.limiter = rate.NewLimiter(rate.Limit(cfg.UploadRate), chunkSize)
	}
	n.now = deps.Now
	if n.now == nil {
		n.now = time.Now
	}
	n.mangle = corruptHook(n.log)
	return n, nil
}

// PeerID returns the node's libp2p peer ID.
func (n *Node) PeerID() peer.ID { return n.id }

// Ready is closed once Run listens.
func (n *Node) Ready() <-chan struct{} { return n.ready }

// Addrs returns the node's listen multiaddrs (without a /p2p part), to be
// announced to the tracker, or nil before Ready.
func (n *Node) Addrs() []string {
	h := n.runningHost()
	if h == nil {
		return nil
	}
	var out []string
	for _, a := range h.Addrs() {
		out = append(out, a.String())
	}
	return out
}

// runningHost returns the host between Ready and the end of Run.
func (n *Node) runningHost() host.Host {
	select {
	case <-n.ready:
	default:
		return nil
	}
	select {
	case <-n.done:
		return nil
	default:
		return n.host
	}
}

// Run starts the host, serves FragmentProtocol until ctx ends, then closes
// every connection and returns once every stream handler has returned. A
// Node runs once.
func (n *Node) Run(ctx context.Context) error {
	if !n.started.CompareAndSwap(false, true) {
		return errors.New("p2p: node already ran")
	}
	defer close(n.done)
	tmpl, err := certTemplate(n.now(), certBackdate)
	if err != nil {
		return err
	}
	h, err := newHost(n.cfg, n.key, tmpl)
	if err != nil {
		return err
	}
	n.host, n.ctx = h, ctx
	h.SetStreamHandler(proto.FragmentProtocol, n.handle)
	h.SetStreamHandler(proto.HaveProtocol, n.handleHave)
	close(n.ready)
	n.log.Info("p2p listening", "peer", n.id.String(), "addrs", n.Addrs())
	<-ctx.Done()

	h.RemoveStreamHandler(proto.FragmentProtocol)
	h.RemoveStreamHandler(proto.HaveProtocol)
	n.hmu.Lock()
	n.closing = true
	n.hmu.Unlock()
	err = h.Close()
	n.handlers.Wait()
	if err != nil {
		return fmt.Errorf("p2p: close host: %w", err)
	}
	return nil
}

// SetSite sets the node's site and the peer IDs whose records are revoked,
// from the latest job list's SiteInfo. An empty site disables serving and
// fetching.
func (n *Node) SetSite(site string, revoked []string) {
	m := make(map[string]bool, len(revoked))
	for _, id := range revoked {
		m[id] = true
	}
	n.mu.Lock()
	n.site, n.revoked = site, m
	n.mu.Unlock()
}

// SetPeerRecord sets the node's own central-signed record, sent to every
// peer it talks to. The agent calls it again after each renewal. A record
// that does not verify, has expired or names another peer is refused.
func (n *Node) SetPeerRecord(rec proto.SignedPeerRecord) error {
	r, err := proto.VerifyPeerRecord(rec, n.central, time.Now())
	if err != nil {
		return fmt.Errorf("p2p: set peer record: %w", err)
	}
	if r.PeerID != n.id.String() {
		return fmt.Errorf("p2p: set peer record: it names peer %s, we are %s: %w", r.PeerID, n.id, proto.ErrBadPeerRecord)
	}
	rec.Record = slices.Clone(rec.Record)
	rec.Signature = slices.Clone(rec.Signature)
	n.mu.Lock()
	n.own = &rec
	n.mu.Unlock()
	return nil
}

// ownRecord returns the node's record and site, or ErrNoPeerRecord.
func (n *Node) ownRecord() (proto.SignedPeerRecord, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.own == nil || n.site == "" {
		return proto.SignedPeerRecord{}, ErrNoPeerRecord
	}
	return *n.own, nil
}

// parseAddrs parses tracker addresses for peer id; a /p2p part, if
// present, must name id.
func parseAddrs(id peer.ID, addrs []string) ([]multiaddr.Multiaddr, error) {
	out := make([]multiaddr.Multiaddr, 0, len(addrs))
	for _, s := range addrs {
		a, err := multiaddr.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("p2p: address %q: %w", s, err)
		}
		tr, pid := peer.SplitAddr(a)
		if pid != "" && pid != id {
			return nil, fmt.Errorf("p2p: address %q names peer %s, want %s", s, pid, id)
		}
		if tr != nil {
			out = append(out, tr)
		}
	}
	return out, nil
}

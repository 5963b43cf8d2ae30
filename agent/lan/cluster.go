package lan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/shoal-project/shoal/proto"
)

// Member is an admitted member of the site's cluster: alive for memberlist
// and holder of a valid peer record for the site.
type Member struct {
	PeerID  string
	Site    string
	Version string
	// Addr is the member's memberlist address (ip:port).
	Addr string
}

// ErrNotRunning reports a call that needs Run to have started memberlist.
var ErrNotRunning = errors.New("lan: cluster not running")

const (
	// tickInterval paces the maintenance loop: record expiry and asking
	// members whose record has not arrived by gossip.
	tickInterval = 500 * time.Millisecond
	// askAfter is how long a member may stay without a record before it
	// is asked directly; askBackoffMax caps the retry interval for a
	// member that never answers with a valid record.
	askAfter      = time.Second
	askBackoffMax = time.Minute
	// maxAsksPerTick bounds the direct requests of one tick.
	maxAsksPerTick = 16
	// deadNodeReclaim lets a restarted agent come back at another address
	// under the same peer ID once its old entry has been dead that long.
	deadNodeReclaim = 30 * time.Second
)

// Cluster is this agent's membership in its site's memberlist cluster.
type Cluster struct {
	cfg     Config
	id      Identity
	meta    []byte
	log     *slog.Logger
	keyring *memberlist.Keyring
	mlcfg   *memberlist.Config

	// broadcasts queues records for gossip; it has its own lock.
	broadcasts *memberlist.TransmitLimitedQueue
	// numNodes is the memberlist member count (self included) for the
	// broadcast queue's retransmit limit; it is kept apart from mu because
	// the queue asks for it while its own lock is held.
	numNodes atomic.Int32
	// answers carries peer IDs that asked for our record, from NotifyMsg
	// to Run's loop, which sends the answers.
	answers chan string

	started atomic.Bool
	ready   chan struct{}
	ml      atomic.Pointer[memberlist.Memberlist]
	stopped sync.Once

	// mu guards the fields below. memberlist's delegates take it briefly,
	// some while memberlist holds its node lock, so code holding mu never
	// calls into memberlist and never blocks.
	mu sync.Mutex
	// own is this node's record (not in records).
	own proto.SignedPeerRecord
	// records are verified records of other peers of the site, by peer ID.
	records map[string]cachedRecord
	// nodes are the other nodes memberlist reports alive, by name.
	nodes map[string]node
	// revoked are peer IDs refused although their records have not expired.
	revoked map[string]bool
	// admitted is what Members reports, recomputed after each change.
	admitted map[string]Member
	// ids is the peer IDs of admitted, replaced (never changed) with it:
	// MemberIDs hands it out without a copy.
	ids  map[string]bool
	subs map[chan struct{}]struct{}
	// refused remembers peers already logged as refused, to log once.
	refused map[string]bool
}

type cachedRecord struct {
	rec    proto.PeerRecord
	signed proto.SignedPeerRecord
}

type node struct {
	meta  meta
	addr  net.IP
	port  uint16
	since time.Time
	// nextAsk and backoff pace direct record requests to the node.
	nextAsk time.Time
	backoff time.Duration
}

// New checks cfg and id and prepares the cluster; it starts nothing. Run
// binds the sockets and runs memberlist.
func New(cfg Config, logger *slog.Logger, id Identity) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := id.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	m, err := meta{PeerID: id.PeerID, Site: id.Site, Version: id.Version}.encode()
	if err != nil {
		return nil, fmt.Errorf("lan: %w", err)
	}
	var others [][]byte
	for _, k := range id.GossipKeys {
		others = append(others, slices.Clone(k))
	}
	keyring, err := memberlist.NewKeyring(others, slices.Clone(id.GossipKey))
	if err != nil {
		return nil, fmt.Errorf("lan: keyring: %w", err)
	}
	c := &Cluster{
		cfg:      cfg,
		id:       id,
		meta:     m,
		log:      logger.With("component", "lan", "site", id.Site),
		keyring:  keyring,
		answers:  make(chan string, 64),
		ready:    make(chan struct{}),
		own:      id.Record,
		records:  make(map[string]cachedRecord),
		nodes:    make(map[string]node),
		revoked:  make(map[string]bool),
		admitted: make(map[string]Member),
		ids:      map[string]bool{},
		subs:     make(map[chan struct{}]struct{}),
		refused:  make(map[string]bool),
	}
	c.numNodes.Store(1)
	c.broadcasts = &memberlist.TransmitLimitedQueue{
		NumNodes:       func() int { return int(c.numNodes.Load()) },
		RetransmitMult: 4,
	}
	if c.mlcfg, err = c.memberlistConfig(logger); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cluster) memberlistConfig(logger *slog.Logger) (*memberlist.Config, error) {
	cfg := c.cfg
	mc := memberlist.DefaultLANConfig()
	mc.Name = c.id.PeerID
	host, port, err := splitBind(cfg.Bind)
	if err != nil {
		return nil, fmt.Errorf("lan: %w", err)
	}
	mc.BindAddr, mc.BindPort = host, port
	mc.AdvertiseAddr, mc.AdvertisePort = "", port
	if cfg.Advertise != "" {
		ahost, aport, err := splitAdvertise(cfg.Advertise)
		if err != nil {
			return nil, fmt.Errorf("lan: %w", err)
		}
		mc.AdvertiseAddr = ahost
		if aport != 0 {
			mc.AdvertisePort = aport
		}
	}
	// The label keeps sites apart even before decryption; it is also
	// authenticated as additional data by the encryption.
	mc.Label = "shoal/" + c.id.Site
	mc.Keyring = c.keyring
	mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	mc.ProbeInterval = cfg.ProbeInterval
	mc.ProbeTimeout = cfg.ProbeTimeout
	mc.SuspicionMult = cfg.SuspicionMult
	mc.GossipInterval = cfg.GossipInterval
	mc.GossipNodes = cfg.GossipNodes
	mc.PushPullInterval = cfg.PushPullInterval
	mc.TCPTimeout = cfg.TCPTimeout
	mc.DeadNodeReclaimTime = deadNodeReclaim
	d := delegate{c}
	mc.Delegate, mc.Events, mc.Alive, mc.Merge = d, d, d, d
	mc.Logger = newLogLogger(c.log)
	mc.LogOutput = nil
	return mc, nil
}

// Ready is closed once Run has bound the sockets; LocalAddr and Join work
// from then on.
func (c *Cluster) Ready() <-chan struct{} { return c.ready }

// Run starts memberlist, keeps the record exchange going and, when ctx
// ends, leaves the cluster (bounded by LeaveTimeout) and shuts down. It
// returns an error only when memberlist cannot start.
func (c *Cluster) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return errors.New("lan: run called twice")
	}
	ml, err := memberlist.Create(c.mlcfg)
	if err != nil {
		return fmt.Errorf("lan: start memberlist: %w", err)
	}
	c.ml.Store(ml)
	close(c.ready)
	c.log.Info("lan started", "addr", c.LocalAddr())
	c.mu.Lock()
	own := c.own
	c.mu.Unlock()
	c.queueBroadcast(own)

	tick := time.NewTicker(tickInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			c.stop(true)
			return nil
		case <-tick.C:
			c.tick(ml, time.Now())
		case peer := <-c.answers:
			c.answer(ml, peer)
		}
	}
}

// stop leaves (if leave) and shuts memberlist down, once. Without leave the
// others find out by probing, as after a crash.
func (c *Cluster) stop(leave bool) {
	ml := c.ml.Load()
	if ml == nil {
		return
	}
	c.stopped.Do(func() {
		if leave {
			if err := ml.Leave(c.cfg.LeaveTimeout); err != nil {
				c.log.Warn("lan leave", "err", err)
			}
		}
		if err := ml.Shutdown(); err != nil {
			c.log.Warn("lan shutdown", "err", err)
		}
		c.mu.Lock()
		clear(c.nodes)
		c.admitted = make(map[string]Member)
		c.ids = map[string]bool{}
		c.notifyLocked()
		c.mu.Unlock()
		c.log.Info("lan stopped", "left", leave)
	})
}

// LocalAddr is this node's advertised memberlist address (ip:port), to
// announce to the tracker as GossipAddr; empty before Ready.
func (c *Cluster) LocalAddr() string {
	ml := c.ml.Load()
	if ml == nil {
		return ""
	}
	n := ml.LocalNode()
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

// Seeds returns the gossip addresses of the tracker's site members, this
// node excluded, for Join.
func (c *Cluster) Seeds(members []proto.TrackerMember) []string {
	var out []string
	for _, m := range members {
		if m.PeerID != c.id.PeerID && m.GossipAddr != "" {
			out = append(out, m.GossipAddr)
		}
	}
	return out
}

// Join contacts seeds (host:port) in random order until JoinSeeds of them
// answered, and returns how many did. Each attempt is bounded by
// TCPTimeout; ctx is checked between attempts. It fails only when seeds
// were given and none answered.
func (c *Cluster) Join(ctx context.Context, seeds []string) (int, error) {
	select {
	case <-c.ready:
	case <-ctx.Done():
		return 0, fmt.Errorf("lan: join: %w", ctx.Err())
	}
	ml := c.ml.Load()
	self := c.LocalAddr()
	var cands []string
	for _, s := range seeds {
		if s != "" && s != self && !slices.Contains(cands, s) {
			cands = append(cands, s)
		}
	}
	rand.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	joined := 0
	var errs []error
	for _, s := range cands {
		if joined >= c.cfg.JoinSeeds {
			break
		}
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		n, err := ml.Join([]string{s})
		if err != nil {
			errs = append(errs, fmt.Errorf("seed %s: %w", s, err))
			continue
		}
		joined += n
	}
	if joined == 0 && len(cands) > 0 {
		return 0, fmt.Errorf("lan: join: %w", errors.Join(errs...))
	}
	c.log.Debug("lan joined", "seeds", joined, "tried", len(cands))
	return joined, nil
}

// MemberIDs returns the peer IDs of the admitted members other than this
// node. The map is shared and must not be changed: it is replaced, not
// updated, when the members change, so asking on every turn of a
// download's loop costs no copy (copying and sorting Members there was
// 1.2 % of the lab agents' CPU).
func (c *Cluster) MemberIDs() map[string]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ids
}

// MemberCount returns the number of admitted members other than this node.
func (c *Cluster) MemberCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.admitted)
}

// Members returns the admitted members other than this node, sorted by
// peer ID.
func (c *Cluster) Members() []Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Member, 0, len(c.admitted))
	for _, m := range c.admitted {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Member) int { return cmpString(a.PeerID, b.PeerID) })
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Subscribe returns a channel that receives a value after the admitted
// members change (joins, deaths, leaves, revocations, expiries); several
// changes may coalesce into one value, so the subscriber reads Members
// afterwards. The function stops the subscription.
func (c *Cluster) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	c.mu.Lock()
	c.subs[ch] = struct{}{}
	c.mu.Unlock()
	return ch, func() {
		c.mu.Lock()
		delete(c.subs, ch)
		c.mu.Unlock()
	}
}

// SetRevoked replaces the set of revoked peer IDs (SiteInfo.RevokedPeers):
// they are no longer members, their records are dropped and their alive
// messages refused.
func (c *Cluster) SetRevoked(peerIDs []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.revoked)
	for _, id := range peerIDs {
		c.revoked[id] = true
		delete(c.records, id)
	}
	c.recomputeLocked(time.Now())
}

// SetRecord replaces this node's own record after a renewal and gossips it.
func (c *Cluster) SetRecord(s proto.SignedPeerRecord) error {
	if err := checkOwnRecord(s, c.id.PeerID, c.id.Site); err != nil {
		return fmt.Errorf("lan: set record: %w", err)
	}
	c.mu.Lock()
	c.own = s
	c.mu.Unlock()
	c.queueBroadcast(s)
	return nil
}

// SetKeys makes the keyring exactly the site's keys as central hands them
// out: primary, the key this node sends with, and others, the keys it
// still accepts (the next key before the site switches to it, the previous
// ones until every member has). Keys central no longer hands out are
// removed, so a node that holds only those is cut off. memberlist's
// keyring takes its own lock; SetKeys may run while memberlist does.
func (c *Cluster) SetKeys(primary []byte, others [][]byte) error {
	if len(primary) != gossipKeySize {
		return fmt.Errorf("lan: set keys: primary key of %d bytes, want %d", len(primary), gossipKeySize)
	}
	for _, k := range others {
		if len(k) != gossipKeySize {
			return fmt.Errorf("lan: set keys: key of %d bytes, want %d", len(k), gossipKeySize)
		}
	}
	want := append([][]byte{primary}, others...)
	have := c.keyring.GetKeys()
	changed := !bytes.Equal(c.keyring.GetPrimaryKey(), primary)
	for _, k := range want {
		if !slices.ContainsFunc(have, func(h []byte) bool { return bytes.Equal(h, k) }) {
			if err := c.keyring.AddKey(slices.Clone(k)); err != nil {
				return fmt.Errorf("lan: set keys: %w", err)
			}
			changed = true
		}
	}
	if err := c.keyring.UseKey(primary); err != nil {
		return fmt.Errorf("lan: set keys: %w", err)
	}
	for _, k := range have {
		if !slices.ContainsFunc(want, func(w []byte) bool { return bytes.Equal(w, k) }) {
			if err := c.keyring.RemoveKey(k); err != nil {
				return fmt.Errorf("lan: set keys: %w", err)
			}
			changed = true
		}
	}
	if changed {
		c.log.Info("lan gossip keys changed", "keys", len(want))
	}
	return nil
}

// recomputeLocked rebuilds the admitted set and tells subscribers when it
// changed. c.mu must be held.
func (c *Cluster) recomputeLocked(now time.Time) {
	next := make(map[string]Member, len(c.nodes))
	for name, n := range c.nodes {
		r, ok := c.records[name]
		if !ok || c.revoked[name] || !now.Before(r.rec.Expires) || n.meta.Site != c.id.Site {
			continue
		}
		next[name] = Member{
			PeerID:  name,
			Site:    n.meta.Site,
			Version: n.meta.Version,
			Addr:    net.JoinHostPort(n.addr.String(), strconv.Itoa(int(n.port))),
		}
	}
	changed := false
	for name, m := range next {
		if old, ok := c.admitted[name]; !ok {
			c.log.Debug("lan member joined", "peer", name, "addr", m.Addr, "version", m.Version)
			changed = true
		} else if old != m {
			changed = true
		}
	}
	for name := range c.admitted {
		if _, ok := next[name]; !ok {
			c.log.Info("lan member gone", "peer", name)
			changed = true
		}
	}
	if !changed {
		return
	}
	c.admitted = next
	c.ids = make(map[string]bool, len(next))
	for name := range next {
		c.ids[name] = true
	}
	c.notifyLocked()
}

// notifyLocked wakes the subscribers without blocking. c.mu must be held.
func (c *Cluster) notifyLocked() {
	for ch := range c.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

package lan

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/shoal-project/shoal/proto"
)

// delegate implements memberlist's Delegate, EventDelegate, AliveDelegate
// and MergeDelegate for a Cluster. memberlist calls them from its own
// goroutines, the events while holding its node lock: they only take c.mu
// briefly and never call back into memberlist.
type delegate struct{ c *Cluster }

var (
	_ memberlist.Delegate      = delegate{}
	_ memberlist.EventDelegate = delegate{}
	_ memberlist.AliveDelegate = delegate{}
	_ memberlist.MergeDelegate = delegate{}
)

// errRevoked and errOtherSite are why a node or record is refused.
var (
	errRevoked   = errors.New("lan: peer revoked")
	errOtherSite = errors.New("lan: other site")
)

// NodeMeta returns this node's metadata; New checked it fits the limit.
func (d delegate) NodeMeta(limit int) []byte {
	if len(d.c.meta) > limit {
		return nil
	}
	return d.c.meta
}

// NotifyAlive refuses nodes whose metadata is bad, names another node or
// site, or whose peer ID is revoked. Nodes without a record yet pass here:
// they are admitted to the application only once their record verifies.
func (d delegate) NotifyAlive(n *memberlist.Node) error {
	c := d.c
	if n.Name == c.id.PeerID {
		return nil
	}
	err := c.checkNode(n)
	if err != nil {
		c.mu.Lock()
		first := !c.refused[n.Name]
		c.refused[n.Name] = true
		c.mu.Unlock()
		if first {
			c.log.Warn("lan node refused", "peer", n.Name, "err", err)
		}
	}
	return err
}

func (c *Cluster) checkNode(n *memberlist.Node) error {
	m, err := parseMeta(n.Meta)
	if err != nil {
		return err
	}
	if m.PeerID != n.Name {
		return fmt.Errorf("metadata names peer %q: %w", m.PeerID, ErrBadMeta)
	}
	if m.Site != c.id.Site {
		return fmt.Errorf("metadata names site %q: %w", m.Site, errOtherSite)
	}
	c.mu.Lock()
	revoked := c.revoked[n.Name]
	c.mu.Unlock()
	if revoked {
		return errRevoked
	}
	return nil
}

// NotifyMerge refuses to merge with a cluster that holds another site's
// nodes; other bad nodes are refused one by one by NotifyAlive.
func (d delegate) NotifyMerge(peers []*memberlist.Node) error {
	for _, p := range peers {
		if m, err := parseMeta(p.Meta); err == nil && m.Site != d.c.id.Site {
			return fmt.Errorf("lan: merge with node %q: site %q: %w", p.Name, m.Site, errOtherSite)
		}
	}
	return nil
}

func (d delegate) NotifyJoin(n *memberlist.Node)   { d.c.upsertNode(n) }
func (d delegate) NotifyUpdate(n *memberlist.Node) { d.c.upsertNode(n) }

func (d delegate) NotifyLeave(n *memberlist.Node) {
	c := d.c
	if n.Name == c.id.PeerID {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.nodes[n.Name]; ok {
		delete(c.nodes, n.Name)
		c.numNodes.Store(int32(len(c.nodes) + 1))
		c.recomputeLocked(time.Now())
	}
}

func (c *Cluster) upsertNode(n *memberlist.Node) {
	if n.Name == c.id.PeerID {
		return
	}
	m, err := parseMeta(n.Meta)
	if err != nil || m.PeerID != n.Name {
		return // NotifyAlive refused it already; never reached in practice.
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old, ok := c.nodes[n.Name]
	nn := node{meta: m, addr: append([]byte(nil), n.Addr...), port: n.Port, since: time.Now()}
	if ok {
		nn.since, nn.nextAsk, nn.backoff = old.since, old.nextAsk, old.backoff
	}
	c.nodes[n.Name] = nn
	c.numNodes.Store(int32(len(c.nodes) + 1))
	c.recomputeLocked(time.Now())
}

// LocalState is the push-pull state: this node's record and every cached
// one, so that a joining node learns the whole site's records at once.
func (d delegate) LocalState(join bool) []byte {
	c := d.c
	c.mu.Lock()
	recs := make([]proto.SignedPeerRecord, 0, len(c.records)+1)
	recs = append(recs, c.own)
	for _, r := range c.records {
		recs = append(recs, r.signed)
	}
	c.mu.Unlock()
	b, err := encodeRecords(msgRecords, recs)
	if err != nil {
		c.log.Warn("lan local state", "err", err)
		return nil
	}
	return b
}

// MergeRemoteState verifies and caches the remote side's records.
func (d delegate) MergeRemoteState(buf []byte, join bool) {
	_, recs, err := decodeRecords(buf)
	if err != nil {
		d.c.log.Debug("lan remote state", "err", err)
		return
	}
	d.c.addRecords(recs, "push-pull")
}

// NotifyMsg handles a gossiped or direct record message. An ask is
// answered by Run's loop, never here.
func (d delegate) NotifyMsg(b []byte) {
	c := d.c
	kind, recs, err := decodeRecords(b)
	if err != nil {
		c.log.Debug("lan message", "err", err)
		return
	}
	added := c.addRecords(recs, "message")
	if kind == msgAsk && len(recs) == 1 {
		r, err := parseRecord(recs[0])
		if err != nil {
			return
		}
		if _, ok := added[r.PeerID]; !ok && !c.hasRecord(recs[0]) {
			return // Answer only peers whose record verified.
		}
		select {
		case c.answers <- r.PeerID:
		default:
		}
	}
}

// GetBroadcasts hands queued record broadcasts to memberlist's gossip.
func (d delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.c.broadcasts.GetBroadcasts(overhead, limit)
}

// recordBroadcast gossips one peer's record; a newer one for the same peer
// replaces it in the queue.
type recordBroadcast struct {
	peer string
	msg  []byte
}

func (b recordBroadcast) Name() string { return "record/" + b.peer }
func (b recordBroadcast) Invalidates(other memberlist.Broadcast) bool {
	o, ok := other.(memberlist.NamedBroadcast)
	return ok && o.Name() == b.Name()
}
func (b recordBroadcast) Message() []byte { return b.msg }
func (b recordBroadcast) Finished()       {}

func (c *Cluster) queueBroadcast(s proto.SignedPeerRecord) {
	r, err := parseRecord(s)
	if err != nil {
		return
	}
	msg, err := encodeRecords(msgRecords, []proto.SignedPeerRecord{s})
	if err != nil {
		c.log.Warn("lan broadcast", "peer", r.PeerID, "err", err)
		return
	}
	c.broadcasts.QueueBroadcast(recordBroadcast{peer: r.PeerID, msg: msg})
}

// hasRecord reports whether s is exactly the cached record of its peer.
func (c *Cluster) hasRecord(s proto.SignedPeerRecord) bool {
	r, err := parseRecord(s)
	if err != nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old, ok := c.records[r.PeerID]
	return ok && bytes.Equal(old.signed.Signature, s.Signature)
}

// addRecords verifies recs and caches those that are new or newer than the
// cached ones; the new ones are gossiped on (once per node, so the spread
// stops) and the admitted set is recomputed. It returns the peers added.
func (c *Cluster) addRecords(recs []proto.SignedPeerRecord, from string) map[string]struct{} {
	now := time.Now()
	added := make(map[string]struct{})
	var fresh []proto.SignedPeerRecord
	for _, s := range recs {
		if c.hasRecord(s) {
			continue
		}
		r, err := c.verifyRecord(s, now)
		if err != nil {
			c.log.Debug("lan record refused", "from", from, "err", err)
			continue
		}
		c.mu.Lock()
		old, ok := c.records[r.PeerID]
		switch {
		case c.revoked[r.PeerID]:
		case ok && !r.Expires.After(old.rec.Expires):
		case !ok && len(c.records) >= maxRecords:
			c.log.Warn("lan record cache full", "peer", r.PeerID)
		default:
			c.records[r.PeerID] = cachedRecord{rec: *r, signed: s}
			added[r.PeerID] = struct{}{}
			fresh = append(fresh, s)
		}
		c.mu.Unlock()
	}
	if len(fresh) == 0 {
		return added
	}
	for _, s := range fresh {
		c.queueBroadcast(s)
	}
	c.mu.Lock()
	c.recomputeLocked(now)
	c.mu.Unlock()
	return added
}

// verifyRecord checks central's signature, expiry and site; this node's own
// record, relayed back by others, is ignored.
func (c *Cluster) verifyRecord(s proto.SignedPeerRecord, now time.Time) (*proto.PeerRecord, error) {
	r, err := proto.VerifyPeerRecord(s, c.id.RecordKey, now)
	if err != nil {
		return nil, err
	}
	if r.Site != c.id.Site {
		return nil, fmt.Errorf("record of peer %q names site %q: %w", r.PeerID, r.Site, errOtherSite)
	}
	if r.PeerID == c.id.PeerID {
		return nil, errors.New("own record")
	}
	return r, nil
}

// tick drops expired records and asks members that have been alive for
// askAfter without a valid record to send theirs directly (the fallback
// when gossip lost the broadcast). It runs on Run's goroutine.
func (c *Cluster) tick(ml *memberlist.Memberlist, now time.Time) {
	type target struct {
		name string
		node *memberlist.Node
	}
	var asks []target
	c.mu.Lock()
	for id, r := range c.records {
		if !now.Before(r.rec.Expires) {
			delete(c.records, id)
		}
	}
	c.recomputeLocked(now)
	for name, n := range c.nodes {
		if len(asks) >= maxAsksPerTick {
			break
		}
		if _, ok := c.records[name]; ok || c.revoked[name] || now.Sub(n.since) < askAfter || now.Before(n.nextAsk) {
			continue
		}
		n.backoff = min(max(2*n.backoff, askAfter), askBackoffMax)
		n.nextAsk = now.Add(n.backoff)
		c.nodes[name] = n
		asks = append(asks, target{name, &memberlist.Node{Name: name, Addr: n.addr, Port: n.port}})
	}
	own := c.own
	c.mu.Unlock()
	if len(asks) == 0 {
		return
	}
	msg, err := encodeRecords(msgAsk, []proto.SignedPeerRecord{own})
	if err != nil {
		c.log.Warn("lan ask", "err", err)
		return
	}
	for _, a := range asks {
		c.log.Debug("lan asking for record", "peer", a.name)
		if err := ml.SendReliable(a.node, msg); err != nil {
			c.log.Debug("lan ask", "peer", a.name, "err", err)
		}
	}
}

// answer sends this node's record to peer, which asked for it.
func (c *Cluster) answer(ml *memberlist.Memberlist, peer string) {
	c.mu.Lock()
	n, ok := c.nodes[peer]
	own := c.own
	c.mu.Unlock()
	if !ok {
		return
	}
	msg, err := encodeRecords(msgRecords, []proto.SignedPeerRecord{own})
	if err != nil {
		c.log.Warn("lan answer", "err", err)
		return
	}
	if err := ml.SendReliable(&memberlist.Node{Name: peer, Addr: n.addr, Port: n.port}, msg); err != nil {
		c.log.Debug("lan answer", "peer", peer, "err", err)
	}
}

package central

import (
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoal-project/shoal/proto"
)

// trackerRoute decides which tracker serves each site. The embedded
// tracker's state is soft and per site, so one site must meet on one
// tracker: with standalone trackers configured (tracker.standalone) a
// site goes to one of them, else to the embedded tracker of one live
// replica. The choice is rendezvous hashing (highest random weight) of the
// site over the candidates, so every replica that knows the same
// candidates picks the same tracker, and when one leaves only its sites
// move (their agents re-announce to the new one).
//
// Replicas learn of each other from heartbeats on the notification hub
// (notify.TopicReplica): a replica that sent none for memberTTL is gone.
type trackerRoute struct {
	self   string   // this replica's embedded tracker URL; "" when disabled
	static []string // tracker.standalone

	mu      sync.Mutex           // owns members
	members map[string]time.Time // other replicas' tracker URLs → last heartbeat
}

// Heartbeats: a replica announces itself every heartbeatInterval and is
// forgotten after memberTTL without one.
const (
	heartbeatInterval = 2 * time.Second
	memberTTL         = 3 * heartbeatInterval
)

func newTrackerRoute(self string, static []string) *trackerRoute {
	return &trackerRoute{self: self, static: slices.Clone(static), members: map[string]time.Time{}}
}

// seen records a heartbeat (or, with leaving, a departure) of the replica
// whose tracker is url; it reports whether the set of members changed.
func (r *trackerRoute) seen(url string, leaving bool, now time.Time) bool {
	if url == "" || url == r.self {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, had := r.members[url]
	if leaving {
		delete(r.members, url)
		return had
	}
	r.members[url] = now
	return !had
}

// expire forgets the members silent for memberTTL; it reports whether any
// was.
func (r *trackerRoute) expire(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for u, at := range r.members {
		if now.Sub(at) > memberTTL {
			delete(r.members, u)
			changed = true
		}
	}
	return changed
}

// candidates lists the trackers sites are spread over.
func (r *trackerRoute) candidates() []string {
	if len(r.static) > 0 {
		return r.static
	}
	if r.self == "" {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.members)+1)
	out = append(out, r.self)
	for u := range r.members {
		out = append(out, u)
	}
	return out
}

// For returns the tracker URL of the site siteID; "" without any (no P2P).
func (r *trackerRoute) For(siteID uint) string {
	best, bestW := "", uint64(0)
	key := strconv.FormatUint(uint64(siteID), 10)
	for _, u := range r.candidates() {
		h := fnv.New64a()
		h.Write([]byte(key))
		h.Write([]byte{0})
		h.Write([]byte(u))
		if w := h.Sum64(); best == "" || w > bestW || (w == bestW && u < best) {
			best, bestW = u, w
		}
	}
	return best
}

// baseURL turns a replica's embedded tracker URL into its HTTPS base URL.
func baseURL(trackerURL string) string {
	return strings.TrimSuffix(trackerURL, proto.TrackerPathPrefix)
}

// peers returns the other live replicas' HTTPS base URLs: those a replica
// pulls a package it lacks from (packages.Builder.SetPeers).
func (r *trackerRoute) peers() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.members))
	for u := range r.members {
		out = append(out, baseURL(u))
	}
	slices.Sort(out)
	return out
}

// replicas returns every live replica's HTTPS base URL, this one first;
// nil when this replica has no embedded tracker (then it sends no
// heartbeat and knows no other replica).
func (r *trackerRoute) replicas() []string {
	if r.self == "" {
		return nil
	}
	return append([]string{baseURL(r.self)}, r.peers()...)
}

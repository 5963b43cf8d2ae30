package central

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"
)

// TestTrackerRoute: every replica that knows the same trackers sends a
// site to the same one; sites spread over all of them; when one leaves
// (or goes silent) only its sites move.
func TestTrackerRoute(t *testing.T) {
	urls := []string{"https://a:8443/tracker/v1", "https://b:8443/tracker/v1", "https://c:8443/tracker/v1"}
	now := time.Now()
	routes := make([]*trackerRoute, len(urls))
	for i, self := range urls {
		routes[i] = newTrackerRoute(self, nil)
		for _, u := range urls {
			routes[i].seen(u, false, now)
		}
	}
	const sites = 300
	before := map[uint]string{}
	count := map[string]int{}
	for id := uint(1); id <= sites; id++ {
		u := routes[0].For(id)
		for i, r := range routes[1:] {
			if got := r.For(id); got != u {
				t.Fatalf("site %d: replica %d routes to %s, replica 0 to %s", id, i+1, got, u)
			}
		}
		before[id] = u
		count[u]++
	}
	for _, u := range urls {
		if count[u] < sites/6 {
			t.Errorf("%s serves %d of %d sites, want a fair share", u, count[u], sites)
		}
	}

	// b leaves: a and c agree, and only b's sites move.
	if !routes[0].seen(urls[1], true, now) {
		t.Fatal("a departure did not change the members")
	}
	// c stops hearing b: it expires.
	if !routes[2].expire(now.Add(memberTTL + time.Second)) {
		t.Fatal("a silent member did not expire")
	}
	routes[2].seen(urls[0], false, now.Add(memberTTL+time.Second))
	for id := uint(1); id <= sites; id++ {
		u := routes[0].For(id)
		if u == urls[1] {
			t.Fatalf("site %d still routed to the replica that left", id)
		}
		if before[id] != urls[1] && u != before[id] {
			t.Errorf("site %d moved from %s to %s though its tracker stayed", id, before[id], u)
		}
		if got := routes[2].For(id); got != u {
			t.Errorf("site %d: c routes to %s, a to %s", id, got, u)
		}
	}
}

// TestTrackerRouteStandalone: standalone trackers take every site, the
// embedded one none.
func TestTrackerRouteStandalone(t *testing.T) {
	r := newTrackerRoute("https://self/tracker/v1", []string{"https://t1/tracker/v1", "https://t2/tracker/v1"})
	seen := map[string]bool{}
	for id := uint(1); id <= 50; id++ {
		seen[r.For(id)] = true
	}
	if len(seen) != 2 || seen["https://self/tracker/v1"] {
		t.Errorf("sites went to %v, want both standalone trackers only", seen)
	}
	if got := newTrackerRoute("", nil).For(1); got != "" {
		t.Errorf("without trackers: %q, want none", got)
	}
}

// TestBeatSignature: only heartbeats signed with the manifest key, recent
// and of the right kind, name a tracker.
func TestBeatSignature(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	_, other, _ := ed25519.GenerateKey(nil)
	pub := key.Public().(ed25519.PublicKey)
	now := time.Now()
	const url = "https://a:8443/tracker/v1"
	tests := []struct {
		name    string
		data    string
		leaving bool
		ok      bool
	}{
		{"valid", sealBeat(key, url, false, now), false, true},
		{"valid-leave", sealBeat(key, url, true, now), true, true},
		{"join-replayed-as-leave", sealBeat(key, url, false, now), true, false},
		{"other-key", sealBeat(other, url, false, now), false, false},
		{"old", sealBeat(key, url, false, now.Add(-time.Minute)), false, false},
		{"url-changed", strings.Replace(sealBeat(key, url, false, now), "a:8443", "evil:8443", 1), false, false},
		{"malformed", "x", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := openBeat(pub, tt.data, tt.leaving, now)
			if (err == nil) != tt.ok || (tt.ok && got != url) {
				t.Errorf("openBeat = %q, %v; want ok=%v", got, err, tt.ok)
			}
		})
	}
}

// TestRoutePeers: the replicas a package is pulled from are the other
// live ones, by HTTPS base URL; the ones an activation checks are all of
// them, this one first; a departed or silent replica is neither.
func TestRoutePeers(t *testing.T) {
	now := time.Now()
	r := newTrackerRoute("https://a:8443/tracker/v1", nil)
	if got := r.replicas(); len(got) != 1 || got[0] != "https://a:8443" {
		t.Fatalf("replicas alone: %q, want only this one", got)
	}
	r.seen("https://c:8443/tracker/v1", false, now)
	r.seen("https://b:8443/tracker/v1", false, now)
	if got := strings.Join(r.peers(), " "); got != "https://b:8443 https://c:8443" {
		t.Errorf("peers: %q", got)
	}
	if got := strings.Join(r.replicas(), " "); got != "https://a:8443 https://b:8443 https://c:8443" {
		t.Errorf("replicas: %q", got)
	}
	r.seen("https://b:8443/tracker/v1", true, now)
	r.expire(now.Add(memberTTL + time.Second))
	if got := r.peers(); len(got) != 0 {
		t.Errorf("peers after one left and one went silent: %q", got)
	}
	if got := newTrackerRoute("", nil).replicas(); got != nil {
		t.Errorf("replicas without an embedded tracker: %q, want none", got)
	}
}

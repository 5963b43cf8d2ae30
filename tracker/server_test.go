package tracker_test

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/internal/trackerclient"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/tracker"
	"github.com/shoal-project/shoal/tracker/trackertest"
)

func TestAuth(t *testing.T) {
	e := newEnv(t, tracker.Config{})
	alice := e.peer("branch-a")
	mallory := e.peer("branch-a")
	revoked := e.peer("branch-a")
	e.revoke(revoked)
	other := trackertest.NewCentral(t).NewIdentity(t, "branch-a", time.Hour)
	body, _ := json.Marshal(peerAnnounce("127.0.0.1:7946"))
	now := time.Now().Unix()
	const uri = "/announce"
	sign := func(id *trackertest.Identity, rec proto.SignedPeerRecord, uri string, unix int64, body []byte) string {
		return authHeader(t, id.Key, rec, http.MethodPost, uri, unix, body)
	}
	// forged: alice's record with the site changed, signature kept.
	var rec proto.PeerRecord
	if err := json.Unmarshal(alice.Record.Record, &rec); err != nil {
		t.Fatal(err)
	}
	rec.Site = "branch-b"
	forged := alice.Record
	forged.Record, _ = json.Marshal(rec)
	expired := e.central.Sign(t, proto.PeerRecord{PeerID: alice.PeerID.String(), DeviceID: "d", Site: "branch-a", Expires: time.Now().Add(-time.Minute)})
	noSite := e.central.Sign(t, proto.PeerRecord{PeerID: alice.PeerID.String(), DeviceID: "d", Expires: time.Now().Add(time.Hour)})

	tests := []struct {
		name string
		auth string
		body []byte
		want int
	}{
		{"valid", sign(alice, alice.Record, uri, now, body), body, http.StatusOK},
		{"missing", "", body, http.StatusUnauthorized},
		{"wrong-scheme", "Bearer x", body, http.StatusUnauthorized},
		{"not-base64", proto.TrackerAuthScheme + " !!!", body, http.StatusUnauthorized},
		{"not-json", proto.TrackerAuthScheme + " bm90IGpzb24", body, http.StatusUnauthorized},
		{"forged-record", sign(alice, forged, uri, now, body), body, http.StatusUnauthorized},
		{"other-central", sign(other, other.Record, uri, now, body), body, http.StatusUnauthorized},
		{"expired-record", sign(alice, expired, uri, now, body), body, http.StatusUnauthorized},
		{"revoked", sign(revoked, revoked.Record, uri, now, body), body, http.StatusForbidden},
		{"no-site", sign(alice, noSite, uri, now, body), body, http.StatusForbidden},
		{"stolen-record", sign(mallory, alice.Record, uri, now, body), body, http.StatusUnauthorized},
		{"other-path", sign(alice, alice.Record, "/lease", now, body), body, http.StatusUnauthorized},
		{"tampered-body", sign(alice, alice.Record, uri, now, body), append(slices.Clone(body[:len(body)-1]), ' ', '}'), http.StatusUnauthorized},
		{"skew-ahead", sign(alice, alice.Record, uri, now+6*60, body), body, http.StatusUnauthorized},
		{"skew-behind", sign(alice, alice.Record, uri, now-6*60, body), body, http.StatusUnauthorized},
		{"skew-tolerated", sign(alice, alice.Record, uri, now+4*60, body), body, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, b := e.raw(http.MethodPost, uri, tt.auth, tt.body); code != tt.want {
				t.Errorf("status %d (%s), want %d", code, b, tt.want)
			}
		})
	}
}

func TestReplayedAnnounceRefused(t *testing.T) {
	e := newEnv(t, tracker.Config{})
	alice := e.peer("branch-a")
	old, _ := json.Marshal(peerAnnounce("127.0.0.1:1", holding("p", 8, 0, 1, 2)))
	oldAuth := authHeader(t, alice.Key, alice.Record, http.MethodPost, "/announce", time.Now().Unix()-10, old)
	e.mustAnnounce(alice, peerAnnounce("127.0.0.1:1"))
	if code, _ := e.raw(http.MethodPost, "/announce", oldAuth, old); code != http.StatusConflict {
		t.Errorf("replayed older announce: status %d, want %d", code, http.StatusConflict)
	}
}

func TestValidation(t *testing.T) {
	e := newEnv(t, tracker.Config{MaxPackages: 2, MaxBodyBytes: 8 << 10})
	alice := e.peer("branch-a")
	e.mustAnnounce(alice, peerAnnounce(""))
	badHave := holding("p", 9)
	badHave.Have = badHave.Have[:1]
	tests := []struct {
		name   string
		method string
		uri    string
		body   any
		want   int
	}{
		{"bad-kind", http.MethodPost, "/announce", proto.TrackerAnnounce{Kind: "seed"}, http.StatusBadRequest},
		{"relay-without-url", http.MethodPost, "/announce", proto.TrackerAnnounce{Kind: proto.HolderRelay}, http.StatusBadRequest},
		{"agent-as-relay", http.MethodPost, "/announce", proto.TrackerAnnounce{Kind: proto.HolderRelay, RelayURL: "http://10.0.0.3:8090"}, http.StatusBadRequest},
		{"peer-with-relay-url", http.MethodPost, "/announce", proto.TrackerAnnounce{RelayURL: "http://x"}, http.StatusBadRequest},
		{"bad-multiaddr", http.MethodPost, "/announce", proto.TrackerAnnounce{Addrs: []string{"127.0.0.1:4001"}}, http.StatusBadRequest},
		{"bad-gossip", http.MethodPost, "/announce", proto.TrackerAnnounce{GossipAddr: "nope"}, http.StatusBadRequest},
		{"bitfield-size", http.MethodPost, "/announce", proto.TrackerAnnounce{Packages: []proto.PackageHave{badHave}}, http.StatusBadRequest},
		{"zero-total", http.MethodPost, "/announce", proto.TrackerAnnounce{Packages: []proto.PackageHave{{PackageID: "p"}}}, http.StatusBadRequest},
		{"duplicate-package", http.MethodPost, "/announce", peerAnnounce("", holding("p", 1), holding("p", 1)), http.StatusBadRequest},
		{"too-many-packages", http.MethodPost, "/announce", peerAnnounce("", holding("a", 1), holding("b", 1), holding("c", 1)), http.StatusBadRequest},
		{"slash-in-package", http.MethodPost, "/announce", peerAnnounce("", holding("a/b", 1)), http.StatusBadRequest},
		{"unknown-field", http.MethodPost, "/announce", map[string]any{"kind": "peer", "seeds": 1}, http.StatusBadRequest},
		{"body-too-large", http.MethodPost, "/announce", map[string]any{"kind": strings.Repeat("x", 9<<10)}, http.StatusRequestEntityTooLarge},
		{"lookup-no-package", http.MethodGet, "/lookup", nil, http.StatusBadRequest},
		{"lease-out-of-range", http.MethodPost, "/lease", proto.TrackerLeaseRequest{PackageID: "p", Total: 4, Want: []int{4}, Max: 1}, http.StatusBadRequest},
		{"lease-negative", http.MethodPost, "/lease", proto.TrackerLeaseRequest{PackageID: "p", Total: 4, Want: []int{-1}, Max: 1}, http.StatusBadRequest},
		{"lease-no-total", http.MethodPost, "/lease", proto.TrackerLeaseRequest{PackageID: "p", Want: []int{}}, http.StatusBadRequest},
		{"wrong-method", http.MethodGet, "/announce", nil, http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code := e.call(alice, tt.method, tt.uri, tt.body, nil); code != tt.want {
				t.Errorf("status %d, want %d", code, tt.want)
			}
		})
	}
}

func TestLookupOrderAndSiteIsolation(t *testing.T) {
	e := newEnv(t, tracker.Config{})
	caller := e.peer("branch-a")
	relay := e.relay("branch-a")
	few := e.peer("branch-a")
	many := e.peer("branch-a")
	none := e.peer("branch-a")
	foreign := e.peer("branch-b")

	e.mustAnnounce(caller, peerAnnounce("10.0.0.1:7946", holding("p", 16, 0)))
	e.mustAnnounce(relay, proto.TrackerAnnounce{Kind: proto.HolderRelay, RelayURL: "http://10.0.0.9:8090", Packages: []proto.PackageHave{holding("p", 16, 1)}})
	e.mustAnnounce(few, peerAnnounce("10.0.0.2:7946", holding("p", 16, 0, 1, 2)))
	e.mustAnnounce(many, peerAnnounce("10.0.0.3:7946", holding("p", 16, 0, 1, 2, 3, 4, 5), holding("q", 2, 0)))
	e.mustAnnounce(none, peerAnnounce("10.0.0.4:7946", holding("p", 16)))
	e.mustAnnounce(foreign, peerAnnounce("10.1.0.1:7946", holding("p", 16, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)))

	got, code := e.lookup(caller, "p")
	if code != http.StatusOK {
		t.Fatalf("lookup: status %d", code)
	}
	// A peer fetching p with nothing yet comes last: the caller opens a
	// have session to it.
	want := []string{relay.PeerID.String(), many.PeerID.String(), few.PeerID.String(), none.PeerID.String()}
	if diff := cmp.Diff(want, peerIDs(got)); diff != "" {
		t.Errorf("holders (-want +got):\n%s", diff)
	}
	if got.Peers[0].Kind != proto.HolderRelay || got.Peers[0].RelayURL != "http://10.0.0.9:8090" || got.Peers[1].Total != 16 || !got.Peers[1].Have.Has(5) {
		t.Errorf("holder details wrong: %+v", got.Peers[:2])
	}
	members := memberIDs(got)
	slices.Sort(members)
	wantMembers := []string{few.PeerID.String(), many.PeerID.String(), none.PeerID.String()}
	slices.Sort(wantMembers)
	if diff := cmp.Diff(wantMembers, members); diff != "" {
		t.Errorf("members (the relay has no gossip address; -want +got):\n%s", diff)
	}

	// The other site sees nothing of branch-a, and branch-a's peers never
	// see the foreign holder.
	fgot, _ := e.lookup(foreign, "p")
	if len(fgot.Peers) != 0 || len(fgot.Members) != 0 {
		t.Errorf("branch-b lookup leaks branch-a: %+v", fgot)
	}
	qgot, _ := e.lookup(caller, "q")
	if diff := cmp.Diff([]string{many.PeerID.String()}, peerIDs(qgot)); diff != "" {
		t.Errorf("holders of q (-want +got):\n%s", diff)
	}
	empty, _ := e.lookup(caller, "unknown")
	if len(empty.Peers) != 0 || len(empty.Members) != 3 {
		t.Errorf("lookup of an unheld package: %+v", empty)
	}
}

// TestLonelyAnnounceListsMembers: an announce saying its LAN has no
// members yet is answered with its site's members (bounded, never another
// site's, never itself); any other announce gets none.
func TestLonelyAnnounceListsMembers(t *testing.T) {
	e := newEnv(t, tracker.Config{MaxMembers: 2})
	first := e.peer("branch-a")
	second := e.peer("branch-a")
	third := e.peer("branch-a")
	foreign := e.peer("branch-b")
	announce := func(id *trackertest.Identity, a proto.TrackerAnnounce) proto.TrackerAnnounceResponse {
		t.Helper()
		var out proto.TrackerAnnounceResponse
		if code := e.call(id, http.MethodPost, "/announce", a, &out); code != http.StatusOK {
			t.Fatalf("announce %s: status %d", id.PeerID, code)
		}
		return out
	}
	lonely := func(gossip string) proto.TrackerAnnounce {
		a := peerAnnounce(gossip)
		a.Lonely = true
		return a
	}
	if got := announce(first, lonely("10.0.0.1:7946")); len(got.Members) != 0 {
		t.Errorf("first of its site: members %+v, want none", got.Members)
	}
	announce(foreign, lonely("10.1.0.1:7946"))
	got := announce(second, lonely("10.0.0.2:7946"))
	if diff := cmp.Diff([]proto.TrackerMember{{PeerID: first.PeerID.String(), GossipAddr: "10.0.0.1:7946"}}, got.Members); diff != "" {
		t.Errorf("second of its site (-want +got):\n%s", diff)
	}
	if got.Interval <= 0 || got.TTL <= 0 {
		t.Errorf("interval %d, ttl %d: want both", got.Interval, got.TTL)
	}
	got = announce(third, lonely("10.0.0.3:7946"))
	want := []proto.TrackerMember{{PeerID: second.PeerID.String(), GossipAddr: "10.0.0.2:7946"}, {PeerID: first.PeerID.String(), GossipAddr: "10.0.0.1:7946"}}
	if diff := cmp.Diff(want, got.Members); diff != "" {
		t.Errorf("third, MaxMembers 2: the latest first (-want +got):\n%s", diff)
	}
	if got := announce(first, peerAnnounce("10.0.0.1:7946")); len(got.Members) != 0 {
		t.Errorf("an announce that is not lonely: members %+v, want none", got.Members)
	}
}

func TestLookupBounded(t *testing.T) {
	e := newEnv(t, tracker.Config{MaxPeers: 3, MaxMembers: 2})
	caller := e.peer("branch-a")
	e.mustAnnounce(caller, peerAnnounce("10.0.0.1:1"))
	for range 6 {
		e.mustAnnounce(e.peer("branch-a"), peerAnnounce("10.0.0.2:1", holding("p", 4, 0)))
	}
	got, _ := e.lookup(caller, "p")
	if len(got.Peers) != 3 || len(got.Members) != 2 {
		t.Errorf("lookup returned %d peers and %d members, want 3 and 2", len(got.Peers), len(got.Members))
	}
	if slices.Contains(peerIDs(got), caller.PeerID.String()) || slices.Contains(memberIDs(got), caller.PeerID.String()) {
		t.Error("lookup returned the caller itself")
	}
}

func TestUnknownPeerAndRestart(t *testing.T) {
	e := newEnv(t, tracker.Config{})
	alice, bob := e.peer("branch-a"), e.peer("branch-a")
	if _, code := e.lookup(alice, "p"); code != http.StatusGone {
		t.Errorf("lookup before announce: status %d, want %d", code, http.StatusGone)
	}
	if _, code := e.lease(alice, proto.TrackerLeaseRequest{PackageID: "p", Total: 1, Want: []int{0}, Max: 1}); code != http.StatusGone {
		t.Errorf("lease before announce: status %d, want %d", code, http.StatusGone)
	}
	e.mustAnnounce(alice, peerAnnounce("10.0.0.1:1"))
	e.mustAnnounce(bob, peerAnnounce("10.0.0.2:1", holding("p", 2, 0, 1)))

	e.start(tracker.Config{}) // restart: the state is gone.
	if _, code := e.lookup(alice, "p"); code != http.StatusGone {
		t.Fatalf("lookup after restart: status %d, want %d", code, http.StatusGone)
	}
	// Every agent re-announces on 410 or at its interval: the state is back.
	e.mustAnnounce(alice, peerAnnounce("10.0.0.1:1"))
	e.mustAnnounce(bob, peerAnnounce("10.0.0.2:1", holding("p", 2, 0, 1)))
	got, code := e.lookup(alice, "p")
	if code != http.StatusOK || !cmp.Equal(peerIDs(got), []string{bob.PeerID.String()}) {
		t.Errorf("lookup after rebuild: %d %v", code, peerIDs(got))
	}
}

func TestPeerMovesSite(t *testing.T) {
	e := newEnv(t, tracker.Config{})
	a := e.peer("branch-a")
	watcherA, watcherB := e.peer("branch-a"), e.peer("branch-b")
	e.mustAnnounce(watcherA, peerAnnounce("10.0.0.1:1"))
	e.mustAnnounce(watcherB, peerAnnounce("10.1.0.1:1"))
	e.mustAnnounce(a, peerAnnounce("10.0.0.2:1", holding("p", 1, 0)))
	// Central signs a record for the new site: the old entry goes away.
	a.Record = e.central.Sign(t, proto.PeerRecord{PeerID: a.PeerID.String(), DeviceID: "d", Site: "branch-b", Expires: time.Now().Add(time.Hour)})
	e.mustAnnounce(a, peerAnnounce("10.1.0.2:1", holding("p", 1, 0)))
	if got, _ := e.lookup(watcherA, "p"); len(got.Peers) != 0 {
		t.Errorf("branch-a still lists the moved peer: %v", peerIDs(got))
	}
	if got, _ := e.lookup(watcherB, "p"); !cmp.Equal(peerIDs(got), []string{a.PeerID.String()}) {
		t.Errorf("branch-b holders = %v", peerIDs(got))
	}
	if st := e.srv.Stats(); st.Entries != 3 || st.Sites != 2 {
		t.Errorf("stats = %+v, want 3 entries in 2 sites", st)
	}
}

func TestRevokedPeerHidden(t *testing.T) {
	e := newEnv(t, tracker.Config{})
	a, b := e.peer("branch-a"), e.peer("branch-a")
	e.mustAnnounce(a, peerAnnounce("10.0.0.1:1"))
	e.mustAnnounce(b, peerAnnounce("10.0.0.2:1", holding("p", 1, 0)))
	e.revoke(b)
	got, _ := e.lookup(a, "p")
	if len(got.Peers) != 0 || len(got.Members) != 0 {
		t.Errorf("revoked peer still listed: %+v", got)
	}
	if code := e.announce(b, peerAnnounce("10.0.0.2:1")); code != http.StatusForbidden {
		t.Errorf("revoked announce: status %d", code)
	}
}

func TestTrackerFull(t *testing.T) {
	e := newEnv(t, tracker.Config{MaxEntries: 2})
	a, b, c := e.peer("s"), e.peer("s"), e.peer("s")
	e.mustAnnounce(a, peerAnnounce(""))
	e.mustAnnounce(b, peerAnnounce(""))
	if code := e.announce(c, peerAnnounce("")); code != http.StatusServiceUnavailable {
		t.Errorf("announce beyond max_entries: status %d", code)
	}
	e.mustAnnounce(a, peerAnnounce("")) // known peers still refresh.
}

// TestLookupCompressed: a large lookup answer is gzip-compressed for a
// client that accepts it, and the Go client decodes it transparently.
func TestLookupCompressed(t *testing.T) {
	e := newEnv(t, tracker.Config{})
	const n = 30
	var ids []*trackertest.Identity
	for i := range n {
		id := e.peer("branch-a")
		e.mustAnnounce(id, peerAnnounce(fmt.Sprintf("10.0.0.%d:7946", i+1), holding("p", 64, 0, 1, 2, i)))
		ids = append(ids, id)
	}
	me := ids[0]
	uri := "/lookup?package=p"
	r := httptest.NewRequest(http.MethodGet, uri, nil)
	r.Header.Set("Authorization", authHeader(t, me.Key, me.Record, http.MethodGet, uri, time.Now().Unix(), nil))
	r.Header.Set("Accept-Encoding", "gzip")
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	if w.Code != http.StatusOK || w.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("lookup: status %d, encoding %q; want 200 gzip", w.Code, w.Header().Get("Content-Encoding"))
	}
	zipped := w.Body.Len()
	zr, err := gzip.NewReader(w.Body)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var l proto.TrackerLookup
	if err := json.Unmarshal(plain, &l); err != nil || len(l.Peers) != n-1 {
		t.Fatalf("decoded lookup: %d peers, %v; want %d", len(l.Peers), err, n-1)
	}
	t.Logf("lookup of %d holders: %d bytes, %d gzipped", n-1, len(plain), zipped)

	// Without Accept-Encoding: plain JSON.
	if got, code := e.lookup(me, "p"); code != http.StatusOK || len(got.Peers) != n-1 {
		t.Errorf("plain lookup: status %d, %d peers", code, len(got.Peers))
	}
	// The real client over HTTP asks for gzip and decodes it.
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	c, err := trackerclient.NewClient(srv.URL, nil, trackerclient.NewSigner(me.Key, me.Record))
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Lookup(t.Context(), "p")
	if err != nil || len(got.Peers) != n-1 || len(got.Members) != 8 {
		t.Errorf("client lookup: %v; %d peers, %d members (want %d and the default 8)", err, len(got.Peers), len(got.Members), n-1)
	}
}

// TestRelayRoleFromSignedField performs attack 3 of issue 13 at the
// tracker: an agent whose record carries a "relay:" device ID (as an
// anonymous OCS rename once produced) but the agent role announces as a
// relay. The tracker refuses it and the site's lookup shows no relay; only a
// record signed with the relay role may announce as one, whatever its
// device ID.
func TestRelayRoleFromSignedField(t *testing.T) {
	e := newEnv(t, tracker.Config{})
	const site = "branch-a"
	mallory := e.peer(site)
	mallory.Record = e.central.Sign(t, proto.PeerRecord{PeerID: mallory.PeerID.String(), DeviceID: proto.RelayDeviceIDPrefix + "r1-2026-12-04-10-00-00",
		Site: site, Role: proto.RoleAgent, Expires: time.Now().Add(time.Hour)})
	relay := e.peer(site)
	relay.Record = e.central.Sign(t, proto.PeerRecord{PeerID: relay.PeerID.String(), DeviceID: "any-name", Site: site, Role: proto.RoleRelay,
		Expires: time.Now().Add(time.Hour)})
	watcher := e.peer(site)
	e.mustAnnounce(watcher, peerAnnounce(""))
	claim := proto.TrackerAnnounce{Kind: proto.HolderRelay, RelayURL: "http://10.0.0.66:8090", Packages: []proto.PackageHave{holding("p", 4, 0, 1, 2, 3)}}

	if code := e.announce(mallory, claim); code != http.StatusBadRequest {
		t.Fatalf("relay announce with an agent's record: status %d, want %d", code, http.StatusBadRequest)
	}
	got, code := e.lookup(watcher, "p")
	if code != http.StatusOK || len(got.Peers) != 0 {
		t.Fatalf("after the refused announce: lookup %d %+v, want no holder", code, got.Peers)
	}
	e.mustAnnounce(relay, proto.TrackerAnnounce{Kind: proto.HolderRelay, RelayURL: "http://10.0.0.9:8090", Packages: []proto.PackageHave{holding("p", 4, 0)}})
	got, _ = e.lookup(watcher, "p")
	if len(got.Peers) != 1 || got.Peers[0].Kind != proto.HolderRelay || got.Peers[0].PeerID != relay.PeerID.String() {
		t.Errorf("relay role record: lookup %+v, want the relay", got.Peers)
	}
}

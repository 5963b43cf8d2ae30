package tracker_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/tracker"
	"github.com/shoal-project/shoal/tracker/trackertest"
)

// env is a tracker served in process, without a network, so that tests
// can run it inside a synctest bubble.
type env struct {
	t       testing.TB
	central *trackertest.Central
	srv     *tracker.Server
	h       http.Handler

	mu      sync.Mutex
	revoked map[string]bool
}

func newEnv(t testing.TB, cfg tracker.Config) *env {
	t.Helper()
	e := &env{t: t, central: trackertest.NewCentral(t), revoked: map[string]bool{}}
	e.start(cfg)
	return e
}

// start (re)creates the tracker with empty state, like a restart.
func (e *env) start(cfg tracker.Config) {
	e.t.Helper()
	srv, err := tracker.New(cfg, slog.New(slog.DiscardHandler), tracker.Verifier{Key: e.central.Public(), Revoked: e.isRevoked})
	if err != nil {
		e.t.Fatal(err)
	}
	e.srv, e.h = srv, srv.Handler()
}

func (e *env) isRevoked(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.revoked[id]
}

func (e *env) revoke(id *trackertest.Identity) {
	e.mu.Lock()
	e.revoked[id.PeerID.String()] = true
	e.mu.Unlock()
}

func (e *env) peer(site string) *trackertest.Identity {
	e.t.Helper()
	return e.central.NewIdentity(e.t, site, 24*time.Hour)
}

func (e *env) relay(site string) *trackertest.Identity {
	e.t.Helper()
	return e.central.NewRelayIdentity(e.t, site, 24*time.Hour)
}

// authHeader builds an Authorization value by hand, so tests can forge any
// part of it.
func authHeader(t testing.TB, key crypto.PrivKey, rec proto.SignedPeerRecord, method, uri string, unix int64, body []byte) string {
	t.Helper()
	sig, err := key.Sign(proto.TrackerAuthMessage(method, uri, unix, body))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(proto.TrackerAuth{PeerRecord: rec, Time: unix, Signature: sig})
	if err != nil {
		t.Fatal(err)
	}
	return proto.TrackerAuthScheme + " " + base64.RawURLEncoding.EncodeToString(raw)
}

// raw serves one request with the given Authorization value.
func (e *env) raw(method, uri, auth string, body []byte) (int, []byte) {
	e.t.Helper()
	r := httptest.NewRequest(method, uri, bytes.NewReader(body))
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	b, _ := io.ReadAll(w.Result().Body)
	return w.Code, b
}

// call signs and serves one request as id, decoding a 200 answer into out.
func (e *env) call(id *trackertest.Identity, method, uri string, in, out any) int {
	e.t.Helper()
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			e.t.Fatal(err)
		}
	}
	code, b := e.raw(method, uri, authHeader(e.t, id.Key, id.Record, method, uri, time.Now().Unix(), body), body)
	if code == http.StatusOK && out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: decode %q: %v", method, uri, b, err)
		}
	}
	return code
}

func (e *env) announce(id *trackertest.Identity, a proto.TrackerAnnounce) int {
	e.t.Helper()
	return e.call(id, http.MethodPost, "/announce", a, nil)
}

// mustAnnounce announces a peer holding the given fragments of packages.
func (e *env) mustAnnounce(id *trackertest.Identity, a proto.TrackerAnnounce) {
	e.t.Helper()
	if code := e.announce(id, a); code != http.StatusOK {
		e.t.Fatalf("announce %s: status %d", id.PeerID, code)
	}
}

func (e *env) lookup(id *trackertest.Identity, pkg string) (proto.TrackerLookup, int) {
	e.t.Helper()
	var out proto.TrackerLookup
	code := e.call(id, http.MethodGet, "/lookup?package="+pkg, nil, &out)
	return out, code
}

func (e *env) lease(id *trackertest.Identity, req proto.TrackerLeaseRequest) (proto.TrackerLeaseResponse, int) {
	e.t.Helper()
	var out proto.TrackerLeaseResponse
	code := e.call(id, http.MethodPost, "/lease", req, &out)
	return out, code
}

// holding returns a PackageHave of total fragments with the given ones set.
func holding(pkg string, total int, frags ...int) proto.PackageHave {
	b := proto.NewBitfield(total)
	for _, i := range frags {
		b.Set(i)
	}
	return proto.PackageHave{PackageID: pkg, Total: total, Have: b}
}

func peerAnnounce(gossip string, pkgs ...proto.PackageHave) proto.TrackerAnnounce {
	return proto.TrackerAnnounce{Addrs: []string{"/ip4/127.0.0.1/tcp/4001"}, GossipAddr: gossip, Kind: proto.HolderPeer, Packages: pkgs}
}

// peerIDs lists the peer IDs of a lookup answer in order.
func peerIDs(l proto.TrackerLookup) []string {
	out := []string{}
	for _, p := range l.Peers {
		out = append(out, p.PeerID)
	}
	return out
}

func memberIDs(l proto.TrackerLookup) []string {
	out := []string{}
	for _, m := range l.Members {
		out = append(out, m.PeerID)
	}
	return out
}

package tracker_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/internal/trackerclient"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/tracker"
	"github.com/shoal-project/shoal/tracker/trackertest"
)

// serve runs a tracker at <URL>/tracker/v1 as central and shoal-tracker
// mount it.
func serve(t *testing.T, central *trackertest.Central, revoked func(string) bool) (*tracker.Server, string) {
	t.Helper()
	srv, err := tracker.New(tracker.Config{}, slog.New(slog.DiscardHandler), tracker.Verifier{Key: central.Public(), Revoked: revoked})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(proto.TrackerPathPrefix+"/", http.StripPrefix(proto.TrackerPathPrefix, srv.Handler()))
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return srv, ts.URL + proto.TrackerPathPrefix
}

func newClient(t *testing.T, url string, id *trackertest.Identity) (*trackerclient.Client, *trackerclient.Signer) {
	t.Helper()
	s := trackerclient.NewSigner(id.Key, id.Record)
	c, err := trackerclient.NewClient(url, nil, s)
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

func TestClientServer(t *testing.T) {
	central := trackertest.NewCentral(t)
	var revoked sync.Map
	_, url := serve(t, central, func(id string) bool { _, ok := revoked.Load(id); return ok })
	alice := central.NewIdentity(t, "branch-a", time.Hour)
	bob := central.NewIdentity(t, "branch-a", time.Hour)
	ca, as := newClient(t, url, alice)
	cb, _ := newClient(t, url, bob)
	ctx := t.Context()

	if _, err := ca.Lookup(ctx, "pkg-1"); !errors.Is(err, tracker.ErrUnknownPeer) {
		t.Fatalf("lookup before announce = %v, want ErrUnknownPeer", err)
	}
	ar, err := ca.Announce(ctx, peerAnnounce("10.0.0.1:7946"))
	if err != nil {
		t.Fatal(err)
	}
	if ar.Interval != 30 || ar.TTL != 90 {
		t.Errorf("announce answer %+v, want interval 30 and ttl 90", ar)
	}
	if _, err := cb.Announce(ctx, peerAnnounce("10.0.0.2:7946", holding("pkg 1/x?", 3, 0, 2))); !errors.Is(err, tracker.ErrBadRequest) {
		t.Errorf("announce of a package ID with a slash = %v, want ErrBadRequest", err)
	}
	if _, err := cb.Announce(ctx, peerAnnounce("10.0.0.2:7946", holding("pkg 1&x?", 3, 0, 2))); err != nil {
		t.Fatal(err)
	}
	l, err := ca.Lookup(ctx, "pkg 1&x?") // query escaping is signed as sent.
	if err != nil {
		t.Fatal(err)
	}
	want := proto.TrackerLookup{PackageID: "pkg 1&x?",
		Peers:   []proto.TrackerPeer{{PeerID: bob.PeerID.String(), Addrs: []string{"/ip4/127.0.0.1/tcp/4001"}, Kind: proto.HolderPeer, Have: proto.Bitfield{0xa0}, Total: 3}},
		Members: []proto.TrackerMember{{PeerID: bob.PeerID.String(), GossipAddr: "10.0.0.2:7946"}}}
	if diff := cmp.Diff(want, *l); diff != "" {
		t.Errorf("lookup (-want +got):\n%s", diff)
	}
	lr, err := ca.Lease(ctx, proto.TrackerLeaseRequest{PackageID: "pkg 1&x?", Total: 3, Want: []int{0, 1, 2}, Max: 4})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&proto.TrackerLeaseResponse{Granted: []int{1}, TTL: 60}, lr); diff != "" {
		t.Errorf("lease (-want +got):\n%s", diff)
	}

	// A renewed record is used from the next call on.
	renewed := central.Sign(t, proto.PeerRecord{PeerID: alice.PeerID.String(), DeviceID: "d", Site: "branch-a", Expires: time.Now().Add(-time.Second)})
	as.SetRecord(renewed)
	if _, err := ca.Lookup(ctx, "x"); !errors.Is(err, tracker.ErrUnauthorized) {
		t.Errorf("lookup with an expired record = %v, want ErrUnauthorized", err)
	}
	as.SetRecord(alice.Record)
	revoked.Store(alice.PeerID.String(), true)
	if _, err := ca.Lookup(ctx, "x"); !errors.Is(err, tracker.ErrRevoked) || errors.Is(err, tracker.ErrNoSite) {
		t.Errorf("lookup when revoked = %v, want ErrRevoked", err)
	}
	nosite := central.NewIdentity(t, "", time.Hour)
	cn, _ := newClient(t, url, nosite)
	if _, err := cn.Announce(ctx, peerAnnounce("")); !errors.Is(err, tracker.ErrNoSite) || errors.Is(err, tracker.ErrRevoked) {
		t.Errorf("announce without a site = %v, want ErrNoSite", err)
	}
}

func TestClientDeadline(t *testing.T) {
	central := trackertest.NewCentral(t)
	block := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	t.Cleanup(func() { close(block); ts.Close() })
	c, _ := newClient(t, ts.URL, central.NewIdentity(t, "s", time.Hour))
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Lookup(ctx, "p"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("lookup against a stalled tracker = %v, want a deadline error", err)
	}
}

func TestNewClientRejectsBadURL(t *testing.T) {
	id := trackertest.NewCentral(t).NewIdentity(t, "s", time.Hour)
	tests := []struct {
		name string
		url  string
	}{
		{"empty", ""},
		{"no-scheme", "central:8443/tracker/v1"},
		{"ftp", "ftp://central/tracker/v1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := trackerclient.NewClient(tt.url, nil, trackerclient.NewSigner(id.Key, id.Record)); err == nil {
				t.Errorf("NewClient(%q) succeeded", tt.url)
			}
		})
	}
}

package agentapi_test

import (
	"crypto/ed25519"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/tracker"
)

// TestRelayRecordRenewalAndRemoval: a relay's peer record is renewed with
// its jobs past two thirds of its life; a removed relay loses its secret at
// once and its peer ID is listed as revoked to the agents of its site.
func TestRelayRecordRenewalAndRemoval(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	site := &store.Site{Name: "branch", CIDRs: []store.SiteCIDR{{CIDR: "10.9.0.0/16"}}}
	if err := e.store.CreateSite(ctx, site); err != nil {
		t.Fatal(err)
	}
	var enr proto.RelayEnrollResponse
	req := relayRequest(t, e.relayToken("branch", "r1"), "r1", "branch")
	e.call("POST", proto.AgentAPIPath+"/relays/enroll", req, &enr, http.StatusOK)

	evs, _, err := e.store.ListAudit(ctx, store.AuditFilter{Action: "relay.enroll"})
	if err != nil || len(evs) != 1 || evs[0].Target != "r1" {
		t.Errorf("audit of the enrollment: %+v, %v", evs, err)
	}

	var jobs proto.RelayJobs
	if code := e.relayCall(enr.Secret, "GET", "/relay/jobs", nil, &jobs); code != http.StatusOK || jobs.PeerRecord != nil {
		t.Fatalf("fresh record renewed: %d %+v", code, jobs.PeerRecord)
	}
	// Six hours left of a 24-hour record: renew.
	if err := e.store.TouchRelay(ctx, enr.RelayID, "", time.Now().Add(6*time.Hour), time.Now()); err != nil {
		t.Fatal(err)
	}
	if code := e.relayCall(enr.Secret, "GET", "/relay/jobs", nil, &jobs); code != http.StatusOK || jobs.PeerRecord == nil {
		t.Fatalf("old record not renewed: %d", code)
	}
	rec, err := proto.VerifyPeerRecord(*jobs.PeerRecord, e.pki.SigningPublicKey(), time.Now())
	if err != nil || rec.PeerID != req.PeerID || time.Until(rec.Expires) < 23*time.Hour {
		t.Errorf("renewed record %+v: %v", rec, err)
	}
	r, err := e.store.Relay(ctx, enr.RelayID)
	if err != nil || time.Until(r.RecordExpires) < 23*time.Hour {
		t.Errorf("stored record expiry %v: %v", r.RecordExpires, err)
	}
	// A relay whose record no longer verifies (signed before protocol
	// version 2) asks with renew=1 and gets a new one at once, even on a
	// long poll whose tag has not changed.
	start := time.Now()
	var renewed proto.RelayJobs
	if code := e.relayCall(enr.Secret, "GET", "/relay/jobs?renew=1&wait=20s&tag="+jobs.Tag, nil, &renewed); code != http.StatusOK || renewed.PeerRecord == nil {
		t.Fatalf("renew=1: %d, record %v", code, renewed.PeerRecord)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("renew=1 answered after %s; want at once", d)
	}
	if rec, err := proto.VerifyPeerRecord(*renewed.PeerRecord, e.pki.SigningPublicKey(), time.Now()); err != nil || rec.Role != proto.RoleRelay {
		t.Errorf("record on request %+v: %v", rec, err)
	}

	if err := e.store.DeleteRelay(ctx, enr.RelayID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if code := e.relayCall(enr.Secret, "GET", "/relay/jobs", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("removed relay's jobs: %d, want 401", code)
	}
	if code := e.relayCall(enr.Secret, "POST", "/relay/report", proto.RelayReport{}, nil); code != http.StatusUnauthorized {
		t.Errorf("removed relay's report: %d, want 401", code)
	}
	// A second relay of the site sees the first one's peer ID revoked and
	// no longer among the site's relays.
	var enr2 proto.RelayEnrollResponse
	e.call("POST", proto.AgentAPIPath+"/relays/enroll", relayRequest(t, e.relayToken("branch", "r2"), "r2", "branch"), &enr2, http.StatusOK)
	if code := e.relayCall(enr2.Secret, "GET", "/relay/jobs", nil, &jobs); code != http.StatusOK {
		t.Fatalf("jobs of r2: %d", code)
	}
	if jobs.Site == nil || !slices.Contains(jobs.Site.RevokedPeers, req.PeerID) || len(jobs.Site.Relays) != 1 || jobs.Site.Relays[0].Name != "r2" {
		t.Errorf("site info after removal %+v", jobs.Site)
	}

	// Trackers run apart from central read the same revocations from the
	// signed list on the public listeners.
	pub := echo.New()
	e.api.RegisterPublic(pub)
	srv := httptest.NewServer(pub)
	defer srv.Close()
	feed := tracker.NewRevocationFeed(srv.URL+proto.RevokedPeersPath, srv.Client(), e.pki.SigningPublicKey(), time.Second, slog.New(slog.DiscardHandler))
	if err := feed.Poll(ctx); err != nil {
		t.Fatalf("poll the revocation list: %v", err)
	}
	if !feed.Revoked(req.PeerID) || feed.Revoked("12D3KooWNotRevoked") {
		t.Errorf("revocation list: removed relay revoked %t", feed.Revoked(req.PeerID))
	}
	_, otherKey, _ := ed25519.GenerateKey(nil)
	wrong := tracker.NewRevocationFeed(srv.URL+proto.RevokedPeersPath, srv.Client(), otherKey.Public().(ed25519.PublicKey), time.Second, slog.New(slog.DiscardHandler))
	if err := wrong.Poll(ctx); !errors.Is(err, proto.ErrBadRevocationList) {
		t.Errorf("list checked with another key: %v, want ErrBadRevocationList", err)
	}
}

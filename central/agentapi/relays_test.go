package agentapi_test

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
	"github.com/shoal-project/shoal/proto"
)

// relayRequest builds a relay enrollment request signed by a fresh identity.
func relayRequest(t *testing.T, token, name, site string) proto.RelayEnrollRequest {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(key)
	pub, _ := crypto.MarshalPublicKey(key.GetPublic())
	proof, _ := key.Sign(proto.RelayEnrollProof(token, name, id.String()))
	return proto.RelayEnrollRequest{Token: token, Name: name, Site: site, PeerID: id.String(), PublicKey: pub, Proof: proof,
		HTTPURL: "http://10.9.0.2:8090", Version: "test"}
}

// relayChain parses the certificate chain central sent a relay: the leaf,
// then the intermediates.
func relayChain(t *testing.T, chain []byte) (*x509.Certificate, *x509.CertPool) {
	t.Helper()
	var certs []*x509.Certificate
	for block, rest := pem.Decode(chain); block != nil; block, rest = pem.Decode(rest) {
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
	if len(certs) != 2 {
		t.Fatalf("relay chain has %d certificates, want the leaf and the relay CA", len(certs))
	}
	inter := x509.NewCertPool()
	inter.AddCert(certs[1])
	return certs[0], inter
}

// relayCall sends a relay-authenticated request.
func (e *env) relayCall(secret, method, path string, body any, out any) int {
	e.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, e.srv.URL+proto.AgentAPIPath+path, r)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := e.http.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			e.t.Fatal(err)
		}
	}
	return resp.StatusCode
}

func TestRelayEnrollJobsReport(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	site := &store.Site{Name: "branch", CIDRs: []store.SiteCIDR{{CIDR: "10.9.0.0/16"}}}
	if err := e.store.CreateSite(ctx, site); err != nil {
		t.Fatal(err)
	}
	e.api.SetUpstreamURL("http://central.test:8080")
	e.api.SetTrackerURL("https://central.test:8443/tracker/v1")

	tok := e.relayToken("branch", "r1")
	tests := []struct {
		name string
		req  func() proto.RelayEnrollRequest
		want int
	}{
		{"unknown-site", func() proto.RelayEnrollRequest { return relayRequest(t, tok, "r1", "nowhere") }, http.StatusBadRequest},
		{"bad-name", func() proto.RelayEnrollRequest { return relayRequest(t, tok, "../r1", "branch") }, http.StatusBadRequest},
		{"forged-proof", func() proto.RelayEnrollRequest {
			r := relayRequest(t, tok, "r1", "branch")
			r.Proof[0] ^= 1
			return r
		}, http.StatusBadRequest},
		{"https-as-http-url", func() proto.RelayEnrollRequest {
			r := relayRequest(t, tok, "r1", "branch")
			r.HTTPURL = "https://10.9.0.2:8443"
			return r
		}, http.StatusBadRequest},
		{"http-as-https-url", func() proto.RelayEnrollRequest {
			r := relayRequest(t, tok, "r1", "branch")
			r.HTTPSURL = "http://10.9.0.2:8443"
			return r
		}, http.StatusBadRequest},
		{"url-with-path", func() proto.RelayEnrollRequest {
			r := relayRequest(t, tok, "r1", "branch")
			r.HTTPURL = "http://10.9.0.2:8090/download"
			return r
		}, http.StatusBadRequest},
		{"bad-token", func() proto.RelayEnrollRequest {
			return relayRequest(t, proto.EnrollTokenPrefix+"nope", "r1", "branch")
		}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.call("POST", proto.AgentAPIPath+"/relays/enroll", tt.req(), nil, tt.want)
		})
	}

	var enr proto.RelayEnrollResponse
	req := relayRequest(t, tok, "r1", "branch")
	e.call("POST", proto.AgentAPIPath+"/relays/enroll", req, &enr, http.StatusOK)
	if enr.Site != "branch" || enr.Upstream != "http://central.test:8080" || !strings.HasPrefix(enr.Secret, proto.RelaySecretPrefix) {
		t.Errorf("enrollment %+v", enr)
	}
	cert, inter := relayChain(t, enr.CertPEM)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: e.pki.CAPool(), Intermediates: inter, DNSName: "10.9.0.2"}); err != nil {
		t.Errorf("relay certificate does not verify for its address: %v", err)
	}
	rec, err := proto.VerifyPeerRecord(enr.PeerRecord, e.pki.SigningPublicKey(), time.Now())
	if err != nil || rec.DeviceID != proto.RelayDeviceIDPrefix+"r1" || rec.Role != proto.RoleRelay || rec.Site != "branch" || rec.PeerID != req.PeerID {
		t.Errorf("peer record %+v: %v", rec, err)
	}

	// An agent cannot pose as a relay, and a relay secret is not an agent's.
	if code := e.relayCall("shoalagent_x", "GET", "/relay/jobs", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("agent secret on relay route: %d", code)
	}
	var jobs proto.RelayJobs
	if code := e.relayCall(enr.Secret, "GET", "/relay/jobs", nil, &jobs); code != http.StatusOK {
		t.Fatalf("relay jobs: %d", code)
	}
	if len(jobs.Packages) != 0 || jobs.Site == nil || jobs.Site.Name != "branch" || len(jobs.Site.GossipKey) != store.GossipKeySize ||
		jobs.Site.TrackerURL != "https://central.test:8443/tracker/v1" || len(jobs.Site.Relays) != 1 || jobs.Site.Relays[0].URL != req.HTTPURL {
		t.Errorf("relay jobs %+v site %+v", jobs, jobs.Site)
	}

	// A deployment to a computer of the site makes the package active;
	// the held poll answers with the new list.
	e.publish(packages.Spec{ID: "200", Name: "app", Platform: "LINUX", Action: "STORE", Path: "/tmp/x", Priority: 5}, []byte("payload of the relay test"))
	snap := storetest.Snapshot("ws-2026-11-26-10-00-00", 1)
	snap.Computer.SiteID = &site.ID
	res, err := inventory.Record(ctx, e.store, snap)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan proto.RelayJobs, 1)
	go func() {
		var j proto.RelayJobs
		e.relayCall(enr.Secret, "GET", "/relay/jobs?wait=20s&tag="+jobs.Tag, nil, &j)
		done <- j
	}()
	e.affect("200", res.ComputerID)
	select {
	case j := <-done:
		if len(j.Packages) != 1 || j.Packages[0].PackageID != "200" || !j.Packages[0].Active || j.Packages[0].Size == 0 {
			t.Errorf("relay jobs after affectation: %+v", j.Packages)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("held relay jobs did not answer the affectation")
	}

	addrs := []string{"/ip4/10.9.0.2/tcp/4011"}
	report := proto.RelayReport{Version: "test", DiskUsed: 123, Packages: []proto.RelayPackageStats{{PackageID: "200", BytesUpstream: 10, BytesServed: 30}},
		P2PAddrs: addrs}
	if code := e.relayCall(enr.Secret, "POST", "/relay/report", report, nil); code != http.StatusNoContent {
		t.Errorf("report: %d", code)
	}
	rs, err := e.store.Relays(ctx)
	if err != nil || len(rs) != 1 || !strings.Contains(rs[0].LastReport, `"bytes_served":30`) {
		t.Errorf("stored relays %+v: %v", rs, err)
	}
	// The site's agents learn the relay's libp2p addresses.
	if code := e.relayCall(enr.Secret, "GET", "/relay/jobs", nil, &jobs); code != http.StatusOK {
		t.Fatalf("relay jobs: %d", code)
	}
	if got := jobs.Site.Relays; len(got) != 1 || got[0].PeerID != req.PeerID || !slices.Equal(got[0].Addrs, addrs) {
		t.Errorf("site relays after the report: %+v, want peer %s at %v", got, req.PeerID, addrs)
	}
	for name, bad := range map[string][]string{
		"not-multiaddr": {"http://10.9.0.2:4011"},
		"too-long":      {"/ip4/10.9.0.2/tcp/4011/" + strings.Repeat("x", 300)},
		"too-many":      slices.Repeat([]string{"/ip4/10.9.0.2/tcp/4011"}, proto.MaxRelayAddrs+1),
	} {
		if code := e.relayCall(enr.Secret, "POST", "/relay/report", proto.RelayReport{P2PAddrs: bad}, nil); code != http.StatusBadRequest {
			t.Errorf("report with %s p2p addresses: %d, want 400", name, code)
		}
	}

}

// TestAgentCannotEnrollAsRelay: device IDs with the relay prefix are refused,
// so peer records of agents and relays cannot be confused.
func TestAgentCannotEnrollAsRelay(t *testing.T) {
	e := newEnv(t)
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	id, _ := peer.IDFromPrivateKey(key)
	pub, _ := crypto.MarshalPublicKey(key.GetPublic())
	tok := e.token(1)
	dev := proto.RelayDeviceIDPrefix + "r1"
	proof, _ := key.Sign(proto.EnrollProof(tok, dev, id.String()))
	e.call("POST", proto.AgentAPIPath+"/enroll", proto.EnrollRequest{Token: tok, DeviceID: dev, PeerID: id.String(), PublicKey: pub,
		Proof: proof, Inventory: &proto.AgentInventory{Hostname: "x"}}, nil, http.StatusBadRequest)
}

// TestRelayPurgesAfterAbsence: a relay polling regularly is sent the last
// day's purges; one that was away for days is sent every purge asked since
// it was last seen, once.
func TestRelayPurgesAfterAbsence(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	if err := e.store.CreateSite(ctx, &store.Site{Name: "branch", CIDRs: []store.SiteCIDR{{CIDR: "10.9.0.0/16"}}}); err != nil {
		t.Fatal(err)
	}
	var enr proto.RelayEnrollResponse
	e.call("POST", proto.AgentAPIPath+"/relays/enroll", relayRequest(t, e.relayToken("branch", "r1"), "r1", "branch"), &enr, http.StatusOK)
	now := time.Now()
	if err := e.store.RequestPurge(ctx, "300", now.Add(-48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := e.store.RequestPurge(ctx, "301", now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := e.store.TouchRelay(ctx, enr.RelayID, "", time.Time{}, now.Add(-72*time.Hour)); err != nil {
		t.Fatal(err)
	}
	var jobs proto.RelayJobs
	if code := e.relayCall(enr.Secret, "GET", "/relay/jobs", nil, &jobs); code != http.StatusOK {
		t.Fatalf("jobs: %d", code)
	}
	if !slices.Equal(jobs.Purge, []string{"300", "301"}) {
		t.Errorf("purges after three days away: %v, want 300 and 301", jobs.Purge)
	}
	if code := e.relayCall(enr.Secret, "GET", "/relay/jobs", nil, &jobs); code != http.StatusOK {
		t.Fatalf("jobs: %d", code)
	}
	if !slices.Equal(jobs.Purge, []string{"301"}) {
		t.Errorf("purges of a relay seen just now: %v, want the last day's (301)", jobs.Purge)
	}
}

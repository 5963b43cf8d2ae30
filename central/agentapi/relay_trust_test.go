package agentapi_test

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoal-project/shoal/central/agentapi"
	"github.com/shoal-project/shoal/central/pki"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto"
)

// centralName and centralIP are central's own names in the trust tests:
// OCS agents reach central's HTTPS there with the root CA pinned.
const (
	centralName = "central.corp.example"
	centralIP   = "10.1.2.3"
)

// post sends an unauthenticated JSON request to the agent API (an
// enrollment with its token in the header, like the real clients) and
// returns the status and body.
func (e *env) post(path string, in any) (int, string) {
	e.t.Helper()
	b, _ := json.Marshal(in)
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+proto.AgentAPIPath+path, bytes.NewReader(b))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	setEnrollToken(req, in)
	resp, err := e.http.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// trustState is what a refused enrollment must leave unchanged: every
// table's row count but the audit log's, and each token's uses.
func (e *env) trustState() map[string]int64 {
	e.t.Helper()
	rows, err := e.store.CountRows(e.t.Context())
	if err != nil {
		e.t.Fatal(err)
	}
	delete(rows, "audit_events")
	toks, err := e.store.ListEnrollmentTokens(e.t.Context())
	if err != nil {
		e.t.Fatal(err)
	}
	for _, tok := range toks {
		rows["uses of "+tok.Name] = int64(tok.Uses)
	}
	return rows
}

// TestRelayEnrollmentAttacks performs issue 13's relay enrollment attacks
// against the real handlers: agent tokens, relay tokens for another site
// or name, certificates for central's names, wildcards or unrelated
// domains, and taking over an enrolled relay's name. Each is refused with
// a clear status, audited when the token is real, and changes nothing: no
// relay row, no token use, the legitimate relay keeps working.
func TestRelayEnrollmentAttacks(t *testing.T) {
	e := newEnvPKI(t, pki.Config{Names: []string{centralName, centralIP}})
	ctx := t.Context()
	for _, name := range []string{"branch", "branchB"} {
		if err := e.store.CreateSite(ctx, &store.Site{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	var legit proto.RelayEnrollResponse
	legitReq := relayRequest(t, e.relayToken("branch", "r1"), "r1", "branch")
	e.call("POST", proto.AgentAPIPath+"/relays/enroll", legitReq, &legit, http.StatusOK)

	agentTok := e.token(0)
	r2Tok := e.relayToken("branch", "r2")
	takeoverTok := e.relayToken("branch", "r1")
	with := func(tok, name, site string, edit func(*proto.RelayEnrollRequest)) proto.RelayEnrollRequest {
		r := relayRequest(t, tok, name, site)
		if edit != nil {
			edit(&r)
		}
		return r
	}
	hostnames := func(h ...string) func(*proto.RelayEnrollRequest) {
		return func(r *proto.RelayEnrollRequest) { r.Hostnames = h }
	}
	tests := []struct {
		name    string
		req     proto.RelayEnrollRequest
		want    int
		wantMsg string
		audited bool
	}{
		{"agent-token", with(agentTok, "r2", "branch", nil), http.StatusForbidden, "not a relay token", true},
		{"agent-token-central-hostname", with(agentTok, "r2", "branchB", hostnames(centralName, "*.corp.example", "www.google.com")),
			http.StatusForbidden, "not a relay token", true},
		{"relay-token-other-site", with(r2Tok, "r2", "branchB", nil), http.StatusForbidden, "another site", true},
		{"relay-token-other-name", with(r2Tok, "r3", "branch", nil), http.StatusForbidden, "another site", true},
		{"hostname-central", with(r2Tok, "r2", "branch", hostnames(centralName)), http.StatusBadRequest, "carries only", true},
		{"hostname-wildcard", with(r2Tok, "r2", "branch", hostnames("*.corp.example")), http.StatusBadRequest, "carries only", true},
		{"hostname-unrelated", with(r2Tok, "r2", "branch", hostnames("www.google.com")), http.StatusBadRequest, "carries only", true},
		{"url-central-name", with(r2Tok, "r2", "branch", func(r *proto.RelayEnrollRequest) { r.HTTPURL = "http://" + centralName + ":8090" }),
			http.StatusBadRequest, "central's name", true},
		{"https-url-central-subdomain", with(r2Tok, "r2", "branch", func(r *proto.RelayEnrollRequest) { r.HTTPSURL = "https://www." + centralName + ":8443" }),
			http.StatusBadRequest, "central's name", true},
		{"url-central-address", with(r2Tok, "r2", "branch", func(r *proto.RelayEnrollRequest) { r.HTTPURL = "http://" + centralIP + ":8090" }),
			http.StatusBadRequest, "address of central", true},
		{"url-wildcard", with(r2Tok, "r2", "branch", func(r *proto.RelayEnrollRequest) { r.HTTPSURL = "https://*.corp.example:8443" }),
			http.StatusBadRequest, "", true},
		{"reenroll-existing-name", with(takeoverTok, "r1", "branch", nil), http.StatusConflict, "remove relay r1 first", true},
		{"unknown-token", with(proto.EnrollTokenPrefix+"guess", "r2", "branch", nil), http.StatusForbidden, "refused", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.trustState()
			evs, _, err := e.store.ListAudit(ctx, store.AuditFilter{Action: "relay.enroll.refused"})
			if err != nil {
				t.Fatal(err)
			}
			code, body := e.post("/relays/enroll", tt.req)
			if code != tt.want || !strings.Contains(body, tt.wantMsg) {
				t.Errorf("enroll: %d %s; want %d with %q", code, body, tt.want, tt.wantMsg)
			}
			if diff := cmp.Diff(before, e.trustState()); diff != "" {
				t.Errorf("a refused enrollment changed the database (-before +after):\n%s", diff)
			}
			after, _, err := e.store.ListAudit(ctx, store.AuditFilter{Action: "relay.enroll.refused"})
			if err != nil {
				t.Fatal(err)
			}
			if got := len(after) - len(evs); tt.audited && (got != 1 || !strings.Contains(after[0].Actor, "enrollment token")) || !tt.audited && got != 0 {
				t.Errorf("audit events of the refusal: %d new (%+v); audited %t", got, after, tt.audited)
			}
		})
	}
	// The legitimate relay is untouched: same row, its secret works, its
	// peer ID is not revoked.
	if code := e.relayCall(legit.Secret, "GET", "/relay/jobs", nil, nil); code != http.StatusOK {
		t.Errorf("legitimate relay after the attacks: %d, want 200", code)
	}
	if revoked, err := e.store.RevokedPeerIDs(ctx, time.Now()); err != nil || len(revoked) != 0 {
		t.Errorf("revoked peers after the attacks: %v, %v", revoked, err)
	}
}

// TestRelayCertificateNames: a relay's certificate carries exactly the
// hosts of its URLs, chains to the root only through the relay CA, and
// does not verify for central's names.
func TestRelayCertificateNames(t *testing.T) {
	e := newEnvPKI(t, pki.Config{Names: []string{centralName, centralIP}})
	if err := e.store.CreateSite(t.Context(), &store.Site{Name: "branch"}); err != nil {
		t.Fatal(err)
	}
	req := relayRequest(t, e.relayToken("branch", "r1"), "r1", "branch")
	req.HTTPSURL = "https://relay1.branch.example:8443"
	req.Hostnames = []string{"relay1.branch.example"}
	var enr proto.RelayEnrollResponse
	e.call("POST", proto.AgentAPIPath+"/relays/enroll", req, &enr, http.StatusOK)
	cert, inter := relayChain(t, enr.CertPEM)
	if diff := cmp.Diff([]string{"relay1.branch.example"}, cert.DNSNames); diff != "" {
		t.Errorf("DNS names (-want +got):\n%s", diff)
	}
	if len(cert.IPAddresses) != 1 || !cert.IPAddresses[0].Equal(net.ParseIP("10.9.0.2")) {
		t.Errorf("IP addresses %v, want only 10.9.0.2", cert.IPAddresses)
	}
	roots := e.pki.CAPool()
	for _, n := range []string{"relay1.branch.example", "10.9.0.2"} {
		chains, err := cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: n})
		if err != nil || len(chains[0]) != 3 || !chains[0][1].Equal(e.pki.RelayCA()) {
			t.Errorf("relay certificate for %s: %v, want leaf, relay CA, root", n, err)
		}
	}
	for _, n := range []string{centralName, centralIP, "www.google.com"} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: n}); err == nil {
			t.Errorf("relay certificate verifies for %s", n)
		}
	}
	if !bytes.Equal(enr.CACertPEM, e.pki.CAPEM) {
		t.Error("the relay is not told to pin central's root CA")
	}
}

// TestRelayTokenRefusedForAgent: a relay token cannot enroll an agent;
// the refusal is audited and creates no computer, uses no token.
func TestRelayTokenRefusedForAgent(t *testing.T) {
	e := newEnv(t)
	if err := e.store.CreateSite(t.Context(), &store.Site{Name: "branch"}); err != nil {
		t.Fatal(err)
	}
	tok := e.relayToken("branch", "r1")
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	id, _ := peer.IDFromPrivateKey(key)
	pub, _ := crypto.MarshalPublicKey(key.GetPublic())
	dev := "pc-2026-12-04-10-00-00"
	proof, _ := key.Sign(proto.EnrollProof(tok, dev, id.String()))
	before := e.trustState()
	code, body := e.post("/enroll", proto.EnrollRequest{Token: tok, DeviceID: dev, PeerID: id.String(), PublicKey: pub, Proof: proof,
		Inventory: &proto.AgentInventory{Hostname: "pc"}})
	if code != http.StatusForbidden || !strings.Contains(body, "agents enroll with an agent token") {
		t.Errorf("agent enrollment with a relay token: %d %s, want 403", code, body)
	}
	if diff := cmp.Diff(before, e.trustState()); diff != "" {
		t.Errorf("the refusal changed the database (-before +after):\n%s", diff)
	}
	evs, _, err := e.store.ListAudit(t.Context(), store.AuditFilter{Action: "agent.enroll.refused"})
	if err != nil || len(evs) != 1 || evs[0].Target != dev || !strings.Contains(evs[0].Actor, "relay enrollment token") {
		t.Errorf("audit of the refusal: %+v, %v", evs, err)
	}
	// The relay token still enrolls its relay.
	e.call("POST", proto.AgentAPIPath+"/relays/enroll", relayRequest(t, tok, "r1", "branch"), nil, http.StatusOK)
}

// TestRelayTokenCreation: relay tokens are bound to an existing site and a
// valid relay name, single use by default; the answer prints a relay
// command; the enrollment's audit entry names the token.
func TestRelayTokenCreation(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	if err := e.store.CreateSite(ctx, &store.Site{Name: "branch"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		body map[string]any
	}{
		{"unknown-site", map[string]any{"name": "x", "kind": "relay", "site": "nowhere", "relay_name": "r1"}},
		{"no-relay-name", map[string]any{"name": "x", "kind": "relay", "site": "branch"}},
		{"bad-relay-name", map[string]any{"name": "x", "kind": "relay", "site": "branch", "relay_name": "../r1"}},
		{"agent-with-site", map[string]any{"name": "x", "site": "branch"}},
		{"bad-kind", map[string]any{"name": "x", "kind": "admin"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.call("POST", "/api/v1/agents/enrollment-tokens", tt.body, nil, http.StatusBadRequest)
		})
	}
	var info agentapi.TokenInfo
	e.call("POST", "/api/v1/agents/enrollment-tokens", map[string]any{"name": "branch relay", "kind": "relay", "site": "branch", "relay_name": "r1"},
		&info, http.StatusCreated)
	// Without SetServerURL, the command names the URL the caller used.
	want := "shoal-relay enroll -server " + e.srv.URL + " -token " + info.Token + " -site branch -name r1 -url http://<relay-host>:<port> -ca-fingerprint " + e.pki.CAFingerprint()
	if info.Kind != "relay" || info.Site != "branch" || info.RelayName != "r1" || info.MaxUses != 1 || info.EnrollCommand != want {
		t.Errorf("relay token %+v\nwant command %s", info, want)
	}
	var list struct{ Items []agentapi.TokenInfo }
	e.call("GET", "/api/v1/agents/enrollment-tokens", nil, &list, http.StatusOK)
	if len(list.Items) != 1 || list.Items[0].Site != "branch" || list.Items[0].Kind != "relay" || list.Items[0].Token != "" {
		t.Errorf("token list %+v", list.Items)
	}
	e.call("POST", proto.AgentAPIPath+"/relays/enroll", relayRequest(t, info.Token, "r1", "branch"), nil, http.StatusOK)
	evs, _, err := e.store.ListAudit(ctx, store.AuditFilter{Action: "relay.enroll"})
	if err != nil || len(evs) != 1 || !strings.Contains(evs[0].Actor, `"branch relay"`) ||
		!strings.Contains(evs[0].Detail, fmt.Sprintf("token_id=%d ", info.ID)) {
		t.Errorf("audit of the enrollment: %+v, %v", evs, err)
	}
	// Single use: the token is spent.
	if code, _ := e.post("/relays/enroll", relayRequest(t, info.Token, "r1", "branch")); code != http.StatusForbidden {
		t.Errorf("second use of a single-use relay token: %d, want 403", code)
	}
	if !slices.ContainsFunc(evs, func(ev store.AuditEvent) bool { return ev.Target == "r1" }) {
		t.Errorf("audit target of the enrollment: %+v", evs)
	}
}

// TestRefusalAuditsBounded: a holder of a real token who retries a refused
// relay enrollment gets each attempt refused, but fills the audit log with
// at most ten events a minute.
func TestRefusalAuditsBounded(t *testing.T) {
	e := newEnv(t)
	if err := e.store.CreateSite(t.Context(), &store.Site{Name: "branch"}); err != nil {
		t.Fatal(err)
	}
	tok := e.token(0)
	for i := range 15 {
		if code, body := e.post("/relays/enroll", relayRequest(t, tok, "r1", "branch")); code != http.StatusForbidden {
			t.Fatalf("attempt %d: %d %s, want 403", i, code, body)
		}
	}
	evs, _, err := e.store.ListAudit(t.Context(), store.AuditFilter{Action: "relay.enroll.refused"})
	if err != nil || len(evs) != 10 {
		t.Errorf("audit events of 15 refusals: %d, %v; want 10", len(evs), err)
	}
	if rs, err := e.store.Relays(t.Context()); err != nil || len(rs) != 0 {
		t.Errorf("relays %+v, %v", rs, err)
	}
}

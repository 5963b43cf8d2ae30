//go:build integration

package itest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/central/agentapi"
	"github.com/shoal-project/shoal/proto/api"
)

// TestRelayEnrollAttacks runs issue 13's relay enrollment attacks with the
// real `shoal-relay enroll` against a real central: an agent token with
// central's host names, a relay token for another site or name, and a
// second enrollment under an enrolled relay's name. Each is refused with
// a clear message, central still lists only the legitimate relay, which
// keeps working.
func TestRelayEnrollAttacks(t *testing.T) {
	const centralName = "central.itest.example"
	c := startCentral(t, "tls:\n  names: ["+centralName+"]\n")
	a := startAgentAPI(t, c)
	loopbackSite(t, c)
	c.do("POST", "/api/v1/sites", api.SiteRequest{Name: "branchB", CIDRs: []string{"10.77.0.0/16"}}, nil, http.StatusCreated)
	enrollRelay(t, c, a, "loopback", "relay-1", "")

	enroll := func(token, site, name string, extra ...string) (string, error) {
		args := append([]string{"enroll", "-server", a.URL, "-token", token, "-ca", c.CAFile, "-site", site, "-name", name,
			"-url", fmt.Sprintf("http://127.0.0.1:%d", freePort(t)), "-data-dir", filepath.Join(t.TempDir(), "data")}, extra...)
		out, err := exec.Command(filepath.Join(binDir, "shoal-relay"), args...).CombinedOutput()
		return string(out), err
	}
	other := a.relayToken("loopback", "relay-2")
	tests := []struct {
		name    string
		token   string
		site    string
		relay   string
		extra   []string
		wantMsg string
	}{
		{"agent-token", a.token(0), "branchB", "relay-2", nil, "not a relay token"},
		{"relay-token-other-site", other, "branchB", "relay-2", nil, "another site"},
		{"relay-token-other-name", other, "loopback", "relay-3", nil, "another site"},
		{"central-https-name", other, "loopback", "relay-2", []string{"-https-url", "https://" + centralName + ":8443"}, "central's name"},
		{"wildcard-https-name", other, "loopback", "relay-2", []string{"-https-url", "https://*.itest.example:8443"}, "400"},
		{"takeover-name", a.relayToken("loopback", "relay-1"), "loopback", "relay-1", nil, "remove relay relay-1 first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := enroll(tt.token, tt.site, tt.relay, tt.extra...)
			if err == nil || !strings.Contains(out, tt.wantMsg) {
				t.Errorf("shoal-relay enroll: %v, want refused with %q:\n%s", err, tt.wantMsg, out)
			}
		})
	}
	var relays api.List[api.Relay]
	c.do("GET", "/api/v1/relays", nil, &relays, http.StatusOK)
	if len(relays.Items) != 1 || relays.Items[0].Name != "relay-1" {
		t.Fatalf("relays after the attacks %+v, want only relay-1", relays.Items)
	}
	// The legitimate relay still authenticates: its next report lands.
	first := *relays.Items[0].LastSeen
	waitFor(t, 20*time.Second, "relay-1 to report after the attacks", func() error {
		c.do("GET", "/api/v1/relays", nil, &relays, http.StatusOK)
		if len(relays.Items) != 1 || !relays.Items[0].Online || relays.Items[0].LastSeen == nil || !relays.Items[0].LastSeen.After(first) {
			return fmt.Errorf("relays %+v", relays.Items)
		}
		return nil
	})
}

// TestRelayHTTPSChain: an enrolled relay serves its certificate with the
// relay CA, so a client that trusts only central's root (an OCS agent's
// cacert.pem, a Shoal agent) verifies it for the relay's address; the
// chain runs leaf, relay CA, root.
func TestRelayHTTPSChain(t *testing.T) {
	c := startCentral(t, "")
	a := startAgentAPI(t, c)
	loopbackSite(t, c)
	dir := t.TempDir()
	httpPort, httpsPort := freePort(t), freePort(t)
	out, err := exec.Command(filepath.Join(binDir, "shoal-relay"), "enroll", "-server", a.URL, "-token", a.relayToken("loopback", "relay-tls"),
		"-ca", c.CAFile, "-site", "loopback", "-name", "relay-tls", "-url", fmt.Sprintf("http://127.0.0.1:%d", httpPort),
		"-https-url", fmt.Sprintf("https://127.0.0.1:%d", httpsPort), "-data-dir", filepath.Join(dir, "data")).CombinedOutput()
	if err != nil {
		t.Fatalf("shoal-relay enroll: %v\n%s", err, out)
	}
	startRelayYAML(t, fmt.Sprintf("data_dir: %s\nhttp_addr: 127.0.0.1:%d\nhttps_addr: 127.0.0.1:%d\nreport_interval: 1s\npoll_wait: 5s\np2p:\n  listen: [/ip4/127.0.0.1/tcp/0]\n",
		filepath.Join(dir, "data"), httpPort, httpsPort), dir)
	caPEM, err := os.ReadFile(c.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("no CA in central's ca file")
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	defer hc.CloseIdleConnections()
	var state *tls.ConnectionState
	waitFor(t, 20*time.Second, "the relay's HTTPS listener", func() error {
		resp, err := hc.Get(fmt.Sprintf("https://127.0.0.1:%d/healthz", httpsPort))
		if err != nil {
			return err
		}
		resp.Body.Close()
		state = resp.TLS
		return nil
	})
	if len(state.VerifiedChains) == 0 || len(state.VerifiedChains[0]) != 3 || state.VerifiedChains[0][1].Subject.CommonName != "Shoal Relay CA" {
		t.Errorf("verified chain %v, want leaf, relay CA, root", state.VerifiedChains)
	}
}

// TestRelayPrintedEnrollCommand runs the enroll command central prints for
// a relay token (its placeholders filled in) with the real binary: the
// relay enrolls into the token's site under the token's name.
func TestRelayPrintedEnrollCommand(t *testing.T) {
	c := startCentral(t, "")
	a := startAgentAPI(t, c)
	loopbackSite(t, c)
	var tok agentapi.TokenInfo
	a.adminDo("POST", "/agents/enrollment-tokens", map[string]any{"name": "printed", "kind": "relay", "site": "loopback", "relay_name": "relay-p"},
		&tok, http.StatusCreated)
	cmd := strings.NewReplacer("https://<central>:<https-port>", a.URL,
		"http://<relay-host>:<port>", fmt.Sprintf("http://127.0.0.1:%d", freePort(t))).Replace(tok.EnrollCommand)
	if strings.ContainsAny(cmd, "<>") {
		t.Fatalf("placeholders left in %q", cmd)
	}
	args := strings.Fields(cmd)
	if args[0] != "shoal-relay" {
		t.Fatalf("printed command %q does not run shoal-relay", cmd)
	}
	args = append(args[1:], "-data-dir", filepath.Join(t.TempDir(), "data"))
	if out, err := exec.Command(filepath.Join(binDir, "shoal-relay"), args...).CombinedOutput(); err != nil {
		t.Fatalf("printed command %q: %v\n%s", cmd, err, out)
	}
	var relays api.List[api.Relay]
	c.do("GET", "/api/v1/relays", nil, &relays, http.StatusOK)
	if len(relays.Items) != 1 || relays.Items[0].Name != "relay-p" || relays.Items[0].SiteName != "loopback" {
		t.Errorf("relays %+v, want relay-p of site loopback", relays.Items)
	}
}

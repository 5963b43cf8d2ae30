//go:build integration

package itest

import (
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

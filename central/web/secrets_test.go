package web

import (
	"fmt"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store/storetest"
	"github.com/shoal-project/shoal/proto/api"
)

// TestProductKeyNeedsSecrets: a Windows product key is shown whole to the
// admin and to a scoped user whose role grants computers.secrets, and
// masked to a scoped user with computers.read alone, in the computer's
// detail; no CSV export carries it.
func TestProductKeyNeedsSecrets(t *testing.T) {
	const key = "KYKVX-86GQG-2MDY9-F6J9M-K42BQ"
	e := newEnv(t)
	inA, _, _, techTok := scopedFleet(t, e)
	snap := storetest.Snapshot("pc-a-2026-12-05-00-00-00", 0)
	snap.AccountInfo = nil
	snap.Computer.WinProdKey, snap.Computer.WinProdID = key, "76413-OEM-0011903-00101"
	if _, err := inventory.Record(t.Context(), e.store, snap); err != nil {
		t.Fatal(err)
	}
	// A second scoped user whose role may see secrets.
	e.api("POST", "/api/v1/roles", `{"name":"licences","permissions":["computers.read","computers.secrets"]}`, "token", 201, nil)
	e.api("POST", "/api/v1/users", `{"name":"lic","password":"lic-password-12","role":"licences","sites":["branch-a"]}`, "token", 201, nil)
	var lt api.Token
	e.basicAs("POST", "/api/v1/tokens", `{"name":"shoalctl lic@laptop"}`, "lic", "lic-password-12", 201, &lt)

	tests := []struct {
		name, token string
		wantKey     string
		masked      bool
	}{
		{name: "admin", token: "token", wantKey: key},
		{name: "scoped-with-secrets", token: lt.Token, wantKey: key},
		{name: "scoped-read-only", token: techTok, wantKey: "*****-*****-*****-*****-K42BQ", masked: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d api.ComputerDetail
			rec := e.api("GET", fmt.Sprintf("/api/v1/computers/%d", inA), "", tt.token, 200, &d)
			if d.WinProdKey != tt.wantKey || d.WinProdKeyMasked != tt.masked {
				t.Errorf("win_prod_key %q (masked %v), want %q (masked %v)", d.WinProdKey, d.WinProdKeyMasked, tt.wantKey, tt.masked)
			}
			if d.WinProdID != "76413-OEM-0011903-00101" {
				t.Errorf("win_prod_id %q: the product ID is not a secret", d.WinProdID)
			}
			if tt.masked && strings.Contains(rec.Body.String(), "2MDY9") {
				t.Errorf("the masked answer still holds the key: %s", rec.Body)
			}
			exp := e.api("GET", "/api/v1/computers/export", "", tt.token, 200, nil)
			if !strings.Contains(exp.Body.String(), "pc-a") || strings.Contains(exp.Body.String(), "2MDY9") {
				t.Errorf("CSV export without pc-a or with its product key:\n%s", exp.Body)
			}
		})
	}
}

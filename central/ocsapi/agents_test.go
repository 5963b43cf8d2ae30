package ocsapi

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/proto/ocs"
)

// TestOCSAgentCaptures replays each agent's real PROLOG and INVENTORY with
// the User-Agent and Content-Type it sent, and checks what the agent needs:
// a zlib reply labelled so that its client decodes it (the GLPI agent
// chooses its decoder from the reply's Content-Type and gave up on
// "application/x-compressed"), and the computer stored with its address.
func TestOCSAgentCaptures(t *testing.T) {
	tests := []struct {
		name, dir, userAgent, contentType, wantType string
	}{
		{"unix-agent", "unix-agent-2.10.0", unixAgent, "application/x-compress", ocs.ContentTypeCompressed},
		{"fusioninventory", "fusioninventory-2.6", "FusionInventory-Agent_v2.6-3", ocs.ContentTypeZlib, ocs.ContentTypeZlib},
		{"glpi-agent", "glpi-agent-1.12", "GLPI-Agent_v1.12-dev", ocs.ContentTypeZlib, ocs.ContentTypeZlib},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			post := func(name string) string {
				t.Helper()
				body, err := os.ReadFile(filepath.Join("../../proto/ocs/testdata", tt.dir, name))
				if err != nil {
					t.Fatal(err)
				}
				req := httptest.NewRequest("POST", "/ocsinventory", bytes.NewReader(body))
				req.Header.Set("User-Agent", tt.userAgent)
				req.Header.Set("Content-Type", tt.contentType)
				rec := httptest.NewRecorder()
				e.http.ServeHTTP(rec, req)
				if rec.Code != 200 {
					t.Fatalf("%s: %d %s", name, rec.Code, rec.Body)
				}
				if ct := rec.Header().Get("Content-Type"); ct != tt.wantType {
					t.Errorf("%s: reply Content-Type %q, want %q", name, ct, tt.wantType)
				}
				return inflate(t, rec.Body.Bytes())
			}
			if reply := post("prolog-request.zlib"); !strings.Contains(reply, "<RESPONSE>SEND</RESPONSE>") {
				t.Errorf("prolog reply:\n%s", reply)
			}
			if reply := post("inventory-request.zlib"); !strings.Contains(reply, "ACCOUNT_UPDATE") {
				t.Errorf("inventory reply:\n%s", reply)
			}
			ids := e.computers()
			if len(ids) != 1 {
				t.Fatalf("computers: %v", ids)
			}
			d, err := e.store.ComputerDetail(context.Background(), ids[0])
			if err != nil {
				t.Fatal(err)
			}
			if d.Name != "vm" || d.IPAddr != "192.0.2.2" || d.FirstMAC != "02:fc:00:00:00:01" || d.UserAgent != tt.userAgent {
				t.Errorf("stored name %q, IP %q, MAC %q, user agent %q", d.Name, d.IPAddr, d.FirstMAC, d.UserAgent)
			}
		})
	}
}

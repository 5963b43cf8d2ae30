package ctl

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/proto/api"
)

func TestRelayCommands(t *testing.T) {
	f := newFake(t)
	seen := time.Now().UTC()
	f.mux.HandleFunc("GET /api/v1/relays", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, api.List[api.Relay]{Items: []api.Relay{{ID: 3, Name: "branch-relay", SiteName: "branch",
			HTTPURL: "http://10.9.0.2:8090", Online: true, LastSeen: &seen, DiskUsed: 2048, DiskQuota: 4096, Version: "v1",
			Totals: api.RelayPackageStats{BytesUpstream: 1024, BytesServed: 3072, Hits: 3, Misses: 1}}}, Total: 1})
	})
	f.mux.HandleFunc("POST /api/v1/agents/enrollment-tokens", func(w http.ResponseWriter, r *http.Request) {
		var req map[string]any
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req["kind"] != "relay" || req["site"] != "branch" || req["relay_name"] != "r9" {
			writeJSON(w, 400, map[string]string{"message": "bad relay token request"})
			return
		}
		writeJSON(w, 201, map[string]any{"id": 4, "kind": "relay", "site": "branch", "relay_name": "r9", "token": "shoalenroll_x", "max_uses": 1,
			"enroll_command": "shoal-relay enroll -server https://<central>:<https-port> -token shoalenroll_x -site branch -name r9"})
	})
	f.mux.HandleFunc("DELETE /api/v1/relays/3", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	f.mux.HandleFunc("POST /api/v1/packages/12/purge", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, api.PurgeResult{PackageID: "12", Relays: 2})
	})
	env := map[string]string{EnvServer: f.srv.URL, EnvCA: f.caFile, EnvToken: "t", EnvConfig: filepath.Join(t.TempDir(), "c.json")}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"list", []string{"relays"}, []string{"branch-relay", "branch", "http://10.9.0.2:8090", "yes", "2.0 KiB / 4.0 KiB", "1.0 KiB", "3.0 KiB", "75%"}},
		{"list-json", []string{"relays", "-o", "json"}, []string{`"name": "branch-relay"`, `"bytes_served": 3072`}},
		{"delete", []string{"relays", "delete", "3"}, []string{"Removed relay 3."}},
		{"token", []string{"relays", "token", "--site", "branch", "--name", "r9"},
			[]string{"relay r9 of site branch", "shoalenroll_x", "shoal-relay enroll -server https://<central>:<https-port> -token shoalenroll_x -site branch -name r9"}},
		{"purge", []string{"package", "purge", "12"}, []string{"dropped by 2 relays at the next poll"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(t, env, tt.args...)
			if code != exitOK {
				t.Fatalf("exit %d: %s%s", code, out, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
	if code, _, _ := run(t, env, "package", "purge", "x1"); code == exitOK {
		t.Error("purge of a malformed package ID succeeded")
	}
}

package lab

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/shoal-project/shoal/proto/api"
)

// TestServedBytesCountsBothTrees is the ocs-relay bug: an enrolled relay
// pulls through central's agent API, whose counter the lab ignored, so
// central seemed to serve 0.00·S. Central's served bytes are its OCS
// download tree plus its agent API, for that package only.
func TestServedBytesCountsBothTrees(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+api.BasePath+"/stats", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(api.Stats{Downloads: map[string]api.DownloadStats{
			"7": {Bytes: 1000}, "8": {Bytes: 50}}})
	})
	mux.HandleFunc("GET "+api.BasePath+"/agents/fragment-stats", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]map[string]int64{"7": {"bytes": 8 << 20}, "9": {"bytes": 3}})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := &central{HTTPSURL: srv.URL, client: srv.Client(), token: "t"}
	tests := []struct {
		name string
		pkg  string
		want int64
	}{
		{name: "both-trees", pkg: "7", want: 1000 + 8<<20},
		{name: "ocs-tree-only", pkg: "8", want: 50},
		{name: "agent-api-only", pkg: "9", want: 3},
		{name: "unknown-package", pkg: "10", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.servedBytes(t.Context(), tt.pkg)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("servedBytes(%s) = %d, want %d", tt.pkg, got, tt.want)
			}
		})
	}
}

func TestServedBytesRefusesABrokenCounter(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+api.BasePath+"/stats", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(api.Stats{})
	})
	mux.HandleFunc("GET "+api.BasePath+"/agents/fragment-stats", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusInternalServerError)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := &central{HTTPSURL: srv.URL, client: srv.Client(), token: "t"}
	if n, err := c.servedBytes(t.Context(), "7"); err == nil {
		t.Errorf("servedBytes = %d with a failing agent-API counter, want an error", n)
	}
}

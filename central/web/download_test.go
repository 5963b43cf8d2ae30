package web

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/shoal-project/shoal/central/deploy"
	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/proto/api"
)

// TestInactivePackageNotServed guesses the ID of a built but inactive
// package and asks central's anonymous download routes for its info file,
// a fragment and its manifest, as anyone on the network could: every
// answer is 404 and nothing is counted as served. Activation's own
// availability check still reads them (through real HTTP and HTTPS
// listeners), the active package is served, and deactivating hides it
// again.
func TestInactivePackageNotServed(t *testing.T) {
	var handler atomic.Pointer[http.Handler]
	serve := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*handler.Load()).ServeHTTP(w, r) })
	tlsSrv, plainSrv := httptest.NewTLSServer(serve), httptest.NewServer(serve)
	t.Cleanup(tlsSrv.Close)
	t.Cleanup(plainSrv.Close)
	host := func(s *httptest.Server) string { return s.Listener.Addr().String() }
	e := newEnvDeps(t, func(d *Deps) {
		dep, err := deploy.New(deploy.Config{}, d.Store, d.Packages, tlsSrv.Client(),
			deploy.Locations{InfoLoc: host(tlsSrv) + "/download", PackLoc: host(plainSrv) + "/download"}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		d.Deploy = dep
	})
	h := e.http
	handler.Store(&h)

	rec := upload(t, e, map[string]string{"name": "secret app", "action": "EXECUTE", "command": "sh x.sh", "fragments": "2"},
		archived([]byte(strings.Repeat("licensed bytes ", 1000))))
	if rec.Code != http.StatusCreated {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	var p api.Package
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	paths := []string{"/download/" + p.ID + "/info", "/download/" + p.ID + "/" + p.ID + "-1", "/download/" + p.ID + "/manifest.json"}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := plainSrv.Client().Get(plainSrv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	expect := func(state string, want int) {
		t.Helper()
		for _, path := range paths {
			code, body := get(path)
			if code != want {
				t.Errorf("%s: GET %s = %d, want %d", state, path, code, want)
			}
			if want != http.StatusOK && strings.Contains(body, "sh x.sh") {
				t.Errorf("%s: GET %s leaks the package: %q", state, path, body)
			}
		}
	}

	expect("inactive", http.StatusNotFound)
	if st := e.srv.Counters().Stats(p.ID); st.Requests != 0 || st.Bytes != 0 {
		t.Errorf("inactive package counted as served: %+v", st)
	}
	var act api.ActivateResult
	e.api("POST", "/api/v1/packages/"+p.ID+"/activate", `{}`, "token", http.StatusOK, &act)
	if !act.Check.OK || act.Check.FragmentsChecked != 2 {
		t.Fatalf("availability check during activation: %+v", act.Check)
	}
	expect("active", http.StatusOK)
	e.api("POST", "/api/v1/packages/"+p.ID+"/deactivate", "", "token", http.StatusNoContent, nil)
	expect("deactivated", http.StatusNotFound)
}

// TestDownloadPullsMissingPackage: a published package this replica lacks
// on disk is asked of the other replicas (with packages.PullHeader), but
// never to answer another replica's request, so two replicas that both
// lack it do not ask each other in a loop. When no replica has it, the
// answer stays 404.
func TestDownloadPullsMissingPackage(t *testing.T) {
	var asked, unmarked atomic.Int64
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		if r.Header.Get(packages.PullHeader) == "" {
			unmarked.Add(1)
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(peer.Close)
	var b *packages.Builder
	e := newEnvDeps(t, func(d *Deps) { b = d.Packages })
	b.SetPeers(peer.Client(), func() []string { return []string{peer.URL} })
	rec := upload(t, e, map[string]string{"name": "elsewhere", "action": "EXECUTE", "command": "sh x.sh"}, archived([]byte("bytes")))
	if rec.Code != http.StatusCreated {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	var p api.Package
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	e.api("POST", "/api/v1/packages/"+p.ID+"/activate", `{"skip_check":true}`, "token", http.StatusOK, nil)
	if err := b.Delete(p.ID); err != nil { // as on a replica that never had it
		t.Fatal(err)
	}
	get := func(marked bool) int {
		req := httptest.NewRequest("GET", "/download/"+p.ID+"/info", nil)
		if marked {
			req.Header.Set(packages.PullHeader, "1")
		}
		w := httptest.NewRecorder()
		e.http.ServeHTTP(w, req)
		return w.Code
	}
	if code := get(true); code != http.StatusNotFound || asked.Load() != 0 {
		t.Errorf("another replica's request: %d, %d requests to peers; want 404 and none", code, asked.Load())
	}
	if code := get(false); code != http.StatusNotFound || asked.Load() == 0 || unmarked.Load() != 0 {
		t.Errorf("an agent's request: %d, %d requests to peers (%d without %s); want 404 after asking with it",
			code, asked.Load(), unmarked.Load(), packages.PullHeader)
	}
}

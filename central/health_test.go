package central

import (
	"crypto/ed25519"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/web"
	"github.com/shoal-project/shoal/internal/metrics"
)

// getReady reads /readyz.
func getReady(t *testing.T, c *http.Client, url string) (int, web.Readiness) {
	t.Helper()
	resp, err := c.Get(url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r web.Readiness
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("readyz body: %v", err)
	}
	return resp.StatusCode, r
}

// TestHealthAndReadiness: /healthz is liveness only; /readyz, on both
// listeners without credentials, checks the package storage (and the
// database) and names the failing check without its error.
func TestHealthAndReadiness(t *testing.T) {
	rt := startCentral(t, web.Config{})
	c := tlsClient(t, rt)
	ok := web.Readiness{Status: "ready", Checks: map[string]string{"database": "ok", "storage": "ok", "draining": "no"}}
	for _, base := range []string{rt.HTTPURL, rt.HTTPSURL} {
		if code, r := getReady(t, c, base); code != http.StatusOK || !cmp.Equal(r, ok) {
			t.Errorf("%s/readyz = %d %+v, want 200 %+v", base, code, r, ok)
		}
	}

	// Package storage that cannot be written: not ready, still alive.
	tmp := filepath.Join(filepath.Dir(rt.CAFile), "..", "packages", "tmp")
	if err := os.RemoveAll(tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmp, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, r := getReady(t, c, rt.HTTPURL)
	if want := "not writable"; code != http.StatusServiceUnavailable || r.Status != "not ready" || r.Checks["storage"] != want || r.Checks["database"] != "ok" {
		t.Errorf("readyz with broken storage = %d %+v, want 503 storage %q", code, r, want)
	}
	resp, err := c.Get(rt.HTTPURL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("healthz with broken storage = %d, want 200 (liveness only)", resp.StatusCode)
	}
	if err := os.Remove(tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	if code, _ := getReady(t, c, rt.HTTPURL); code != http.StatusOK {
		t.Errorf("readyz after repair = %d, want 200", code)
	}
}

// TestReadinessDatabaseAndDrain: a database that does not answer and a
// draining replica are not ready, and the ready gauge follows.
func TestReadinessDatabaseAndDrain(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	st, err := store.Open(t.Context(), store.Config{}, dir, log)
	if err != nil {
		t.Fatal(err)
	}
	b, err := packages.NewBuilder(packages.Config{Dir: filepath.Join(dir, "packages")}, ed25519.NewKeyFromSeed(make([]byte, 32)), log)
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.NewCentral(metrics.CentralSources{})
	r := &readiness{st: st, builder: b, metrics: m, log: log}
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	gauge := func() float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "shoal_central_ready" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no shoal_central_ready")
		return 0
	}
	if checks, ok := r.ready(t.Context()); !ok || gauge() != 1 {
		t.Fatalf("ready = %v, %v; gauge %v", checks, ok, gauge())
	}
	r.drain()
	if gauge() != 0 {
		t.Errorf("draining: gauge %v, want 0 at once", gauge())
	}
	if checks, ok := r.ready(t.Context()); ok || checks["draining"] != "yes" {
		t.Errorf("draining: ready = %v, %v", checks, ok)
	}
	st.Close()
	if checks, ok := r.ready(t.Context()); ok || checks["database"] != "unreachable" {
		t.Errorf("closed database: ready = %v, %v", checks, ok)
	}
}

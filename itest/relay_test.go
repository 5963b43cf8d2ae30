//go:build integration

package itest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/proto/api"
)

// corruptingProxy is a reverse proxy to central's plain-HTTP download tree
// that flips one byte of the first answer for path.
func corruptingProxy(t *testing.T, target, path string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	var flipped atomic.Int64
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.URL.Path != path || resp.StatusCode != http.StatusOK || !flipped.CompareAndSwap(0, 1) {
			return nil
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		b[len(b)/2] ^= 0xff
		resp.Body = io.NopCloser(bytes.NewReader(b))
		return nil
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv, &flipped
}

// TestRelayOCSAgents runs central, shoal-relay and three real OCS agents
// (separate state directories, so three computers) in the relay's site:
// every deployment succeeds, each Shoal fragment of a clean package leaves
// central exactly once (central's Shoal-fragment counters) and no OCS
// fragment does (the relay composes them), and a fragment corrupted once
// on the way from central is rejected by the relay, fetched again, and
// still delivered.
func TestRelayOCSAgents(t *testing.T) {
	// Mostly waiting on the OCS agent's own timers: runs beside the other such
	// tests to keep make test under 20 minutes on 2 cores.
	t.Parallel()
	c := startCentral(t, "")
	var info api.ServerInfo
	c.do("GET", "/api/v1/server", nil, &info, http.StatusOK)

	work := t.TempDir()
	marker := filepath.Join(work, "marker")
	pkgSpec := func(name string) PackageSpec {
		return PackageSpec{"name": name, "action": "EXECUTE", "priority": "5", "fragments": "4",
			"command": "sh run.sh " + marker + " " + name}
	}
	payload := func(seed uint64) []byte { // Random bytes, so fragments stay large after gzip.
		return targz(t, map[string]string{"run.sh": "#!/bin/sh\necho \"$2\" >> \"$1\"\n", "pad.bin": string(randomBytes(60000, seed))})
	}
	clean := c.createPackage(pkgSpec("clean"), payload(1))
	corrupt := c.createPackage(pkgSpec("corrupt"), payload(2))

	// The relay pulls 1 MiB Shoal fragments by CID; these packages have one.
	corruptFrags := manifestFragments(t, c, corrupt)
	proxy, flipped := corruptingProxy(t, c.HTTPURL, proto.FragmentPath(corrupt, corruptFrags[0].CID))
	rc := RelayConfig{Upstream: proxy.URL, ManifestUpstream: c.HTTPSURL, CAFile: c.CAFile, ManifestKey: info.ManifestPublicKey}
	relayDir := t.TempDir()
	relay := startRelay(t, rc, relayDir)

	var site api.Site
	c.do("POST", "/api/v1/sites", api.SiteRequest{Name: "branch", CIDRs: []string{"127.0.0.0/8"},
		FragmentLocation: relay.Location()}, &site, http.StatusCreated)

	agents := make([]*OCSAgent, 3)
	for i := range agents {
		agents[i] = newOCSAgent(t, c.HTTPSURL+"/ocsinventory", c.CAFile)
		if code, log := agents[i].Run("--tag=relay-itest"); code != 0 {
			t.Fatalf("agent %d inventory: exit %d:\n%s", i, code, log)
		}
	}
	if comps := c.computers(fmt.Sprintf("?site_id=%d", site.ID)); len(comps) != 3 {
		t.Fatalf("computers in the relay's site: %d, want 3 (one per agent state directory): %+v", len(comps), comps)
	}

	for _, id := range []string{clean, corrupt} {
		// skip_check: the availability check would read the fragments
		// from central and spoil the "left central once" count.
		c.activate(id, map[string]any{"skip_check": true}, http.StatusOK)
		var res api.AffectResult
		c.do("POST", "/api/v1/packages/"+id+"/affect", api.AffectRequest{Filter: &api.ComputerFilter{SiteID: &site.ID}},
			&res, http.StatusOK)
		if res.Created != 3 {
			t.Fatalf("affect %s: created %d deployments, want 3", id, res.Created)
		}
	}
	start := time.Now()
	for i, a := range agents {
		if code, log := a.Run(); code != 0 {
			t.Fatalf("agent %d: exit %d:\n%s", i, code, log)
		}
	}
	waitFor(t, 4*time.Minute, "six deployments to finish", func() error {
		for _, id := range []string{clean, corrupt} {
			var l deploymentList
			c.do("GET", "/api/v1/packages/"+id+"/deployments", nil, &l, http.StatusOK)
			if len(l.Items) != 3 {
				return fmt.Errorf("package %s has %d deployments", id, len(l.Items))
			}
			for _, d := range l.Items {
				if d.State != "success" && d.State != "error" {
					return fmt.Errorf("package %s deployment %d is %s", id, d.ID, d.State)
				}
				if d.ResultCode != "SUCCESS" {
					t.Fatalf("package %s deployment %d ended with %s", id, d.ID, d.ResultCode)
				}
			}
		}
		return nil
	})
	t.Logf("three agents finished two packages through the relay in %v", time.Since(start).Round(time.Second))
	for _, a := range agents {
		a.waitWorker(2 * time.Minute)
	}
	if b, err := os.ReadFile(marker); err != nil || strings.Count(string(b), "clean\n") != 3 || strings.Count(string(b), "corrupt\n") != 3 {
		t.Errorf("marker file: %q, %v; want clean and corrupt three times each", b, err)
	}

	var stats api.Stats
	c.do("GET", "/api/v1/stats", nil, &stats, http.StatusOK)
	shoalStats := c.fragmentStats()
	for _, tt := range []struct {
		id   string
		sent int64 // Shoal fragments central sent: the corrupted one twice.
	}{{clean, int64(len(manifestFragments(t, c, clean)))}, {corrupt, int64(len(corruptFrags)) + 1}} {
		dir := filepath.Join(c.Dir, "packages", "download", tt.id)
		infoSt, err := os.Stat(filepath.Join(dir, "info"))
		if err != nil {
			t.Fatal(err)
		}
		manSt, err := os.Stat(filepath.Join(dir, "manifest.json"))
		if err != nil {
			t.Fatal(err)
		}
		// No OCS fragment leaves central: agents read only the info file
		// from central (INFO_LOC) and the relay the manifest, once.
		got := stats.Downloads[tt.id]
		if got.Fragments != 0 || got.Bytes != got.Info*infoSt.Size()+manSt.Size() {
			t.Errorf("package %s: central's OCS download counters %+v, want no fragment", tt.id, got)
		}
		var size int64
		for _, f := range manifestFragments(t, c, tt.id) {
			size += f.Size
		}
		sh := shoalStats[tt.id]
		wantBytes := size + (tt.sent-int64(len(manifestFragments(t, c, tt.id))))*corruptFrags[0].Size
		if sh.Fragments != tt.sent || sh.Bytes != wantBytes {
			t.Errorf("package %s left central as %d Shoal fragments and %d bytes, want %d and %d: %+v",
				tt.id, sh.Fragments, sh.Bytes, tt.sent, wantBytes, sh)
		}
	}
	if flipped.Load() != 1 {
		t.Errorf("the proxy corrupted %d answers, want 1", flipped.Load())
	}
	m := relay.metrics()
	if m["shoal_relay_corrupt_total"] != 1 || m["shoal_relay_misses_total"] != 3 {
		t.Errorf("relay metrics %v, want 1 corrupt answer and 3 upstream fragment fetches (one per package, one refetch)", m)
	}
	if !strings.Contains(relay.log.String(), "upstream fragment rejected") {
		t.Errorf("relay log does not report the corrupt fragment")
	}
	t.Logf("relay metrics: %v", m)

	// A restarted relay serves its verified cache without asking central.
	relay.stop()
	relay = startRelay(t, rc, relayDir)
	for _, id := range []string{clean, corrupt} {
		for n := 1; n <= 4; n++ {
			name := fmt.Sprintf("%s-%d", id, n)
			want, err := os.ReadFile(filepath.Join(c.Dir, "packages", "download", id, name))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.Get(relay.HTTPURL + "/download/" + id + "/" + name)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
				t.Errorf("restarted relay: %s: status %d, %d bytes (%v), want %d bytes", name, resp.StatusCode, len(got), err, len(want))
			}
		}
	}
	after := c.fragmentStats()
	for _, id := range []string{clean, corrupt} {
		if after[id] != shoalStats[id] {
			t.Errorf("package %s: central served more after the relay restart: %+v, before %+v", id, after[id], shoalStats[id])
		}
	}
	if m := relay.metrics(); m["shoal_relay_misses_total"] != 0 || m["shoal_relay_hits_total"] != 8 {
		t.Errorf("restarted relay metrics %v, want 8 hits and no miss", m)
	}
}

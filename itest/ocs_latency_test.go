//go:build integration

package itest

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/proto/api"
)

// agentDownloadConf returns the DOWNLOAD CONF the OCS agent wrote from
// central's last PROLOG reply (<vardir>/download/config, XML attributes).
func agentDownloadConf(t *testing.T, a *OCSAgent) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(a.VarDir(), "download", "config"))
	if err != nil {
		t.Fatalf("the agent kept no DOWNLOAD CONF: %v", err)
	}
	return string(b)
}

// TestOCSRelaySiteLatencies: with WAN latencies of minutes in the agent
// settings, the real OCS agent of a site served by a relay receives 1 s
// latencies in its PROLOG reply and finishes a package within a minute;
// once the site's ocs_timings is "default" it receives the settings' ones.
func TestOCSRelaySiteLatencies(t *testing.T) {
	// Mostly waiting on the OCS agent's own timers: runs beside the other such
	// tests to keep make test under 20 minutes on 2 cores.
	t.Parallel()
	c := startCentral(t, "")
	var set api.Settings
	c.do("GET", "/api/v1/settings", nil, &set, http.StatusOK)
	set.Download.CycleLatency, set.Download.FragLatency, set.Download.PeriodLatency = 300, 120, 300
	c.do("PUT", "/api/v1/settings", set, &set, http.StatusOK)

	var info api.ServerInfo
	c.do("GET", "/api/v1/server", nil, &info, http.StatusOK)
	relay := startRelay(t, RelayConfig{Upstream: c.HTTPURL, ManifestUpstream: c.HTTPSURL, CAFile: c.CAFile,
		ManifestKey: info.ManifestPublicKey}, "")
	var site api.Site
	c.do("POST", "/api/v1/sites", api.SiteRequest{Name: "branch", CIDRs: []string{"127.0.0.0/8"},
		FragmentLocation: relay.Location()}, &site, http.StatusCreated)

	agent := newOCSAgent(t, c.HTTPSURL+"/ocsinventory", c.CAFile)
	if code, log := agent.Run(); code != 0 {
		t.Fatalf("agent inventory: exit %d:\n%s", code, log)
	}
	marker := filepath.Join(t.TempDir(), "marker")
	id := c.createPackage(PackageSpec{"name": "quick", "action": "EXECUTE", "priority": "5", "fragments": "2",
		"command": "sh run.sh " + marker}, targz(t, map[string]string{"run.sh": "#!/bin/sh\necho ran > \"$1\"\n"}))
	c.activate(id, map[string]any{"skip_check": true}, http.StatusOK)
	var res api.AffectResult
	c.do("POST", "/api/v1/packages/"+id+"/affect", api.AffectRequest{Filter: &api.ComputerFilter{SiteID: &site.ID}},
		&res, http.StatusOK)
	if res.Created != 1 {
		t.Fatalf("affect: created %d deployments, want 1", res.Created)
	}

	start := time.Now()
	if code, log := agent.Run(); code != 0 {
		t.Fatalf("agent: exit %d:\n%s", code, log)
	}
	conf := agentDownloadConf(t, agent)
	for _, want := range []string{`CYCLE_LATENCY="1"`, `FRAG_LATENCY="1"`, `PERIOD_LATENCY="1"`} {
		if !strings.Contains(conf, want) {
			t.Errorf("the agent of a relay-served site got %s, want %s", conf, want)
		}
	}
	waitFor(t, time.Minute, "the deployment to succeed", func() error {
		var l deploymentList
		c.do("GET", "/api/v1/packages/"+id+"/deployments", nil, &l, http.StatusOK)
		if len(l.Items) != 1 || l.Items[0].State != "success" {
			return fmt.Errorf("deployments %+v", l.Items)
		}
		return nil
	})
	t.Logf("the agent fetched and ran 2 fragments at priority 5 through the relay in %v", time.Since(start).Round(time.Second))
	agent.waitWorker(time.Minute)
	if b, err := os.ReadFile(marker); err != nil || string(b) != "ran\n" {
		t.Errorf("marker: %q, %v", b, err)
	}

	c.do("PUT", fmt.Sprintf("/api/v1/sites/%d", site.ID), api.SiteRequest{Name: "branch", CIDRs: []string{"127.0.0.0/8"},
		FragmentLocation: relay.Location(), OCSTimings: "default"}, &site, http.StatusOK)
	if code, log := agent.Run(); code != 0 {
		t.Fatalf("agent: exit %d:\n%s", code, log)
	}
	conf = agentDownloadConf(t, agent)
	for _, want := range []string{`CYCLE_LATENCY="300"`, `FRAG_LATENCY="120"`, `PERIOD_LATENCY="300"`} {
		if !strings.Contains(conf, want) {
			t.Errorf("with ocs_timings default the agent got %s, want %s", conf, want)
		}
	}
}

//go:build integration

package itest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// targz builds a tar.gz archive from name → content (mode 0755 for *.sh).
func targz(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, body := range files {
		mode := int64(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(body)), ModTime: time.Now(), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// padding makes payloads big enough to need several fragments.
func padding(n int) string { return strings.Repeat("shoal-padding-", n/14+1)[:n] }

type computer struct {
	ID       uint   `json:"id"`
	DeviceID string `json:"device_id"`
	Name     string `json:"name"`
	OSName   string `json:"os_name"`
}

type deployment struct {
	ID         uint       `json:"id"`
	PackageID  string     `json:"package_id"`
	State      string     `json:"state"`
	ResultCode string     `json:"result_code"`
	FinishedAt *time.Time `json:"finished_at"`
}

type deploymentList struct {
	Items []deployment `json:"items"`
	Total int          `json:"total"`
}

func (c *Central) computers(query string) []computer {
	c.t.Helper()
	var l struct {
		Items []computer `json:"items"`
	}
	c.do("GET", "/api/v1/computers"+query, nil, &l, http.StatusOK)
	return l.Items
}

func (c *Central) deployment(pkg string) deployment {
	c.t.Helper()
	var l deploymentList
	c.do("GET", "/api/v1/packages/"+pkg+"/deployments", nil, &l, http.StatusOK)
	if len(l.Items) != 1 {
		c.t.Fatalf("package %s has %d deployments, want 1", pkg, len(l.Items))
	}
	return l.Items[0]
}

func (c *Central) activate(pkg string, body map[string]any, want int) map[string]any {
	c.t.Helper()
	var out map[string]any
	c.do("POST", "/api/v1/packages/"+pkg+"/activate", body, &out, want)
	return out
}

func (c *Central) affect(pkg string, body map[string]any) {
	c.t.Helper()
	var out struct {
		Selected int `json:"selected"`
		Created  int `json:"created"`
	}
	c.do("POST", "/api/v1/packages/"+pkg+"/affect", body, &out, http.StatusOK)
	if out.Created != 1 {
		c.t.Fatalf("affect %s created %d deployments, want 1", pkg, out.Created)
	}
}

func dpkgCount(t testing.TB) int {
	out, err := exec.Command("dpkg-query", "-W", "-f", "${Package}\n").Output()
	if err != nil {
		t.Fatalf("dpkg-query: %v", err)
	}
	return len(strings.Fields(string(out)))
}

// TestOCSAgentEndToEnd drives the real Debian OCS agent against shoal-central:
// inventory over HTTP, then EXECUTE, STORE and LAUNCH packages with several
// fragments over HTTPS, a corrupted fragment, an unreachable info location,
// priority order, and a wrong CA.
func TestOCSAgentEndToEnd(t *testing.T) {
	// Mostly waiting (agent timers, leases): runs beside the other such tests
	// (make itest -parallel 6) to keep make test under 20 minutes on 2 cores.
	t.Parallel()
	c := startCentral(t, "")
	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".")

	// 1. Inventory over HTTPS, trusting central's CA.
	agent := newOCSAgent(t, c.HTTPSURL+"/ocsinventory", c.CAFile)
	if code, log := agent.Run("--tag=itest"); code != 0 {
		t.Fatalf("agent exit %d:\n%s", code, log)
	}
	comps := c.computers("?name=" + host)
	if len(comps) != 1 {
		t.Fatalf("computers named %s: %d, want 1", host, len(comps))
	}
	comp := comps[0]
	var detail struct {
		Softwares []struct {
			Name string `json:"name"`
		} `json:"softwares"`
		AccountInfo map[string]string `json:"account_info"`
	}
	c.do("GET", fmt.Sprintf("/api/v1/computers/%d", comp.ID), nil, &detail, http.StatusOK)
	if want := dpkgCount(t); len(detail.Softwares) != want {
		t.Errorf("stored %d software rows, dpkg lists %d packages", len(detail.Softwares), want)
	}
	if detail.AccountInfo["TAG"] != "itest" {
		t.Errorf("account info %v, want TAG=itest", detail.AccountInfo)
	}
	if len(c.computers("?tag=itest")) != 1 {
		t.Errorf("search by TAG did not find the computer")
	}

	// 2. Packages.
	work := t.TempDir()
	execMarker := filepath.Join(work, "exec-marker")
	storeDir := filepath.Join(work, "stored", "app")
	launchMarker := filepath.Join(work, "launch-marker")

	execID := c.createPackage(PackageSpec{"name": "exec", "action": "EXECUTE", "priority": "1", "fragments": "3",
		"command": "sh run.sh " + execMarker},
		targz(t, map[string]string{"run.sh": "#!/bin/sh\necho executed > \"$1\"\n", "pad.txt": padding(3000)}))
	storeID := c.createPackage(PackageSpec{"name": "store", "action": "STORE", "priority": "1", "fragments": "2",
		"path": storeDir},
		targz(t, map[string]string{"conf.ini": "[app]\nkey=value\n", "data.txt": padding(2000)}))
	launchID := c.createPackage(PackageSpec{"name": "launch", "action": "LAUNCH", "priority": "2", "fragments": "2",
		"launch_name": "launch.sh " + launchMarker},
		targz(t, map[string]string{"launch.sh": "#!/bin/sh\necho launched > \"$1\"\n", "pad.txt": padding(2000)}))
	digestID := c.createPackage(PackageSpec{"name": "digest", "action": "EXECUTE", "priority": "1", "fragments": "2",
		"command": "true"}, targz(t, map[string]string{"pad.txt": padding(2000)}))
	infoID := c.createPackage(PackageSpec{"name": "noinfo", "action": "EXECUTE", "priority": "1", "fragments": "1",
		"command": "true"}, targz(t, map[string]string{"x": "y"}))

	for _, id := range []string{execID, storeID, launchID} {
		c.activate(id, nil, http.StatusOK)
	}
	// A fragment altered on central's disk: the availability check names it
	// and refuses to activate; forced activation then reaches the agent.
	frag := filepath.Join(c.Dir, "packages", "download", digestID, digestID+"-2")
	b, err := os.ReadFile(frag)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(frag, b, 0o644); err != nil {
		t.Fatal(err)
	}
	res := c.activate(digestID, nil, http.StatusUnprocessableEntity)
	if !strings.Contains(fmt.Sprint(res["detail"]), digestID+"-2") {
		t.Errorf("availability check did not name the altered fragment: %v", res)
	}
	c.activate(digestID, map[string]any{"skip_check": true}, http.StatusOK)
	// An info location nobody serves.
	c.activate(infoID, map[string]any{"info_loc": "127.0.0.1:1/download", "skip_check": true}, http.StatusOK)

	for _, id := range []string{execID, storeID, launchID, digestID} {
		c.affect(id, map[string]any{"filter": map[string]any{"name": host}})
	}
	c.affect(infoID, map[string]any{"computer_ids": []uint{comp.ID}})

	code, log := agent.Run()
	if code != 0 {
		t.Fatalf("agent exit %d:\n%s", code, log)
	}
	want := map[string]string{execID: "SUCCESS", storeID: "SUCCESS", launchID: "SUCCESS_0",
		digestID: "ERR_BAD_DIGEST", infoID: "ERR_DOWNLOAD_INFO"}
	got := map[string]deployment{}
	waitFor(t, 4*time.Minute, "every deployment to finish", func() error {
		for id := range want {
			d := c.deployment(id)
			if d.State != "success" && d.State != "error" {
				return fmt.Errorf("package %s is %s", id, d.State)
			}
			got[id] = d
		}
		return nil
	})
	for id, code := range want {
		if got[id].ResultCode != code {
			t.Errorf("package %s ended with %q, want %q", id, got[id].ResultCode, code)
		}
	}
	if b, err := os.ReadFile(execMarker); err != nil || string(b) != "executed\n" {
		t.Errorf("EXECUTE marker: %q, %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(storeDir, "conf.ini")); err != nil || !strings.Contains(string(b), "key=value") {
		t.Errorf("STORE target: %q, %v", b, err)
	}
	if b, err := os.ReadFile(launchMarker); err != nil || string(b) != "launched\n" {
		t.Errorf("LAUNCH marker: %q, %v", b, err)
	}
	// Priority 1 packages finish before the priority 2 one.
	for _, id := range []string{execID, storeID} {
		if !got[id].FinishedAt.Before(*got[launchID].FinishedAt) {
			t.Errorf("priority 1 package %s finished at %v, not before priority 2 package at %v",
				id, got[id].FinishedAt, got[launchID].FinishedAt)
		}
	}
	agent.waitWorker(2 * time.Minute)

	// 3. A wrong CA fails cleanly: the agent gives up, central is unharmed.
	other := startCentral(t, "")
	bad := &OCSAgent{t: t, Base: t.TempDir(), Server: c.HTTPSURL + "/ocsinventory", CA: other.CAFile}
	if code, log := bad.Run(); code == 0 || !strings.Contains(strings.ToLower(log), "certificate") {
		t.Errorf("agent with a wrong CA: exit %d, want failure mentioning the certificate:\n%s", code, log)
	}
	if n := len(c.computers("")); n != 1 {
		t.Errorf("central has %d computers after the wrong-CA run, want 1", n)
	}
}

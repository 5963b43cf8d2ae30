//go:build integration

package itest

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEnrollCommandAsPrinted mints an agent enrollment token through the
// REST API and runs the enroll_command of the answer as printed, with the
// real shoal-agent: it names central's real URL and CA fingerprint (no
// placeholder) and enrolls the computer. Only -config is added, a file
// that puts the agent's state directory in the test's. The route is in the
// OpenAPI document.
func TestEnrollCommandAsPrinted(t *testing.T) {
	c := startCentral(t, "")
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	c.do("GET", "/api/v1/openapi.json", nil, &doc, http.StatusOK)
	for path, methods := range map[string][]string{
		"/api/v1/agents/enrollment-tokens":      {"get", "post"},
		"/api/v1/agents/enrollment-tokens/{id}": {"delete"},
	} {
		for _, m := range methods {
			if _, ok := doc.Paths[path][m]; !ok {
				t.Errorf("OpenAPI document lacks %s %s", strings.ToUpper(m), path)
			}
		}
	}

	var info struct {
		CAFingerprint string `json:"ca_fingerprint_sha256"`
	}
	c.do("GET", "/api/v1/server", nil, &info, http.StatusOK)
	var tok struct {
		Token         string `json:"token"`
		EnrollCommand string `json:"enroll_command"`
	}
	c.do("POST", "/api/v1/agents/enrollment-tokens", map[string]any{"name": "printed", "max_uses": 1}, &tok, http.StatusCreated)
	want := "shoal-agent enroll -server " + c.HTTPSURL + " -token " + tok.Token + " -ca-fingerprint " + info.CAFingerprint
	if tok.EnrollCommand != want {
		t.Fatalf("enroll_command %q, want %q", tok.EnrollCommand, want)
	}

	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfg, []byte("state_dir: "+filepath.Join(dir, "state")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", tok.EnrollCommand+` -config "$CFG"`)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+binDir+":"+os.Getenv("PATH"), "CFG="+cfg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("printed enroll command: %v\n%s", err, out)
	}
	var agents struct {
		Items []struct {
			DeviceID string `json:"device_id"`
		} `json:"items"`
	}
	c.do("GET", "/api/v1/agents", nil, &agents, http.StatusOK)
	if len(agents.Items) != 1 {
		t.Errorf("agents after the printed enroll command: %+v, want one", agents.Items)
	}
}

//go:build integration

package itest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/metrics/metricstest"
)

// scrape reads central's /metrics with the test's API token.
func (c *Central) scrape() map[string]float64 {
	c.t.Helper()
	code, m := metricstest.Scrape(c.t, c.client, c.HTTPSURL+"/metrics", "Bearer "+c.Token)
	if code != http.StatusOK {
		c.t.Fatalf("GET /metrics: status %d", code)
	}
	return m
}

// TestCentralMetrics: the real shoal-central counts a Shoal agent's
// long-poll while it waits, the deployment it ran by state
// and result, and the bytes it fetched by source, on /metrics.
func TestCentralMetrics(t *testing.T) {
	c := startCentral(t, "")
	a := startAgentAPI(t, c)
	ag := newAgent(t, a, "shoal-metrics", a.URL, "")
	cid := a.computerOf("shoal-metrics")
	ag.Start()
	waitFor(t, 20*time.Second, "the agent's long-poll", func() error {
		if n := c.scrape()["shoal_central_long_polls"]; n < 1 {
			return fmt.Errorf("%v long-polls open", n)
		}
		return nil
	})
	payload := randomBytes(1<<20, 7)
	id := c.publish(PackageSpec{"name": "m", "action": "EXECUTE", "priority": "5", "command": "true"},
		targz(t, map[string]string{"x.bin": string(payload)}))
	c.affectTo(id, cid)
	c.waitState(id, "success", 60*time.Second)
	m := c.scrape()
	for series, want := range map[string]float64{
		`shoal_central_deployments{state="success"}`:              1,
		`shoal_central_deployment_results_total{state="success"}`: 1,
	} {
		if v := m[series]; v != want {
			t.Errorf("%s = %v, want %v", series, v, want)
		}
	}
	for _, series := range []string{
		`shoal_central_deployment_bytes{source="central"}`,
		`shoal_central_served_bytes_total{route="agent_fragments"}`,
		`shoal_central_store_query_duration_seconds_count{op="update"}`,
	} {
		if m[series] <= 0 {
			t.Errorf("%s = %v, want > 0", series, m[series])
		}
	}
}

// TestCentralDrain: SIGTERM to the real shoal-central makes /readyz answer
// 503 at once while the listeners still accept (drain_delay), then answers
// the agent's open long-poll with a "retry" (503), cuts an upload that does
// not finish within drain_timeout leaving no file or package behind, and
// exits 0 well before the long-poll or the upload would have ended.
func TestCentralDrain(t *testing.T) {
	c := startCentral(t, "http:\n  drain_delay: 2s\n  drain_timeout: 1s\n")
	a := startAgentAPI(t, c)
	ag := newAgent(t, a, "shoal-drain", a.URL, "")
	ag.Start()
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := c.client.Get(c.HTTPURL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d before SIGTERM", path, resp.StatusCode)
		}
	}
	waitFor(t, 20*time.Second, "the agent's long-poll", func() error {
		if n := c.scrape()["shoal_central_long_polls"]; n < 1 {
			return fmt.Errorf("%v long-polls open", n)
		}
		return nil
	})

	// An upload that sends its first megabyte, then stalls.
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	uploadErr := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, c.HTTPSURL+"/api/v1/packages", pr)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Authorization", "Bearer "+c.Token)
		resp, err := c.client.Do(req)
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("upload answered %d", resp.StatusCode)
		}
		uploadErr <- err
	}()
	for k, v := range map[string]string{"name": "cut", "action": "STORE", "priority": "5", "path": "/tmp/x"} {
		_ = mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", "payload.tar.gz")
	if _, err := fw.Write(randomBytes(1<<20, 3)); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(c.Dir, "packages", "tmp")
	spooled := func() []string { m, _ := filepath.Glob(filepath.Join(tmp, "upload-*")); return m }
	waitFor(t, 10*time.Second, "the upload to spool", func() error {
		if len(spooled()) == 0 {
			return fmt.Errorf("no upload-* in %s", tmp)
		}
		return nil
	})

	term := time.Now()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "/readyz to say draining", func() error {
		resp, err := c.client.Get(c.HTTPURL + "/readyz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var r struct {
			Checks map[string]string `json:"checks"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&r)
		if resp.StatusCode != http.StatusServiceUnavailable || r.Checks["draining"] != "yes" {
			return fmt.Errorf("readyz %d %v", resp.StatusCode, r.Checks)
		}
		return nil
	})
	notReady := time.Since(term)
	var exitErr error
	select {
	case exitErr = <-c.done:
		c.done <- exitErr
	case <-time.After(20 * time.Second):
		t.Fatalf("central did not exit within 20s of SIGTERM\n%s", c.tail())
	}
	took := time.Since(term)
	t.Logf("not ready %v after SIGTERM, exited after %v", notReady.Round(time.Millisecond), took.Round(time.Millisecond))
	if exitErr != nil {
		t.Errorf("central exit: %v\n%s", exitErr, c.tail())
	}
	// drain_delay 2s + drain_timeout 1s + the handlers' grace; the
	// long-poll alone would have held 20s.
	if took < 2*time.Second || took > 10*time.Second {
		t.Errorf("exited %v after SIGTERM, want between drain_delay and 10s", took)
	}
	// The client reports the cut once its body writer returns (net/http
	// waits for it): end the stalled body now.
	pw.CloseWithError(errors.New("test: stalled body"))
	select {
	case err := <-uploadErr:
		if err == nil || strings.Contains(err.Error(), "answered") {
			t.Errorf("stalled upload: %v, want its connection cut", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("the stalled upload was not cut")
	}
	if left := spooled(); len(left) != 0 {
		t.Errorf("upload files left behind: %v", left)
	}
	if ids, _ := os.ReadDir(filepath.Join(c.Dir, "packages", "download")); len(ids) != 0 {
		t.Errorf("packages on disk after a cut upload: %v", ids)
	}
	waitFor(t, 5*time.Second, "the agent's retry answer in its log", func() error {
		b, _ := os.ReadFile(ag.LogFile)
		if !strings.Contains(string(b), "central is shutting down: retry") {
			return fmt.Errorf("not in the agent log")
		}
		return nil
	})
}

//go:build integration

package itest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-project/shoal/proto"
)

// Relay is a running shoal-relay process.
type Relay struct {
	t       testing.TB
	Dir     string
	HTTPURL string
	cmd     *exec.Cmd
	log     *bytes.Buffer
	done    chan error
}

// RelayConfig is what startRelay writes into the relay's YAML.
type RelayConfig struct {
	Upstream, ManifestUpstream, CAFile string
	ManifestKey                        []byte
}

// startRelay starts shoal-relay on a loopback port chosen by the OS and
// waits for its relay.json. dir is its data directory (reuse it to test a
// restart); empty means a new temporary one.
func startRelay(t testing.TB, rc RelayConfig, dir string) *Relay {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	cfg := fmt.Sprintf("data_dir: %s\nhttp_addr: 127.0.0.1:0\nupstream: %s\nmanifest_upstream: %s\ncentral_ca_file: %s\nmanifest_public_key: %s\nfetch_timeout: 1m\n",
		filepath.Join(dir, "data"), rc.Upstream, rc.ManifestUpstream, rc.CAFile, base64.StdEncoding.EncodeToString(rc.ManifestKey))
	return startRelayYAML(t, cfg, dir)
}

// startRelayYAML starts shoal-relay with the config cfg, whose data_dir
// must be <dir>/data, and waits for its relay.json.
func startRelayYAML(t testing.TB, cfg, dir string) *Relay {
	t.Helper()
	return startRelayYAMLIn(t, cfg, dir, "")
}

// startRelayYAMLIn is startRelayYAML in the network namespace netns
// (`ip netns exec`, which execs the relay: its PID is the relay's); ""
// is the test's own.
func startRelayYAMLIn(t testing.TB, cfg, dir, netns string) *Relay {
	t.Helper()
	cfgPath := filepath.Join(dir, "relay.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	runtimeFile := filepath.Join(dir, "data", "relay.json")
	os.Remove(runtimeFile)
	r := &Relay{t: t, Dir: filepath.Join(dir, "data"), log: &bytes.Buffer{}, done: make(chan error, 1)}
	r.cmd = exec.Command(filepath.Join(binDir, "shoal-relay"), "-config", cfgPath, "-log-level", "debug")
	if netns != "" {
		r.cmd = exec.Command("ip", append([]string{"netns", "exec", netns}, r.cmd.Args...)...)
	}
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.done <- r.cmd.Wait() }()
	t.Cleanup(r.stop)
	waitFor(t, 30*time.Second, "relay.json", func() error {
		select {
		case err := <-r.done:
			r.done <- err
			t.Fatalf("relay exited: %v\n%s", err, r.log)
		default:
		}
		b, err := os.ReadFile(runtimeFile)
		if err != nil {
			return err
		}
		var rt struct {
			HTTPURL string `json:"http_url"`
		}
		if err := json.Unmarshal(b, &rt); err != nil {
			return err
		}
		r.HTTPURL = rt.HTTPURL
		return nil
	})
	return r
}

// Location is the relay's OCS fragment location (host:port/download).
func (r *Relay) Location() string {
	return strings.TrimPrefix(r.HTTPURL, "http://") + "/download"
}

// metrics returns the relay's /metrics counters by name.
func (r *Relay) metrics() map[string]int64 {
	r.t.Helper()
	resp, err := http.Get(r.HTTPURL + "/metrics")
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := map[string]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		var name string
		var v float64 // client_golang writes large values as 8.388608e+06
		if strings.HasPrefix(line, "#") {
			continue
		}
		if n, _ := fmt.Sscan(line, &name, &v); n == 2 {
			out[name] = int64(v)
		}
	}
	return out
}

// stop sends SIGTERM and asserts a clean exit.
func (r *Relay) stop() {
	select {
	case err := <-r.done:
		r.done <- err
		return
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-r.done:
		r.done <- err
		if err != nil {
			r.t.Errorf("relay did not exit cleanly: %v\n%s", err, r.tail())
		}
	case <-time.After(20 * time.Second):
		_ = r.cmd.Process.Kill()
		r.t.Errorf("relay did not stop within 20s\n%s", r.tail())
	}
	if r.t.Failed() {
		r.t.Logf("relay log:\n%s", r.tail())
	}
}

func (r *Relay) tail() string {
	s := r.log.String()
	if len(s) > 6000 {
		s = s[len(s)-6000:]
	}
	return s
}

// shoalFragmentStats is one package's entry of GET
// /api/v1/agents/fragment-stats: what central's public Shoal fragment
// route (and the agents' route) served.
type shoalFragmentStats struct {
	Bytes     int64 `json:"bytes"`
	Requests  int64 `json:"requests"`
	Fragments int64 `json:"fragments"`
}

// fragmentStats returns central's Shoal fragment counters by package.
func (c *Central) fragmentStats() map[string]shoalFragmentStats {
	out := map[string]shoalFragmentStats{}
	c.do("GET", "/api/v1/agents/fragment-stats", nil, &out, http.StatusOK)
	return out
}

// manifestFragments returns the Shoal fragments of a package's manifest,
// read from central's disk (so central's counters do not move) without
// verifying it: the test only needs the CIDs.
func manifestFragments(t testing.TB, c *Central, id string) []proto.Fragment {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.Dir, "packages", "download", id, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var signed proto.SignedManifest
	var m proto.Manifest
	if err := errors.Join(json.Unmarshal(b, &signed), json.Unmarshal(signed.Manifest, &m)); err != nil {
		t.Fatal(err)
	}
	return m.Fragments
}

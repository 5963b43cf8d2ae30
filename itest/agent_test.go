//go:build integration

package itest

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/proto/api"
)

// readLines returns the lines of a file, or nil.
func readLines(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

// TestAgentEndToEnd: enrollment with inventory visible in central, then
// EXECUTE, STORE and LAUNCH with results, output tail and history, a
// forced redeploy, and a restart that installs nothing twice.
func TestAgentEndToEnd(t *testing.T) {
	c := startCentral(t, "")
	a := startAgentAPI(t, c)
	ag := newAgent(t, a, "shoal-e2e", a.URL, "")
	cid := a.computerOf("shoal-e2e")

	var comp api.ComputerDetail
	c.do("GET", fmt.Sprintf("/api/v1/computers/%d", cid), nil, &comp, http.StatusOK)
	if comp.Source != "shoal" || comp.Name != "shoal-e2e" || comp.OSName == "" || comp.ProcessorCount == 0 || comp.MemoryMB == 0 ||
		len(comp.Networks) == 0 || len(comp.CPUs) == 0 || len(comp.Drives) == 0 {
		t.Errorf("inventory in central: source %q name %q os %q cpus %d/%d mem %d networks %d drives %d",
			comp.Source, comp.Name, comp.OSName, comp.ProcessorCount, len(comp.CPUs), comp.MemoryMB, len(comp.Networks), len(comp.Drives))
	}
	if n := dpkgCount(t); len(comp.Softwares) != n {
		t.Errorf("central lists %d softwares, dpkg has %d", len(comp.Softwares), n)
	}

	out := t.TempDir()
	random := string(randomBytes(3<<20, 1))
	execID := c.publish(PackageSpec{"name": "exec", "action": "EXECUTE", "priority": "5", "fragments": "3",
		"command": "sh run.sh " + filepath.Join(out, "exec.txt")},
		targz(t, map[string]string{"run.sh": "#!/bin/sh\necho \"executed $SHOAL_PACKAGE_ID\"\necho executed >> \"$1\"\n", "random.bin": random}))
	storeID := c.publish(PackageSpec{"name": "store", "action": "STORE", "priority": "5", "path": filepath.Join(out, "stored")},
		targz(t, map[string]string{"conf.ini": "[app]\nkey=value\n", "lib/data.bin": random[:1<<20]}))
	launchID := c.publish(PackageSpec{"name": "launch", "action": "LAUNCH", "priority": "5",
		"launch_name": "launch.sh " + filepath.Join(out, "launch.txt")},
		targz(t, map[string]string{"launch.sh": "#!/bin/sh\necho launched > \"$1\"\n"}))

	ag.Start()
	affected := time.Now()
	for _, id := range []string{execID, storeID, launchID} {
		c.affectTo(id, cid)
	}
	var started time.Duration
	waitFor(t, 10*time.Second, "the first package to start", func() error {
		d := c.deploymentOf(execID).Deployment
		switch d.State {
		case "waiting", "notified":
			return fmt.Errorf("state %s", d.State)
		}
		started = time.Since(affected)
		return nil
	})
	t.Logf("fetch started %v after affectation", started.Round(time.Millisecond))
	if started > 5*time.Second {
		t.Errorf("fetch started %v after affectation, want <= 5s", started)
	}
	for _, id := range []string{execID, storeID, launchID} {
		d := c.waitState(id, "success", 60*time.Second)
		if d.Deployment.ResultCode != "SUCCESS" || d.Deployment.FragmentsDone != d.Deployment.FragmentsTotal {
			t.Errorf("package %s: code %s fragments %d/%d", id, d.Deployment.ResultCode, d.Deployment.FragmentsDone, d.Deployment.FragmentsTotal)
		}
	}
	exec := c.deploymentOf(execID)
	last := exec.Events[len(exec.Events)-1]
	if !strings.Contains(last.Detail, "executed "+execID) || !strings.Contains(last.Detail, "exit code 0") {
		t.Errorf("EXECUTE result detail %q lacks the exit code and output", last.Detail)
	}
	if exec.Deployment.BytesCentral < int64(len(random)) {
		t.Errorf("bytes from central %d < payload", exec.Deployment.BytesCentral)
	}
	if got := readLines(filepath.Join(out, "exec.txt")); len(got) != 1 {
		t.Errorf("exec.txt = %q, want one line", got)
	}
	if b, err := os.ReadFile(filepath.Join(out, "stored", "conf.ini")); err != nil || string(b) != "[app]\nkey=value\n" {
		t.Errorf("STORE: %q %v", b, err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "launch.txt")); string(b) != "launched\n" {
		t.Errorf("LAUNCH: %q", b)
	}
	c.do("GET", fmt.Sprintf("/api/v1/computers/%d", cid), nil, &comp, http.StatusOK)
	for _, id := range []string{execID, storeID, launchID} {
		if !strings.Contains(strings.Join(comp.History, ","), id) {
			t.Errorf("central's history %v lacks %s", comp.History, id)
		}
	}

	// A forced redeploy installs again.
	c.do("POST", fmt.Sprintf("/api/v1/deployments/%d/redeploy", exec.Deployment.ID), nil, nil, http.StatusOK)
	waitFor(t, 30*time.Second, "the redeploy", func() error {
		if n := len(readLines(filepath.Join(out, "exec.txt"))); n != 2 {
			return fmt.Errorf("%d lines", n)
		}
		return nil
	})
	c.waitState(execID, "success", 30*time.Second)

	// A restarted agent resumes nothing and installs nothing twice.
	ag.Stop()
	ag.Start()
	nextID := c.publish(PackageSpec{"name": "next", "action": "EXECUTE", "priority": "5", "command": "true"},
		targz(t, map[string]string{"x": "y"}))
	c.affectTo(nextID, cid)
	c.waitState(nextID, "success", 30*time.Second)
	if got := readLines(filepath.Join(out, "exec.txt")); len(got) != 2 {
		t.Errorf("exec.txt after restart = %q, want two lines", got)
	}
}

// TestAgentTamperedManifest: a manifest changed on central's disk after
// signing is refused with ERR_BAD_SIGNATURE and nothing is fetched.
func TestAgentTamperedManifest(t *testing.T) {
	c := startCentral(t, "")
	a := startAgentAPI(t, c)
	ag := newAgent(t, a, "shoal-tamper", a.URL, "")
	cid := a.computerOf("shoal-tamper")
	marker := filepath.Join(t.TempDir(), "ran")
	id := c.publish(PackageSpec{"name": "tampered", "action": "EXECUTE", "priority": "5", "command": "touch " + marker},
		targz(t, map[string]string{"x": "y"}))
	path := filepath.Join(c.Dir, "packages", "download", id, "manifest.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"priority":5`)) {
		t.Fatalf("manifest has no priority 5: %s", b)
	}
	if err := os.WriteFile(path, bytes.Replace(b, []byte(`"priority":5`), []byte(`"priority":0`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	ag.Start()
	c.affectTo(id, cid)
	d := c.waitState(id, "error", 30*time.Second)
	if d.Deployment.ResultCode != proto.ResultErrBadSignature {
		t.Errorf("result code %s, want %s", d.Deployment.ResultCode, proto.ResultErrBadSignature)
	}
	if last := d.Events[len(d.Events)-1]; !strings.Contains(last.Detail, "signature") {
		t.Errorf("detail %q does not say why", last.Detail)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the tampered package ran")
	}
	if s := a.fragmentStats(id); s.Requests != 0 {
		t.Errorf("%d fragment requests for a refused manifest", s.Requests)
	}
}

// TestAgentCorruptFragmentInTransit: a proxy between agent and central
// flips one byte of one fragment once; only that fragment is fetched again
// and the install succeeds.
func TestAgentCorruptFragmentInTransit(t *testing.T) {
	c := startCentral(t, "")
	a := startAgentAPI(t, c)
	upstream := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: a.pki.CAPool()}}}
	var mu sync.Mutex
	requests := map[string]int{}
	corrupted := ""
	proxy := newTLSProxy(t, a, a.URL, func(target string, w http.ResponseWriter, r *http.Request) {
		req, err := http.NewRequestWithContext(r.Context(), r.Method, target+r.URL.RequestURI(), r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := upstream.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		if strings.Contains(r.URL.Path, "/fragments/") && resp.StatusCode == http.StatusOK {
			mu.Lock()
			requests[r.URL.Path]++
			if corrupted == "" && len(requests) == 2 {
				corrupted = r.URL.Path
				body[len(body)/2] ^= 0x20
			}
			mu.Unlock()
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(body)
	})
	ag := newAgent(t, a, "shoal-proxy", proxy.URL, "")
	cid := a.computerOf("shoal-proxy")
	payload := targz(t, map[string]string{"random.bin": string(randomBytes(5<<20, 2))})
	id := c.publish(PackageSpec{"name": "via-proxy", "action": "EXECUTE", "priority": "5", "command": "true"}, payload)
	ag.Start()
	c.affectTo(id, cid)
	c.waitState(id, "success", 60*time.Second)

	mu.Lock()
	defer mu.Unlock()
	if corrupted == "" {
		t.Fatal("the proxy corrupted nothing")
	}
	for path, n := range requests {
		want := 1
		if path == corrupted {
			want = 2
		}
		if n != want {
			t.Errorf("%s fetched %d times, want %d", path, n, want)
		}
	}
	frags := (len(payload) + (1 << 20) - 1) >> 20
	if len(requests) != frags {
		t.Errorf("%d fragments fetched, want %d", len(requests), frags)
	}
	if line := ag.logLine("bad fragment, fetching it again"); line == "" {
		t.Error("the agent did not log the bad fragment")
	}
	s := a.fragmentStats(id)
	t.Logf("payload %d bytes, central served %d bytes in %d requests", len(payload), s.Bytes, s.Requests)
}

// TestAgentKillResume: kill -9 in the middle of a 64 MiB download; the
// restarted agent fetches only what is missing.
func TestAgentKillResume(t *testing.T) {
	c := startCentral(t, "")
	a := startAgentAPI(t, c)
	const streams = 4
	// max_streams pins the adaptive stream count: at most `streams`
	// fragments are in flight when the agent is killed.
	ag := newAgent(t, a, "shoal-kill", a.URL, fmt.Sprintf("fetch:\n  streams: %d\n  max_streams: %d\n  rate_limit: %d\n", streams, streams, 16<<20))
	cid := a.computerOf("shoal-kill")
	payload := targz(t, map[string]string{"random.bin": string(randomBytes(64<<20, 3))})
	id := c.publish(PackageSpec{"name": "big", "action": "EXECUTE", "priority": "5", "command": "true"}, payload)
	ag.Start()
	c.affectTo(id, cid)
	var doneAtKill int
	waitFor(t, 30*time.Second, "16 fragments downloaded", func() error {
		d := c.deploymentOf(id).Deployment
		if d.FragmentsDone < 16 {
			return fmt.Errorf("%d/%d fragments", d.FragmentsDone, d.FragmentsTotal)
		}
		doneAtKill = d.FragmentsDone
		return nil
	})
	ag.Kill()
	before := a.fragmentStats(id)
	ag.Start()
	c.waitState(id, "success", 60*time.Second)
	after := a.fragmentStats(id)
	limit := int64(len(payload)) + streams<<20
	t.Logf("size %d; central served %d bytes before kill -9 (%d fragments reported done), %d in total (limit %d, overhead %d)",
		len(payload), before.Bytes, doneAtKill, after.Bytes, limit, after.Bytes-int64(len(payload)))
	if after.Bytes > limit {
		t.Errorf("central served %d bytes for a %d-byte package, want <= size + %d fragments", after.Bytes, len(payload), streams)
	}
	if line := ag.logLine("fetching", "package="+id, "missing="); line == "" {
		t.Error("no fetch log line")
	}
}

func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func symlinkTarGz(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	tw.WriteHeader(&tar.Header{Name: "ok.txt", Mode: 0o644, Size: 2, Typeflag: tar.TypeReg})
	tw.Write([]byte("ok"))
	tw.WriteHeader(&tar.Header{Name: "escape", Typeflag: tar.TypeSymlink, Linkname: "../../../../../../tmp"})
	tw.WriteHeader(&tar.Header{Name: "escape/shoal-itest-pwned", Mode: 0o644, Size: 5, Typeflag: tar.TypeReg})
	tw.Write([]byte("pwned"))
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// TestAgentUnsafeArchives: a zip with ../ entries and a tar.gz with an
// escaping symlink install nothing and report ERR_UNZIP.
func TestAgentUnsafeArchives(t *testing.T) {
	c := startCentral(t, "")
	a := startAgentAPI(t, c)
	ag := newAgent(t, a, "shoal-evil", a.URL, "")
	cid := a.computerOf("shoal-evil")
	out := t.TempDir()
	target := filepath.Join(out, "a", "target")
	zipID := c.publish(PackageSpec{"name": "zip-slip", "action": "STORE", "priority": "5", "path": target},
		zipOf(t, map[string]string{"good.txt": "good", "../../zip-escape.txt": "pwned"}))
	marker := filepath.Join(out, "ran")
	linkID := c.publish(PackageSpec{"name": "symlink", "action": "EXECUTE", "priority": "5", "command": "touch " + marker},
		symlinkTarGz(t))
	ag.Start()
	c.affectTo(zipID, cid)
	c.affectTo(linkID, cid)
	for _, id := range []string{zipID, linkID} {
		d := c.waitState(id, "error", 30*time.Second)
		last := d.Events[len(d.Events)-1]
		if d.Deployment.ResultCode != "ERR_UNZIP" || !strings.Contains(last.Detail, "unsafe archive entry") {
			t.Errorf("package %s: %s %q, want ERR_UNZIP for an unsafe entry", id, d.Deployment.ResultCode, last.Detail)
		}
	}
	if entries, _ := os.ReadDir(target); len(entries) != 0 {
		t.Errorf("STORE target has %d entries, want none", len(entries))
	}
	for _, p := range []string{marker, filepath.Join(out, "zip-escape.txt"), filepath.Join(out, "a", "zip-escape.txt"), "/tmp/shoal-itest-pwned"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s exists", p)
		}
	}
}

// TestAgentPriorityAndPreemption: queued packages run lowest priority
// number first, and a high-priority package pauses a big low-priority
// download, which resumes afterwards.
func TestAgentPriorityAndPreemption(t *testing.T) {
	c := startCentral(t, "")
	a := startAgentAPI(t, c)
	const streams = 4
	ag := newAgent(t, a, "shoal-prio", a.URL, fmt.Sprintf("fetch:\n  streams: %d\n  rate_limit: %d\n", streams, 8<<20))
	cid := a.computerOf("shoal-prio")
	order := filepath.Join(t.TempDir(), "order.txt")
	small := targz(t, map[string]string{"x": "y"})
	var ids []string
	for _, p := range []string{"7", "3", "5"} {
		ids = append(ids, c.publish(PackageSpec{"name": "p" + p, "action": "EXECUTE", "priority": p,
			"command": "echo p" + p + " >> " + order}, small))
	}
	for _, id := range ids {
		c.affectTo(id, cid)
	}
	ag.Start()
	for _, id := range ids {
		c.waitState(id, "success", 30*time.Second)
	}
	if diff := cmp.Diff([]string{"p3", "p5", "p7"}, readLines(order)); diff != "" {
		t.Errorf("install order (-want +got):\n%s", diff)
	}

	order2 := filepath.Join(t.TempDir(), "order2.txt")
	bigPayload := targz(t, map[string]string{"random.bin": string(randomBytes(24<<20, 4))})
	bigID := c.publish(PackageSpec{"name": "big", "action": "EXECUTE", "priority": "8", "command": "echo big >> " + order2}, bigPayload)
	urgentID := c.publish(PackageSpec{"name": "urgent", "action": "EXECUTE", "priority": "1", "command": "echo urgent >> " + order2}, small)
	c.affectTo(bigID, cid)
	waitFor(t, 30*time.Second, "the big download to be under way", func() error {
		if d := c.deploymentOf(bigID).Deployment; d.FragmentsDone < 4 {
			return fmt.Errorf("%d fragments", d.FragmentsDone)
		}
		return nil
	})
	c.affectTo(urgentID, cid)
	c.waitState(urgentID, "success", 30*time.Second)
	if d := c.deploymentOf(bigID).Deployment; d.State == "success" || d.FragmentsDone == d.FragmentsTotal {
		t.Errorf("big package %s %d/%d when the urgent one finished: it was not paused", d.State, d.FragmentsDone, d.FragmentsTotal)
	}
	c.waitState(bigID, "success", 60*time.Second)
	if diff := cmp.Diff([]string{"urgent", "big"}, readLines(order2)); diff != "" {
		t.Errorf("install order (-want +got):\n%s", diff)
	}
	if ag.logLine("pausing download for a higher-priority package", "package="+bigID) == "" {
		t.Error("the agent did not log the pause")
	}
	s := a.fragmentStats(bigID)
	if limit := int64(len(bigPayload)) + streams<<20; s.Bytes > limit {
		t.Errorf("big package: %d bytes served, want <= %d", s.Bytes, limit)
	}
}

// TestAgentRevoked: a revoked computer's agent gets 403 on every call,
// receives no deployment and cannot enroll again.
func TestAgentRevoked(t *testing.T) {
	c := startCentral(t, "")
	a := startAgentAPI(t, c)
	ag := newAgent(t, a, "shoal-revoked", a.URL, "")
	cid := a.computerOf("shoal-revoked")
	ag.Start()
	small := targz(t, map[string]string{"x": "y"})
	first := c.publish(PackageSpec{"name": "first", "action": "EXECUTE", "priority": "5", "command": "true"}, small)
	c.affectTo(first, cid)
	c.waitState(first, "success", 30*time.Second)

	a.adminDo("POST", fmt.Sprintf("/agents/%d/revoke", cid), nil, nil, http.StatusNoContent)
	second := c.publish(PackageSpec{"name": "second", "action": "EXECUTE", "priority": "5", "command": "true"}, small)
	c.affectTo(second, cid)
	waitFor(t, 30*time.Second, "the agent to be refused", func() error {
		if ag.logLine("central refuses this agent") == "" {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	if d := c.deploymentOf(second).Deployment; d.State != "waiting" {
		t.Errorf("deployment for a revoked computer is %s, want waiting", d.State)
	}

	var enr struct {
		Secret string `json:"secret"`
	}
	b, err := os.ReadFile(filepath.Join(ag.Dir, "state", "enrollment.json"))
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(b, &enr)
	for _, path := range []string{"/jobs", "/packages/" + first + "/manifest", "/fragments/" + first + "/x"} {
		req, _ := http.NewRequest("GET", a.URL+proto.AgentAPIPath+path, nil)
		req.Header.Set("Authorization", "Bearer "+enr.Secret)
		resp, err := c.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("GET %s by a revoked agent: %d, want 403", path, resp.StatusCode)
		}
	}
	cfg := filepath.Join(t.TempDir(), "again.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("server: %s\nstate_dir: %s\nhostname: shoal-revoked\n", a.URL, filepath.Join(ag.Dir, "state"))), 0o600)
	ag.Stop()
	// -force: the state directory is enrolled; central must still refuse.
	if err := runAgentEnroll(cfg, a.token(1), c.CAFile, "-force"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("re-enrolling a revoked computer: %v, want a refusal", err)
	}
}

// writeRandomTarGz writes a tar.gz holding n random bytes (stored, not
// compressed) and returns its path.
func writeRandomTarGz(b testing.TB, n int64) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "payload.tar.gz")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	gz, _ := gzip.NewWriterLevel(f, gzip.NoCompression)
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Name: "random.bin", Mode: 0o644, Size: n, Typeflag: tar.TypeReg}); err != nil {
		b.Fatal(err)
	}
	chunk := randomBytes(8<<20, 5)
	for left := n; left > 0; left -= int64(len(chunk)) {
		chunk[0]++ // Every chunk differs, so no two fragments are equal.
		if _, err := tw.Write(chunk[:min(left, int64(len(chunk)))]); err != nil {
			b.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		b.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkAgentFetch1GiB measures a shoal-agent process downloading and
// verifying a 1 GiB package from central over HTTPS on loopback (4 streams):
// throughput, agent CPU and peak RSS. SHOAL_BENCH_AGENT_MIB sets another
// size.
func BenchmarkAgentFetch1GiB(b *testing.B) {
	mib := 1024
	if v := os.Getenv("SHOAL_BENCH_AGENT_MIB"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			mib = n
		}
	}
	c := startCentral(b, "")
	a := startAgentAPI(b, c)
	path := writeRandomTarGz(b, int64(mib)<<20)
	fi, _ := os.Stat(path)
	size := fi.Size()
	id := c.publishFile(PackageSpec{"name": "bench", "action": "EXECUTE", "priority": "5", "command": "true"}, path)
	os.Remove(path)
	for i := range b.N {
		name := fmt.Sprintf("shoal-bench-%d", i)
		ag := newAgent(b, a, name, a.URL, "")
		cid := a.computerOf(name)
		ag.Start()
		waitFor(b, time.Minute, "the agent to run", func() error {
			if ag.logLine("inventory sent") == "" && ag.logLine("agent running") == "" {
				return fmt.Errorf("not yet")
			}
			return nil
		})
		load, _ := os.ReadFile("/proc/loadavg")
		cpu0, _, _ := procStats(ag.PID())
		start := time.Now()
		c.affectTo(id, cid)
		var line string
		waitFor(b, 30*time.Minute, "the download", func() error {
			if line = ag.logLine("msg=downloaded", "package="+id); line == "" {
				return fmt.Errorf("not yet")
			}
			return nil
		})
		cpu1, rss, hwm := procStats(ag.PID())
		wall := time.Since(start)
		var dur time.Duration
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "dur="); ok {
				dur, _ = time.ParseDuration(v)
			}
		}
		mbps := float64(size) / 1e6 / dur.Seconds()
		b.ReportMetric(mbps, "MB/s")
		b.ReportMetric(cpu1-cpu0, "agent-cpu-s")
		b.ReportMetric(float64(hwm)/1024, "agent-peak-RSS-MiB")
		fmt.Printf("agent fetch %d MiB: %.0f MB/s (fetch %v, affect->downloaded %v), agent CPU %.2f s (%.2f s/GB), RSS %d MiB, peak RSS %d MiB, loadavg %s",
			mib, mbps, dur.Round(time.Millisecond), wall.Round(time.Millisecond), cpu1-cpu0, (cpu1-cpu0)/(float64(size)/1e9), rss/1024, hwm/1024, load)
		c.waitState(id, "success", 30*time.Minute)
		ag.Stop()
	}
}

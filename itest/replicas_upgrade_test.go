//go:build integration

package itest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ocsTraffic posts OCS PROLOGs and inventories (the real agent's captured
// requests) through a balancer without ever retrying, each on a new
// connection as the OCS agent does, and counts every answer that is not
// 200: such a request is lost until the device's next run.
type ocsTraffic struct {
	ok, lost atomic.Int64
	mu       sync.Mutex
	errs     []string // guarded by mu
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

func startOCSTraffic(t *testing.T, url string) *ocsTraffic {
	t.Helper()
	inv, err := os.ReadFile("../proto/ocs/testdata/unix-agent-2.10.0/inventory-request.xml")
	if err != nil {
		t.Fatal(err)
	}
	prolog, err := os.ReadFile("../proto/ocs/testdata/unix-agent-2.10.0/prolog-request.xml")
	if err != nil {
		t.Fatal(err)
	}
	const devices = 8
	var invs, prologs [][]byte
	for i := range devices {
		id := fmt.Sprintf("roll-%d-2026-12-05-04-00-%02d", i, i)
		doc := strings.ReplaceAll(string(inv), captureDeviceID, id)
		doc = strings.Replace(doc, "<NAME>vm</NAME>", fmt.Sprintf("<NAME>roll-%d</NAME>", i), 1)
		invs = append(invs, zlibBytes([]byte(doc)))
		prologs = append(prologs, zlibBytes([]byte(strings.ReplaceAll(string(prolog), captureDeviceID, id))))
	}
	ctx, cancel := context.WithCancel(context.Background())
	tr := &ocsTraffic{cancel: cancel}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	post := func(body []byte) {
		req, _ := http.NewRequestWithContext(ctx, "POST", url+"/ocsinventory", strings.NewReader(string(body)))
		req.Header.Set("User-Agent", "OCS-NG_unified_unix_agent_v2.10.0")
		req.Header.Set("Content-Type", "application/x-compress")
		resp, err := client.Do(req)
		if ctx.Err() != nil {
			return // the test is over, not a lost request
		}
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		if err != nil {
			tr.lost.Add(1)
			tr.mu.Lock()
			tr.errs = append(tr.errs, fmt.Sprintf("%s: %v", time.Now().Format("15:04:05.000"), err))
			tr.mu.Unlock()
			return
		}
		tr.ok.Add(1)
	}
	for _, w := range []struct {
		every  time.Duration
		bodies [][]byte
	}{{50 * time.Millisecond, prologs}, {500 * time.Millisecond, invs}} {
		tr.wg.Go(func() {
			tick := time.NewTicker(w.every)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				post(w.bodies[i%len(w.bodies)])
			}
		})
	}
	t.Cleanup(tr.stop)
	return tr
}

func (tr *ocsTraffic) stop() {
	tr.cancel()
	tr.wg.Wait()
}

// ocsRequests sums shoal_central_ocs_requests_total from c's /metrics: the
// OCS requests this replica answered.
func (c *Central) ocsRequests() (float64, error) {
	req, _ := http.NewRequest("GET", c.HTTPSURL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var sum float64
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "shoal_central_ocs_requests_total{") {
			continue
		}
		var f float64
		if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &f); err != nil {
			return 0, err
		}
		sum += f
	}
	return sum, nil
}

// TestReplicasRollingUpgrade upgrades three centrals behind HAProxy one at
// a time as docs/OPERATIONS.md "Rolling upgrades" says: stop one (SIGTERM:
// drain), run `shoal-central migrate up` exactly as printed, start it on
// the same addresses, wait until the balancer sends it requests, next.
// Meanwhile OCS PROLOGs and inventories (which the OCS agent does not
// retry before its next run) flow through HAProxy, and shoal-agents hold
// long-polls through it. No OCS request is lost, the real OCS agent runs
// cleanly after each replica's upgrade, and packages affected during and
// after the upgrade reach every shoal-agent.
//
// The same binary plays both releases (the schema is current, so `migrate
// up` applies nothing): what is tested is the procedure's availability;
// migrations' compatibility with the previous release is a rule of
// central/store/migrations/README.md.
func TestReplicasRollingUpgrade(t *testing.T) {
	dsn := freshDatabase(t)
	// drain_delay covers HAProxy's inter 300ms × fall 2 with margin: the
	// listeners stay open until the balancer stopped sending.
	yaml := postgresYAML(dsn) + "http:\n  drain_delay: 1500ms\n"
	a := startCentral(t, yaml)
	replicas := []*Central{a, startReplica(t, a, yaml), startReplica(t, a, yaml)}
	hap := startHAProxy(t, replicas...)
	lb := a.through(hap)
	waitFor(t, 30*time.Second, "haproxy to see the replicas ready", func() error {
		_, err := lb.client.Get(hap.HTTPSURL + "/readyz")
		return err
	})
	hapHTTPS, hapHTTP := hostPort(t, hap.HTTPSURL), hostPort(t, hap.HTTPURL)
	loopbackSite(t, lb)
	api := &AgentAPI{t: t, c: lb, URL: hap.HTTPSURL, admin: hap.HTTPSURL + "/api/v1"}
	locs := map[string]any{"info_loc": hapHTTPS + "/download", "pack_loc": hapHTTP + "/download"}
	agents, ids := swarmAgents(t, lb, api, "roll-", 3, "", nil)
	ocs := newOCSAgent(t, hap.HTTPSURL+"/ocsinventory", a.CAFile)
	if code, log := ocs.Run(); code != 0 {
		t.Fatalf("OCS agent exit %d:\n%s", code, log)
	}

	traffic := startOCSTraffic(t, hap.HTTPURL)
	migrateUp := operationsCommand(t, "shoal-central migrate up")
	migrateStatus := operationsCommand(t, "shoal-central migrate status")
	var during string
	start := time.Now()
	for i, r := range replicas {
		dir := filepath.Dir(r.Dir) // holds central.yaml, as the doc assumes
		began := time.Now()
		t.Logf("replica %d: SIGTERM at %s", i, began.Format("15:04:05.000"))
		r.stop() // SIGTERM; fails the test unless it exits 0
		if err := os.Remove(filepath.Join(r.Dir, "central.json")); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		runDocLine(t, dir, migrateUp)
		if out := runDocLine(t, dir, migrateStatus); !strings.Contains(out, "up to date") {
			t.Errorf("migrate status after migrate up does not say up to date:\n%s", out)
		}
		n := startCentralAt(t, dir, "data", hostPort(t, r.HTTPURL), hostPort(t, r.HTTPSURL), yaml)
		replicas[i] = n
		// In rotation again once it answers OCS requests from the balancer.
		waitFor(t, 30*time.Second, "the balancer to send the restarted replica requests", func() error {
			if v, err := n.ocsRequests(); err != nil || v < 3 {
				return fmt.Errorf("%v OCS requests answered (%v)", v, err)
			}
			return nil
		})
		t.Logf("replica %d upgraded in %s (stop, migrate up, start, back in rotation); OCS requests so far: %d ok, %d lost",
			i, time.Since(began).Round(time.Millisecond), traffic.ok.Load(), traffic.lost.Load())
		if code, log := ocs.Run(); code != 0 {
			t.Errorf("OCS agent after replica %d's upgrade: exit %d:\n%s", i, code, log)
		}
		if i == 0 {
			// Affected while the other two replicas are still to be
			// upgraded: the agents' long-polls move between replicas.
			during = lb.createPackage(PackageSpec{"name": "rolling-during", "action": "STORE", "priority": "5", "path": t.TempDir()},
				targz(t, map[string]string{"a.txt": "during\n", "pad.txt": padding(5000)}))
			lb.activate(during, locs, http.StatusOK)
			lb.affectAll(during, ids)
		}
	}
	traffic.stop()
	t.Logf("rolling upgrade of %d replicas took %s; OCS requests through HAProxy: %d answered, %d lost",
		len(replicas), time.Since(start).Round(time.Millisecond), traffic.ok.Load(), traffic.lost.Load())
	if n := traffic.lost.Load(); n > 0 {
		t.Errorf("%d OCS requests lost during the rolling upgrade:\n%s", n, strings.Join(traffic.errs, "\n"))
	}
	if traffic.ok.Load() < 50 {
		t.Errorf("only %d OCS requests answered: the traffic did not flow", traffic.ok.Load())
	}
	lb.waitAllSuccess(during, ids, 2*time.Minute)
	after := lb.createPackage(PackageSpec{"name": "rolling-after", "action": "STORE", "priority": "5", "path": t.TempDir()},
		targz(t, map[string]string{"b.txt": "after\n"}))
	lb.activate(after, locs, http.StatusOK)
	lb.affectAll(after, ids)
	lb.waitAllSuccess(after, ids, 2*time.Minute)
	t.Logf("%d shoal-agents installed the packages affected during and after the upgrade", len(agents))
}

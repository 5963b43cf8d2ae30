//go:build integration

package itest

import (
	"bytes"
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

// TestOCSIngestCrashKeepsAcknowledged kills central with SIGKILL while eight
// OCS agents send first inventories (concurrent inventories are committed
// in groups, database.ingest_group) and restarts it on the same data: every
// inventory it acknowledged is stored, and every stored one is whole (all
// its software rows).
func TestOCSIngestCrashKeepsAcknowledged(t *testing.T) {
	inv, err := os.ReadFile("../proto/ocs/testdata/unix-agent-2.10.0/inventory-request.xml")
	if err != nil {
		t.Fatal(err)
	}
	softPerInv := strings.Count(string(inv), "<SOFTWARES>")
	dir := t.TempDir()
	c := startCentralIn(t, dir, "data", "")

	const agents, maxPerAgent = 8, 40
	var (
		mu    sync.Mutex // owns acked
		acked []string
		sent  atomic.Int64
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: agents}}
	for a := range agents {
		wg.Go(func() {
			for i := range maxPerAgent {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("crash%d-%d-2026-12-05-10-00-00", a, i)
				doc := strings.ReplaceAll(string(inv), captureDeviceID, id)
				doc = strings.Replace(doc, "<NAME>vm</NAME>", fmt.Sprintf("<NAME>crash%d-%d</NAME>", a, i), 1)
				req, _ := http.NewRequest("POST", c.HTTPURL+"/ocsinventory", bytes.NewReader(zlibBytes([]byte(doc))))
				req.Header.Set("User-Agent", "OCS-NG_unified_unix_agent_v2.10.0")
				req.Header.Set("Content-Type", "application/x-compress")
				sent.Add(1)
				resp, err := client.Do(req)
				if err != nil {
					return // central is gone
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
				}
			}
		})
	}
	// Kill once some inventories are acknowledged and some were committed
	// in groups, with others in flight.
	var grouped float64
	waitFor(t, 60*time.Second, "16 acknowledged inventories, some grouped", func() error {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n < 16 {
			return fmt.Errorf("%d acknowledged", n)
		}
		if grouped = c.scrape()["shoal_central_inventory_grouped_total"]; grouped < 2 {
			return fmt.Errorf("%v inventories grouped", grouped)
		}
		return nil
	})
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	client.CloseIdleConnections()
	mu.Lock()
	ids := append([]string(nil), acked...)
	mu.Unlock()
	t.Logf("killed with %d inventories acknowledged of %d sent (%v committed in groups)", len(ids), sent.Load(), grouped)

	// central.json names the killed process's ports: the restart writes
	// its own.
	if err := os.Remove(filepath.Join(c.Dir, "central.json")); err != nil {
		t.Fatal(err)
	}
	c2 := startCentralIn(t, dir, "data", "")
	var list struct {
		Items []computer `json:"items"`
		Total int        `json:"total"`
	}
	c2.do("GET", "/api/v1/computers?limit=1000", nil, &list, http.StatusOK)
	stored := make(map[string]bool, len(list.Items))
	for _, cp := range list.Items {
		stored[cp.DeviceID] = true
	}
	for _, id := range ids {
		if !stored[id] {
			t.Errorf("acknowledged inventory %s not stored after the crash", id)
		}
	}
	var stats struct {
		Rows map[string]int64 `json:"rows"`
	}
	c2.do("GET", "/api/v1/stats", nil, &stats, http.StatusOK)
	if got, want := stats.Rows["softwares"], stats.Rows["computers"]*int64(softPerInv); got != want {
		t.Errorf("%d software rows for %d computers, want %d (%d each): a stored inventory is partial",
			got, stats.Rows["computers"], want, softPerInv)
	}
	t.Logf("after the restart: %d computers stored (%d acknowledged), %d software rows",
		stats.Rows["computers"], len(ids), stats.Rows["softwares"])
}

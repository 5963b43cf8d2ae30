//go:build integration

package itest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-project/shoal/proto"
)

// attackBody is one kind of hostile request of issue 13 (High 6).
type attackBody struct {
	name   string
	https  bool
	path   string
	header map[string]string
	body   []byte
}

func attackBodies(b *testing.B) []attackBody {
	b.Helper()
	inv, err := os.ReadFile("../proto/ocs/testdata/unix-agent-2.10.0/inventory-request.xml")
	if err != nil {
		b.Fatal(err)
	}
	ocsHdr := map[string]string{"User-Agent": "OCS-NG_unified_unix_agent_v2.10.0", "Content-Type": "application/x-compress"}
	nested := `<?xml version="1.0" encoding="UTF-8"?><REQUEST><QUERY>INVENTORY</QUERY><DEVICEID>pc-2026-01-01-00-00-00</DEVICEID><CONTENT><HARDWARE>` +
		strings.Repeat("<a>", 8_000_000)
	bigName := strings.Replace(string(inv), "<HARDWARE>", "<HARDWARE><NAME>"+strings.Repeat("A", 10<<20)+"</NAME>", 1)
	return []attackBody{
		{name: "enroll 30 MB, invalid token", https: true, path: "/api/agent/v1/enroll",
			header: map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + proto.EnrollTokenPrefix + "invalid"},
			body:   append(append([]byte(`{"token":"`+proto.EnrollTokenPrefix+`invalid","inventory":{"hostname":"`), bytes.Repeat([]byte("A"), 30<<20)...), `"}}`...)},
		{name: "OCS zlib bomb", path: "/ocsinventory", header: ocsHdr, body: zlibBytes(make([]byte, 256<<20))},
		{name: "OCS nested elements", path: "/ocsinventory", header: ocsHdr, body: zlibBytes([]byte(nested))},
		{name: "OCS 10 MB HARDWARE/NAME", path: "/ocsinventory", header: ocsHdr, body: zlibBytes([]byte(bigName))},
	}
}

// BenchmarkAttackBodies sends 64 parallel copies of each worst-case body of
// issue 13 to a fresh shoal-central process and prints its peak RSS, the
// worst latency and the answers. Before the fix the issue measured 1.29 GB
// for one 30 MB enrollment, 680 MB for 12 zlib bombs and 1.31 GB / 8.6 s for
// one nested-element body.
func BenchmarkAttackBodies(b *testing.B) {
	const parallel = 64
	attacks := attackBodies(b)
	for range b.N {
		fmt.Printf("\nAttack bodies, %d in parallel against a fresh central each (defaults but max_conns_per_client 256)\n", parallel)
		fmt.Println("| attack | body | idle RSS MiB | peak RSS MiB | worst latency | answers |")
		fmt.Println("|---|---|---|---|---|---|")
		for _, a := range attacks {
			c := startCentral(b, "http:\n  max_conns_per_client: 256\n")
			pem, err := os.ReadFile(c.CAFile)
			if err != nil {
				b.Fatal(err)
			}
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(pem)
			client := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{
				MaxIdleConnsPerHost: parallel, TLSClientConfig: &tls.Config{RootCAs: pool}}}
			base := c.HTTPURL
			if a.https {
				base = c.HTTPSURL
			}
			_, idle, _ := procStats(c.cmd.Process.Pid)
			var (
				mu      sync.Mutex
				worst   time.Duration
				answers = map[string]int{}
				wg      sync.WaitGroup
			)
			for range parallel {
				wg.Go(func() {
					req, _ := http.NewRequest("POST", base+a.path, bytes.NewReader(a.body))
					for k, v := range a.header {
						req.Header.Set(k, v)
					}
					t0 := time.Now()
					resp, err := client.Do(req)
					answer := ""
					if err != nil {
						answer = "connection error"
					} else {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						answer = fmt.Sprint(resp.StatusCode)
					}
					d := time.Since(t0)
					mu.Lock()
					defer mu.Unlock()
					worst = max(worst, d)
					answers[answer]++
				})
			}
			wg.Wait()
			client.CloseIdleConnections()
			_, _, hwm := procStats(c.cmd.Process.Pid)
			fmt.Printf("| %s | %d B | %.0f | %.0f | %s | %v |\n", a.name, len(a.body), float64(idle)/1024, float64(hwm)/1024,
				worst.Round(time.Millisecond), answers)
			var stats struct {
				Rows map[string]int64 `json:"rows"`
			}
			c.do("GET", "/api/v1/stats", nil, &stats, http.StatusOK)
			if stats.Rows["computers"] != 0 {
				b.Errorf("%s: %d computers stored", a.name, stats.Rows["computers"])
			}
			if answers["200"] > 0 {
				b.Errorf("%s: %d requests accepted", a.name, answers["200"])
			}
			c.stop()
		}
	}
}

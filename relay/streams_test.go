package relay

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/shoal-project/shoal/internal/testwait"
	"github.com/shoal-project/shoal/internal/upstream"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/relay/relaytest"
)

// connCapped is an HTTPS upstream (HTTP/2 offered) that sends every
// connection's bytes at a fixed rate, as a TCP stream on a lossy long link
// moves a fixed rate whatever the uplink. It counts connections.
type connCapped struct {
	srv *httptest.Server

	mu           sync.Mutex // guards the fields below
	active, peak int        // open connections
	accepted     int
	reqs, reqMax int            // fragment requests in flight
	protos       map[string]int // request protocol -> requests
}

func newConnCapped(t *testing.T, p *relaytest.Package, perConn rate.Limit) *connCapped {
	t.Helper()
	u := &connCapped{protos: map[string]int{}}
	type limKey struct{}
	frags := map[string][]byte{}
	for _, f := range p.Manifest.Fragments {
		frags[f.CID] = p.Payload[f.Offset : f.Offset+f.Size]
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+proto.ManifestPath(p.ID), func(w http.ResponseWriter, _ *http.Request) { w.Write(p.Signed) })
	mux.HandleFunc("GET "+proto.FragmentPathPrefix+"{pkg}/{cid}", func(w http.ResponseWriter, req *http.Request) {
		u.mu.Lock()
		u.protos[req.Proto]++
		u.reqs++
		u.reqMax = max(u.reqMax, u.reqs)
		u.mu.Unlock()
		defer func() {
			u.mu.Lock()
			u.reqs--
			u.mu.Unlock()
		}()
		b, ok := frags[req.PathValue("cid")]
		if !ok {
			http.NotFound(w, req)
			return
		}
		lim := req.Context().Value(limKey{}).(*rate.Limiter)
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		for off := 0; off < len(b); off += 4 << 10 {
			chunk := b[off:min(off+4<<10, len(b))]
			if err := lim.WaitN(req.Context(), len(chunk)); err != nil {
				return
			}
			if _, err := w.Write(chunk); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	})
	u.srv = httptest.NewUnstartedServer(mux)
	u.srv.EnableHTTP2 = true
	u.srv.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, limKey{}, rate.NewLimiter(perConn, 4<<10))
	}
	u.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		u.mu.Lock()
		defer u.mu.Unlock()
		switch s {
		case http.StateNew:
			u.accepted++
			u.active++
			u.peak = max(u.peak, u.active)
		case http.StateClosed, http.StateHijacked:
			u.active--
		}
	}
	u.srv.StartTLS()
	t.Cleanup(func() {
		u.srv.CloseClientConnections()
		u.srv.Close()
	})
	return u
}

// TestUpstreamStreamsGrow: against an upstream whose every connection is
// capped (the lossy long uplink of issue 21), the relay fetches over
// several TLS connections at once, HTTP/1.1 although the server offers
// HTTP/2, and grows the number of streams beyond Parallel because more
// streams raise the goodput; /metrics shows the count.
func TestUpstreamStreamsGrow(t *testing.T) {
	c := relaytest.New(t)
	p := c.AddPackage(t, testPkg, randomBytes(64<<16), 64<<10, 1) // 64 fragments of 64 KiB
	up := newConnCapped(t, p, 128<<10)                            // 128 KiB/s per connection: far below the CPU's rate under -race
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: up.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	r, srv := newTestRelay(t, c, t.TempDir(), func(cfg *Config) {
		cfg.Upstream, cfg.CentralCAFile, cfg.Parallel, cfg.MaxParallel = up.srv.URL, ca, 4, 16
		cfg.ManifestPublicKey = base64.StdEncoding.EncodeToString(c.Pub)
	})
	// Short windows keep the test fast; the controller is the production one.
	r.fetches = upstream.New(upstream.Config{Min: 4, Max: 16, Window: 200 * time.Millisecond,
		Cap: func() float64 { return r.wan.current() / 8 }}, r.log)

	m, took := fetchTimed(t, r)
	for _, f := range m.Fragments {
		if !r.has(f.CID) {
			t.Fatalf("fragment %d not cached", f.Index)
		}
	}
	up.mu.Lock()
	peak, accepted, reqMax, protos := up.peak, up.accepted, up.reqMax, fmt.Sprint(up.protos)
	up.mu.Unlock()
	limit := r.fetches.Limit()
	t.Logf("4 MiB in %v; streams now %d; upstream connections: %d accepted, %d at once at most; %d requests at once at most; requests %s",
		took.Round(time.Millisecond), limit, accepted, peak, reqMax, protos)
	if peak <= 4 || limit <= 4 {
		t.Errorf("%d connections at once, %d streams: want more than parallel (4)", peak, limit)
	}
	if reqMax > 16 {
		t.Errorf("%d fragment requests at once: want at most max_parallel (16)", reqMax)
	}
	if !strings.HasPrefix(protos, "map[HTTP/1.1:") || strings.Contains(protos, "HTTP/2") {
		t.Errorf("upstream requests by protocol %s: want HTTP/1.1 only", protos)
	}
	// At 4 streams, 4 MiB at 128 KiB/s each takes 8 s; growing, about 3.
	if took > 7*time.Second {
		t.Errorf("took %v: the streams did not grow in time", took)
	}
	testwait.For(t, 5*time.Second, "the stream count in /metrics", func() error {
		_, b := fetch(t, srv.URL+"/metrics")
		if v, ok := metricValue(b, "shoal_relay_upstream_streams"); !ok || v != int64(r.fetches.Limit()) {
			return fmt.Errorf("shoal_relay_upstream_streams %d (found %v) in /metrics, want %d", v, ok, r.fetches.Limit())
		}
		return nil
	})
}

func TestParallelConfig(t *testing.T) {
	tests := []struct {
		name        string
		cfg         Config
		ok          bool
		start, most int
	}{
		{name: "defaults", cfg: Config{}, ok: true, start: 12, most: 24},
		{name: "old-parallel", cfg: Config{Parallel: 4}, ok: true, start: 4, most: 24},
		{name: "small-max", cfg: Config{MaxParallel: 8}, ok: true, start: 8, most: 8},
		{name: "large-parallel", cfg: Config{Parallel: 32}, ok: true, start: 32, most: 32},
		{name: "max-below-parallel", cfg: Config{Parallel: 16, MaxParallel: 8}},
		{name: "huge-max", cfg: Config{MaxParallel: 1000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.DataDir = t.TempDir()
			c := tt.cfg.withDefaults()
			err := errors.Join(tt.cfg.Validate(), c.Validate())
			if (err == nil) != tt.ok {
				t.Fatalf("Validate = %v, want ok %v", err, tt.ok)
			}
			if tt.ok && (c.Parallel != tt.start || c.MaxParallel != tt.most) {
				t.Errorf("parallel %d, max_parallel %d; want %d, %d", c.Parallel, c.MaxParallel, tt.start, tt.most)
			}
		})
	}
}

// fetchTimed fetches every fragment of testPkg through r's upstream, as a
// prefetch does, and returns the manifest and how long the fragments took.
func fetchTimed(t *testing.T, r *Relay) (*proto.Manifest, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	m, err := r.manifest(ctx, testPkg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := r.fetchAll(ctx, testPkg, m.Fragments); err != nil {
		t.Fatal(err)
	}
	return m, time.Since(start)
}

package relay

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/testwait"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/relay/relaytest"
)

// TestShutdownGrace runs a real relay against an upstream that stalls. A
// fetch started for a client that goes away still finishes (the next
// client finds the fragment); a fetch still stalled when the relay stops
// is cancelled once shutdown_grace has passed, so Run returns after about
// the grace, not after fetch_timeout.
func TestShutdownGrace(t *testing.T) {
	const grace = 500 * time.Millisecond
	c := relaytest.New(t)
	p := c.AddPackage(t, testPkg, randomBytes(100_000), 32<<10, 2)
	dir := t.TempDir()
	r, err := New(Config{DataDir: dir, HTTPAddr: "127.0.0.1:0", Upstream: c.HTTP.URL,
		ManifestPublicKey: base64.StdEncoding.EncodeToString(c.Pub), FetchTimeout: time.Minute, ShutdownGrace: grace}, discard())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var rt RuntimeInfo
	testwait.For(t, 10*time.Second, "relay.json", func() error {
		b, err := os.ReadFile(filepath.Join(dir, "relay.json"))
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &rt)
	})
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	get := func(ctx context.Context, n int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, rt.HTTPURL+ocsPath(testPkg, n), nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	upstreamAsked := func(n int64) {
		t.Helper()
		testwait.For(t, 10*time.Second, "upstream fragment requests", func() error {
			if got := c.FragmentRequests(testPkg); got < n {
				return fmt.Errorf("%d, want %d", got, n)
			}
			return nil
		})
	}
	first := covering(p.Manifest.Fragments, p.Manifest.OCSFragments[0].Offset, p.Manifest.OCSFragments[0].Size)

	// A client gives up while upstream stalls; its fetches go on.
	release := c.Hold()
	defer release()
	cctx, ccancel := context.WithCancel(context.Background())
	gave := make(chan error, 1)
	go func() { gave <- get(cctx, 1) }()
	upstreamAsked(int64(len(first)))
	ccancel()
	if err := <-gave; !errors.Is(err, context.Canceled) {
		t.Errorf("client that gave up: %v, want context.Canceled", err)
	}
	release()
	testwait.For(t, 10*time.Second, "the fragments the client gave up on, cached", func() error {
		for _, f := range first {
			if !r.has(f.CID) {
				return fmt.Errorf("fragment %d not cached", f.Index)
			}
		}
		return nil
	})

	// A fetch still stalled when the relay stops ends with the grace.
	release = c.Hold()
	defer release()
	before := c.FragmentRequests(testPkg)
	stalled := make(chan error, 1)
	go func() { stalled <- get(context.Background(), 2) }()
	upstreamAsked(before + 1)
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(grace + 10*time.Second):
		t.Fatalf("Run still running %s after cancel, with shutdown_grace %s", time.Since(start), grace)
	}
	took := time.Since(start)
	if took < grace {
		t.Errorf("Run returned after %s, before the grace of %s: the stalled fetch had no chance", took, grace)
	}
	if err := <-stalled; err == nil {
		t.Error("the client of the stalled fetch got the whole file")
	}
	last := p.Manifest.Fragments[len(p.Manifest.Fragments)-1]
	if r.has(last.CID) {
		t.Errorf("fragment %d cached although its upstream stalled", last.Index)
	}
	if n := c.Count(proto.FragmentPath(testPkg, last.CID)); n != 1 {
		t.Errorf("fragment %d asked of upstream %d times, want 1", last.Index, n)
	}
}

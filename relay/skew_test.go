package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/testwait"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/relay/relaytest"
	"github.com/shoal-project/shoal/tracker"
)

// TestSkewedRelay runs a relay whose clock is two hours ahead: it measures
// the offset from central's answers, shows it in /healthz with a warning,
// its tracker announces (signed in central's time) are accepted, and an
// agent with a correct clock accepts its libp2p certificate and fetches a
// fragment from it.
func TestSkewedRelay(t *testing.T) {
	c := relaytest.New(t)
	p := c.AddPackage(t, testPkg, randomBytes(2*16384), 16384, 1)
	trk, err := tracker.New(tracker.Config{}, slog.New(slog.DiscardHandler), tracker.Verifier{Key: c.Pub})
	if err != nil {
		t.Fatal(err)
	}
	tctx, tcancel := context.WithCancel(context.Background())
	var twg sync.WaitGroup
	twg.Go(func() { _ = trk.Run(tctx) })
	ts := httptest.NewServer(trk.Handler())
	t.Cleanup(func() {
		ts.Close()
		tcancel()
		twg.Wait()
	})
	c.SetSite(&proto.SiteInfo{Name: "branch", TrackerURL: ts.URL})

	dir := t.TempDir()
	enrollAt(t, c, dir)
	r, _ := runRelay(t, dir, func(cfg *Config) {
		cfg.P2P.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
		cfg.Clock = func() time.Time { return time.Now().Add(2 * time.Hour) }
	})
	testwait.For(t, 15*time.Second, "healthz with the clock warning and no tracker error", func() error {
		h := getHealth(t, r)
		if h.ClockOffsetSeconds == nil || *h.ClockOffsetSeconds > -7198 || *h.ClockOffsetSeconds < -7202 || h.ClockWarning == "" {
			return fmt.Errorf("health %+v", h)
		}
		if len(h.P2PAddrs) == 0 || h.LastTrackerError != "" {
			return fmt.Errorf("health %+v", h)
		}
		return nil
	})
	testwait.For(t, 10*time.Second, "the relay's tracker entry", func() error {
		if s := trk.Stats(); s.Entries != 1 {
			return fmt.Errorf("tracker stats %+v", s)
		}
		return nil
	})
	var addrs []string
	testwait.For(t, 10*time.Second, "a report with the relay's libp2p addresses", func() error {
		rep := c.Reports()
		if len(rep) == 0 || len(rep[len(rep)-1].P2PAddrs) == 0 {
			return errors.New("no addresses reported")
		}
		addrs = rep[len(rep)-1].P2PAddrs
		return nil
	})
	agent := startAgentNode(t, c, "branch")
	src, err := agent.node.RelaySource("relay1", r.enr.PeerID, addrs)
	if err != nil {
		t.Fatal(err)
	}
	f := p.Manifest.Fragments[0]
	got, err := fetchVerified(t.Context(), src, testPkg, f)
	if err != nil {
		t.Fatalf("fragment from the skewed relay over libp2p: %v", err)
	}
	if !bytes.Equal(got, p.Payload[:f.Size]) {
		t.Fatal("fragment bytes differ")
	}
}

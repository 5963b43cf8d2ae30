package embedded_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/skew"
	"github.com/shoal-project/shoal/internal/trackerclient"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/tracker"
	"github.com/shoal-project/shoal/tracker/embedded"
	"github.com/shoal-project/shoal/tracker/trackertest"
)

// TestSkewedPeerAfterMeasuringCentral: a peer whose clock is two hours
// ahead is refused by central's tracker ("request time is -2h0m0s off")
// until it has measured central's Date; then it signs in central's time
// and its announces and lookups are accepted.
func TestSkewedPeerAfterMeasuringCentral(t *testing.T) {
	central := trackertest.NewCentral(t)
	trk, err := embedded.New(embedded.Config{}, &fakeStore{}, central.Public(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	done := make(chan error, 1)
	rctx, cancel := context.WithCancel(ctx)
	go func() { done <- trk.Run(rctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()
	// Central: the agent API answers (with a Date, as every Go server
	// does), the tracker is mounted in front of it.
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	ts := httptest.NewServer(trk.Mount(api))
	defer ts.Close()

	clock := skew.New(func() time.Time { return time.Now().Add(2 * time.Hour) }, slog.New(slog.DiscardHandler))
	id := central.NewIdentity(t, "branch-a", 24*time.Hour)
	signer := trackerclient.NewSigner(id.Key, id.Record)
	signer.SetClock(clock.Now)
	c, err := trackerclient.NewClient(trk.URL(ts.URL), nil, signer)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Announce(ctx, proto.TrackerAnnounce{Kind: proto.HolderPeer})
	if !errors.Is(err, tracker.ErrUnauthorized) || !strings.Contains(err.Error(), "off the tracker's clock") {
		t.Fatalf("announce before measuring: %v, want refused for its time", err)
	}

	// The agent's client of central measures the offset from any answer.
	hc := &http.Client{Transport: clock.Transport(nil), Timeout: 10 * time.Second}
	resp, err := hc.Get(ts.URL + proto.AgentAPIPath + "/info")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	hc.CloseIdleConnections()
	if st := clock.Status(); !st.Measured || !st.Large() {
		t.Fatalf("clock status %+v, want a large measured offset", st)
	}

	if _, err := c.Announce(ctx, proto.TrackerAnnounce{Kind: proto.HolderPeer}); err != nil {
		t.Fatalf("announce after measuring: %v", err)
	}
	if _, err := c.Lookup(ctx, "1700000001"); err != nil {
		t.Fatalf("lookup after measuring: %v", err)
	}
	if s := trk.Stats(); s.Entries != 1 {
		t.Errorf("tracker entries %d, want 1", s.Entries)
	}
}

package embedded_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/shoal-project/shoal/internal/testwait"
	"github.com/shoal-project/shoal/internal/trackerclient"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/tracker"
	"github.com/shoal-project/shoal/tracker/embedded"
	"github.com/shoal-project/shoal/tracker/trackertest"
)

// fakeStore is a hand-written stand-in for central's store.
type fakeStore struct {
	mu  sync.Mutex
	ids []string
}

func (f *fakeStore) RevokedPeerIDs(context.Context, time.Time) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.ids...), nil
}

func (f *fakeStore) set(ids ...string) {
	f.mu.Lock()
	f.ids = ids
	f.mu.Unlock()
}

func decode(t *testing.T, src string) embedded.Config {
	t.Helper()
	var cfg embedded.Config
	dec := yaml.NewDecoder(bytes.NewReader([]byte(src)))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("decode %q: %v", src, err)
	}
	return cfg
}

func TestConfig(t *testing.T) {
	key := trackertest.NewCentral(t).Public()
	tests := []struct {
		name    string
		yaml    string
		enabled bool
		ok      bool
	}{
		{"default-on", "revocation_refresh: 1s", true, true},
		{"off", "enabled: false", false, true},
		{"inline-tracker-fields", "enabled: true\nttl: 60s\nlease_ttl: 10s\nmax_peers: 20", true, true},
		{"bad-ttl", "ttl: 1s", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trk, err := embedded.New(decode(t, tt.yaml), &fakeStore{}, key, slog.New(slog.DiscardHandler))
			if (err == nil) != tt.ok || (trk != nil) != tt.enabled {
				t.Errorf("New = %v, %v; want ok=%v enabled=%v", trk, err, tt.ok, tt.enabled)
			}
		})
	}
	var disabled *embedded.Tracker
	next := http.NotFoundHandler()
	if disabled.URL("https://c:8443") != "" || disabled.Mount(next) == nil {
		t.Error("a disabled tracker must have no URL and mount nothing")
	}
}

func TestEmbedded(t *testing.T) {
	central := trackertest.NewCentral(t)
	st := &fakeStore{}
	trk, err := embedded.New(embedded.Config{RevocationRefresh: 100 * time.Millisecond}, st, central.Public(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- trk.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()
	rest := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	ts := httptest.NewServer(trk.Mount(rest))
	defer ts.Close()
	if got := trk.URL(ts.URL + "/"); got != ts.URL+proto.TrackerPathPrefix {
		t.Errorf("URL = %q", got)
	}
	if resp, err := http.Get(ts.URL + "/api/v1/computers"); err != nil || resp.StatusCode != http.StatusTeapot {
		t.Errorf("other paths must reach central's handler: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	id := central.NewIdentity(t, "branch-a", time.Hour)
	c, err := trackerclient.NewClient(trk.URL(ts.URL), nil, trackerclient.NewSigner(id.Key, id.Record))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Announce(t.Context(), proto.TrackerAnnounce{Kind: proto.HolderPeer}); err != nil {
		t.Fatalf("announce: %v", err)
	}
	if s := trk.Stats(); s.Entries != 1 {
		t.Errorf("stats = %+v", s)
	}
	st.set(id.PeerID.String()) // an admin revokes the computer.
	testwait.For(t, 5*time.Second, "revocation to reach the tracker", func() error {
		_, err := c.Lookup(t.Context(), "p")
		if !errors.Is(err, tracker.ErrRevoked) {
			return errors.New("lookup still allowed")
		}
		return nil
	})
}

package jobs

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-project/shoal/agent/fetch"
	"github.com/shoal-project/shoal/internal/fragstore"
	"github.com/shoal-project/shoal/proto"
)

// deadRelay is a relay that refuses every connection.
type deadRelay struct{}

func (deadRelay) Kind() string   { return fetch.KindRelay }
func (deadRelay) String() string { return "relay http://10.0.0.9:8080" }
func (deadRelay) Fetch(ctx context.Context, pkg string, f proto.Fragment) (io.ReadCloser, error) {
	return nil, errors.New("dial tcp 10.0.0.9:8080: connect: connection refused")
}

// TestRelayFallbackReported runs a job whose site relay is down: the
// fragments come from central and the result says so.
func TestRelayFallbackReported(t *testing.T) {
	key := newKey(t)
	c := newFakeCentral()
	c.add(t, key, "10", 6)
	c.site = &proto.SiteInfo{Name: "branch", Relays: []proto.RelayRef{{Name: "r1", URL: "http://10.0.0.9:8080"}}}
	dir := t.TempDir()
	st, err := fragstore.Open(dir + "/fragments")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	f, err := fetch.New(fetch.Config{Streams: 1}, st, []fetch.Source{c}, log)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var sites []*proto.SiteInfo
	m, err := New(Config{ProgressInterval: 100 * time.Millisecond, SpaceMargin: 1}, Deps{
		Central: c, Reporter: c, Fetcher: f, Installer: &fakeInstaller{}, Store: st,
		ManifestKey: key.Public().(ed25519.PublicKey), StateDir: dir,
		OnSite: func(s *proto.SiteInfo) {
			mu.Lock()
			sites = append(sites, s)
			mu.Unlock()
			if s != nil && len(s.Relays) > 0 {
				f.SetRelays([]fetch.Source{deadRelay{}})
			}
		},
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- m.Run(ctx) }()
	defer stopRun(t, cancel, errc)
	c.lists <- []proto.Job{{PackageID: "10", Priority: 5}}
	waitFor(t, "a result", func() bool { r, _ := c.snapshot(); return len(r) == 1 })
	c.mu.Lock()
	detail := c.details[0]
	c.mu.Unlock()
	for _, want := range []string{"download: relay http://10.0.0.9:8080 unreachable (dial tcp 10.0.0.9:8080: connect: connection refused)", "from central"} {
		if !strings.Contains(detail, want) {
			t.Errorf("detail %q lacks %q", detail, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sites) == 0 || sites[0] == nil || sites[0].Name != "branch" {
		t.Errorf("OnSite got %v, want the branch site", sites)
	}
}

func TestDownloadDetail(t *testing.T) {
	long := strings.Repeat("x", proto.MaxResultDetail)
	tests := []struct {
		name, summary, detail string
		wantPrefix            string
		wantLen               int
	}{
		{name: "short", summary: "1.0 MiB from central", detail: "exit 0", wantPrefix: "download: 1.0 MiB from central\nexit 0"},
		{name: "no-detail", summary: "1.0 MiB from peers", wantPrefix: "download: 1.0 MiB from peers"},
		{name: "long-output-cut-from-front", summary: "s", detail: "HEAD" + long, wantPrefix: "download: s\nxxx", wantLen: proto.MaxResultDetail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := downloadDetail(tt.summary, tt.detail)
			if !strings.HasPrefix(got, tt.wantPrefix) {
				t.Errorf("downloadDetail = %.60q…, want prefix %q", got, tt.wantPrefix)
			}
			if tt.wantLen > 0 && len(got) != tt.wantLen {
				t.Errorf("len = %d, want %d", len(got), tt.wantLen)
			}
		})
	}
}

package agentapi_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/internal/testwait"
	"github.com/shoal-project/shoal/proto"
)

// TestFragmentRange: the fragment route answers one byte range of a
// fragment with 206 and its Content-Range, read across the OCS fragment
// files that hold it (a relay splits the last fragments of a package into
// ranges over its idle streams); a range past the end is 416, and a
// Range it does not support (several ranges, another unit) gets the whole
// fragment.
func TestFragmentRange(t *testing.T) {
	e := newEnv(t)
	payload := bytes.Repeat([]byte("ranges of a fragment "), 10000) // 210 kB: four 64 KiB fragments
	e.publish(packages.Spec{ID: "310", Name: "app", Platform: "LINUX", Action: "STORE", Path: "/tmp/x", Priority: 5}, payload)
	m, err := e.deploy.Manifest("310")
	if err != nil {
		t.Fatal(err)
	}
	pub := echo.New()
	e.api.RegisterPublic(pub)
	srv := httptest.NewServer(pub)
	t.Cleanup(srv.Close)
	f := m.Fragments[1]
	frag := payload[f.Offset : f.Offset+f.Size]
	size := f.Size

	tests := []struct {
		name, rng    string
		status       int
		body         []byte
		contentRange string
	}{
		{"middle", "bytes=100-199", http.StatusPartialContent, frag[100:200], fmt.Sprintf("bytes 100-199/%d", size)},
		{"open", fmt.Sprintf("bytes=%d-", size-1000), http.StatusPartialContent, frag[size-1000:], fmt.Sprintf("bytes %d-%d/%d", size-1000, size-1, size)},
		{"clamped", fmt.Sprintf("bytes=%d-%d", size-10, size+50), http.StatusPartialContent, frag[size-10:], fmt.Sprintf("bytes %d-%d/%d", size-10, size-1, size)},
		{"suffix", "bytes=-10", http.StatusPartialContent, frag[size-10:], fmt.Sprintf("bytes %d-%d/%d", size-10, size-1, size)},
		{"whole-as-range", fmt.Sprintf("bytes=0-%d", size-1), http.StatusPartialContent, frag, fmt.Sprintf("bytes 0-%d/%d", size-1, size)},
		{"past-end", fmt.Sprintf("bytes=%d-", size), http.StatusRequestedRangeNotSatisfiable, nil, fmt.Sprintf("bytes */%d", size)},
		{"several", "bytes=0-1,5-6", http.StatusOK, frag, ""},
		{"other-unit", "items=0-1", http.StatusOK, frag, ""},
		{"garbage", "bytes=x-y", http.StatusOK, frag, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+proto.FragmentPath("310", f.CID), nil)
			req.Header.Set("Range", tt.rng)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("Range %q: status %d, want %d", tt.rng, resp.StatusCode, tt.status)
			}
			if got := resp.Header.Get("Content-Range"); got != tt.contentRange {
				t.Errorf("Range %q: Content-Range %q, want %q", tt.rng, got, tt.contentRange)
			}
			if tt.body != nil && !bytes.Equal(b, tt.body) {
				t.Errorf("Range %q: %d bytes that are not the range's (%d bytes)", tt.rng, len(b), len(tt.body))
			}
			if tt.status != http.StatusRequestedRangeNotSatisfiable && resp.Header.Get("Accept-Ranges") != "bytes" {
				t.Errorf("Range %q: Accept-Ranges %q", tt.rng, resp.Header.Get("Accept-Ranges"))
			}
		})
	}
	// Only whole fragments count as fragments served: the three answered
	// whole ones (counted once the handler returns, after the client read
	// the body).
	testwait.For(t, 5*time.Second, "the fragment counter", func() error {
		if got := e.api.FragmentStats()["310"].Fragments; got != 3 {
			return fmt.Errorf("fragments served: %d, want 3", got)
		}
		return nil
	})
}

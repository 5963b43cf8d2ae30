package client

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/shoal-project/shoal/agent/fetch"
	"github.com/shoal-project/shoal/proto"
)

// TestFragmentRange: the client asks central for one byte range and gets
// exactly it; a server that answers a Range with the whole fragment (200)
// gives fetch.ErrNoRanges, and a bad range is refused before any request.
func TestFragmentRange(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	f := proto.Fragment{CID: "bafyfrag", Size: int64(len(data))}
	var ranges []string
	ignore := false
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != proto.AgentAPIPath+"/fragments/p1/bafyfrag" || r.Header.Get("Authorization") != "Bearer secret" {
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		ranges = append(ranges, r.Header.Get("Range"))
		if ignore {
			w.Write(data)
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	}))
	defer srv.Close()
	c, err := New(srv.URL, nil, "secret")
	if err != nil {
		t.Fatal(err)
	}
	c.hc = srv.Client()
	src := CentralSource{C: c}
	rc, err := src.FetchRange(t.Context(), "p1", f, 1000, 3000)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data[1000:3000]) {
		t.Fatalf("range read %d bytes (%v), want bytes 1000-2999", len(got), err)
	}
	if len(ranges) != 1 || ranges[0] != "bytes=1000-2999" {
		t.Errorf("Range headers %q, want [bytes=1000-2999]", ranges)
	}
	ignore = true
	if _, err := src.FetchRange(t.Context(), "p1", f, 0, 100); !errors.Is(err, fetch.ErrNoRanges) {
		t.Errorf("whole answer to a range: %v, want ErrNoRanges", err)
	}
	for _, r := range [][2]int64{{-1, 10}, {10, 10}, {0, f.Size + 1}} {
		if _, err := src.FetchRange(t.Context(), "p1", f, r[0], r[1]); err == nil {
			t.Errorf("range %v accepted", r)
		}
	}
	if len(ranges) != 2 {
		t.Errorf("%d requests, want 2 (bad ranges are not sent)", len(ranges))
	}
}

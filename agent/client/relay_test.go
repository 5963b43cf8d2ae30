package client

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/shoal-project/shoal/agent/fetch"
	"github.com/shoal-project/shoal/proto"
)

func TestRelaySource(t *testing.T) {
	body := []byte("fragment bytes")
	frag := proto.Fragment{Index: 0, Size: int64(len(body)), CID: proto.FragmentCID(body).String()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+proto.FragmentPath("7", frag.CID), func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	mux.HandleFunc("GET "+proto.FragmentPath("8", frag.CID), func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.Write(make([]byte, 1000))
	})
	mux.HandleFunc("GET "+proto.FragmentPath("9", frag.CID), func(w http.ResponseWriter, r *http.Request) {
		// Chunked, so no length is announced: the reader must stop early.
		w.(http.Flusher).Flush()
		w.Write(make([]byte, 1000))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()

	hc := NewRelayHTTPClient(nil)
	tests := []struct {
		name    string
		url     string
		pkg     string
		want    []byte
		wantErr error
		anyErr  bool
	}{
		{name: "ok", url: srv.URL, pkg: "7", want: body},
		{name: "not-found", url: srv.URL, pkg: "6", wantErr: ErrNotFound},
		{name: "wrong-length", url: srv.URL, pkg: "8", anyErr: true},
		{name: "overlong-bounded", url: srv.URL, pkg: "9", want: make([]byte, len(body)+1)},
		{name: "relay-down", url: deadURL, pkg: "7", anyErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := NewRelaySource(tt.url, hc)
			if err != nil {
				t.Fatal(err)
			}
			if src.Kind() != fetch.KindRelay || src.String() != "relay "+tt.url {
				t.Errorf("Kind %q String %q", src.Kind(), src.String())
			}
			rc, err := src.Fetch(t.Context(), tt.pkg, frag)
			if tt.wantErr != nil || tt.anyErr {
				if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
					t.Fatalf("Fetch err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if err != nil || string(got) != string(tt.want) {
				t.Errorf("body %q (err %v), want %q", got, err, tt.want)
			}
		})
	}
	if _, err := NewRelaySource("ftp://x", hc); err == nil {
		t.Error("NewRelaySource accepted an ftp URL")
	}
}

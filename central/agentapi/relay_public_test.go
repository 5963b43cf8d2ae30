package agentapi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/agentapi"
	"github.com/shoal-project/shoal/central/deploy"
	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/proto"
)

// TestPublicFragmentRoute: relays and agents fetch Shoal fragments from
// central's plain-HTTP listener without credentials; the bytes match their
// CIDs and count in the same counters as the agent route.
func TestPublicFragmentRoute(t *testing.T) {
	e := newEnv(t)
	payload := bytes.Repeat([]byte("public fragment route "), 10000) // 220 kB: four 64 KiB fragments
	e.publish(packages.Spec{ID: "300", Name: "app", Platform: "LINUX", Action: "STORE", Path: "/tmp/x", Priority: 5}, payload)
	m, err := e.deploy.Manifest("300")
	if err != nil {
		t.Fatal(err)
	}
	pub := echo.New()
	e.api.RegisterPublic(pub)
	srv := httptest.NewServer(pub)
	t.Cleanup(srv.Close)
	hc := srv.Client()

	var body []byte
	for _, f := range m.Fragments {
		resp, err := hc.Get(srv.URL + proto.FragmentPath("300", f.CID))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("fragment %d: %d %v", f.Index, resp.StatusCode, err)
		}
		want, _ := proto.ParseCID(f.CID)
		if err := proto.VerifyFragment(want, b); err != nil {
			t.Fatalf("fragment %d: %v", f.Index, err)
		}
		body = append(body, b...)
	}
	if !bytes.Equal(body, payload) {
		t.Fatal("the fragments do not make up the payload")
	}

	tests := []struct {
		name, method, path string
		want               int
	}{
		{"head", http.MethodHead, proto.FragmentPath("300", m.Fragments[0].CID), http.StatusOK},
		{"unknown-cid", http.MethodGet, proto.FragmentPath("300", proto.FragmentCID([]byte("x")).String()), http.StatusNotFound},
		{"bad-cid", http.MethodGet, proto.FragmentPath("300", "nocid"), http.StatusBadRequest},
		{"unknown-package", http.MethodGet, proto.FragmentPath("999", m.Fragments[0].CID), http.StatusNotFound},
		{"bad-package", http.MethodGet, proto.FragmentPath("..", m.Fragments[0].CID), http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("%s %s: %d, want %d", tt.method, tt.path, resp.StatusCode, tt.want)
			}
		})
	}

	// Four GETs and one HEAD (HEAD sends no bytes, and counts no fragment);
	// the unknown CID is refused before counting.
	want := agentapi.FragmentStats{Bytes: int64(len(payload)), Requests: int64(len(m.Fragments)) + 1, Fragments: int64(len(m.Fragments))}
	if diff := cmp.Diff(want, e.api.FragmentStats()["300"]); diff != "" {
		t.Errorf("fragment stats (-want +got):\n%s", diff)
	}
}

// TestPublicFragmentRouteInactive asks the anonymous fragment route for a
// fragment of a package that is built but not active (IDs are guessable
// timestamps): 404, nothing counted. Once active it is served.
func TestPublicFragmentRouteInactive(t *testing.T) {
	e := newEnv(t)
	e.publish(packages.Spec{ID: "301", Name: "app", Platform: "LINUX", Action: "STORE", Path: "/tmp/x", Priority: 5},
		bytes.Repeat([]byte("inactive "), 1000))
	m, err := e.deploy.Manifest("301")
	if err != nil {
		t.Fatal(err)
	}
	pub := echo.New()
	e.api.RegisterPublic(pub)
	srv := httptest.NewServer(pub)
	t.Cleanup(srv.Close)
	get := func() int {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + proto.FragmentPath("301", m.Fragments[0].CID))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	ctx := context.Background()
	if err := e.deploy.Deactivate(ctx, "301"); err != nil {
		t.Fatal(err)
	}
	if code := get(); code != http.StatusNotFound {
		t.Errorf("inactive package: %d, want 404", code)
	}
	if st := e.api.FragmentStats()["301"]; st.Requests != 0 || st.Bytes != 0 {
		t.Errorf("inactive package counted: %+v", st)
	}
	if _, err := e.deploy.Activate(ctx, "301", deploy.ActivateRequest{SkipCheck: true}); err != nil {
		t.Fatal(err)
	}
	if code := get(); code != http.StatusOK {
		t.Errorf("active package: %d, want 200", code)
	}
}

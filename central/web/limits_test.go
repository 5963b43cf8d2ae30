package web

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/internal/testbody"
)

// TestOverLimitBodiesRefusedUnread: a declared length over a route's limit
// is refused with 413 before the handler reads a byte: a JSON API route,
// an upload (nothing reaches the disk). The OCS endpoint's case is
// central/ocsapi's TestOCSBodyOverLimitRefusedUnread.
func TestOverLimitBodiesRefusedUnread(t *testing.T) {
	var pkgDir string
	e := newEnvDeps(t, func(d *Deps) {
		pkgDir = filepath.Join(t.TempDir(), "packages")
		b, err := packages.NewBuilder(packages.Config{Dir: pkgDir, MaxUploadBytes: 1 << 20}, d.PKI.SigningKey, discardLog())
		if err != nil {
			t.Fatal(err)
		}
		d.Packages = b
	})
	tests := []struct {
		name    string
		handler http.Handler
		path    string
		auth    bool
		length  int64
		wantMsg string
	}{
		{name: "api-json", handler: e.https, path: "/api/v1/sites", auth: true, length: 2 << 20, wantMsg: "http.max_api_body_bytes"},
		{name: "api-json-anonymous", handler: e.https, path: "/api/v1/sites", length: 2 << 20, wantMsg: "http.max_api_body_bytes"},
		{name: "upload", handler: e.https, path: "/api/v1/packages", auth: true, length: 8 << 20, wantMsg: "packages.max_upload_bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := testbody.New(tt.length)
			req := httptest.NewRequest(http.MethodPost, tt.path, body)
			req.ContentLength = tt.length
			req.Header.Set("User-Agent", unixAgent)
			req.Header.Set("Content-Type", "multipart/form-data; boundary=x")
			if tt.auth {
				req.Header.Set("Authorization", "Bearer "+e.token)
			}
			rec := httptest.NewRecorder()
			tt.handler.ServeHTTP(rec, req)
			if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), tt.wantMsg) {
				t.Fatalf("status %d %q, want 413 naming %s", rec.Code, rec.Body, tt.wantMsg)
			}
			if n := body.Consumed(); n != 0 {
				t.Errorf("handler read %d bytes", n)
			}
		})
	}
	// Nothing was spooled.
	var files []string
	_ = filepath.WalkDir(pkgDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 0 {
		t.Errorf("files under the package dir: %v", files)
	}
}

// TestChunkedUploadCutAtLimit: an upload without Content-Length is cut off
// at the limit and leaves no spool file.
func TestChunkedUploadCutAtLimit(t *testing.T) {
	var pkgDir string
	e := newEnvDeps(t, func(d *Deps) {
		pkgDir = filepath.Join(t.TempDir(), "packages")
		b, err := packages.NewBuilder(packages.Config{Dir: pkgDir, MaxUploadBytes: 1 << 20}, d.PKI.SigningKey, discardLog())
		if err != nil {
			t.Fatal(err)
		}
		d.Packages = b
	})
	rec := upload(t, e, map[string]string{"name": "big", "platform": "linux", "action": "STORE", "path": "/tmp"}, bytes.Repeat([]byte{1}, 3<<20))
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var files []string
	_ = filepath.WalkDir(pkgDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 0 {
		t.Errorf("files under the package dir: %v", files)
	}
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

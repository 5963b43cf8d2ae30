package web

import (
	"bytes"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/deploy"
	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto"
)

// TestAPIStatusOfDomainErrors checks that the REST API answers the status
// of a domain error's kind: these answered 500 before the one mapping.
func TestAPIStatusOfDomainErrors(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"package_files_missing", packages.ErrNotFound, http.StatusNotFound},
		{"package_exists", packages.ErrExists, http.StatusConflict},
		{"relay_exists", store.ErrRelayExists, http.StatusConflict},
		{"manifest_invalid", proto.ErrManifestInvalid, http.StatusBadRequest},
		{"unavailable", deploy.ErrUnavailable, http.StatusUnprocessableEntity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/api/v1/packages/1", nil)
			rec := httptest.NewRecorder()
			c := echo.New().NewContext(req, rec)
			e.srv.errorHandler(tt.err, c)
			if rec.Code != tt.want {
				t.Errorf("%v answered %d, want %d", tt.err, rec.Code, tt.want)
			}
		})
	}
}

// TestAPIPackageFilesGone checks the REST API on a package whose files are
// gone from disk: activating it is 404 (it was 500), and deleting it
// succeeds, as in the UI (it was 500 after the row was deleted).
func TestAPIPackageFilesGone(t *testing.T) {
	e := newEnv(t)
	p := e.uploadPackage("gone")
	if err := os.RemoveAll(e.srv.deps.Packages.Path(p.ID)); err != nil {
		t.Fatal(err)
	}
	e.api("POST", "/api/v1/packages/"+p.ID+"/activate", `{"skip_check":true}`, "token", http.StatusNotFound, nil)
	e.api("DELETE", "/api/v1/packages/"+p.ID, "", "token", http.StatusNoContent, nil)
	e.api("GET", "/api/v1/packages/"+p.ID, "", "token", http.StatusNotFound, nil)
}

// TestAPIPackageManifestCorrupt checks that activating a package whose
// manifest is corrupt on disk is a 400 that says so (it was 500).
func TestAPIPackageManifestCorrupt(t *testing.T) {
	e := newEnv(t)
	p := e.uploadPackage("corrupt")
	path := filepath.Join(e.srv.deps.Packages.Path(p.ID), packages.ManifestFile)
	if err := os.WriteFile(path, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := e.api("POST", "/api/v1/packages/"+p.ID+"/activate", `{"skip_check":true}`, "token", http.StatusBadRequest, nil)
	if !strings.Contains(rec.Body.String(), "manifest") {
		t.Errorf("answer %s does not name the manifest", rec.Body)
	}
}

// TestAPIUploadCutShort checks that an upload whose body ends in the middle
// of the file (the client went away) is a client error: 400, logged at
// Info, never "internal error", and nothing is stored.
func TestAPIUploadCutShort(t *testing.T) {
	e := newEnv(t)
	var logs bytes.Buffer
	e.srv.log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range map[string]string{"name": "cut", "action": "EXECUTE", "command": "true"} {
		_ = mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", "p.tar.gz")
	_, _ = fw.Write(bytes.Repeat([]byte("x"), 64<<10))
	// No closing boundary, and the file's bytes stop half-way.
	body := buf.Bytes()[:buf.Len()-32<<10]
	req := httptest.NewRequest("POST", "/api/v1/packages", bytes.NewReader(body))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+e.token)
	rec := httptest.NewRecorder()
	e.https.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest {
		t.Errorf("cut upload answered %d %s, want 400", rec.Code, rec.Body)
	}
	if strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "upload interrupted by the client") {
		t.Errorf("log of a cut upload:\n%s", logs.String())
	}
	var list struct{ Total int }
	e.api("GET", "/api/v1/packages", "", "token", http.StatusOK, &list)
	if list.Total != 0 {
		t.Errorf("%d packages stored from a cut upload", list.Total)
	}
}

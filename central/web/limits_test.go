package web

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/internal/gate"
)

// countingBody is a request body of left spaces that counts the bytes the
// server read, so a test can show a body was refused unread.
type countingBody struct {
	read atomic.Int64
	left int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), b.left))
	for i := range n {
		p[i] = ' '
	}
	b.left -= int64(n)
	b.read.Add(int64(n))
	return n, nil
}

// computers returns the IDs of every stored computer.
func (e *env) computers() []uint {
	e.t.Helper()
	ids, err := e.store.FindComputerIDs(context.Background(), store.ComputerFilter{}, 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	return ids
}

// nestedBomb is the 24.5 KB zlib body of issue 13: millions of unclosed
// elements inside HARDWARE.
func nestedBomb(n int) []byte {
	doc := `<?xml version="1.0" encoding="UTF-8"?><REQUEST><QUERY>INVENTORY</QUERY><DEVICEID>pc-2026-01-01-00-00-00</DEVICEID><CONTENT><HARDWARE>` +
		strings.Repeat("<a>", n)
	return zlibBytes([]byte(doc))
}

// withHardware returns the captured inventory with extra inserted first in
// HARDWARE (the first value of a field wins), zlib-compressed.
func withHardware(t *testing.T, extra string) []byte {
	t.Helper()
	doc := string(readFile(t, "inventory-request.xml"))
	doc = strings.Replace(doc, "<HARDWARE>", "<HARDWARE>"+extra, 1)
	return zlibBytes([]byte(doc))
}

// TestOCSAttacksRefused performs the anonymous OCS attacks of issue 13
// (High 6) against the real handler: each is refused with its status and
// stores nothing.
func TestOCSAttacksRefused(t *testing.T) {
	tests := []struct {
		name    string
		body    []byte
		want    int
		wantMsg string
	}{
		{name: "nested-elements-24KB-zlib", body: nestedBomb(1_300_000), want: http.StatusRequestEntityTooLarge, wantMsg: "nested deeper than 16"},
		{name: "too-many-elements", body: withHardware(t, strings.Repeat("<X/>", 250_000)), want: http.StatusRequestEntityTooLarge, wantMsg: "more than 200000 elements"},
		{name: "1MB-hardware-name", body: withHardware(t, "<NAME>"+strings.Repeat("A", 1<<20)+"</NAME>"), want: http.StatusRequestEntityTooLarge, wantMsg: "Computer.Name is 1048576 bytes, at most 255"},
		{name: "1MB-uuid", body: withHardware(t, "<UUID>"+strings.Repeat("A", 1<<20)+"</UUID>"), want: http.StatusRequestEntityTooLarge, wantMsg: "Computer.UUID"},
		{name: "zlib-bomb", body: zlibBytes(make([]byte, 5<<20)), want: http.StatusRequestEntityTooLarge, wantMsg: "over limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			rec := e.ocs(tt.body, unixAgent)
			if rec.Code != tt.want || !strings.Contains(rec.Body.String(), tt.wantMsg) {
				t.Fatalf("status %d %q, want %d saying %q", rec.Code, rec.Body, tt.want, tt.wantMsg)
			}
			if ids := e.computers(); len(ids) != 0 {
				t.Errorf("computers stored: %v", ids)
			}
		})
	}
}

// TestOCSLongTextIsCut: a long descriptive field is stored cut to
// inventory.MaxTextBytes, not verbatim, and the inventory is accepted.
func TestOCSLongTextIsCut(t *testing.T) {
	e := newEnv(t)
	rec := e.ocs(withHardware(t, "<OSCOMMENTS>"+strings.Repeat("é", 1<<19)+"</OSCOMMENTS>"), unixAgent)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	ids := e.computers()
	if len(ids) != 1 {
		t.Fatalf("computers %v", ids)
	}
	c, err := e.store.Computer(context.Background(), ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(c.OSComments) != 4096 || c.OSComments != strings.Repeat("é", 2048) {
		t.Errorf("OS comments stored with %d bytes, want 4096 whole characters", len(c.OSComments))
	}
}

// TestOverLimitBodiesRefusedUnread: a declared length over a route's limit
// is refused with 413 before the handler reads a byte: the OCS endpoint,
// a JSON API route, an upload (nothing reaches the disk).
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
		{name: "ocs", handler: e.http, path: "/ocsinventory", length: 2 << 20, wantMsg: "http.max_ocs_body_bytes"},
		{name: "api-json", handler: e.https, path: "/api/v1/sites", auth: true, length: 2 << 20, wantMsg: "http.max_api_body_bytes"},
		{name: "api-json-anonymous", handler: e.https, path: "/api/v1/sites", length: 2 << 20, wantMsg: "http.max_api_body_bytes"},
		{name: "upload", handler: e.https, path: "/api/v1/packages", auth: true, length: 8 << 20, wantMsg: "packages.max_upload_bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := &countingBody{left: tt.length}
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
			if n := body.read.Load(); n != 0 {
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

// TestOCSBusyAnswers503: with every OCS slot taken, a request waits
// BusyWait and gets 503 with Retry-After rather than queueing.
func TestOCSBusyAnswers503(t *testing.T) {
	e := newEnv(t)
	e.srv.ocsGate = gate.New("ocs", 1, 20*time.Millisecond)
	release, err := e.srv.ocsGate.Enter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rec := e.ocs(readFile(t, "inventory-request.zlib"), unixAgent)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("status %d Retry-After %q: %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	release()
	if rec := e.ocs(readFile(t, "inventory-request.zlib"), unixAgent); rec.Code != http.StatusOK {
		t.Fatalf("after release: %d %s", rec.Code, rec.Body)
	}
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

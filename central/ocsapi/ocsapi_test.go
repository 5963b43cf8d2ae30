package ocsapi

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/deploy"
	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/central/pki"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
	"github.com/shoal-project/shoal/internal/gate"
	"github.com/shoal-project/shoal/internal/testbody"
	"github.com/shoal-project/shoal/proto/ocs"
)

const (
	testdata  = "../../proto/ocs/testdata/unix-agent-2.10.0/"
	unixAgent = "OCS-NG_unified_unix_agent_v2.10.0"
)

type env struct {
	t     *testing.T
	srv   *Server
	http  http.Handler
	store *store.Store
}

// newEnv serves the OCS edge on an echo instance with the client address
// read as on central's listeners (the connection's peer).
func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	log := discardLog()
	pk, err := pki.Load(filepath.Join(dir, "pki"), pki.Config{}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	st := storetest.OpenIn(t, dir, log)
	b, err := packages.NewBuilder(packages.Config{Dir: filepath.Join(dir, "packages")}, pk.SigningKey, log)
	if err != nil {
		t.Fatal(err)
	}
	dep, err := deploy.New(deploy.Config{}, st, b, http.DefaultClient, deploy.Locations{InfoLoc: "127.0.0.1:1/download", PackLoc: "127.0.0.1:1/download"}, log)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{MaxOCSBodyBytes: 1 << 20, MaxOCSXMLBytes: 4 << 20}, Deps{Store: st, Inventory: inventory.New(st, log), Deploy: dep}, log)
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.IPExtractor = echo.ExtractIPDirect()
	srv.Register(e)
	return &env{t: t, srv: srv, http: e, store: st}
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdata, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (e *env) ocs(body []byte, ua string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/ocsinventory", bytes.NewReader(body))
	req.Header.Set("User-Agent", ua)
	req.Header.Set("Content-Type", "application/x-compress")
	rec := httptest.NewRecorder()
	e.http.ServeHTTP(rec, req)
	return rec
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

func inflate(t *testing.T, b []byte) string {
	t.Helper()
	r, err := zlib.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("reply is not zlib: %v (%q)", err, b)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func zlibBytes(b []byte) []byte {
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

// TestOCSBodyOverLimitRefusedUnread: a declared length over
// http.max_ocs_body_bytes is refused with 413 before the handler reads a
// byte (the OCS case of web's TestOverLimitBodiesRefusedUnread).
func TestOCSBodyOverLimitRefusedUnread(t *testing.T) {
	e := newEnv(t)
	body := testbody.New(2 << 20)
	req := httptest.NewRequest(http.MethodPost, "/ocsinventory", body)
	req.ContentLength = 2 << 20
	req.Header.Set("User-Agent", unixAgent)
	rec := httptest.NewRecorder()
	e.http.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), "http.max_ocs_body_bytes") {
		t.Fatalf("status %d %q, want 413 naming http.max_ocs_body_bytes", rec.Code, rec.Body)
	}
	if n := body.Consumed(); n != 0 {
		t.Errorf("handler read %d bytes", n)
	}
}

func TestOCSCaptures(t *testing.T) {
	e := newEnv(t)
	rec := e.ocs(readFile(t, "prolog-request.zlib"), unixAgent)
	if rec.Code != 200 {
		t.Fatalf("prolog: %d %s", rec.Code, rec.Body)
	}
	reply := inflate(t, rec.Body.Bytes())
	for _, want := range []string{"<RESPONSE>SEND</RESPONSE>", "<NAME>DOWNLOAD</NAME>", `TIMEOUT="7"`} {
		if !strings.Contains(reply, want) {
			t.Errorf("prolog reply lacks %s:\n%s", want, reply)
		}
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/x-compressed" {
		t.Errorf("content type %q", ct)
	}

	rec = e.ocs(readFile(t, "inventory-request.zlib"), unixAgent)
	if rec.Code != 200 || !strings.Contains(inflate(t, rec.Body.Bytes()), "NO_ACCOUNT_UPDATE") {
		t.Fatalf("inventory: %d %s", rec.Code, rec.Body)
	}
	ids := e.computers()
	if len(ids) != 1 {
		t.Fatalf("computers: %v", ids)
	}
	detail, err := e.store.ComputerDetail(context.Background(), ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if detail.Name != "vm" || detail.DeviceID != "vm-2026-11-24-07-24-08" {
		t.Fatalf("computer %q %q", detail.Name, detail.DeviceID)
	}
	inv, err := ocs.ParseInventory(readFile(t, "inventory-request.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(detail.Softwares) != len(inv.Softwares) || len(detail.Networks) != len(inv.Networks) {
		t.Errorf("stored %d softwares / %d networks, sent %d / %d", len(detail.Softwares), len(detail.Networks), len(inv.Softwares), len(inv.Networks))
	}

	// A re-inventory with a TAG the server does not know: the server's
	// (empty) account info wins and is pushed back.
	rec = e.ocs(zlibBytes(readFile(t, "inventory-request-tag-history.xml")), unixAgent)
	if rec.Code != 200 {
		t.Fatalf("re-inventory: %d %s", rec.Code, rec.Body)
	}
	if ids := e.computers(); len(ids) != 1 {
		t.Fatalf("re-inventory created a second computer: %v", ids)
	}

	// Every captured download result is accepted with an empty 200.
	files, _ := filepath.Glob(filepath.Join(testdata, "download-results", "*.zlib"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		rec := e.ocs(b, unixAgent)
		if rec.Code != 200 || rec.Body.Len() != 0 {
			t.Errorf("%s: %d %q", filepath.Base(f), rec.Code, rec.Body)
		}
	}
}

func TestOCSEncodings(t *testing.T) {
	e := newEnv(t)
	plain := readFile(t, "prolog-request.xml")
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	_, _ = w.Write(plain)
	_ = w.Close()

	rec := e.ocs(plain, unixAgent)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "<RESPONSE>SEND</RESPONSE>") {
		t.Errorf("plain request must get a plain answer: %d %q", rec.Code, rec.Body)
	}
	rec = e.ocs(gz.Bytes(), unixAgent)
	if rec.Code != 200 {
		t.Fatalf("gzip: %d", rec.Code)
	}
	r, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatalf("gzip request must get a gzip answer: %v", err)
	}
	b, _ := io.ReadAll(r)
	if !strings.Contains(string(b), "SEND") {
		t.Errorf("gzip answer %q", b)
	}
}

func TestOCSBadInput(t *testing.T) {
	e := newEnv(t)
	good := readFile(t, "prolog-request.xml")
	tests := []struct {
		name string
		body []byte
		ua   string
		want int
	}{
		{name: "empty", body: nil, ua: unixAgent, want: 400},
		{name: "garbage", body: []byte("\x00\x01garbage"), ua: unixAgent, want: 400},
		{name: "truncated_zlib", body: zlibBytes(good)[:20], ua: unixAgent, want: 400},
		{name: "raw_deflate", body: zlibBytes(good)[2:], ua: unixAgent, want: 400},
		{name: "malformed_xml", body: zlibBytes([]byte("<REQUEST><QUERY>PROLOG</QUERY>")), ua: unixAgent, want: 400},
		{name: "doctype", body: zlibBytes([]byte(`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><REQUEST><DEVICEID>a-2026-01-01-00-00-00</DEVICEID><QUERY>PROLOG</QUERY></REQUEST>`)), ua: unixAgent, want: 400},
		{name: "bad_deviceid", body: zlibBytes([]byte("<REQUEST><DEVICEID>nope</DEVICEID><QUERY>PROLOG</QUERY></REQUEST>")), ua: unixAgent, want: 400},
		{name: "unknown_query", body: zlibBytes([]byte("<REQUEST><DEVICEID>a-2026-01-01-00-00-00</DEVICEID><QUERY>SYSTEM</QUERY></REQUEST>")), ua: unixAgent, want: 400},
		{name: "no_user_agent", body: zlibBytes(good), ua: "", want: 400},
		{name: "foreign_user_agent", body: zlibBytes(good), ua: "curl/8.0", want: 400},
		{name: "oversized_body", body: bytes.Repeat([]byte("x"), 2<<20), ua: unixAgent, want: 413},
		{name: "zip_bomb", body: zlibBytes(bytes.Repeat([]byte(" "), 8<<20)), ua: unixAgent, want: 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.ocs(tt.body, tt.ua)
			if rec.Code != tt.want {
				t.Errorf("status %d, want %d: %s", rec.Code, tt.want, rec.Body)
			}
			if rec.Body.Len() == 0 {
				t.Error("error answer has no message")
			}
		})
	}
	// The server still works after all that.
	if rec := e.ocs(zlibBytes(good), unixAgent); rec.Code != 200 {
		t.Fatalf("server broken after bad input: %d", rec.Code)
	}
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

// TestOCSBusyAnswers503: with every OCS slot taken, a request waits
// BusyWait and gets 503 with Retry-After rather than queueing.
func TestOCSBusyAnswers503(t *testing.T) {
	e := newEnv(t)
	e.srv.gate = gate.New("ocs", 1, 20*time.Millisecond)
	release, err := e.srv.gate.Enter(context.Background())
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

// TestOCSParsingIsBounded: a request inflates and parses only with a
// parsing slot (as many as the cores), waiting for one
// until its context ends.
func TestOCSParsingIsBounded(t *testing.T) {
	e := newEnv(t)
	if got, want := cap(e.srv.parsing), runtime.GOMAXPROCS(0); got != want {
		t.Errorf("%d parsing slots, want %d", got, want)
	}
	for range cap(e.srv.parsing) {
		e.srv.parsing <- struct{}{}
	}
	body := readFile(t, "prolog-request.zlib")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, _, err := e.srv.decode(ctx, body); !errors.Is(err, context.Canceled) {
		t.Fatalf("decode with every slot taken = %v, want context.Canceled", err)
	}
	<-e.srv.parsing
	if _, req, _, err := e.srv.decode(t.Context(), body); err != nil || req.Query != "PROLOG" {
		t.Fatalf("decode with a free slot = %+v, %v; want the PROLOG", req, err)
	}
	if len(e.srv.parsing) != cap(e.srv.parsing)-1 {
		t.Errorf("decode kept its slot: %d of %d taken", len(e.srv.parsing), cap(e.srv.parsing))
	}
}

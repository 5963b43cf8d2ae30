package ui

import (
	"bytes"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// TestUploadCutShort checks that an upload whose body stops in the middle
// of the file (the browser went away) is the client's problem: 400 with a
// sentence, logged at Info, never "ui error" at Error level.
func TestUploadCutShort(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser()
	b.login("admin", adminPassword)
	var logs bytes.Buffer
	e.ui.log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// Served in this goroutine, so that the logger swap above is not a
	// data race with the test server's goroutines.
	ec := echo.New()
	e.ui.Register(ec)

	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range map[string]string{csrfField: b.csrf, "name": "cut", "action": "EXECUTE", "command": "true"} {
		_ = mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", "payload.tar.gz")
	_, _ = fw.Write(bytes.Repeat([]byte("x"), 64<<10))
	body := buf.Bytes()[:buf.Len()-32<<10]
	req := httptest.NewRequest(http.MethodPost, uploadPath, bytes.NewReader(body))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	base, _ := url.Parse(e.srv.URL)
	for _, c := range b.c.Jar.Cookies(base) {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	ec.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "The upload was interrupted") {
		t.Errorf("cut upload answered %d %s", rec.Code, rec.Body)
	}
	if strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "upload interrupted by the client") {
		t.Errorf("log of a cut upload:\n%s", logs.String())
	}
}

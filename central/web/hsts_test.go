package web

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestHSTS: every answer of the TLS listener, errors included, tells the
// browser to use HTTPS only; the plain listener never does.
func TestHSTS(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name    string
		handler http.Handler
		path    string
		want    string
	}{
		{"https-health", e.https, "/healthz", hstsValue},
		{"https-api-unauthenticated", e.https, "/api/v1/packages", hstsValue},
		{"https-not-found", e.https, "/no/such/page", hstsValue},
		{"http-health", e.http, "/healthz", ""},
		{"http-cacert", e.http, "/cacert.pem", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tt.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
			if got := rec.Header().Get("Strict-Transport-Security"); got != tt.want {
				t.Errorf("Strict-Transport-Security %q, want %q (status %d)", got, tt.want, rec.Code)
			}
		})
	}
}

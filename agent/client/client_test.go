package client

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/shoal-project/shoal/proto"
)

// TestRetryAfter: a busy central's 503 carries Retry-After, which the
// client hands to its caller with the status; other errors carry none.
func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header string
		want   time.Duration
		ok     bool
	}{
		{"seconds", "7", 7 * time.Second, true},
		{"capped", "999999", time.Hour, true},
		{"none", "", 0, false},
		{"date form ignored", "Wed, 21 Oct 2015 07:28:00 GMT", 0, false},
		{"negative ignored", "-3", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.header != "" {
					w.Header().Set("Retry-After", tc.header)
				}
				http.Error(w, `{"error":"busy"}`, http.StatusServiceUnavailable)
			}))
			defer srv.Close()
			c, err := New(srv.URL, nil, "secret")
			if err != nil {
				t.Fatal(err)
			}
			c.hc = srv.Client()
			err = c.Inventory(t.Context(), &proto.AgentInventory{})
			var se *StatusError
			if !errors.As(err, &se) || se.Code != http.StatusServiceUnavailable {
				t.Fatalf("Inventory: %v, want a 503 StatusError", err)
			}
			got, ok := RetryAfter(err)
			if got != tc.want || ok != tc.ok {
				t.Errorf("RetryAfter = %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
	if _, ok := RetryAfter(errors.New("dial: refused")); ok {
		t.Error("RetryAfter of a network error: ok")
	}
}

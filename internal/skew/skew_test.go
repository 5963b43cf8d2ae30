package skew

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestObserve(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		local     time.Duration // local clock minus central's
		date      string
		wantOff   time.Duration
		wantMeas  bool
		wantLarge bool
	}{
		{name: "in_time", local: 0, date: now.Format(http.TimeFormat), wantOff: 0, wantMeas: true},
		{name: "two_hours_ahead", local: 2 * time.Hour, date: now.Format(http.TimeFormat), wantOff: -2 * time.Hour, wantMeas: true, wantLarge: true},
		{name: "ten_minutes_behind", local: -10 * time.Minute, date: now.Format(http.TimeFormat), wantOff: 10 * time.Minute, wantMeas: true, wantLarge: true},
		{name: "four_minutes_ahead", local: 4 * time.Minute, date: now.Format(http.TimeFormat), wantOff: -4 * time.Minute, wantMeas: true},
		{name: "no_date", local: time.Hour, date: "", wantMeas: false},
		{name: "bad_date", local: time.Hour, date: "yesterday", wantMeas: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			local := func() time.Time { return now.Add(tt.local) }
			c := New(local, slog.New(slog.DiscardHandler))
			var got []Status
			c.OnChange(func(s Status) { got = append(got, s) })
			c.Observe(tt.date, local())
			st := c.Status()
			if d := st.Offset - tt.wantOff; st.Measured != tt.wantMeas || d < -time.Second || d > time.Second || st.Large() != tt.wantLarge {
				t.Fatalf("status %+v (large %t), want offset %s measured %t large %t", st, st.Large(), tt.wantOff, tt.wantMeas, tt.wantLarge)
			}
			if tt.wantMeas {
				if len(got) != 1 {
					t.Errorf("OnChange called %d times, want 1", len(got))
				}
				if d := c.Now().Sub(now); d < 0 || d > time.Second {
					t.Errorf("Now is %s off central's time", d)
				}
				// The same answer again reports nothing new.
				c.Observe(tt.date, local())
				if len(got) != 1 {
					t.Errorf("OnChange called again for the same offset")
				}
			}
		})
	}
}

// TestTransport measures through a real HTTP answer: the server's Date is
// central's time, the client's clock is two hours ahead.
func TestTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	c := New(func() time.Time { return time.Now().Add(2 * time.Hour) }, slog.New(slog.DiscardHandler))
	hc := &http.Client{Transport: c.Transport(nil), Timeout: 10 * time.Second}
	resp, err := hc.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	hc.CloseIdleConnections()
	st := c.Status()
	if d := st.Offset + 2*time.Hour; !st.Measured || d < -2*time.Second || d > 2*time.Second {
		t.Fatalf("status %+v, want an offset of about -2h", st)
	}
	if d := time.Since(c.Now()); d < -2*time.Second || d > 2*time.Second {
		t.Errorf("corrected clock is %s off", d)
	}
}

package relay

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/shoal-project/shoal/relay/relaytest"
)

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want ByteSize
		ok   bool
	}{
		{name: "plain", in: "1048576", want: 1 << 20, ok: true},
		{name: "gib", in: "20GiB", want: 20 << 30, ok: true},
		{name: "gib-space", in: "1.5 GiB", want: 3 << 29, ok: true},
		{name: "mb", in: "500MB", want: 500e6, ok: true},
		{name: "short-g", in: "2G", want: 2 << 30, ok: true},
		{name: "bytes", in: "4096B", want: 4096, ok: true},
		{name: "zero", in: "0", want: 0, ok: true},
		{name: "unknown-unit", in: "3 parsecs"},
		{name: "negative", in: "-1GiB"},
		{name: "empty", in: ""},
		{name: "huge", in: "99999999TiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseByteSize(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("ParseByteSize(%q) = %d, %v; want %d, ok=%t", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestQuotaYAML(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want ByteSize
		ok   bool
	}{
		{name: "int", yaml: "quota_bytes: 1024", want: 1024, ok: true},
		{name: "string", yaml: `quota_bytes: "20GiB"`, want: 20 << 30, ok: true},
		{name: "bare-unit", yaml: "quota_bytes: 512MiB", want: 512 << 20, ok: true},
		{name: "bad", yaml: "quota_bytes: lots"},
		{name: "list", yaml: "quota_bytes: [1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c CacheConfig
			err := yaml.Unmarshal([]byte(tt.yaml), &c)
			if (err == nil) != tt.ok || c.QuotaBytes != tt.want {
				t.Errorf("decode %q: %d, %v; want %d, ok=%t", tt.yaml, c.QuotaBytes, err, tt.want, tt.ok)
			}
		})
	}
	if s := ByteSize(20 << 30).String(); s != "20GiB" {
		t.Errorf("String() = %q, want 20GiB", s)
	}
}

func TestWANBitsAtDays(t *testing.T) {
	cfg := WANConfig{RateMbit: 10, Windows: []WANWindow{
		{From: "22:00", To: "06:00", Days: []string{"fri"}, RateMbit: 100},
		{From: "00:00", To: "00:00", Days: []string{"Sunday"}, RateMbit: 0},
	}}
	// 2026-01-02 is a Friday.
	at := func(day int, hm string) time.Time {
		c, _ := time.Parse("15:04", hm)
		return time.Date(2026, 1, day, c.Hour(), c.Minute(), 0, 0, time.Local)
	}
	tests := []struct {
		name string
		at   time.Time
		want float64
	}{
		{name: "friday-night", at: at(2, "23:00"), want: 100e6},
		{name: "saturday-early-belongs-to-friday", at: at(3, "05:00"), want: 100e6},
		{name: "saturday-night-not-listed", at: at(3, "23:00"), want: 10e6},
		{name: "friday-early-belongs-to-thursday", at: at(2, "05:00"), want: 10e6},
		{name: "sunday-all-day", at: at(4, "12:00"), want: 0},
		{name: "monday", at: at(5, "12:00"), want: 10e6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cfg.bitsAt(tt.at); got != tt.want {
				t.Errorf("bitsAt(%v) = %v, want %v", tt.at, got, tt.want)
			}
		})
	}
}

// TestLANCap serves a cached 3 MB package with lan.rate_mbit = 8
// (1 MB/s) to two clients at once: together they take 3 s ± 10 %.
func TestLANCap(t *testing.T) {
	c := relaytest.New(t)
	p := c.AddPackage(t, testPkg, randomBytes(3_000_000), 1<<18, 2)
	r, srv := newTestRelay(t, c, t.TempDir(), func(cfg *Config) { cfg.LAN.RateMbit = 8 })
	if _, err := r.manifest(context.Background(), testPkg); err != nil {
		t.Fatal(err)
	}
	if err := r.fetchAll(context.Background(), testPkg, p.Manifest.Fragments); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	errs := make(chan error, 2)
	for n := 1; n <= 2; n++ {
		go func() {
			resp, err := http.Get(srv.URL + ocsPath(testPkg, n))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if err == nil && (resp.StatusCode != http.StatusOK || !bytes.Equal(got, ocsBytes(p, n))) {
				err = fmt.Errorf("fragment %d: status %d, %d bytes", n, resp.StatusCode, len(got))
			}
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	took := time.Since(start)
	t.Logf("3 MB at 8 Mbit/s to 2 clients took %v", took)
	if took < 2700*time.Millisecond || took > 3300*time.Millisecond {
		t.Errorf("3 MB at an 8 Mbit/s LAN cap took %v, want 3 s ± 10 %%", took)
	}
	if s := r.Stats(); s.ServedBytes != 3_000_000 {
		t.Errorf("served %d bytes, want 3000000", s.ServedBytes)
	}
}

func TestP2PSeedDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   int
		want int
	}{
		{name: "default", in: 0, want: defaultSeedCopies},
		{name: "off", in: -1, want: -1},
		{name: "set", in: 5, want: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := P2PConfig{}
			c.SeedCopies = tt.in
			if got := c.withDefaults().SeedCopies; got != tt.want {
				t.Errorf("seed_copies %d: withDefaults gives %d, want %d", tt.in, got, tt.want)
			}
			if err := c.validate(); err != nil {
				t.Errorf("validate: %v", err)
			}
		})
	}
}

package agent

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/shoal-project/shoal/agent/client"
	"github.com/shoal-project/shoal/agent/fetch"
)

// TestExampleConfig decodes dist/agent.example.yaml strictly, as the binary
// does, and checks that it is valid and spells out the defaults.
func TestExampleConfig(t *testing.T) {
	b, err := os.ReadFile("dist/agent.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if cfg.Fetch.Streams != 4 || cfg.Jobs.LongPoll != 25*time.Second || cfg.Install.Timeout != 30*time.Minute || cfg.StateDir != "/var/lib/shoal-agent" {
		t.Errorf("example does not show the defaults: %+v", cfg)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{name: "empty", cfg: Config{}, ok: true},
		{name: "https", cfg: Config{Server: "https://central:8443"}, ok: true},
		{name: "plain-http", cfg: Config{Server: "http://central:8080"}},
		{name: "relative-state", cfg: Config{StateDir: "state"}},
		{name: "bad-streams", cfg: Config{Fetch: fetch.Config{Streams: 100}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestDeviceID(t *testing.T) {
	at := time.Date(2026, 11, 26, 9, 8, 7, 0, time.UTC)
	if got := deviceID("pc-1", at); got != "pc-1-2026-11-26-09-08-07" {
		t.Errorf("deviceID = %q", got)
	}
	if got := deviceID("", at); got != "shoal-agent-2026-11-26-09-08-07" {
		t.Errorf("deviceID without host name = %q", got)
	}
}

// TestInventoryRetry: after a busy central's 503 the agent waits at least
// its Retry-After (and at most half as long again); after other errors, a
// jittered half to all of a minute, or of a shorter check interval.
func TestInventoryRetry(t *testing.T) {
	busy := fmt.Errorf("POST /inventory: %w", &client.StatusError{Code: 503, RetryAfter: 20 * time.Second})
	other := errors.New("dial: connection refused")
	seen := map[time.Duration]bool{}
	for range 200 {
		if d := inventoryRetry(busy, time.Hour); d < 20*time.Second || d > 30*time.Second {
			t.Fatalf("after Retry-After 20s: wait %v, want 20s to 30s", d)
		}
		d := inventoryRetry(other, time.Hour)
		if d < 30*time.Second || d >= time.Minute {
			t.Fatalf("after a network error: wait %v, want 30s to 1m", d)
		}
		seen[d] = true
		if d := inventoryRetry(other, 10*time.Second); d < 5*time.Second || d >= 10*time.Second {
			t.Fatalf("with a 10s check interval: wait %v, want 5s to 10s", d)
		}
	}
	if len(seen) < 100 {
		t.Errorf("only %d distinct waits in 200: no jitter", len(seen))
	}
}

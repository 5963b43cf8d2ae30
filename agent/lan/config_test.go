package lan

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

func timeIn(t *testing.T) time.Time {
	t.Helper()
	return time.Now().Add(time.Hour)
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "defaults", cfg: Config{}},
		{name: "ephemeral", cfg: Config{Bind: "127.0.0.1:0", Advertise: "10.0.0.5"}},
		{name: "advertise-port", cfg: Config{Advertise: "10.0.0.5:8000"}},
		{name: "bind-hostname", cfg: Config{Bind: "localhost:7946"}, wantErr: "must be an IP"},
		{name: "bind-no-port", cfg: Config{Bind: "127.0.0.1"}, wantErr: "bind"},
		{name: "advertise-bad", cfg: Config{Advertise: "host:x"}, wantErr: "advertise"},
		{name: "probe-timeout", cfg: Config{ProbeInterval: time.Second, ProbeTimeout: time.Second}, wantErr: "probe_timeout"},
		{name: "suspicion", cfg: Config{SuspicionMult: 1}, wantErr: "suspicion_mult"},
		{name: "push-pull", cfg: Config{PushPullInterval: time.Millisecond}, wantErr: "push_pull_interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate = %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate = %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
	if got := (Config{}).withDefaults().Bind; got != "0.0.0.0:7946" {
		t.Errorf("default bind = %q", got)
	}
}

func TestNewIdentityErrors(t *testing.T) {
	site := newTestSite(t, newTestCentral(t), "a")
	tests := []struct {
		name    string
		mod     func(*Identity)
		wantErr string
	}{
		{name: "no-peer", mod: func(id *Identity) { id.PeerID = "" }, wantErr: "peer ID"},
		{name: "short-key", mod: func(id *Identity) { id.GossipKey = id.GossipKey[:16] }, wantErr: "gossip key"},
		{name: "no-record-key", mod: func(id *Identity) { id.RecordKey = nil }, wantErr: "record key"},
		{name: "long-site", mod: func(id *Identity) { id.Site = strings.Repeat("s", 300) }, wantErr: "site"},
		{name: "oversize-meta", mod: func(id *Identity) { id.Version = strings.Repeat("v", 600) }, wantErr: "metadata"},
		{name: "record-of-other-site", mod: func(id *Identity) { id.Site = "b" }, wantErr: "own peer record"},
		{name: "no-record", mod: func(id *Identity) { id.Record.Record = nil }, wantErr: "peer record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := site.identity(t, "peer-0")
			tt.mod(&id)
			_, err := New(Config{}, slog.New(slog.DiscardHandler), id)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("New = %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
}

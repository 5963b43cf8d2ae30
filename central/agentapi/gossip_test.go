package agentapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/agent"
	"github.com/shoal-project/shoal/agent/client"
	"github.com/shoal-project/shoal/central/agentapi"
	"github.com/shoal-project/shoal/central/pki"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/internal/testwait"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/tracker/embedded"
)

// computerOf returns the computer ID of the enrolled agent name.
func (e *env) computerOf(name string) uint {
	e.t.Helper()
	var agents struct {
		Items []agentapi.AgentInfo `json:"items"`
	}
	e.call("GET", "/api/v1/agents", nil, &agents, http.StatusOK)
	for _, a := range agents.Items {
		if strings.HasPrefix(a.DeviceID, name+"-") {
			return a.ComputerID
		}
	}
	e.t.Fatalf("agent %s not listed", name)
	return 0
}

// siteOf returns the SiteInfo of cl's next job list.
func siteOf(t *testing.T, cl *client.Client) *proto.SiteInfo {
	t.Helper()
	jobs, err := cl.Jobs(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if jobs.Site == nil {
		t.Fatal("job list without site")
	}
	return jobs.Site
}

func hasKey(keys [][]byte, k []byte) bool {
	for _, x := range keys {
		if bytes.Equal(x, k) {
			return true
		}
	}
	return false
}

// TestRevocationRotatesGossipKey revokes one agent of a site: the site's
// other agents are handed a new gossip key at once (while still sending
// with the old one), switch to it one overlap window later, and stop being
// handed the old key — the only one the revoked agent holds — two windows
// after the revocation. The revoked agent gets nothing more.
func TestRevocationRotatesGossipKey(t *testing.T) {
	overlap := 2 * time.Second
	e := newEnvConfig(t, agentapi.Config{PollInterval: 50 * time.Millisecond, MaxWait: time.Second,
		GossipKeyOverlap: overlap, GossipKeyRotation: time.Hour})
	site := &store.Site{Name: "loopback", CIDRs: []store.SiteCIDR{{CIDR: "127.0.0.0/8"}}}
	if err := e.store.CreateSite(context.Background(), site); err != nil {
		t.Fatal(err)
	}
	member, revoked := e.agentClient("member"), e.agentClient("revoked")
	old := siteOf(t, member)
	if len(old.GossipKey) != store.GossipKeySize || len(old.GossipKeys) != 0 {
		t.Fatalf("site before revocation: key of %d bytes, %d others", len(old.GossipKey), len(old.GossipKeys))
	}
	if got := siteOf(t, revoked); !bytes.Equal(got.GossipKey, old.GossipKey) {
		t.Fatal("two agents of one site got different keys")
	}
	start := time.Now()
	e.call("POST", fmt.Sprintf("/api/v1/agents/%d/revoke", e.computerOf("revoked")), nil, nil, http.StatusNoContent)

	next := siteOf(t, member)
	if !bytes.Equal(next.GossipKey, old.GossipKey) || len(next.GossipKeys) != 1 || bytes.Equal(next.GossipKeys[0], old.GossipKey) {
		t.Fatalf("right after the revocation: want the old key primary and one new key beside it, got %d others (same primary %t)",
			len(next.GossipKeys), bytes.Equal(next.GossipKey, old.GossipKey))
	}
	newKey := next.GossipKeys[0]
	if _, err := revoked.Jobs(context.Background(), "", 0); !errors.Is(err, client.ErrRevoked) {
		t.Fatalf("revoked agent's job list: %v, want ErrRevoked", err)
	}

	testwait.For(t, 10*time.Second, "new key primary", func() error {
		si := siteOf(t, member)
		if !bytes.Equal(si.GossipKey, newKey) {
			return errors.New("old key still primary")
		}
		if time.Since(start) < overlap-time.Second {
			t.Errorf("new key primary after %s, before the overlap window of %s", time.Since(start), overlap)
		}
		return nil
	})
	testwait.For(t, 10*time.Second, "old key dropped", func() error {
		si := siteOf(t, member)
		if hasKey(si.GossipKeys, old.GossipKey) || bytes.Equal(si.GossipKey, old.GossipKey) {
			return errors.New("old key still handed out")
		}
		if !bytes.Equal(si.GossipKey, newKey) || len(si.GossipKeys) != 0 {
			return fmt.Errorf("ring of %d others, new key primary %t", len(si.GossipKeys), bytes.Equal(si.GossipKey, newKey))
		}
		return nil
	})
}

// TestSkewedAgentClockStatus runs an agent whose clock is two hours ahead
// against central: it measures the offset from central's answers and
// reports it, with a warning, in its clock status file.
func TestSkewedAgentClockStatus(t *testing.T) {
	e := newEnv(t)
	cfg, _ := e.startAgentWith("skewed", e.token(1), func(c *agent.Config) {
		c.Clock = func() time.Time { return time.Now().Add(2 * time.Hour) }
	})
	testwait.For(t, 15*time.Second, "the clock status file", func() error {
		var st agent.ClockStatus
		b, err := os.ReadFile(filepath.Join(cfg.StateDir, agent.ClockStatusFile))
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &st); err != nil {
			return err
		}
		if st.OffsetSeconds > -7198 || st.OffsetSeconds < -7202 || st.Warning == "" {
			return fmt.Errorf("clock status %+v", st)
		}
		return nil
	})
}

func TestGossipKeyConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  agentapi.Config
		ok   bool
	}{
		{name: "defaults", cfg: agentapi.Config{}, ok: true},
		{name: "defaults_follow_max_wait", cfg: agentapi.Config{MaxWait: 10 * time.Minute}, ok: true},
		{name: "overlap_below_two_polls", cfg: agentapi.Config{MaxWait: time.Minute, GossipKeyOverlap: time.Minute}, ok: false},
		{name: "rotation_below_four_overlaps", cfg: agentapi.Config{GossipKeyOverlap: 10 * time.Minute, GossipKeyRotation: 30 * time.Minute}, ok: false},
		{name: "short_for_tests", cfg: agentapi.Config{MaxWait: time.Second, GossipKeyOverlap: 2 * time.Second, GossipKeyRotation: 8 * time.Second}, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate = %v, want ok %t", err, tt.ok)
			}
		})
	}
}

// TestSkewedAgentUsesTracker runs a real agent whose clock is two hours
// ahead against central with its embedded tracker: the agent measures the
// offset from central's answers and its announces are accepted (before
// the fix every tracker call was refused as two hours off).
func TestSkewedAgentUsesTracker(t *testing.T) {
	var trk *embedded.Tracker
	mount := func(next http.Handler, pk *pki.PKI, st *store.Store) http.Handler {
		var err error
		trk, err = embedded.New(embedded.Config{}, st, pk.SigningPublicKey(), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- trk.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("tracker Run: %v", err)
			}
		})
		return trk.Mount(next)
	}
	e := newEnvWith(t, agentapi.Config{PollInterval: 50 * time.Millisecond}, mount)
	e.api.SetTrackerURL(trk.URL(e.srv.URL))
	site := &store.Site{Name: "loopback", CIDRs: []store.SiteCIDR{{CIDR: "127.0.0.0/8"}}}
	if err := e.store.CreateSite(context.Background(), site); err != nil {
		t.Fatal(err)
	}
	e.startAgentWith("skewed", e.token(1), func(c *agent.Config) {
		c.Clock = func() time.Time { return time.Now().Add(2 * time.Hour) }
		c.P2P.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
		c.LAN.Bind = "127.0.0.1:0"
	})
	testwait.For(t, 20*time.Second, "the skewed agent's announce accepted", func() error {
		if s := trk.Stats(); s.Entries != 1 {
			return fmt.Errorf("tracker stats %+v", s)
		}
		return nil
	})
}

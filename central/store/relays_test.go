package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

// enrollRelay enrolls a relay of site with a relay token minted for it.
func enrollRelay(t *testing.T, s *store.Store, name, peer string, site uint, now time.Time) *store.Relay {
	t.Helper()
	r := &store.Relay{Name: name, SiteID: site, PeerID: peer, SecretHash: hexHash("secret " + name + peer),
		HTTPURL: "http://" + name + ":8090", RecordExpires: now.Add(24 * time.Hour)}
	storetest.EnrollRelay(t, s, r, now)
	return r
}

func relayNames(rs []store.Relay) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return out
}

func TestRelayEnrollment(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		now := time.Now()
		site := &store.Site{Name: "branch", CIDRs: []store.SiteCIDR{{CIDR: "10.9.0.0/16"}}}
		if err := s.CreateSite(ctx, site); err != nil {
			t.Fatal(err)
		}
		r1 := enrollRelay(t, s, "r1", "peer1", site.ID, now)
		got, err := s.RelayBySecretHash(ctx, r1.SecretHash)
		if err != nil || got.Name != "r1" || got.SiteID != site.ID || got.LastSeen == nil {
			t.Fatalf("RelayBySecretHash = %+v, %v", got, err)
		}
		r2 := enrollRelay(t, s, "r2", "peer2", site.ID, now)

		// Staleness: r2 stopped reporting three minutes ago.
		if err := s.TouchRelay(ctx, r2.ID, `{"disk_used":5}`, time.Time{}, now.Add(-3*time.Minute)); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name  string
			since time.Time
			want  []string
		}{
			{"two-minutes", now.Add(-2 * time.Minute), []string{"r1"}},
			{"five-minutes", now.Add(-5 * time.Minute), []string{"r1", "r2"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				live, err := s.LiveRelays(ctx, site.ID, tt.since)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.want, relayNames(live)); diff != "" {
					t.Errorf("LiveRelays (-want +got):\n%s", diff)
				}
			})
		}
		all, err := s.Relays(ctx)
		if err != nil || len(all) != 2 || all[1].LastReport != `{"disk_used":5}` {
			t.Errorf("Relays = %+v, %v", all, err)
		}

		if err := s.DeleteRelay(ctx, r2.ID, now); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteRelay(ctx, r2.ID, now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second delete: %v, want not found", err)
		}
		revoked, err := s.RevokedPeerIDs(ctx, now)
		if err != nil || !cmp.Equal(revoked, []string{"peer2"}) {
			t.Errorf("RevokedPeerIDs after delete = %v, %v", revoked, err)
		}
		// Once the records have expired the revocations no longer matter.
		if revoked, err = s.RelayRevokedPeerIDs(ctx, now.Add(25*time.Hour)); err != nil || len(revoked) != 0 {
			t.Errorf("RelayRevokedPeerIDs after expiry = %v, %v", revoked, err)
		}
	})
}

func TestRelayPackagesAndPurges(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		site := &store.Site{Name: "branch", CIDRs: []store.SiteCIDR{{CIDR: "10.9.0.0/16"}}}
		other := &store.Site{Name: "other", CIDRs: []store.SiteCIDR{{CIDR: "10.8.0.0/16"}}}
		for _, st := range []*store.Site{site, other} {
			if err := s.CreateSite(ctx, st); err != nil {
				t.Fatal(err)
			}
		}
		comp := map[string]uint{}
		for name, siteID := range map[string]uint{"in": site.ID, "out": other.ID} {
			res, err := inventory.Record(ctx, s, storetest.Snapshot(name+"-2026-01-01-00-00-00", 1))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.SetComputerSite(ctx, res.ComputerID, &siteID); err != nil {
				t.Fatal(err)
			}
			comp[name] = res.ComputerID
		}
		for _, id := range []string{"101", "102", "103"} {
			createActive(t, s, id, 5, true)
		}
		affect(t, s, "101", comp["in"])
		affect(t, s, "102", comp["in"])
		affect(t, s, "103", comp["out"])
		// 102 is finished in the site: the relay no longer has to keep it.
		finish(t, s, comp["in"], "102", store.StateSuccess, "SUCCESS", time.Now())
		got, err := s.RelayPackages(ctx, site.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]store.RelayPackage{{ID: "101", Name: "pkg 101"}}, got); diff != "" {
			t.Errorf("RelayPackages (-want +got):\n%s", diff)
		}

		now := time.Now()
		for _, id := range []string{"103", "101", "103"} {
			if err := s.RequestPurge(ctx, id, now); err != nil {
				t.Fatal(err)
			}
		}
		purges, err := s.Purges(ctx, now.Add(-time.Hour))
		if err != nil || !cmp.Equal(purges, []string{"101", "103"}) {
			t.Errorf("Purges = %v, %v", purges, err)
		}
		if purges, err = s.Purges(ctx, now.Add(time.Hour)); err != nil || len(purges) != 0 {
			t.Errorf("Purges after the window = %v, %v", purges, err)
		}

		// Two relays in the site, none in the other: a purge of 101 (active
		// in the site) is kept by both, 102 (finished) and 103 (active in
		// a site without relay) by none.
		enrollRelay(t, s, "ra", "peer-a", site.ID, now)
		enrollRelay(t, s, "rb", "peer-b", site.ID, now)
		tests := []struct {
			name string
			pkg  string
			want int64
		}{
			{"active-in-relay-site", "101", 2},
			{"finished", "102", 0},
			{"active-elsewhere", "103", 0},
			{"unknown", "999", 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				n, err := s.RelaysKeeping(ctx, tt.pkg)
				if err != nil || n != tt.want {
					t.Errorf("RelaysKeeping(%s) = %d, %v; want %d", tt.pkg, n, err, tt.want)
				}
			})
		}
	})
}

// TestDeleteSiteRemovesRelays: deleting a site removes its relays (their
// secrets stop working, their peer IDs stay refused) and its gossip key,
// and leaves the relays of other sites alone.
func TestDeleteSiteRemovesRelays(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		now := time.Now()
		gone := &store.Site{Name: "gone"}
		kept := &store.Site{Name: "kept"}
		for _, st := range []*store.Site{gone, kept} {
			if err := s.CreateSite(ctx, st); err != nil {
				t.Fatal(err)
			}
		}
		rg := enrollRelay(t, s, "rg", "peer-g", gone.ID, now)
		enrollRelay(t, s, "rk", "peer-k", kept.ID, now)
		key, _, err := s.GossipKeys(ctx, gone.ID, now, testKeyPolicy)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteSite(ctx, gone.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RelayBySecretHash(ctx, rg.SecretHash); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("secret of a relay of the deleted site: %v, want not found", err)
		}
		all, err := s.Relays(ctx)
		if err != nil || !cmp.Equal(relayNames(all), []string{"rk"}) {
			t.Errorf("relays after the site's deletion = %v, %v", relayNames(all), err)
		}
		if revoked, err := s.RelayRevokedPeerIDs(ctx, now); err != nil || !cmp.Equal(revoked, []string{"peer-g"}) {
			t.Errorf("RelayRevokedPeerIDs = %v, %v", revoked, err)
		}
		// A site created again under the same ID gets a new key.
		again, _, err := s.GossipKeys(ctx, gone.ID, now, testKeyPolicy)
		if err != nil || cmp.Equal(again, key) {
			t.Errorf("gossip key after the site's deletion: same %t, %v", cmp.Equal(again, key), err)
		}
	})
}

// TestRelayTokenRefusals: a relay enrolls only with a usable relay token
// bound to its site and name, never over a relay still enrolled; each
// refusal leaves the relays and the token's uses as they were.
func TestRelayTokenRefusals(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		now := time.Now()
		siteA := &store.Site{Name: "a"}
		siteB := &store.Site{Name: "b"}
		for _, st := range []*store.Site{siteA, siteB} {
			if err := s.CreateSite(ctx, st); err != nil {
				t.Fatal(err)
			}
		}
		legit := enrollRelay(t, s, "ra", "peer-a", siteA.ID, now)
		agentTok := &store.EnrollmentToken{Name: "agents", Hash: hexHash("agents")}
		relayTok := &store.EnrollmentToken{Name: "relay rb", Hash: hexHash("rb"), Kind: store.TokenKindRelay, SiteID: &siteA.ID, RelayName: "rb"}
		takeover := &store.EnrollmentToken{Name: "relay ra", Hash: hexHash("ra"), Kind: store.TokenKindRelay, SiteID: &siteA.ID, RelayName: "ra"}
		for _, tok := range []*store.EnrollmentToken{agentTok, relayTok, takeover} {
			if err := s.CreateEnrollmentToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		if relayTok.MaxUses != 1 {
			t.Errorf("relay token MaxUses = %d, want single use by default", relayTok.MaxUses)
		}
		tests := []struct {
			name    string
			hash    string
			relay   store.Relay
			wantErr error
		}{
			{"agent-token", agentTok.Hash, store.Relay{Name: "rb", SiteID: siteA.ID, PeerID: "p-b"}, store.ErrTokenKind},
			{"other-site", relayTok.Hash, store.Relay{Name: "rb", SiteID: siteB.ID, PeerID: "p-b"}, store.ErrTokenTarget},
			{"other-name", relayTok.Hash, store.Relay{Name: "rc", SiteID: siteA.ID, PeerID: "p-b"}, store.ErrTokenTarget},
			{"existing-name", takeover.Hash, store.Relay{Name: "ra", SiteID: siteA.ID, PeerID: "p-evil"}, store.ErrRelayExists},
			{"existing-peer", relayTok.Hash, store.Relay{Name: "rb", SiteID: siteA.ID, PeerID: "peer-a"}, store.ErrRelayExists},
			{"unknown-token", hexHash("nope"), store.Relay{Name: "rb", SiteID: siteA.ID, PeerID: "p-b"}, store.ErrEnrollRefused},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := tt.relay
				r.SecretHash = hexHash("secret " + tt.name)
				if err := s.EnrollRelay(ctx, tt.hash, &r, now); !errors.Is(err, tt.wantErr) {
					t.Fatalf("EnrollRelay = %v, want %v", err, tt.wantErr)
				}
				all, err := s.Relays(ctx)
				if err != nil || len(all) != 1 || all[0].PeerID != "peer-a" || all[0].SecretHash != legit.SecretHash {
					t.Errorf("relays after the refusal = %+v, %v; want only the legitimate ra", all, err)
				}
				toks, err := s.ListEnrollmentTokens(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, tok := range toks {
					if tok.Uses != 0 && tok.RelayName != "ra" {
						t.Errorf("token %s used %d times by a refusal", tok.Name, tok.Uses)
					}
				}
			})
		}
		if revoked, err := s.RevokedPeerIDs(ctx, now); err != nil || len(revoked) != 0 {
			t.Errorf("RevokedPeerIDs = %v, %v; the legitimate relay must not be revoked", revoked, err)
		}
		// Once removed by an admin, the name may be enrolled again.
		if err := s.DeleteRelay(ctx, legit.ID, now); err != nil {
			t.Fatal(err)
		}
		if err := s.EnrollRelay(ctx, takeover.Hash, &store.Relay{Name: "ra", SiteID: siteA.ID, PeerID: "p-new", SecretHash: hexHash("new")}, now); err != nil {
			t.Errorf("enroll after removal: %v", err)
		}
	})
}

func TestCreateRelayToken(t *testing.T) {
	s := storetest.Open(t)
	ctx := t.Context()
	site := &store.Site{Name: "a"}
	if err := s.CreateSite(ctx, site); err != nil {
		t.Fatal(err)
	}
	missing := site.ID + 100
	tests := []struct {
		name    string
		tok     store.EnrollmentToken
		wantErr error
	}{
		{"relay-without-site", store.EnrollmentToken{Kind: store.TokenKindRelay, RelayName: "r"}, store.ErrInvalid},
		{"relay-without-name", store.EnrollmentToken{Kind: store.TokenKindRelay, SiteID: &site.ID}, store.ErrInvalid},
		{"relay-unknown-site", store.EnrollmentToken{Kind: store.TokenKindRelay, SiteID: &missing, RelayName: "r"}, store.ErrNotFound},
		{"agent-with-site", store.EnrollmentToken{SiteID: &site.ID}, store.ErrInvalid},
		{"bad-kind", store.EnrollmentToken{Kind: "admin"}, store.ErrInvalid},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := tt.tok
			tok.Name, tok.Hash = tt.name, hexHash(tt.name+string(rune('a'+i)))
			if err := s.CreateEnrollmentToken(ctx, &tok); !errors.Is(err, tt.wantErr) {
				t.Errorf("CreateEnrollmentToken = %v, want %v", err, tt.wantErr)
			}
		})
	}
	if toks, err := s.ListEnrollmentTokens(ctx); err != nil || len(toks) != 0 {
		t.Errorf("tokens after refusals = %+v, %v", toks, err)
	}
}

package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

// enrollRelay enrolls a relay of site with token hash tok.
func enrollRelay(t *testing.T, s *store.Store, tok, name, peer string, site uint, now time.Time) *store.Relay {
	t.Helper()
	r := &store.Relay{Name: name, SiteID: site, PeerID: peer, SecretHash: hexHash("secret " + name + peer),
		HTTPURL: "http://" + name + ":8090", RecordExpires: now.Add(24 * time.Hour)}
	if err := s.EnrollRelay(t.Context(), tok, r, now); err != nil {
		t.Fatalf("EnrollRelay(%s): %v", name, err)
	}
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
		tok := &store.EnrollmentToken{Name: "relays", Hash: hexHash("relays"), MaxUses: 3}
		if err := s.CreateEnrollmentToken(ctx, tok); err != nil {
			t.Fatal(err)
		}

		r1 := enrollRelay(t, s, tok.Hash, "r1", "peer1", site.ID, now)
		got, err := s.RelayBySecretHash(ctx, r1.SecretHash)
		if err != nil || got.Name != "r1" || got.SiteID != site.ID || got.LastSeen == nil {
			t.Fatalf("RelayBySecretHash = %+v, %v", got, err)
		}

		// Re-enrolling the name with a new identity replaces the relay:
		// the old secret stops, the old peer ID is refused.
		r1b := enrollRelay(t, s, tok.Hash, "r1", "peer1b", site.ID, now)
		if _, err := s.RelayBySecretHash(ctx, r1.SecretHash); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("old secret after re-enrollment: %v, want not found", err)
		}
		if got, err := s.Relay(ctx, r1b.ID); err != nil || got.PeerID != "peer1b" {
			t.Errorf("Relay(%d) = %+v, %v", r1b.ID, got, err)
		}
		revoked, err := s.RevokedPeerIDs(ctx, now)
		if err != nil || !cmp.Equal(revoked, []string{"peer1"}) {
			t.Errorf("RevokedPeerIDs = %v, %v; want [peer1]", revoked, err)
		}

		r2 := enrollRelay(t, s, tok.Hash, "r2", "peer2", site.ID, now)
		// The token's three uses are spent.
		err = s.EnrollRelay(ctx, tok.Hash, &store.Relay{Name: "r3", SiteID: site.ID, PeerID: "peer3", SecretHash: hexHash("s3")}, now)
		if !errors.Is(err, store.ErrEnrollRefused) {
			t.Errorf("fourth enrollment: %v, want ErrEnrollRefused", err)
		}
		if err := s.EnrollRelay(ctx, hexHash("nope"), &store.Relay{Name: "r4", PeerID: "p4", SecretHash: hexHash("s4")}, now); !errors.Is(err, store.ErrEnrollRefused) {
			t.Errorf("unknown token: %v, want ErrEnrollRefused", err)
		}

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
		revoked, err = s.RevokedPeerIDs(ctx, now)
		if err != nil || !cmp.Equal(revoked, []string{"peer1", "peer2"}) {
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
			res, err := s.IngestInventory(ctx, storetest.Snapshot(name+"-2026-01-01-00-00-00", 1))
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
		if err := s.RecordResult(ctx, comp["in"], "102", "SUCCESS", time.Now()); err != nil {
			t.Fatal(err)
		}
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
		tok := &store.EnrollmentToken{Name: "relays", Hash: hexHash("keeping")}
		if err := s.CreateEnrollmentToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		enrollRelay(t, s, tok.Hash, "ra", "peer-a", site.ID, now)
		enrollRelay(t, s, tok.Hash, "rb", "peer-b", site.ID, now)
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
		tok := &store.EnrollmentToken{Name: "relays", Hash: hexHash("site-delete")}
		if err := s.CreateEnrollmentToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		rg := enrollRelay(t, s, tok.Hash, "rg", "peer-g", gone.ID, now)
		enrollRelay(t, s, tok.Hash, "rk", "peer-k", kept.ID, now)
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

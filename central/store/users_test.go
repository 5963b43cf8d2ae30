package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

func TestUIUsers(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		tests := []struct {
			name string
			user store.UIUser
			want error
		}{
			{"ok", store.UIUser{Name: "ops", Role: store.RoleAdmin, PasswordHash: "h"}, nil},
			{"duplicate", store.UIUser{Name: "ops", Role: store.RoleReadonly, PasswordHash: "h"}, store.ErrConflict},
			{"bad-name", store.UIUser{Name: "a b", Role: store.RoleAdmin, PasswordHash: "h"}, store.ErrInvalid},
			{"bad-role", store.UIUser{Name: "x", Role: "root", PasswordHash: "h"}, store.ErrInvalid},
			{"no-hash", store.UIUser{Name: "y", Role: store.RoleAdmin}, store.ErrInvalid},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				u := tt.user
				if err := s.CreateUIUser(ctx, &u); !errors.Is(err, tt.want) {
					t.Fatalf("CreateUIUser = %v, want %v", err, tt.want)
				}
			})
		}
		u, err := s.UIUserByName(ctx, "ops")
		if err != nil {
			t.Fatal(err)
		}
		now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
		sess := &store.UISession{Hash: uiHash("a"), UserName: "ops", Role: store.RoleAdmin, CSRF: "c",
			CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.CreateUISession(ctx, sess); err != nil {
			t.Fatal(err)
		}
		if err := s.UpdateUIUser(ctx, u.ID, store.RoleReadonly, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UISessionByHash(ctx, sess.Hash); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("session after role change: %v, want ErrNotFound", err)
		}
		u2, err := s.UIUser(ctx, u.ID)
		if err != nil || u2.Role != store.RoleReadonly || u2.PasswordHash != "h" {
			t.Errorf("after update: %+v, %v", u2, err)
		}
		if err := s.UpdateUIUser(ctx, u.ID, "root", ""); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("update with a bad role: %v", err)
		}
		name, err := s.DeleteUIUser(ctx, u.ID)
		if err != nil || name != "ops" {
			t.Fatalf("DeleteUIUser = %q, %v", name, err)
		}
		if _, err := s.DeleteUIUser(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second delete: %v", err)
		}
		if users, err := s.ListUIUsers(ctx); err != nil || len(users) != 0 {
			t.Errorf("users left: %v, %v", users, err)
		}
	})
}

func uiHash(seed string) string {
	out := make([]byte, 64)
	for i := range out {
		out[i] = "0123456789abcdef"[(int(seed[0])+i)%16]
	}
	return string(out)
}

func TestUISessions(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
		for i, c := range []struct {
			seed     string
			last     time.Time
			lifetime time.Duration
		}{{"a", now, time.Hour}, {"b", now.Add(-2 * time.Hour), 3 * time.Hour}, {"c", now, -time.Minute}} {
			sess := &store.UISession{Hash: uiHash(c.seed), UserName: "admin", Role: store.RoleAdmin, CSRF: "t",
				CreatedAt: now, LastSeen: c.last, ExpiresAt: now.Add(c.lifetime)}
			if err := s.CreateUISession(ctx, sess); err != nil {
				t.Fatalf("session %d: %v", i, err)
			}
		}
		if err := s.CreateUISession(ctx, &store.UISession{Hash: "nothex", UserName: "x", Role: store.RoleAdmin, CSRF: "t"}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("bad hash: %v", err)
		}
		n, err := s.PruneUISessions(ctx, now, now.Add(-time.Hour))
		if err != nil || n != 2 {
			t.Fatalf("PruneUISessions = %d, %v; want 2 (one expired, one idle)", n, err)
		}
		got, err := s.UISessionByHash(ctx, uiHash("a"))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.TouchUISession(ctx, got.ID, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		got, _ = s.UISessionByHash(ctx, uiHash("a"))
		if !got.LastSeen.Equal(now.Add(time.Minute)) || !got.ExpiresAt.Equal(now.Add(time.Hour)) {
			t.Errorf("session times %v %v", got.LastSeen, got.ExpiresAt)
		}
		if err := s.DeleteUISession(ctx, uiHash("a")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UISessionByHash(ctx, uiHash("a")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleted session: %v", err)
		}
	})
}

// uiFixture ingests ant and bee in site "hq" and cat without a site,
// affects package 100 to all three and 200 to ant, and records progress
// and results.
func uiFixture(t *testing.T, s *store.Store) (site uint, ids []uint, base time.Time) {
	t.Helper()
	ctx := t.Context()
	hq := &store.Site{Name: "hq", CIDRs: []store.SiteCIDR{{CIDR: "10.9.0.0/16"}}}
	if err := s.CreateSite(ctx, hq); err != nil {
		t.Fatal(err)
	}
	base = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	for i, name := range []string{"ant", "bee", "cat"} {
		snap := storetest.Snapshot(devID(name, i), 1)
		snap.Computer.Name = name
		snap.Computer.LastContact = base.Add(-time.Duration(i) * 24 * time.Hour)
		if i < 2 {
			snap.Computer.SiteID = &hq.ID
		}
		ids = append(ids, mustIngest(t, s, snap).ComputerID)
	}
	createActive(t, s, "100", 5, true)
	createActive(t, s, "200", 5, false)
	affect(t, s, "100", ids...)
	affect(t, s, "200", ids[0])
	progress(t, s, ids[0], "100", store.Progress{State: store.StateDownloading, FragmentsDone: 1,
		FragmentsTotal: 4, BytesPeer: 300, BytesRelay: 20, BytesCentral: 1}, base)
	finish(t, s, ids[1], "100", store.StateSuccess, "SUCCESS", base.Add(time.Minute))
	finish(t, s, ids[2], "100", store.StateError, "ERR_BAD_DIGEST", base.Add(2*time.Minute))
	return hq.ID, ids, base
}

func TestUIDeploymentQueries(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		_, ids, base := uiFixture(t, s)
		pkgs, err := s.UIUnfinishedPackages(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantPkgs := []store.UIPackageStates{
			{PackageID: "100", PackageName: "pkg 100", Active: true, Counts: map[string]int64{store.StateDownloading: 1, store.StateSuccess: 1, store.StateError: 1}},
			{PackageID: "200", PackageName: "pkg 200", Counts: map[string]int64{store.StateWaiting: 1}},
		}
		if diff := cmp.Diff(wantPkgs, pkgs); diff != "" {
			t.Errorf("unfinished packages (-want +got):\n%s", diff)
		}

		c, err := s.UIDashboardCounts(ctx, base.Add(-36*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(&store.UICounts{Computers: 3, Sites: 1, Packages: 2, ActivePackages: 1, SeenSince: 2}, c); diff != "" {
			t.Errorf("counts (-want +got):\n%s", diff)
		}
		tags, err := s.UIComputerTags(ctx, ids)
		if err != nil || len(tags) != 3 || tags[ids[0]] != "lab" {
			t.Errorf("tags %v, %v", tags, err)
		}
	})
}

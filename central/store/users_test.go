package store_test

import (
	"errors"
	"testing"
	"time"

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

package store_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

func hashOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func TestTokens(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		tests := []struct {
			name    string
			tok     *store.APIToken
			wantErr error
		}{
			{name: "ok-admin", tok: &store.APIToken{Name: "ci", Hash: hashOf("a"), Role: store.RoleAdmin}},
			{name: "ok-readonly", tok: &store.APIToken{Name: "dash", Hash: hashOf("b"), Role: store.RoleReadonly}},
			{name: "duplicate-hash", tok: &store.APIToken{Name: "dup", Hash: hashOf("a"), Role: store.RoleAdmin}, wantErr: store.ErrConflict},
			{name: "upper-case-hash", tok: &store.APIToken{Name: "x", Hash: strings.ToUpper(hashOf("c")), Role: store.RoleAdmin}, wantErr: store.ErrInvalid},
			{name: "short-hash", tok: &store.APIToken{Name: "x", Hash: "abcd", Role: store.RoleAdmin}, wantErr: store.ErrInvalid},
			{name: "bad-role", tok: &store.APIToken{Name: "x", Hash: hashOf("d"), Role: "root"}, wantErr: store.ErrInvalid},
			{name: "no-name", tok: &store.APIToken{Hash: hashOf("e"), Role: store.RoleAdmin}, wantErr: store.ErrInvalid},
			{name: "nil", wantErr: store.ErrInvalid},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if err := s.CreateToken(ctx, tt.tok); !errors.Is(err, tt.wantErr) {
					t.Errorf("CreateToken = %v, want %v", err, tt.wantErr)
				}
			})
		}

		tok, err := s.TokenByHash(ctx, hashOf("a"))
		if err != nil {
			t.Fatalf("TokenByHash: %v", err)
		}
		now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		if tok.Name != "ci" || tok.Role != store.RoleAdmin || !tok.Valid(now) {
			t.Errorf("token = %+v", tok)
		}
		if _, err := s.TokenByHash(ctx, hashOf("zzz")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("TokenByHash(unknown) = %v, want ErrNotFound", err)
		}
		if err := s.TouchToken(ctx, tok.ID, now); err != nil {
			t.Fatalf("TouchToken: %v", err)
		}
		if err := s.RevokeToken(ctx, tok.ID); err != nil {
			t.Fatalf("RevokeToken: %v", err)
		}
		tok, err = s.TokenByHash(ctx, hashOf("a"))
		if err != nil {
			t.Fatalf("TokenByHash: %v", err)
		}
		if !tok.Revoked || tok.Valid(now) || tok.LastUsed == nil || !tok.LastUsed.Equal(now) {
			t.Errorf("after touch and revoke: %+v", tok)
		}
		for _, err := range []error{s.RevokeToken(ctx, 9999), s.TouchToken(ctx, 9999, now)} {
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("unknown token error = %v, want ErrNotFound", err)
			}
		}
		list, err := s.ListTokens(ctx)
		if err != nil {
			t.Fatalf("ListTokens: %v", err)
		}
		if len(list) != 2 || list[0].Name != "ci" || list[1].Name != "dash" {
			t.Errorf("ListTokens = %+v", list)
		}
	})
}

func TestTokenValid(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Second), now.Add(time.Hour)
	tests := []struct {
		name string
		tok  store.APIToken
		want bool
	}{
		{name: "plain", tok: store.APIToken{}, want: true},
		{name: "revoked", tok: store.APIToken{Revoked: true}, want: false},
		{name: "expired", tok: store.APIToken{ExpiresAt: &past}, want: false},
		{name: "expires-at-now", tok: store.APIToken{ExpiresAt: &now}, want: false},
		{name: "not-yet-expired", tok: store.APIToken{ExpiresAt: &future}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.tok.Valid(now); got != tt.want {
				t.Errorf("Valid = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSettings(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		type download struct {
			FragLatency  int    `json:"frag_latency"`
			CycleLatency int    `json:"cycle_latency"`
			Note         string `json:"note"`
		}
		var got download
		found, err := s.GetSetting(ctx, "download", &got)
		if err != nil || found {
			t.Fatalf("GetSetting(missing) = %v, %v; want false, nil", found, err)
		}
		tests := []struct {
			name string
			v    download
		}{
			{name: "first", v: download{FragLatency: 60, CycleLatency: 60, Note: "défaut"}},
			{name: "overwrite", v: download{FragLatency: 1, CycleLatency: 2}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if err := s.PutSetting(ctx, "download", tt.v); err != nil {
					t.Fatalf("PutSetting: %v", err)
				}
				var got download
				found, err := s.GetSetting(ctx, "download", &got)
				if err != nil || !found {
					t.Fatalf("GetSetting = %v, %v", found, err)
				}
				if diff := cmp.Diff(tt.v, got); diff != "" {
					t.Errorf("round trip (-want +got):\n%s", diff)
				}
			})
		}
		if err := s.PutSetting(ctx, "prolog_freq", 24); err != nil {
			t.Fatalf("PutSetting(int): %v", err)
		}
		var freq int
		if found, err := s.GetSetting(ctx, "prolog_freq", &freq); err != nil || !found || freq != 24 {
			t.Errorf("GetSetting(prolog_freq) = %d, %v, %v", freq, found, err)
		}
		var wrong []string
		if _, err := s.GetSetting(ctx, "prolog_freq", &wrong); err == nil {
			t.Error("GetSetting into a wrong type succeeded")
		}
		if err := s.PutSetting(ctx, "", 1); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("PutSetting(empty key) = %v, want ErrInvalid", err)
		}
		if err := s.PutSetting(ctx, "bad", func() {}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("PutSetting(func) = %v, want ErrInvalid", err)
		}
		if n := mustCount(t, s)["settings"]; n != 2 {
			t.Errorf("settings rows = %d, want 2", n)
		}
	})
}

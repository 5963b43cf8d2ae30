package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

// TestRolesAndScope covers custom roles (a held role cannot be deleted),
// directory users (never taking a local user's name) and the scope of
// computer searches (site or TAG).
func TestRolesAndScope(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		r := &store.Role{Name: "technician", Permissions: "computers.read deploy"}
		if err := s.CreateRole(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateRole(ctx, &store.Role{Name: "admin"}); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("a custom role named admin: %v, want invalid", err)
		}
		if err := s.CreateUIUser(ctx, &store.UIUser{Name: "local", Role: "technician", PasswordHash: "h"}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateUIUser(ctx, &store.UIUser{Name: "x", Role: "no-such-role", PasswordHash: "h"}); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("a user of an unknown role: %v, want invalid", err)
		}
		if _, err := s.DeleteRole(ctx, r.ID); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("delete a held role: %v, want conflict", err)
		}
		if _, err := s.UpsertDirectoryUser(ctx, "local", "technician", nil, nil, "!ldap", time.Now()); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("a directory user named like a local one: %v, want conflict", err)
		}
		site := &store.Site{Name: "a", CIDRs: []store.SiteCIDR{{CIDR: "10.1.0.0/16"}}}
		if err := s.CreateSite(ctx, site); err != nil {
			t.Fatal(err)
		}
		u, err := s.UpsertDirectoryUser(ctx, "alice", "technician", []uint{site.ID}, []string{"shop"}, "!ldap", time.Now())
		if err != nil || u.Source != store.UserSourceLDAP || u.ScopeTags != "shop" {
			t.Fatalf("directory user: %+v, %v", u, err)
		}
		mk := func(name string, siteID *uint) uint {
			c := &store.Computer{Name: name, DeviceID: name + "-2026-12-05-00-00-00"}
			if err := s.CreateComputer(ctx, c); err != nil {
				t.Fatal(err)
			}
			if err := s.SetComputerSite(ctx, c.ID, siteID); err != nil {
				t.Fatal(err)
			}
			return c.ID
		}
		inSite, other := mk("in-site", &site.ID), mk("other", nil)
		tagged := mk("tagged", nil)
		if err := s.SetAccountValue(ctx, tagged, store.AccountTag, "shop"); err != nil {
			t.Fatal(err)
		}
		sc := store.Scope{SiteIDs: []uint{site.ID}, Tags: []string{"shop"}}
		got, total, err := s.SearchComputers(ctx, store.ComputerFilter{Scope: sc})
		if err != nil || total != 2 || len(got) != 2 || got[0].ID != inSite || got[1].ID != tagged {
			t.Fatalf("scoped search: %+v (%d), %v", got, total, err)
		}
		for id, want := range map[uint]bool{inSite: true, tagged: true, other: false, 9999: false} {
			if ok, err := s.ComputerInScope(ctx, id, sc); err != nil || ok != want {
				t.Errorf("ComputerInScope(%d) = %v, %v; want %v", id, ok, err, want)
			}
		}
		if ok, err := s.ComputerInScope(ctx, other, store.Scope{}); err != nil || !ok {
			t.Errorf("unscoped ComputerInScope = %v, %v; want true", ok, err)
		}
	})
}

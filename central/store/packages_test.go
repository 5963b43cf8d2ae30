package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

func TestCreatePackage(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		tests := []struct {
			name    string
			p       *store.Package
			wantErr error
		}{
			{name: "ok", p: &store.Package{ID: "1700000001", Name: "firefox", Priority: 5, Proto: store.ProtoHTTP}},
			{name: "duplicate", p: &store.Package{ID: "1700000001", Name: "again"}, wantErr: store.ErrConflict},
			{name: "non-digit-id", p: &store.Package{ID: "17a", Name: "x"}, wantErr: store.ErrInvalid},
			{name: "empty-id", p: &store.Package{Name: "x"}, wantErr: store.ErrInvalid},
			{name: "empty-name", p: &store.Package{ID: "2"}, wantErr: store.ErrInvalid},
			{name: "priority-too-high", p: &store.Package{ID: "3", Name: "x", Priority: 11}, wantErr: store.ErrInvalid},
			{name: "bad-proto", p: &store.Package{ID: "4", Name: "x", Proto: "FTP"}, wantErr: store.ErrInvalid},
			{name: "negative-size", p: &store.Package{ID: "5", Name: "x", Size: -1}, wantErr: store.ErrInvalid},
			{name: "nil", p: nil, wantErr: store.ErrInvalid},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if err := s.CreatePackage(t.Context(), tt.p); !errors.Is(err, tt.wantErr) {
					t.Errorf("CreatePackage = %v, want %v", err, tt.wantErr)
				}
			})
		}
		p, err := s.Package(t.Context(), "1700000001")
		if err != nil {
			t.Fatalf("Package: %v", err)
		}
		if p.Name != "firefox" || p.Priority != 5 || p.Active {
			t.Errorf("Package = %+v", p)
		}
		if _, err := s.Package(t.Context(), "9"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Package(unknown) = %v, want ErrNotFound", err)
		}
	})
}

func TestPackageActivation(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		createActive(t, s, "10", 5, false)
		at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		tests := []struct {
			name             string
			id               string
			active           bool
			info, pack, prot string
			wantErr          error
			wantProto        string
		}{
			{name: "activate", id: "10", active: true, info: "srv:443/download", pack: "relay/download", prot: store.ProtoHTTPS, wantProto: store.ProtoHTTPS},
			{name: "default-proto", id: "10", active: true, info: "srv/download", pack: "srv/download", wantProto: store.ProtoHTTP},
			{name: "scheme", id: "10", active: true, info: "https://srv/download", pack: "srv/download", wantErr: store.ErrInvalid},
			{name: "empty-pack", id: "10", active: true, info: "srv/download", wantErr: store.ErrInvalid},
			{name: "bad-proto", id: "10", active: true, info: "a/b", pack: "a/b", prot: "ftp", wantErr: store.ErrInvalid},
			{name: "unknown", id: "11", active: true, info: "a/b", pack: "a/b", wantErr: store.ErrNotFound},
			{name: "deactivate", id: "10", active: false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := s.SetPackageActivation(t.Context(), tt.id, tt.active, tt.info, tt.pack, tt.prot, at)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("SetPackageActivation = %v, want %v", err, tt.wantErr)
				}
				if tt.wantErr != nil {
					return
				}
				p, err := s.Package(t.Context(), tt.id)
				if err != nil {
					t.Fatalf("Package: %v", err)
				}
				if p.Active != tt.active {
					t.Errorf("Active = %v, want %v", p.Active, tt.active)
				}
				if tt.active && (p.InfoLoc != tt.info || p.PackLoc != tt.pack || p.Proto != tt.wantProto ||
					p.ActivatedAt == nil || !p.ActivatedAt.Equal(at)) {
					t.Errorf("activated package = %+v", p)
				}
				if !tt.active && p.ActivatedAt != nil {
					t.Errorf("ActivatedAt = %v after deactivation, want nil", p.ActivatedAt)
				}
			})
		}
	})
}

func TestListAndDeletePackages(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		for i := range 5 {
			createActive(t, s, fmt.Sprint(100+i), 5, true)
		}
		page, total, err := s.ListPackages(t.Context(), 2, 1)
		if err != nil {
			t.Fatalf("ListPackages: %v", err)
		}
		if total != 5 || len(page) != 2 {
			t.Fatalf("ListPackages = %d rows, total %d; want 2, 5", len(page), total)
		}
		if _, _, err := s.ListPackages(t.Context(), -1, 0); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("ListPackages(-1) = %v, want ErrInvalid", err)
		}

		c := mustIngest(t, s, storetest.Snapshot(devID("pc", 1), 1)).ComputerID
		affect(t, s, "100", c)
		affect(t, s, "101", c)
		if err := s.DeletePackage(t.Context(), "100"); err != nil {
			t.Fatalf("DeletePackage: %v", err)
		}
		if err := s.DeletePackage(t.Context(), "100"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second DeletePackage = %v, want ErrNotFound", err)
		}
		n := mustCount(t, s)
		if n["packages"] != 4 || n["deployments"] != 1 || n["deployment_events"] != 1 {
			t.Errorf("rows after delete = %v, want 4 packages, 1 deployment, 1 event", n)
		}
	})
}

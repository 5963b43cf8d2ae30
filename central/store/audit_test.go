package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

func TestAuditLog(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		for i, e := range []store.AuditEvent{
			{Actor: "admin", Action: "package.create", Target: "1"},
			{Actor: "token:ci", Action: "package.activate", Target: "1", Detail: "pack_loc=relay/download"},
			{Actor: "admin", Action: "site.create", Target: "hq", Remote: "10.0.0.9"},
		} {
			e.At = base.Add(time.Duration(i) * time.Minute)
			if err := s.RecordAudit(ctx, &e); err != nil {
				t.Fatalf("RecordAudit: %v", err)
			}
		}
		if err := s.RecordAudit(ctx, &store.AuditEvent{Action: "x"}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("audit without actor: %v, want ErrInvalid", err)
		}
		tests := []struct {
			name string
			f    store.AuditFilter
			want []string
		}{
			{name: "all_newest_first", f: store.AuditFilter{}, want: []string{"site.create", "package.activate", "package.create"}},
			{name: "actor", f: store.AuditFilter{Actor: "admin"}, want: []string{"site.create", "package.create"}},
			{name: "action_prefix", f: store.AuditFilter{Action: "package."}, want: []string{"package.activate", "package.create"}},
			{name: "action_exact", f: store.AuditFilter{Action: "package"}, want: nil},
			{name: "since", f: store.AuditFilter{Since: base.Add(time.Minute)}, want: []string{"site.create", "package.activate"}},
			{name: "page", f: store.AuditFilter{Limit: 1, Offset: 1}, want: []string{"package.activate"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				evs, total, err := s.ListAudit(ctx, tt.f)
				if err != nil {
					t.Fatalf("ListAudit: %v", err)
				}
				var got []string
				for _, e := range evs {
					got = append(got, e.Action)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("actions (-want +got):\n%s", diff)
				}
				if tt.f.Limit == 0 && total != int64(len(tt.want)) {
					t.Errorf("total %d, want %d", total, len(tt.want))
				}
			})
		}
	})
}

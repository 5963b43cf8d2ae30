package store

import (
	"log/slog"
	"testing"
)

// TestBackfillSoftwareNames: software rows stored before the names table
// existed (name_id 0) are numbered when the store opens, so searches find
// them.
func TestBackfillSoftwareNames(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s, err := Open(ctx, Config{}, dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c := &Computer{DeviceID: "old-2026-01-01-00-00-00", Name: "old"}
	if err := s.w.Create(c).Error; err != nil {
		t.Fatal(err)
	}
	rows := []Software{{ComputerID: c.ID, Name: "7-Zip 23.01 (x64)", Version: "23.01"}, {ComputerID: c.ID, Name: "curl", Version: "7.88"}}
	if err := s.w.Create(&rows).Error; err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(ctx, Config{}, dir, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	got, total, err := s.SearchComputers(ctx, ComputerFilter{Software: "7-zip", SoftwareVersion: "< 24"})
	if err != nil {
		t.Fatal(err)
	}
	if total != 1 || got[0].ID != c.ID {
		t.Errorf("search after reopening found %d computers, want computer %d", total, c.ID)
	}
	var zero int64
	if err := s.r.Model(&Software{}).Where("name_id = 0").Count(&zero).Error; err != nil || zero != 0 {
		t.Errorf("%d rows left unnumbered (%v)", zero, err)
	}
}

package store

import (
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gorm.io/gorm"
)

// TestSoftwareInsertMirrorsSoftware: the row an ingest inserts has every
// column of Software but its ID, and insertOf copies each of them.
func TestSoftwareInsertMirrorsSoftware(t *testing.T) {
	column := func(f reflect.StructField) string {
		for _, part := range strings.Split(f.Tag.Get("gorm"), ";") {
			if c, ok := strings.CutPrefix(part, "column:"); ok {
				return c
			}
		}
		return f.Name
	}
	var src Software
	sv := reflect.ValueOf(&src).Elem()
	it := reflect.TypeOf(softwareInsert{})
	for i := range sv.NumField() {
		f := sv.Type().Field(i)
		if f.Name == "ID" {
			continue
		}
		g, ok := it.FieldByName(f.Name)
		if !ok || g.Type != f.Type || column(g) != column(f) {
			t.Errorf("softwareInsert lacks Software's %s %s (column %s)", f.Name, f.Type, column(f))
			continue
		}
		switch f.Type.Kind() {
		case reflect.String:
			sv.Field(i).SetString("v-" + f.Name)
		case reflect.Int64:
			sv.Field(i).SetInt(int64(100 + i))
		case reflect.Uint:
			sv.Field(i).SetUint(uint64(200 + i))
		default:
			t.Fatalf("field %s: kind %s not set by this test", f.Name, f.Type.Kind())
		}
	}
	if it.NumField() != sv.NumField()-1 {
		t.Errorf("softwareInsert has %d fields, Software %d with its ID", it.NumField(), sv.NumField())
	}
	got := reflect.ValueOf(insertOf(&src))
	for i := range it.NumField() {
		name := it.Field(i).Name
		if want := sv.FieldByName(name).Interface(); got.Field(i).Interface() != want {
			t.Errorf("insertOf: %s = %v, want %v", name, got.Field(i).Interface(), want)
		}
	}
}

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

// TestSoftwareInsertIsOrFail: the software INSERT is INSERT OR FAIL, which
// needs no statement journal on SQLite (insertSoftware).
func TestSoftwareInsertIsOrFail(t *testing.T) {
	for _, n := range []int{1, batchSize} {
		sql := softwareInsertSQL(n)
		if !strings.HasPrefix(sql, "INSERT OR FAIL INTO `softwares` (") || strings.Count(sql, "?") != 12*n {
			t.Errorf("softwareInsertSQL(%d) = %.80s… with %d parameters", n, sql, strings.Count(sql, "?"))
		}
	}
	if fullSoftwareInsertSQL() != softwareInsertSQL(batchSize) {
		t.Errorf("fullSoftwareInsertSQL differs from softwareInsertSQL(batchSize)")
	}
}

// TestInsertSoftwareStoresEveryColumn: insertSoftware's own INSERT (on
// SQLite) stores every field of the rows, in batches and a partial one.
func TestInsertSoftwareStoresEveryColumn(t *testing.T) {
	s, err := Open(t.Context(), Config{}, t.TempDir(), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	c := &Computer{DeviceID: "ins-2026-12-05-16-40-00", Name: "ins"}
	if err := s.CreateComputer(t.Context(), c); err != nil {
		t.Fatalf("CreateComputer: %v", err)
	}
	var want []Software
	var rows []softwareInsert
	for i := range batchSize + 3 {
		r := Software{ComputerID: c.ID, NameID: int64(1000 + i), VersionKey: fmt.Sprintf("vk%d", i),
			Name: fmt.Sprintf("n%d", i), Version: fmt.Sprintf("v%d", i), Publisher: fmt.Sprintf("p%d", i),
			Architecture: fmt.Sprintf("a%d", i), InstallDate: fmt.Sprintf("d%d", i), FileSize: int64(2000 + i),
			From: fmt.Sprintf("f%d", i), Comments: fmt.Sprintf("c%d", i), Folder: fmt.Sprintf("F%d", i)}
		want = append(want, r)
		rows = append(rows, insertOf(&r))
	}
	err = s.w.WithContext(t.Context()).Transaction(func(tx *gorm.DB) error { return insertSoftware(tx, rows) })
	if err != nil {
		t.Fatalf("insertSoftware: %v", err)
	}
	var got []Software
	if err := s.r.Where("computer_id = ?", c.ID).Order("id").Find(&got).Error; err != nil {
		t.Fatalf("read back: %v", err)
	}
	for i := range got {
		got[i].ID = 0
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored rows differ (-want +got):\n%s", diff)
	}
}

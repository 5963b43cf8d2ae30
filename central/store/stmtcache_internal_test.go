package store

import (
	"fmt"
	"testing"

	"gorm.io/gorm"
)

// TestWriterReusesStatementsAcrossTransactions checks that the SQLite
// writer parses a statement once, not once per transaction, and that a
// reused statement gives the right answers: with its rows open, the same
// query runs on a second statement; after a failed INSERT the statement
// works again.
func TestWriterReusesStatementsAcrossTransactions(t *testing.T) {
	s, err := Open(t.Context(), Config{}, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.w.Exec("CREATE TABLE stmt_cache_t (k INTEGER PRIMARY KEY, v TEXT)").Error; err != nil {
		t.Fatal(err)
	}
	insert := func(tx *gorm.DB, k int) error {
		return tx.Exec("INSERT INTO stmt_cache_t (k, v) VALUES (?, ?)", k, fmt.Sprint("v", k)).Error
	}
	if err := s.tx(t.Context(), false, func(tx *gorm.DB) error { return insert(tx, 1) }); err != nil {
		t.Fatal(err)
	}
	before := s.prepared.Load()
	for k := 2; k <= 5; k++ {
		if err := s.tx(t.Context(), false, func(tx *gorm.DB) error { return insert(tx, k) }); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.prepared.Load() - before; got != 0 {
		t.Errorf("4 more transactions with the same INSERT parsed %d statements, want 0", got)
	}

	// A duplicate key fails; the statement is usable afterwards.
	if err := s.tx(t.Context(), false, func(tx *gorm.DB) error { return insert(tx, 3) }); err == nil {
		t.Fatal("duplicate key inserted")
	}
	if err := s.tx(t.Context(), false, func(tx *gorm.DB) error { return insert(tx, 6) }); err != nil {
		t.Fatalf("insert after a failed one: %v", err)
	}

	// The same query inside the iteration of its own rows.
	err = s.tx(t.Context(), false, func(tx *gorm.DB) error {
		const q = "SELECT k, v FROM stmt_cache_t WHERE k >= ? ORDER BY k"
		rows, err := tx.Raw(q, 1).Rows()
		if err != nil {
			return err
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var k int
			var v string
			if err := rows.Scan(&k, &v); err != nil {
				return err
			}
			var inner []int
			if err := tx.Raw(q, k).Scan(&[]struct{ K int }{}).Error; err != nil {
				return err
			}
			if err := tx.Raw("SELECT k FROM stmt_cache_t WHERE k >= ? ORDER BY k", k).Pluck("k", &inner).Error; err != nil {
				return err
			}
			if len(inner) != 6-n || inner[0] != k || v != fmt.Sprint("v", k) {
				return fmt.Errorf("row %d: k %d v %q, rows from k: %v", n, k, v, inner)
			}
			n++
		}
		if n != 6 {
			return fmt.Errorf("%d rows, want 6", n)
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
}

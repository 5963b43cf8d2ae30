package store

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/internal/testwait"
)

// TestCheckpointerCopiesTheWAL: with the writer's automatic checkpoint far
// away (16,000 pages), committed pages still reach the database file,
// copied by the background checkpointer, and Close stops it.
func TestCheckpointerCopiesTheWAL(t *testing.T) {
	s, err := Open(t.Context(), Config{}, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.stopCheckpointer == nil {
		t.Fatal("no checkpointer on SQLite")
	}
	if err := s.w.Exec("CREATE TABLE ckpt_test (b TEXT)").Error; err != nil {
		t.Fatal(err)
	}
	blob := strings.Repeat("x", 100_000)
	for range 40 { // 4 MB: about 250 pages, far below the writer's own checkpoint
		if err := s.w.Exec("INSERT INTO ckpt_test (b) VALUES (?)", blob).Error; err != nil {
			t.Fatal(err)
		}
	}
	const want = 4_000_000
	testwait.For(t, 10*checkpointEvery, "the checkpointer to copy the WAL into the database file", func() error {
		fi, err := os.Stat(s.path)
		if err != nil {
			return err
		}
		if fi.Size() < want {
			return fmt.Errorf("database file %d bytes, want at least %d", fi.Size(), want)
		}
		return nil
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s.stopCheckpointer != nil {
		t.Error("Close left the checkpointer set")
	}
}

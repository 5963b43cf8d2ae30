package store

import (
	"os"
	"strings"
	"testing"
	"time"
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
	deadline := time.Now().Add(10 * checkpointEvery)
	for {
		fi, err := os.Stat(s.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() >= want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("database file %d bytes after %s, want at least %d: the WAL was not checkpointed", fi.Size(), 10*checkpointEvery, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s.stopCheckpointer != nil {
		t.Error("Close left the checkpointer set")
	}
}

package statefile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestWriteBytes replaces a file atomically with the given mode, whatever
// the umask and the old file's mode, and leaves no temporary file behind.
func TestWriteBytes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteBytes(path, []byte("new\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "new\n" {
		t.Errorf("content %q, want %q", b, "new\n")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only state.json", len(entries))
	}
	if err := WriteBytes(filepath.Join(dir, "missing", "x"), nil, 0o600); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

func TestWriteRead(t *testing.T) {
	type state struct {
		Name string
		N    int
	}
	path := filepath.Join(t.TempDir(), "s.json")
	var got state
	if ok, err := Read(path, &got); ok || err != nil {
		t.Fatalf("Read of a missing file = %t, %v; want false, nil", ok, err)
	}
	want := state{Name: "a", N: 3}
	if err := Write(path, want, 0o600); err != nil {
		t.Fatal(err)
	}
	if ok, err := Read(path, &got); !ok || err != nil {
		t.Fatalf("Read = %t, %v", ok, err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Read (-want +got):\n%s", diff)
	}
}

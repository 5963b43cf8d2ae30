package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLogFileRotates(t *testing.T) {
	dir := flatTempDir(t)
	p := filepath.Join(dir, "shoal-agent.log")
	l, err := openLogFile(p, 100, 2)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Repeat("x", 39) + "\n" // 40 bytes: two lines per file
	for range 7 {
		if _, err := l.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, name := range []string{"shoal-agent.log", "shoal-agent.log.1", "shoal-agent.log.2", "shoal-agent.log.3"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil {
			got = append(got, name+":"+string(rune('0'+len(b)/40)))
		}
	}
	want := []string{"shoal-agent.log:1", "shoal-agent.log.1:2", "shoal-agent.log.2:2"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("files (name:lines) -want +got:\n%s", d)
	}
}

// flatTempDir is t.TempDir for a directory without subdirectories, with a
// cleanup that also works under wine 8 (see make wine-test), whose
// NtSetInformationFile lacks the POSIX delete that os.RemoveAll uses.
func flatTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "shoal-agent-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			os.Remove(filepath.Join(dir, e.Name()))
		}
		if err := os.Remove(dir); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return dir
}

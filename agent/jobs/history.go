package jobs

import (
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/shoal-project/shoal/internal/statefile"
	"github.com/shoal-project/shoal/proto"
)

// HistoryEntry is the last outcome of a package on this computer.
type HistoryEntry struct {
	Code     string    `json:"code"`
	ExitCode *int      `json:"exit_code,omitempty"`
	Success  bool      `json:"success"`
	At       time.Time `json:"at"`
}

// history is the local install history, written to disk on every change so
// that a package is never installed twice because of a crash.
type history struct {
	path string

	mu      sync.Mutex // guards entries
	entries map[string]HistoryEntry
}

func loadHistory(dir string) (*history, error) {
	h := &history{path: filepath.Join(dir, "history.json"), entries: map[string]HistoryEntry{}}
	if _, err := statefile.Read(h.path, &h.entries); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *history) get(pkg string) (HistoryEntry, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.entries[pkg]
	return e, ok
}

// record stores the outcome of pkg and writes the file.
func (h *history) record(pkg string, r proto.Result, at time.Time) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.entries[pkg] = HistoryEntry{Code: r.Code, ExitCode: r.ExitCode, Success: isSuccess(r.Code), At: at.UTC()}
	return statefile.Write(h.path, h.entries, 0o600)
}

// installed lists the packages installed successfully, sorted.
func (h *history) installed() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, pkg := range slices.Sorted(maps.Keys(h.entries)) {
		if h.entries[pkg].Success {
			out = append(out, pkg)
		}
	}
	return out
}

func isSuccess(code string) bool {
	return len(code) >= len("SUCCESS") && code[:len("SUCCESS")] == "SUCCESS"
}

// Installed returns the packages the local history of stateDir lists as
// installed, for use before a Manager exists (enrollment).
func Installed(stateDir string) ([]string, error) {
	h, err := loadHistory(stateDir)
	if err != nil {
		return nil, err
	}
	return h.installed(), nil
}

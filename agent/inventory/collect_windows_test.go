package inventory

import (
	"log/slog"
	"strings"
	"testing"
)

// TestLiveWindowsCollect reads this machine's registry and system (under
// wine: wine's registry, which says Windows 7 or 10 depending on the prefix).
func TestLiveWindowsCollect(t *testing.T) {
	c := New("", "", slog.New(slog.DiscardHandler))
	inv := c.Collect(t.Context())
	if !strings.Contains(inv.OSName, "Windows") || inv.ProcessorCount == 0 || inv.MemoryMB == 0 || len(inv.Drives) == 0 || inv.Hostname == "" {
		t.Errorf("os %q cpus %d memory %d drives %v host %q; problems %q", inv.OSName, inv.ProcessorCount, inv.MemoryMB, inv.Drives, inv.Hostname, inv.Problems)
	}
	t.Logf("%s %s (%s), %d CPUs %q, %d MB, %d drives, %d softwares, user %q; problems %q",
		inv.OSName, inv.OSVersion, inv.Kernel, inv.ProcessorCount, inv.ProcessorType, inv.MemoryMB, len(inv.Drives), len(inv.Softwares), inv.UserID, inv.Problems)
}

package deploy

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto"
)

// linuxNames are words of OS names (OCS OSNAME, os-release NAME) that mark
// a Linux computer even without the word "linux".
var linuxNames = []string{"linux", "debian", "ubuntu", "centos", "red hat", "rhel", "fedora", "suse",
	"alpine", "mint", "rocky", "alma", "raspbian", "kali", "manjaro", "gentoo", "arch", "amazon"}

// OSPlatform classifies a computer's inventory OS name as the package
// platform it runs (proto.PlatformLinux, PlatformWindows or
// PlatformMacOSX), or "" when the name does not tell.
func OSPlatform(osName string) string {
	n := strings.ToLower(osName)
	switch {
	case n == "":
		return ""
	case strings.Contains(n, "windows"):
		return proto.PlatformWindows
	case strings.Contains(n, "macos"), strings.Contains(n, "mac os"), strings.Contains(n, "os x"), strings.Contains(n, "darwin"):
		return proto.PlatformMacOSX
	}
	for _, w := range linuxNames {
		if strings.Contains(n, w) {
			return proto.PlatformLinux
		}
	}
	return ""
}

// PlatformName is the human name of a package platform.
func PlatformName(platform string) string {
	switch platform {
	case proto.PlatformLinux:
		return "Linux"
	case proto.PlatformWindows:
		return "Windows"
	case proto.PlatformMacOSX:
		return "macOS"
	}
	return platform
}

// Exclusion is a group of selected computers an affectation leaves out,
// and why.
type Exclusion struct {
	// Platform is the platform the computers run (proto.Platform*).
	Platform string `json:"platform"`
	Count    int    `json:"count"`
	// Reason is a sentence for the admin.
	Reason string `json:"reason"`
}

// ExclusionSummary is one sentence for a list of exclusions, "" when none.
func ExclusionSummary(ex []Exclusion) string {
	parts := make([]string, len(ex))
	for i, e := range ex {
		parts[i] = e.Reason
	}
	return strings.Join(parts, "; ")
}

// checkPlatform splits the computers ids into those that may get package
// pkg and groups of excluded ones: a computer whose OS is known to be of
// another platform than the package's is excluded (a LINUX package on a
// Windows PC only fails with ERR_EXECUTE). Computers whose OS name does not
// tell (no inventory yet) are kept. Unknown IDs are kept for the caller to
// refuse.
func (s *Service) checkPlatform(ctx context.Context, pkg *store.Package, ids []uint) ([]uint, []Exclusion, error) {
	if pkg.Platform == "" || len(ids) == 0 {
		return ids, nil, nil
	}
	names, err := s.store.ComputerOSNames(ctx, ids)
	if err != nil {
		return nil, nil, fmt.Errorf("check platform: %w", err)
	}
	kept := make([]uint, 0, len(ids))
	counts := map[string]int{}
	for _, id := range ids {
		if p := OSPlatform(names[id]); p != "" && p != pkg.Platform {
			counts[p]++
			continue
		}
		kept = append(kept, id)
	}
	var ex []Exclusion
	for p, n := range counts {
		noun, they := "computers run", "they are"
		if n == 1 {
			noun, they = "computer runs", "it is"
		}
		ex = append(ex, Exclusion{Platform: p, Count: n, Reason: fmt.Sprintf(
			"%d %s %s: the package is for %s, so %s excluded", n, noun, PlatformName(p), PlatformName(pkg.Platform), they)})
	}
	slices.SortFunc(ex, func(a, b Exclusion) int { return cmp.Compare(a.Platform, b.Platform) })
	return kept, ex, nil
}

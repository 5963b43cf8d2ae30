package deploy

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
	"github.com/shoal-project/shoal/proto"
)

func TestOSPlatform(t *testing.T) {
	tests := []struct {
		name, os, want string
	}{
		{name: "debian", os: "Debian GNU/Linux 12 (bookworm)", want: proto.PlatformLinux},
		{name: "ubuntu", os: "Ubuntu 24.04", want: proto.PlatformLinux},
		{name: "fedora", os: "Fedora Linux 40", want: proto.PlatformLinux},
		{name: "windows", os: "Microsoft Windows 10 Professionnel", want: proto.PlatformWindows},
		{name: "windows_server", os: "Microsoft Windows Server 2022 Standard", want: proto.PlatformWindows},
		{name: "macos", os: "macOS 14.5", want: proto.PlatformMacOSX},
		{name: "mac_os_x", os: "Mac OS X 10.15", want: proto.PlatformMacOSX},
		{name: "empty", os: "", want: ""},
		{name: "unknown", os: "FreeBSD 14.1", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := OSPlatform(tt.os); got != tt.want {
				t.Errorf("OSPlatform(%q) = %q, want %q", tt.os, got, tt.want)
			}
		})
	}
}

// TestAffectExcludesOtherPlatforms: a LINUX package affected to Linux,
// Windows and not-yet-inventoried computers leaves out the Windows ones,
// in the preview and for real, and refuses when nothing is left.
func TestAffectExcludesOtherPlatforms(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{})
	record := func(deviceID, osName string) uint {
		snap := storetest.Snapshot(deviceID, 1)
		snap.Computer.OSName = osName
		res, err := inventory.Record(ctx, f.st, snap)
		if err != nil {
			t.Fatal(err)
		}
		return res.ComputerID
	}
	linux := record("lnx-2026-11-26-10-00-00", "Debian GNU/Linux 12")
	win1 := record("win1-2026-11-26-10-00-00", "Microsoft Windows 11 Pro")
	win2 := record("win2-2026-11-26-10-00-00", "Microsoft Windows 10 Pro")
	unknown := record("new-2026-11-26-10-00-00", "")
	id := f.pkg(5, true)

	all := []uint{linux, win1, win2, unknown}
	preview, err := f.svc.Affect(ctx, id, AffectRequest{ComputerIDs: all, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	want := &AffectResult{Selected: 2, Excluded: 2, Exclusions: []Exclusion{{Platform: proto.PlatformWindows, Count: 2,
		Reason: "2 computers run Windows: the package is for Linux, so they are excluded"}}}
	if diff := cmp.Diff(want, preview); diff != "" {
		t.Errorf("preview (-want +got):\n%s", diff)
	}
	res, err := f.svc.Affect(ctx, id, AffectRequest{ComputerIDs: all})
	if err != nil || res.Created != 2 || res.Excluded != 2 {
		t.Fatalf("affect: %+v %v", res, err)
	}
	rows, _, err := f.st.DeploymentRows(ctx, store.DeploymentRowFilter{PackageID: id, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var got []uint
	for _, r := range rows {
		got = append(got, r.ComputerID)
	}
	if diff := cmp.Diff([]uint{linux, unknown}, got); diff != "" {
		t.Errorf("deployed computers (-want +got):\n%s", diff)
	}

	_, err = f.svc.Affect(ctx, id, AffectRequest{ComputerIDs: []uint{win1}})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "1 computer runs Windows: the package is for Linux, so it is excluded") {
		t.Fatalf("only Windows computers: %v", err)
	}
}

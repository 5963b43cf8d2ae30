package inventory_test

import (
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
	"github.com/shoal-project/shoal/proto/ocs"
)

// TestIngestWindowsFragments stores the Windows agents' real sections
// (proto/ocs/testdata/windows-agent) as the OCS endpoint does and reads the
// computer back: the Windows agent's OS, processor and memory fields, its
// drive letters, and FusionInventory's Windows OS section. The agent's
// masked IPADDR ("x.x.x.x", as the issue quoted it) is stored as sent and
// matches no site.
func TestIngestWindowsFragments(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		svc := inventory.New(s, slog.New(slog.DiscardHandler))
		ingest := func(name, ua string) *store.ComputerDetail {
			t.Helper()
			doc, err := os.ReadFile(filepath.Join("..", "..", "proto", "ocs", "testdata", "windows-agent", name))
			if err != nil {
				t.Fatal(err)
			}
			inv, err := ocs.ParseInventory(doc)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Ingest(ctx, inv, ua, netip.MustParseAddr("127.0.0.1")); err != nil {
				t.Fatalf("ingest %s: %v", name, err)
			}
			c, err := s.ComputerByDeviceID(ctx, inv.DeviceID)
			if err != nil {
				t.Fatal(err)
			}
			d, err := s.ComputerDetail(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}

		d := ingest("ocs-2.4.0.0-hardware.xml", "OCS-NG_WINDOWS_AGENT_v2.4.0.0")
		got := []any{d.Name, d.OSName, d.OSVersion, d.ProcessorType, d.ProcessorCount, d.MemoryMB, d.SwapMB, d.UserID, d.IPAddr}
		want := []any{"PC0170", "Microsoft Windows 8 Professional Edition", "6.2.9200",
			"Intel(R) Core(TM) i5-6500 CPU @ 3.20GHz [1 core(s) x86]", 4, 3960, 4829, "xxxxxxxx", "x.x.x.x"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Windows agent HARDWARE (-want +got):\n%s", diff)
		}
		got = []any{d.WinCompany, d.WinOwner, d.WinProdID, d.WinProdKey}
		want = []any{"XXXXX", "XXXXXXXXX", "XXXXX-10000-00001-AA616", "XXXX-XXXXX-YVC9B-4J6C9-T83GX"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Windows fields (-want +got):\n%s", diff)
		}
		if d.SiteID != nil {
			t.Errorf("site %d for a masked address", *d.SiteID)
		}

		d = ingest("ocs-2.11.0.1-cpus.xml", "OCS-NG_WINDOWS_AGENT_v2.11.0.1")
		if len(d.CPUs) != 1 || d.CPUs[0].Type != "11th Gen Intel(R) Core(TM) i7-11700 @ 2.50GHz" || d.CPUs[0].Cores != "8" ||
			d.CPUs[0].LogicalCPUs != "16" || d.CPUs[0].CurrentSpeed != "2496" || d.Arch != "x86_64" {
			t.Errorf("Windows agent CPUS: arch %q, %+v", d.Arch, d.CPUs)
		}
		if d.ProcessorType != d.CPUs[0].Type || d.ProcessorCount != 1 {
			t.Errorf("processor %q × %d, want the CPUS entry's", d.ProcessorType, d.ProcessorCount)
		}

		d = ingest("fusioninventory-2.4-operatingsystem.xml", "FusionInventory-Agent_v2.4")
		got = []any{d.OSName, d.OSVersion, d.KernelVersion, d.Arch}
		want = []any{"Microsoft Windows 10 Professionnel", "1709", "10.0.16299", "64-bit"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("FusionInventory Windows OS (-want +got):\n%s", diff)
		}

		d = ingest("fusioninventory-win81-os-printers-software.xml", "FusionInventory-Agent_v2.3")
		if d.Arch != "32-bit" || d.OSName != "Microsoft Windows Embedded 8.1 Industry Pro" || d.KernelVersion != "6.3.9600" {
			t.Errorf("OS %q, kernel %q, arch %q", d.OSName, d.KernelVersion, d.Arch)
		}
		if len(d.Printers) != 1 || d.Printers[0].Name != "Printer Document" || d.Printers[0].Driver != "PDFCreator" ||
			d.Printers[0].Port != "pdfcmon" || d.Printers[0].ShareName != "PDFCreator" || d.Printers[0].Status != "Idle" {
			t.Errorf("printers %+v", d.Printers)
		}
		if len(d.Softwares) != 1 || d.Softwares[0].Name != "cwRsync (remove only)" || d.Softwares[0].Architecture != "i586" ||
			d.Softwares[0].From != "registry" {
			t.Errorf("softwares %+v", d.Softwares)
		}

		d = ingest("fusioninventory-winxp-hardware-drives.xml", "FusionInventory-Agent_v2.3")
		if len(d.Drives) != 1 || d.Drives[0].Letter != "N:" || d.Drives[0].Label != "Iomega_HDD" ||
			d.Drives[0].TotalMB != 476223 || d.Drives[0].FreeMB != 225076 || d.Drives[0].FileSystem != "NTFS" {
			t.Errorf("drives %+v", d.Drives)
		}
		if d.OSName != "Microsoft Windows XP Professionnel" || d.Workgroup != "COLLEGE101.local" || d.UserDomain != "COLLEGE101" {
			t.Errorf("OS %q, workgroup %q, user domain %q", d.OSName, d.Workgroup, d.UserDomain)
		}
		if d.WinProdKey != "KYKVX-86GQG-2MDY9-F6J9M-K42BQ" || d.WinProdID != "76413-OEM-0011903-00101" || d.WinOwner != "" {
			t.Errorf("product key %q, ID %q, owner %q (sent as one space)", d.WinProdKey, d.WinProdID, d.WinOwner)
		}
	})
}

package ocs

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// windowsFragment parses one of testdata/windows-agent: real sections of
// Windows inventories quoted in public issues (see its README), each in a
// minimal REQUEST envelope.
func windowsFragment(t *testing.T, name string) *Inventory {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("testdata", "windows-agent", name))
	if err != nil {
		t.Fatal(err)
	}
	inv, err := ParseInventory(doc)
	if err != nil {
		t.Fatalf("ParseInventory: %v", err)
	}
	return inv
}

// TestWindowsAgentFragments reads the Windows agent's sections field by
// field: its CPUS (with CURRENT_SPEED, CPUSTATUS and the agent's habit of
// sending CPUSTATUS again as SERIALNUMBER) and its HARDWARE with the
// Windows fields (WINPRODKEY, WINPRODID, WINOWNER, WINCOMPANY) and the
// server-side columns an ocsreports export adds, which are ignored.
func TestWindowsAgentFragments(t *testing.T) {
	inv := windowsFragment(t, "ocs-2.11.0.1-cpus.xml")
	wantCPUs := []CPU{{
		Socket: "U3E1", Manufacturer: "GenuineIntel", Speed: "2496", Type: "11th Gen Intel(R) Core(TM) i7-11700 @ 2.50GHz",
		Cores: "8", L2CacheSize: "4096", CPUArch: "x86_64", DataWidth: "64", LogicalCPUs: "16",
		CurrentSpeed: "2496", CPUStatus: "CPU Enabled", SerialNumber: "CPU Enabled",
	}}
	if diff := cmp.Diff(wantCPUs, inv.CPUs); diff != "" {
		t.Errorf("CPUS of agent 2.11.0.1 (-want +got):\n%s", diff)
	}

	inv = windowsFragment(t, "ocs-2.4.0.0-hardware.xml")
	wantHW := Hardware{
		Name: "PC0170", OSName: "Microsoft Windows 8 Professional Edition", OSVersion: "6.2.9200",
		ProcessorType: "Intel(R) Core(TM) i5-6500 CPU @ 3.20GHz [1 core(s) x86]", ProcessorSpeed: "3192",
		ProcessorCount: "4", Memory: "3960", Swap: "4829", IPAddr: "x.x.x.x", UserID: "xxxxxxxx", Type: "0",
		WinCompany: "XXXXX", WinOwner: "XXXXXXXXX", WinProdID: "XXXXX-10000-00001-AA616",
		WinProdKey: "XXXX-XXXXX-YVC9B-4J6C9-T83GX",
	}
	if diff := cmp.Diff(wantHW, inv.Hardware); diff != "" {
		t.Errorf("HARDWARE of agent 2.4.0.0 (-want +got):\n%s", diff)
	}
}

// TestFusionInventoryWindowsFragments reads FusionInventory's Windows
// sections (the GLPI agent's format): OPERATINGSYSTEM with ARCH "64-bit",
// KERNEL_NAME MSWin32 and a nested TIMEZONE, and a drive with a LETTER and
// a LABEL.
func TestFusionInventoryWindowsFragments(t *testing.T) {
	inv := windowsFragment(t, "fusioninventory-2.4-operatingsystem.xml")
	wantOS := OperatingSystem{
		Arch: "64-bit", BootTime: "2018-04-24 11:47:32", FQDN: "SIEGE-007.domain.tld",
		FullName: "Microsoft Windows 10 Professionnel", InstallDate: "2018-03-21 15:44:51", KernelName: "MSWin32",
		KernelVersion: "10.0.16299", Name: "Windows", Version: "1709",
	}
	if diff := cmp.Diff(wantOS, inv.OperatingSystem); diff != "" {
		t.Errorf("OPERATINGSYSTEM (-want +got):\n%s", diff)
	}

	inv = windowsFragment(t, "fusioninventory-winxp-hardware-drives.xml")
	wantDrives := []Drive{{
		Filesystem: "NTFS", Free: "225076", Label: "Iomega_HDD", Letter: "N:", Serial: "80597868",
		Total: "476223", Type: "Local Disk", Volume: "Iomega_HDD",
	}}
	if diff := cmp.Diff(wantDrives, inv.Drives); diff != "" {
		t.Errorf("DRIVES (-want +got):\n%s", diff)
	}
	if h := inv.Hardware; h.WinProdKey != "KYKVX-86GQG-2MDY9-F6J9M-K42BQ" || h.WinProdID != "76413-OEM-0011903-00101" ||
		h.UserDomain != "COLLEGE101" || h.Workgroup != "COLLEGE101.local" || h.OSComments != "Service Pack 3" {
		t.Errorf("HARDWARE: %+v", h)
	}
}

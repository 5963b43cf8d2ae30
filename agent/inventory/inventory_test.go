//go:build !windows

package inventory

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/proto"
)

// fakeRoot writes a small Linux file tree.
func fakeRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"proc/sys/kernel/hostname":  "lab-pc-01.example.org\n",
		"proc/sys/kernel/osrelease": "6.1.0-27-amd64\n",
		"etc/os-release":            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n",
		"etc/resolv.conf":           "# generated\nsearch corp.example.org\nnameserver 10.0.0.53\nnameserver 10.0.0.54\n",
		"proc/cpuinfo": "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\ncpu MHz\t\t: 2449.998\n" +
			"physical id\t: 0\ncpu cores\t: 2\ncache size\t: 512 KB\nflags\t\t: fpu lm sse2\n\n" +
			"processor\t: 1\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\ncpu MHz\t\t: 2449.998\n" +
			"physical id\t: 0\ncpu cores\t: 2\ncache size\t: 512 KB\nflags\t\t: fpu lm sse2\n\n",
		"proc/meminfo":                  "MemTotal:        8130424 kB\nMemFree:  100 kB\nSwapTotal:        999420 kB\n",
		"proc/self/mounts":              "/dev/vda1 / ext4 rw 0 0\nproc /proc proc rw 0 0\n/dev/vda15 /boot/efi vfat rw 0 0\n/dev/vdb /srv/my\\040data xfs rw 0 0\n",
		"proc/net/route":                "Iface\tDestination\tGateway \tFlags\nlo\t0000007F\t00000000\t0001\neth0\t00000000\t0100000A\t0003\n",
		"sys/class/dmi/id/sys_vendor":   "QEMU\n",
		"sys/class/dmi/id/product_name": "Standard PC (Q35 + ICH9, 2009)\n",
		"sys/class/dmi/id/bios_vendor":  "SeaBIOS\n",
		"sys/class/dmi/id/bios_version": "1.16.2\n",
		"sys/class/dmi/id/chassis_type": "1\n",
		"sys/block/vda/size":            "104857600\n",
		"sys/block/vda/device/vendor":   "0x1af4\n",
		"sys/block/loop0/size":          "100\n",
		"var/lib/dpkg/info/bash.list":   "/bin/bash\n",
		"var/lib/dpkg/status": "Package: bash\nStatus: install ok installed\nInstalled-Size: 7000\nMaintainer: Matthias Klose <doko@debian.org>\n" +
			"Architecture: amd64\nVersion: 5.2.15-2+b7\nDescription: GNU Bourne Again SHell\n Bash is an sh-compatible command language interpreter.\n\n" +
			"Package: removed-thing\nStatus: deinstall ok config-files\nVersion: 1.0\n\n" +
			"Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:1.2.13.dfsg-1\nDescription: compression library - runtime\n",
	}
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// An unreadable source: a directory where a file is expected.
	os.MkdirAll(filepath.Join(root, "sys/class/dmi/id/product_serial"), 0o755)
	return root
}

func TestCollect(t *testing.T) {
	c := New(fakeRoot(t), "", slog.New(slog.DiscardHandler))
	inv := c.Collect(t.Context())
	got := *inv
	got.Networks, got.IPAddr, got.Arch, got.Description = nil, "", "", ""
	for i := range got.CPUs {
		got.CPUs[i].Arch = ""
	}
	want := proto.AgentInventory{
		Hostname: "lab-pc-01", Workgroup: "corp.example.org", OSName: "Debian GNU/Linux 12", OSVersion: "12",
		OSComments: "Debian GNU/Linux 12 (bookworm)", Kernel: "6.1.0-27-amd64",
		ProcessorType: "AMD EPYC 7B13", ProcessorCount: 2, MemoryMB: 7939, SwapMB: 975,
		DNS: "10.0.0.53", Gateway: "10.0.0.1", VMSystem: "QEMU",
		BIOS: proto.InvBIOS{SystemManufacturer: "QEMU", SystemModel: "Standard PC (Q35 + ICH9, 2009)", BiosManufacturer: "SeaBIOS",
			BiosVersion: "1.16.2", Type: "Other"},
		CPUs:     []proto.InvCPU{{Manufacturer: "AMD", Type: "AMD EPYC 7B13", SpeedMHz: 2450, Cores: 2, LogicalCPUs: 2, DataWidth: 64, L2Cache: "512 KB"}},
		Storages: []proto.InvStorage{{Name: "vda", Manufacturer: "0x1af4", Type: "disk", SizeMB: 51200}},
		Drives: []proto.InvDrive{{MountPoint: "/", Device: "/dev/vda1", FileSystem: "ext4"}, {MountPoint: "/boot/efi", Device: "/dev/vda15", FileSystem: "vfat"},
			{MountPoint: "/srv/my data", Device: "/dev/vdb", FileSystem: "xfs"}},
		Softwares: []proto.InvSoftware{
			{Name: "bash", Version: "5.2.15-2+b7", Architecture: "amd64", Publisher: "Matthias Klose <doko@debian.org>",
				Comments: "GNU Bourne Again SHell", SizeBytes: 7000 * 1024, From: "deb", InstallDate: got.Softwares[0].InstallDate},
			{Name: "zlib1g", Version: "1:1.2.13.dfsg-1", Architecture: "amd64", Comments: "compression library - runtime", From: "deb"},
		},
		Problems: []string{"sys/class/dmi/id/product_serial: is a directory"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("inventory (-want +got):\n%s", diff)
	}
	if got.Softwares[0].InstallDate == "" {
		t.Error("bash has no install date")
	}
	if len(inv.Networks) == 0 {
		t.Error("no network interface found")
	}
}

func TestCollectRealSystem(t *testing.T) {
	inv := New("/", "", slog.New(slog.DiscardHandler)).Collect(t.Context())
	if inv.Hostname == "" || inv.OSName == "" || inv.ProcessorCount == 0 || inv.MemoryMB == 0 || len(inv.Networks) == 0 {
		t.Errorf("incomplete inventory of this machine: %+v", inv)
	}
	t.Logf("%d softwares, %d drives, problems %v", len(inv.Softwares), len(inv.Drives), inv.Problems)
}

func TestFingerprintIgnoresFreeSpace(t *testing.T) {
	a := &proto.AgentInventory{Hostname: "h", Drives: []proto.InvDrive{{MountPoint: "/", FreeMB: 10}}}
	b := &proto.AgentInventory{Hostname: "h", Drives: []proto.InvDrive{{MountPoint: "/", FreeMB: 20}}}
	c := &proto.AgentInventory{Hostname: "h2", Drives: []proto.InvDrive{{MountPoint: "/", FreeMB: 20}}}
	if Fingerprint(a) != Fingerprint(b) {
		t.Error("free space changed the fingerprint")
	}
	if Fingerprint(b) == Fingerprint(c) {
		t.Error("host name did not change the fingerprint")
	}
	if a.Drives[0].FreeMB != 10 {
		t.Error("Fingerprint modified its argument")
	}
}

// TestAfterInstallWait: the inventory after an install waits between half
// and all of after_install (30 s by default), at once when it is negative;
// a wait longer than check_interval is refused.
func TestAfterInstallWait(t *testing.T) {
	for range 100 {
		if d := (Config{}).AfterInstallWait(); d < 15*time.Second || d > 30*time.Second {
			t.Fatalf("default wait %s, want 15s to 30s", d)
		}
		if d := (Config{AfterInstall: 4 * time.Second}).AfterInstallWait(); d < 2*time.Second || d > 4*time.Second {
			t.Fatalf("wait %s for after_install 4s, want 2s to 4s", d)
		}
	}
	if d := (Config{AfterInstall: -1}).AfterInstallWait(); d != 0 {
		t.Errorf("negative after_install: wait %s, want 0", d)
	}
	if err := (Config{CheckInterval: time.Minute, AfterInstall: 2 * time.Minute}).Validate(); err == nil || !strings.Contains(err.Error(), "after_install") {
		t.Errorf("after_install above check_interval: %v, want an error naming after_install", err)
	}
	if err := (Config{AfterInstall: -1}).Validate(); err != nil {
		t.Errorf("negative after_install: %v", err)
	}
}

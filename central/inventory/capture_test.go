package inventory_test

import (
	"encoding/json"
	"flag"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
	"github.com/shoal-project/shoal/proto/ocs"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// captures are the real agent captures (proto/ocs/testdata, each with a
// README telling how it was taken) whose stored form is golden.
var captures = []struct {
	name, path string
}{
	{"unix-agent-2.10.0", "unix-agent-2.10.0/inventory-request.zlib"},
	{"unix-agent-2.10.0-local", "unix-agent-2.10.0/inventory-local.ocs"},
	{"fusioninventory-2.6", "fusioninventory-2.6/inventory-request.zlib"},
	{"glpi-agent-1.12", "glpi-agent-1.12/inventory-request.zlib"},
}

// storedForm is what central keeps of a capture, as the golden files show
// it: the computer's fields and every section; the long lists (software,
// local users, controllers) by count with their first and last rows.
type storedForm struct {
	Computer    store.Computer
	BIOS        store.BIOS
	CPUs        []store.CPU
	Memories    []store.Memory
	Storages    []store.Storage
	Drives      []store.Drive
	Networks    []store.Network
	Controllers rows[store.Controller]
	Monitors    []store.Monitor
	Printers    []store.Printer
	Videos      []store.Video
	LocalUsers  rows[store.LocalUser]
	Softwares   rows[store.Software]
	AccountInfo []store.AccountInfo
	History     []string
}

type rows[T any] struct {
	Count       int
	First, Last *T `json:",omitempty"`
}

func rowsOf[T any](list []T) rows[T] {
	r := rows[T]{Count: len(list)}
	if len(list) > 0 {
		r.First, r.Last = &list[0], &list[len(list)-1]
	}
	return r
}

// TestCaptureGolden reads each real capture as the OCS endpoint does and
// compares the records it would store with testdata/golden/<capture>.json
// (rewritten with -update). The golden files are reviewed by hand: the
// FusionInventory one must show the IPv6 address, the architecture, the
// distribution's version (not the kernel's) and eth0's MAC.
func TestCaptureGolden(t *testing.T) {
	now := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	for _, tt := range captures {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("..", "..", "proto", "ocs", "testdata", tt.path))
			if err != nil {
				t.Fatal(err)
			}
			doc, _, err := ocs.Decode(raw, 0)
			if err != nil {
				t.Fatal(err)
			}
			inv, err := ocs.ParseInventory(doc)
			if err != nil {
				t.Fatal(err)
			}
			snap := inventory.Snapshot(inv, now)
			got := storedForm{
				Computer: snap.Computer, BIOS: snap.BIOS, CPUs: snap.CPUs, Memories: snap.Memories,
				Storages: snap.Storages, Drives: snap.Drives, Networks: snap.Networks,
				Controllers: rowsOf(snap.Controllers), Monitors: snap.Monitors, Printers: snap.Printers,
				Videos: snap.Videos, LocalUsers: rowsOf(snap.LocalUsers), Softwares: rowsOf(snap.Softwares),
				AccountInfo: snap.AccountInfo, History: snap.History,
			}
			b, err := json.MarshalIndent(got, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			b = append(b, '\n')
			path := filepath.Join("testdata", "golden", tt.name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(b)); diff != "" {
				t.Errorf("stored form of %s (-golden +got):\n%s", tt.path, diff)
			}
		})
	}
}

// TestCaptureFacts states, apart from the golden files, the facts each
// agent's capture must yield.
func TestCaptureFacts(t *testing.T) {
	now := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name, path                           string
		osName, osVersion, kernel, arch, mac string
		ip, cpu, ipv6                        string
		localUsers, softwares, networks      int
	}{
		{name: "unix-agent", path: "unix-agent-2.10.0/inventory-request.zlib",
			osName: "Debian GNU/Linux 12", osVersion: "12", arch: "x86_64", mac: "02:fc:00:00:00:01",
			ip: "192.0.2.2", cpu: "AMD EPYC", ipv6: "fe80::fc:ff:fe00:1", localUsers: 24, softwares: 761, networks: 4},
		{name: "fusioninventory", path: "fusioninventory-2.6/inventory-request.zlib",
			osName: "Debian GNU/Linux 12 (bookworm)", osVersion: "12.11", kernel: "6.18.44-fc-v1272", arch: "x86_64",
			mac: "02:fc:00:00:00:01", ip: "192.0.2.2", cpu: "AMD EPYC", ipv6: "fd00::2", localUsers: 25, softwares: 807, networks: 7},
		// The GLPI agent's HARDWARE has no OSNAME, OSVERSION, IPADDR or
		// PROCESSORT: OPERATINGSYSTEM and the primary interface give them.
		{name: "glpi-agent", path: "glpi-agent-1.12/inventory-request.zlib",
			osName: "Debian GNU/Linux 12 (bookworm)", osVersion: "12.11", kernel: "6.18.44-fc-v1272", arch: "x86_64",
			mac: "02:fc:00:00:00:01", ip: "192.0.2.2", cpu: "AMD EPYC", ipv6: "fd00::2", localUsers: 26, softwares: 853, networks: 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("..", "..", "proto", "ocs", "testdata", tt.path))
			if err != nil {
				t.Fatal(err)
			}
			doc, _, err := ocs.Decode(raw, 0)
			if err != nil {
				t.Fatal(err)
			}
			inv, err := ocs.ParseInventory(doc)
			if err != nil {
				t.Fatal(err)
			}
			c := inventory.Snapshot(inv, now)
			got := []string{c.Computer.OSName, c.Computer.OSVersion, c.Computer.KernelVersion, c.Computer.Arch, c.Computer.FirstMAC,
				c.Computer.IPAddr, c.Computer.ProcessorType}
			want := []string{tt.osName, tt.osVersion, tt.kernel, tt.arch, tt.mac, tt.ip, tt.cpu}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("OS name, version, kernel, arch, MAC, IP, CPU (-want +got):\n%s", diff)
			}
			if c.Computer.ProcessorCount < 1 {
				t.Errorf("ProcessorCount = %d", c.Computer.ProcessorCount)
			}
			hasV6 := false
			for _, n := range c.Networks {
				hasV6 = hasV6 || n.IPAddress == tt.ipv6
			}
			if !hasV6 {
				t.Errorf("no network row with %s: %+v", tt.ipv6, c.Networks)
			}
			if len(c.LocalUsers) != tt.localUsers || len(c.Softwares) != tt.softwares || len(c.Networks) != tt.networks {
				t.Errorf("%d local users, %d softwares, %d networks; want %d, %d, %d", len(c.LocalUsers), len(c.Softwares),
					len(c.Networks), tt.localUsers, tt.softwares, tt.networks)
			}
		})
	}
}

// TestIngestFusionCapture stores the FusionInventory capture as the OCS
// endpoint does and reads it back: the site is found by the IPv6 address
// only that agent reports, and every kept section is stored.
func TestIngestFusionCapture(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		site := &store.Site{Name: "v6-branch", CIDRs: []store.SiteCIDR{{CIDR: "fd00::/64"}}}
		if err := s.CreateSite(ctx, site); err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(filepath.Join("..", "..", "proto", "ocs", "testdata", "fusioninventory-2.6", "inventory-request.zlib"))
		if err != nil {
			t.Fatal(err)
		}
		doc, _, err := ocs.Decode(raw, 0)
		if err != nil {
			t.Fatal(err)
		}
		inv, err := ocs.ParseInventory(doc)
		if err != nil {
			t.Fatal(err)
		}
		svc := inventory.New(s, slog.New(slog.DiscardHandler))
		if _, err := svc.Ingest(ctx, inv, "FusionInventory-Agent_v2.6-3", netip.MustParseAddr("127.0.0.1")); err != nil {
			t.Fatal(err)
		}
		c, err := s.ComputerByDeviceID(ctx, inv.DeviceID)
		if err != nil {
			t.Fatal(err)
		}
		d, err := s.ComputerDetail(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.SiteID == nil || *d.SiteID != site.ID {
			t.Errorf("site = %v, want %d (fd00::/64 matches eth0's IPADDRESS6 fd00::2)", d.SiteID, site.ID)
		}
		got := []string{d.OSVersion, d.KernelVersion, d.Arch, d.FirstMAC}
		if diff := cmp.Diff([]string{"12.11", "6.18.44-fc-v1272", "x86_64", "02:fc:00:00:00:01"}, got); diff != "" {
			t.Errorf("OS version, kernel, arch, MAC (-want +got):\n%s", diff)
		}
		if len(d.LocalUsers) != 25 || d.LocalUsers[0].Login != "root" || d.LocalUsers[0].UID != "0" {
			t.Errorf("local users: %d, first %+v", len(d.LocalUsers), d.LocalUsers)
		}
		found, _, err := s.SearchComputers(ctx, store.ComputerFilter{IP: "fd00::/64"})
		if err != nil {
			t.Fatal(err)
		}
		if len(found) != 1 || found[0].ID != c.ID {
			t.Errorf("IPv6 search fd00::/64 found %+v, want computer %d", found, c.ID)
		}
	})
}

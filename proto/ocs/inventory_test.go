package ocs

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// captureCounts are the section counts of the inventory captures, counted in
// the XML files: 761 <SOFTWARES>, 4 <NETWORKS>, 1 <CPUS>, 1 <DRIVES>,
// 3 <STORAGES> (one of them empty), 6 <CONTROLLERS>, no <MEMORIES>.
type captureCounts struct {
	Softwares, Networks, CPUs, Drives, Storages, Controllers, Memories, AccountInfo, History int
}

func countsOf(inv *Inventory) captureCounts {
	return captureCounts{
		Softwares: len(inv.Softwares), Networks: len(inv.Networks), CPUs: len(inv.CPUs),
		Drives: len(inv.Drives), Storages: len(inv.Storages), Controllers: len(inv.Controllers),
		Memories: len(inv.Memories), AccountInfo: len(inv.AccountInfo), History: len(inv.History),
	}
}

func TestParseInventoryCapture(t *testing.T) {
	for _, name := range []string{"inventory-request.xml", "inventory-request.zlib"} {
		t.Run(name, func(t *testing.T) {
			doc, _, err := Decode(readCapture(t, name), 0)
			if err != nil {
				t.Fatal(err)
			}
			inv, err := ParseInventory(doc)
			if err != nil {
				t.Fatalf("ParseInventory: %v", err)
			}
			checkFirstInventory(t, inv)
		})
	}
}

func checkFirstInventory(t *testing.T, inv *Inventory) {
	t.Helper()
	wantCounts := captureCounts{Softwares: 761, Networks: 4, CPUs: 1, Drives: 1, Storages: 3, Controllers: 6}
	if diff := cmp.Diff(wantCounts, countsOf(inv)); diff != "" {
		t.Errorf("section counts (-want +got):\n%s", diff)
	}
	if inv.DeviceID != deviceID || inv.OldDeviceID != "" {
		t.Errorf("DeviceID = %q, OldDeviceID = %q", inv.DeviceID, inv.OldDeviceID)
	}
	wantHW := Hardware{
		Name: "vm", Workgroup: "WORKGROUP", OSName: "Debian GNU/Linux 12", OSVersion: "12",
		OSComments: "Debian GNU/Linux 12 (bookworm)", ProcessorType: "AMD EPYC", ProcessorCount: "1",
		Memory: "24105", Swap: "0", IPAddr: "192.0.2.2", DNS: "10.255.255.53", DefaultGateway: "192.0.2.1",
		Description: "x86_64/00-00-00 01:25:12", InstallDate: "1970-00-01", VMSystem: "Physical",
		Checksum: "1572863",
	}
	if diff := cmp.Diff(wantHW, inv.Hardware); diff != "" {
		t.Errorf("Hardware (-want +got):\n%s", diff)
	}
	if inv.Hardware.MemoryMB() != 24105 || inv.Hardware.SwapMB() != 0 {
		t.Errorf("MemoryMB = %d, SwapMB = %d", inv.Hardware.MemoryMB(), inv.Hardware.SwapMB())
	}
	if diff := cmp.Diff(BIOS{}, inv.BIOS); diff != "" {
		t.Errorf("BIOS of a container must be empty (-want +got):\n%s", diff)
	}
	wantCPU := CPU{Cores: "2", CPUArch: "x86_64", DataWidth: "64", L2CacheSize: "2 MiB (2 instances)",
		LogicalCPUs: "2", Manufacturer: "AMD", NBSocket: "1", Threads: "2", Type: "AMD EPYC"}
	if diff := cmp.Diff(wantCPU, inv.CPUs[0]); diff != "" {
		t.Errorf("CPU (-want +got):\n%s", diff)
	}
	wantDrive := Drive{Filesystem: "ext4", Free: "81703", Total: "258019", Type: "/", Volume: "/dev/vda"}
	if diff := cmp.Diff(wantDrive, inv.Drives[0]); diff != "" {
		t.Errorf("Drive (-want +got):\n%s", diff)
	}
	if inv.Drives[0].TotalMB() != 258019 || inv.Drives[0].FreeMB() != 81703 {
		t.Errorf("TotalMB = %d, FreeMB = %d", inv.Drives[0].TotalMB(), inv.Drives[0].FreeMB())
	}
	wantStorages := []Storage{{}, {DiskSize: "274877.906944", Name: "vda", Type: "disk"}, {Name: "zram0", Type: "disk"}}
	if diff := cmp.Diff(wantStorages, inv.Storages); diff != "" {
		t.Errorf("Storages (-want +got):\n%s", diff)
	}
	if got := inv.Storages[1].DiskSizeMB(); got != 274877 {
		t.Errorf("DiskSizeMB = %d", got)
	}
	wantNet := []Network{
		{Description: "ifb0", Duplex: "Half", MACAddr: "a2:c5:2c:d9:02:29", MTU: "1500", Speed: "0 Mbps", Status: "Down", Type: "ether"},
		{Description: "ifb1", Duplex: "Half", MACAddr: "be:ce:61:cd:6c:37", MTU: "1500", Speed: "0 Mbps", Status: "Down", Type: "ether"},
		{Description: "eth0", Driver: "virtio_net", Duplex: "Full", IPAddress: "192.0.2.2", IPGateway: "192.0.2.1",
			IPMask: "255.255.255.0", IPSubnet: "192.0.2.0", MACAddr: "02:fc:00:00:00:01", MTU: "1400",
			Speed: "-1 Mbps", Status: "Up", Type: "ethernet"},
		{Description: "eth0", Driver: "virtio_net", Duplex: "Full", IPAddress: "fe80::fc:ff:fe00:1", IPGateway: "fe80::",
			IPMask: "ffff:ffff:ffff:ffff::", IPSubnet: "fe80::", MACAddr: "02:fc:00:00:00:01", MTU: "1400",
			Speed: "-1 Mbps", Status: "Up", Type: "ethernet"},
	}
	if diff := cmp.Diff(wantNet, inv.Networks); diff != "" {
		t.Errorf("Networks (-want +got):\n%s", diff)
	}
	wantCtl := Controller{Driver: "virtio", Manufacturer: "Red Hat, Inc. Virtio 1.0 memory balloon",
		Name: "Unassigned class [ffff]", PCIID: "1af4:1045", PCISlot: "00:01.0", Type: "rev 01"}
	if diff := cmp.Diff(wantCtl, inv.Controllers[1]); diff != "" {
		t.Errorf("Controllers[1] (-want +got):\n%s", diff)
	}
	wantFirst := Software{Name: "adduser", Version: "3.134", Architecture: "all", InstallDate: "2025/04/20 00:00:00",
		FileSize: "702464", From: "deb", Comments: "add and remove users and groups"}
	if diff := cmp.Diff(wantFirst, inv.Softwares[0]); diff != "" {
		t.Errorf("first software (-want +got):\n%s", diff)
	}
	wantLast := Software{Name: "zstd", Version: "1.5.4+dfsg2-5", Publisher: "https://github.com/facebook/zstd",
		Architecture: "amd64", InstallDate: "2026/08/22 04:53:01", FileSize: "2152448", From: "deb",
		Comments: "fast lossless compression algorithm -- CLI tool"}
	if diff := cmp.Diff(wantLast, inv.Softwares[760]); diff != "" {
		t.Errorf("last software (-want +got):\n%s", diff)
	}
	if got := inv.Softwares[760].Size(); got != 2152448 {
		t.Errorf("Size = %d", got)
	}
	named, published, quoted := 0, 0, 0
	for _, s := range inv.Softwares {
		if s.Name != "" && s.Version != "" && s.From == "deb" {
			named++
		}
		if s.Publisher != "" {
			published++
		}
		if s.Comments == `Recognize the type of data in a file using "magic" numbers` {
			quoted++
		}
	}
	if named != 761 || published != 652 || quoted != 1 {
		t.Errorf("softwares: %d with name, version and FROM=deb (want 761), %d with publisher (want 652), %d with the unescaped quote (want 1)",
			named, published, quoted)
	}
}

func TestParseInventoryTagHistoryCapture(t *testing.T) {
	inv, err := ParseInventory(readCapture(t, "inventory-request-tag-history.xml"))
	if err != nil {
		t.Fatalf("ParseInventory: %v", err)
	}
	if got := inv.Tag(); got != "from-server" {
		t.Errorf("Tag() = %q, want from-server", got)
	}
	if diff := cmp.Diff([]AccountInfo{{KeyName: "TAG", KeyValue: "from-server"}}, inv.AccountInfo); diff != "" {
		t.Errorf("AccountInfo (-want +got):\n%s", diff)
	}
	wantHistory := []string{"1700000007", "1700000008", "1700000002", "1700000001", "1700000003"}
	if diff := cmp.Diff(wantHistory, inv.History); diff != "" {
		t.Errorf("History (-want +got):\n%s", diff)
	}
	if inv.Hardware.Checksum != "513" || inv.Drives[0].Free != "81699" {
		t.Errorf("Checksum = %q, Free = %q; want the second run's 513 and 81699", inv.Hardware.Checksum, inv.Drives[0].Free)
	}
	if len(inv.Softwares) != 761 || len(inv.Networks) != 4 {
		t.Errorf("%d softwares, %d networks", len(inv.Softwares), len(inv.Networks))
	}
}

func TestParseInventoryLocalCapture(t *testing.T) {
	inv, err := ParseInventory(readCapture(t, "inventory-local.ocs"))
	if err != nil {
		t.Fatalf("ParseInventory: %v", err)
	}
	want := captureCounts{Softwares: 761, Networks: 4, CPUs: 1, Drives: 1, Storages: 3, Controllers: 6}
	if diff := cmp.Diff(want, countsOf(inv)); diff != "" {
		t.Errorf("section counts (-want +got):\n%s", diff)
	}
	if inv.DeviceID != "vm-2026-11-24-07-22-44" {
		t.Errorf("DeviceID = %q", inv.DeviceID)
	}
}

func TestParseInventoryForms(t *testing.T) {
	const envelope = `<DEVICEID>h-2024-01-02-03-04-05</DEVICEID><QUERY>INVENTORY</QUERY>`
	tests := []struct {
		name    string
		content string
		want    Inventory
	}{
		{
			name:    "attribute-form-sections",
			content: `<SOFTWARES NAME="a" VERSION="1"/><SOFTWARES NAME="b"><VERSION>2</VERSION></SOFTWARES><HARDWARE NAME="pc" OSNAME="Windows"/>`,
			want: Inventory{
				Softwares: []Software{{Name: "a", Version: "1"}, {Name: "b", Version: "2"}},
				Hardware:  Hardware{Name: "pc", OSName: "Windows"},
			},
		},
		{
			name:    "attribute-wins-over-element",
			content: `<NETWORKS MACADDR="aa"><MACADDR>bb</MACADDR><IPADDRESS>10.0.0.1</IPADDRESS></NETWORKS>`,
			want:    Inventory{Networks: []Network{{MACAddr: "aa", IPAddress: "10.0.0.1"}}},
		},
		{
			name:    "history-attribute-and-element-forms",
			content: `<DOWNLOAD><HISTORY><PACKAGE ID="1"/><PACKAGE><ID>2</ID></PACKAGE><PACKAGE ID=" 3 "></PACKAGE><PACKAGE/></HISTORY></DOWNLOAD>`,
			want:    Inventory{History: []string{"1", "2", "3"}},
		},
		{
			name:    "history-duplicates-once",
			content: `<DOWNLOAD><HISTORY><PACKAGE ID="1"/><PACKAGE ID="2"/><PACKAGE ID="1"/></HISTORY></DOWNLOAD><DOWNLOAD><HISTORY><PACKAGE ID="2"/><PACKAGE ID="4"/></HISTORY></DOWNLOAD>`,
			want:    Inventory{History: []string{"1", "2", "4"}},
		},
		{
			name:    "old-deviceid",
			content: `<OLD_DEVICEID>old-2020-01-02-03-04-05</OLD_DEVICEID>`,
			want:    Inventory{OldDeviceID: "old-2020-01-02-03-04-05"},
		},
		{
			name:    "old-deviceid-in-history",
			content: `<DOWNLOAD><HISTORY><OLD_DEVICEID>old-2020-01-02-03-04-05</OLD_DEVICEID><PACKAGE ID="9"/></HISTORY></DOWNLOAD>`,
			want:    Inventory{OldDeviceID: "old-2020-01-02-03-04-05", History: []string{"9"}},
		},
		{
			name:    "unknown-sections-and-fields-ignored",
			content: `<ENVS><KEY>v</KEY></ENVS><SOFTWARES><NAME>s</NAME><WEIRD>x</WEIRD><NAME>second</NAME></SOFTWARES><REGISTRY><NAME>r</NAME></REGISTRY>`,
			want:    Inventory{Softwares: []Software{{Name: "s"}}},
		},
		{
			name: "display-and-account-sections",
			content: `<MONITORS><CAPTION>DELL U2419H</CAPTION><MANUFACTURER>Dell Inc.</MANUFACTURER><SERIAL>7Q1</SERIAL><BASE64>AP8=</BASE64></MONITORS>` +
				`<PRINTERS><NAME>HP LaserJet</NAME><DRIVER>hpcups</DRIVER><PORT>usb://HP</PORT></PRINTERS>` +
				`<VIDEOS><CHIPSET>Intel UHD 620</CHIPSET><MEMORY>1024</MEMORY><NAME>Intel</NAME><RESOLUTION>1920x1080</RESOLUTION></VIDEOS>` +
				`<LOCAL_USERS><ID_USER>1000</ID_USER><LOGIN>alice</LOGIN></LOCAL_USERS><LOCAL_USERS><ID>0</ID><LOGIN>root</LOGIN></LOCAL_USERS>` +
				`<USERS><LOGIN>bob</LOGIN><DOMAIN>CORP</DOMAIN></USERS>` +
				`<OPERATINGSYSTEM><ARCH>x86_64</ARCH><VERSION>12.11</VERSION><KERNEL_VERSION>6.1.0</KERNEL_VERSION><TIMEZONE><NAME>UTC</NAME></TIMEZONE></OPERATINGSYSTEM>` +
				`<NETWORKS><IPADDRESS6>2001:db8::5</IPADDRESS6><IPMASK6>ffff:ffff:ffff:ffff::</IPMASK6><VIRTUALDEV>0</VIRTUALDEV></NETWORKS>` +
				`<CPUS><ARCH>i386</ARCH><CORE>4</CORE><THREAD>8</THREAD><NAME>Core i5</NAME></CPUS>`,
			want: Inventory{
				Monitors:        []Monitor{{Caption: "DELL U2419H", Manufacturer: "Dell Inc.", Serial: "7Q1"}},
				Printers:        []Printer{{Name: "HP LaserJet", Driver: "hpcups", Port: "usb://HP"}},
				Videos:          []Video{{Chipset: "Intel UHD 620", Memory: "1024", Name: "Intel", Resolution: "1920x1080"}},
				LocalUsers:      []LocalUser{{IDUser: "1000", Login: "alice"}, {ID: "0", Login: "root"}},
				Users:           []User{{Login: "bob", Domain: "CORP"}},
				OperatingSystem: OperatingSystem{Arch: "x86_64", Version: "12.11", KernelVersion: "6.1.0"},
				Networks:        []Network{{IPAddress6: "2001:db8::5", IPMask6: "ffff:ffff:ffff:ffff::", VirtualDev: "0"}},
				CPUs:            []CPU{{Arch: "i386", Core: "4", Thread: "8", Name: "Core i5"}},
			},
		},
		{
			name:    "nested-element-inside-field",
			content: `<BIOS><SSN>12<X>ignored</X>34</SSN><SMODEL> m </SMODEL></BIOS>`,
			want:    Inventory{BIOS: BIOS{SystemSerial: "1234", SystemModel: "m"}},
		},
		{
			name:    "empty-sections-kept",
			content: `<BIOS></BIOS><CPUS/><MEMORIES></MEMORIES><ACCOUNTINFO><KEYNAME>TAG</KEYNAME><KEYVALUE/></ACCOUNTINFO>`,
			want:    Inventory{CPUs: []CPU{{}}, Memories: []Memory{{}}, AccountInfo: []AccountInfo{{KeyName: "TAG"}}},
		},
		{
			name:    "windows-fields",
			content: `<HARDWARE><ARCH>64-bit</ARCH><WINPRODKEY>K</WINPRODKEY><USERDOMAIN>D</USERDOMAIN></HARDWARE><SOFTWARES><GUID>{G}</GUID><BITSWIDTH>64</BITSWIDTH></SOFTWARES><DRIVES><LETTER>C:/</LETTER></DRIVES>`,
			want: Inventory{
				Hardware:  Hardware{Arch: "64-bit", WinProdKey: "K", UserDomain: "D"},
				Softwares: []Software{{GUID: "{G}", BitsWidth: "64"}},
				Drives:    []Drive{{Letter: "C:/"}},
			},
		},
		{
			name:    "cdata-and-entities",
			content: `<SOFTWARES><NAME><![CDATA[a<b]]></NAME><COMMENTS>x &amp; y&nbsp;z</COMMENTS></SOFTWARES>`,
			want:    Inventory{Softwares: []Software{{Name: "a<b", Comments: "x & y\u00a0z"}}},
		},
		{
			name:    "prefixed-names-do-not-match",
			content: `<x:SOFTWARES xmlns:x="u"><NAME>a</NAME></x:SOFTWARES><SOFTWARES><x:NAME xmlns:x="u">b</x:NAME></SOFTWARES>`,
			want:    Inventory{Softwares: []Software{{}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := `<REQUEST><CONTENT>` + tt.content + `</CONTENT>` + envelope + `</REQUEST>`
			got, err := ParseInventory([]byte(doc))
			if err != nil {
				t.Fatalf("ParseInventory: %v", err)
			}
			tt.want.DeviceID = "h-2024-01-02-03-04-05"
			if diff := cmp.Diff(&tt.want, got); diff != "" {
				t.Errorf("inventory mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseInventoryLatin1(t *testing.T) {
	doc := "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<REQUEST><CONTENT><SOFTWARES><NAME>Pr\xe9sentation</NAME>" +
		"<PUBLISHER>Soci\xe9t\xe9 \x80</PUBLISHER></SOFTWARES></CONTENT><DEVICEID>h-2024-01-02-03-04-05</DEVICEID><QUERY>INVENTORY</QUERY></REQUEST>"
	inv, err := ParseInventory([]byte(doc))
	if err != nil {
		t.Fatalf("ParseInventory: %v", err)
	}
	want := []Software{{Name: "Présentation", Publisher: "Société €"}}
	if diff := cmp.Diff(want, inv.Softwares); diff != "" {
		t.Errorf("Softwares (-want +got):\n%s", diff)
	}
}

func TestInventoryMarshalRoundTrip(t *testing.T) {
	for _, name := range []string{"inventory-request.xml", "inventory-request-tag-history.xml"} {
		t.Run(name, func(t *testing.T) {
			want, err := ParseInventory(readCapture(t, name))
			if err != nil {
				t.Fatal(err)
			}
			want.OldDeviceID = "old-2020-01-02-03-04-05"
			want.Memories = []Memory{{Capacity: "8192", Caption: `Bank "0" <A&B>`}}
			doc, err := want.Marshal()
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if !bytes.HasPrefix(doc, []byte(xmlDeclDouble+"<REQUEST>\n  <CONTENT>\n")) {
				t.Errorf("Marshal output starts with %q", doc[:80])
			}
			got, err := ParseInventory(doc)
			if err != nil {
				t.Fatalf("ParseInventory(Marshal()): %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("round trip mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInventoryMarshalBadDeviceID(t *testing.T) {
	if _, err := (&Inventory{DeviceID: "vm"}).Marshal(); !errors.Is(err, ErrDeviceID) {
		t.Fatalf("Marshal error = %v, want ErrDeviceID", err)
	}
}

func TestInt(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{in: "24105", want: 24105},
		{in: " 42 ", want: 42},
		{in: "274877.906944", want: 274877},
		{in: "-1 Mbps", want: -1},
		{in: "+7", want: 7},
		{in: "2 MiB (2 instances)", want: 2},
		{in: "", want: 0},
		{in: "-", want: 0},
		{in: "abc", want: 0},
		{in: "0x10", want: 0},
		{in: "9223372036854775807", want: 9223372036854775807},
		{in: "99999999999999999999999", want: 9223372036854775807},
		{in: "-99999999999999999999999", want: -9223372036854775807},
	}
	for _, tt := range tests {
		if got := Int(tt.in); got != tt.want {
			t.Errorf("Int(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// BenchmarkParseInventory parses the 305 KB capture with 761 software rows.
func BenchmarkParseInventory(b *testing.B) {
	doc := readCapture(b, "inventory-request.xml")
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		inv, err := ParseInventory(doc)
		if err != nil {
			b.Fatal(err)
		}
		if len(inv.Softwares) != 761 {
			b.Fatalf("%d softwares", len(inv.Softwares))
		}
	}
}

// BenchmarkParseRequest parses only the envelope of the same capture.
func BenchmarkParseRequest(b *testing.B) {
	doc := readCapture(b, "inventory-request.xml")
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRequest(doc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeParse is the whole request path for an inventory: inflate
// the wire bytes, then parse envelope and inventory in one pass.
func BenchmarkDecodeParse(b *testing.B) {
	body := readCapture(b, "inventory-request.zlib")
	b.ReportAllocs()
	for b.Loop() {
		doc, _, err := Decode(body, 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := Parse(doc); err != nil {
			b.Fatal(err)
		}
	}
}

package inventory

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-project/shoal/proto"
)

// regReader reads the Windows registry. Keys are full paths with a root
// of HKLM or HKU, such as HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion.
// A 64-bit view is read (WOW6432Node is a key of its own there).
type regReader interface {
	// Values returns a key's values: REG_SZ, REG_EXPAND_SZ and REG_MULTI_SZ
	// (lines joined by "\n") as string, REG_DWORD and REG_QWORD as uint64.
	Values(key string) (map[string]any, error)
	// SubKeys lists the names of a key's subkeys.
	SubKeys(key string) ([]string, error)
}

// winSystem answers what the registry does not hold.
type winSystem interface {
	// Memory returns the physical memory and the page file size in MB.
	Memory() (memMB, pageMB int, err error)
	// Volumes lists the fixed and network drives with their space.
	Volumes() ([]proto.InvDrive, error)
	// User returns the user logged on at the console, DOMAIN\name.
	User() (string, error)
}

const (
	regCurrentVersion = `HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion`
	regBIOS           = `HKLM\HARDWARE\DESCRIPTION\System\BIOS`
	regCPU            = `HKLM\HARDWARE\DESCRIPTION\System\CentralProcessor`
	regComputerName   = `HKLM\SYSTEM\CurrentControlSet\Control\ComputerName\ActiveComputerName`
	regTcpip          = `HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters`
	regEnvironment    = `HKLM\SYSTEM\CurrentControlSet\Control\Session Manager\Environment`
	regDiskEnum       = `HKLM\SYSTEM\CurrentControlSet\Services\disk\Enum`
	regLogonUI        = `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Authentication\LogonUI`
	uninstallPath     = `Microsoft\Windows\CurrentVersion\Uninstall`
)

// windowsFacts fills inv from the registry and sys, the sources the OCS
// and GLPI Windows agents read. Network adapters come from the portable
// networks (net.Interfaces) and are not part of this.
func (c *Collector) windowsFacts(inv *proto.AgentInventory, reg regReader, sys winSystem) {
	val := func(key string) map[string]any {
		v, err := reg.Values(key)
		if err != nil {
			c.problem(key, err)
			return map[string]any{}
		}
		return v
	}
	cv := val(regCurrentVersion)
	if inv.Hostname == "" {
		inv.Hostname = str(val(regComputerName), "ComputerName")
	}
	tcp := val(regTcpip)
	inv.Workgroup = cmpOr(str(tcp, "Domain"), str(tcp, "NV Domain"))
	inv.DNS = strings.Join(strings.FieldsFunc(cmpOr(str(tcp, "NameServer"), str(tcp, "DhcpNameServer")),
		func(r rune) bool { return r == ' ' || r == ',' }), "/")

	build := str(cv, "CurrentBuildNumber")
	product := str(cv, "ProductName")
	// Windows 11 still calls itself "Windows 10" in ProductName; build
	// 22000 is the first Windows 11 (as GLPI's agent decides too).
	if n, _ := strconv.Atoi(build); n >= 22000 && strings.Contains(product, "Windows 10") {
		product = strings.Replace(product, "Windows 10", "Windows 11", 1)
	}
	if product != "" && !strings.HasPrefix(product, "Microsoft") {
		product = "Microsoft " + product
	}
	inv.OSName = cmpOr(product, "Microsoft Windows")
	major, minor := num(cv, "CurrentMajorVersionNumber"), num(cv, "CurrentMinorVersionNumber")
	if major > 0 {
		inv.OSVersion = fmt.Sprintf("%d.%d.%s", major, minor, build)
	} else {
		inv.OSVersion = strings.Trim(str(cv, "CurrentVersion")+"."+build, ".")
	}
	inv.OSComments = cmpOr(str(cv, "DisplayVersion"), str(cv, "ReleaseId"), str(cv, "CSDVersion"))
	inv.Kernel = inv.OSVersion
	if ubr, ok := cv["UBR"].(uint64); ok && inv.Kernel != "" {
		inv.Kernel += "." + strconv.FormatUint(ubr, 10)
	}
	switch strings.ToUpper(str(val(regEnvironment), "PROCESSOR_ARCHITECTURE")) {
	case "AMD64":
		inv.Arch = "x86_64"
	case "ARM64":
		inv.Arch = "aarch64"
	case "X86":
		inv.Arch = "i686"
	default:
		inv.Arch = arch()
	}
	inv.Description = inv.Arch + "/" + inv.Kernel

	b := val(regBIOS)
	inv.BIOS = proto.InvBIOS{
		SystemManufacturer: str(b, "SystemManufacturer"), SystemModel: str(b, "SystemProductName"),
		BiosManufacturer: str(b, "BIOSVendor"), BiosVersion: str(b, "BIOSVersion"), BiosDate: str(b, "BIOSReleaseDate"),
		BoardManufacturer: str(b, "BaseBoardManufacturer"), BoardModel: str(b, "BaseBoardProduct"),
	}
	if len(b) > 0 {
		c.problems = append(c.problems, "BIOS serial numbers: only in WMI (Win32_BIOS), which the agent does not query")
	}
	inv.VMSystem = vmSystem(inv.BIOS.SystemManufacturer+" "+inv.BIOS.SystemModel, "")

	c.windowsCPUs(inv, reg)
	if mem, page, err := sys.Memory(); err != nil {
		c.problem("memory", err)
	} else {
		inv.MemoryMB, inv.SwapMB = mem, page
	}
	if vols, err := sys.Volumes(); err != nil {
		c.problem("volumes", err)
	} else {
		inv.Drives = vols
	}
	disks, _ := reg.Values(regDiskEnum)
	for i := range int(num(disks, "Count")) {
		id := str(disks, strconv.Itoa(i))
		s := proto.InvStorage{Name: `\\.\PHYSICALDRIVE` + strconv.Itoa(i), Type: "disk"}
		// An instance ID: BUS\Disk&Ven_X&Prod_Y&Rev_Z\INSTANCE.
		segs := strings.Split(id, `\`)
		for _, part := range strings.Split(segs[min(1, len(segs)-1)], "&") {
			switch {
			case strings.HasPrefix(part, "Ven_"):
				s.Manufacturer = strings.ReplaceAll(strings.TrimPrefix(part, "Ven_"), "_", " ")
			case strings.HasPrefix(part, "Prod_"):
				s.Model = strings.ReplaceAll(strings.TrimPrefix(part, "Prod_"), "_", " ")
			}
		}
		if strings.HasPrefix(id, "USBSTOR") {
			s.Type = "removable"
		}
		inv.Storages = append(inv.Storages, s)
	}
	user, err := sys.User()
	if err != nil || user == "" {
		user = str(val(regLogonUI), "LastLoggedOnUser")
		if user = strings.TrimPrefix(user, `.\`); user != "" {
			c.problems = append(c.problems, "logged-on user: none at the console, the last one is reported")
		}
	}
	inv.UserID = user
	inv.Softwares = c.windowsSoftware(reg)
}

func (c *Collector) windowsCPUs(inv *proto.AgentInventory, reg regReader) {
	cpus, err := reg.SubKeys(regCPU)
	if err != nil {
		c.problem(regCPU, err)
		return
	}
	inv.ProcessorCount = len(cpus)
	if len(cpus) == 0 {
		return
	}
	p, err := reg.Values(regCPU + `\` + cpus[0])
	if err != nil {
		c.problem(regCPU, err)
		return
	}
	cpu := proto.InvCPU{Type: strings.TrimSpace(str(p, "ProcessorNameString")), Manufacturer: vendor(str(p, "VendorIdentifier"), ""),
		SpeedMHz: int(num(p, "~MHz")), LogicalCPUs: len(cpus), Cores: len(cpus), Arch: inv.Arch, DataWidth: 64}
	if inv.Arch == "i686" {
		cpu.DataWidth = 32
	}
	if cpu.Manufacturer == "" && strings.Contains(cpu.Type, "Snapdragon") {
		cpu.Manufacturer = "Qualcomm"
	}
	inv.CPUs = []proto.InvCPU{cpu}
	inv.ProcessorType = cpu.Type
}

// windowsSoftware lists the programs of the three Uninstall views:
// 64-bit, 32-bit (WOW6432Node) and each loaded user hive's.
func (c *Collector) windowsSoftware(reg regReader) []proto.InvSoftware {
	type view struct{ key, arch, from string }
	views := []view{
		{`HKLM\SOFTWARE\` + uninstallPath, "x86_64", "registry"},
		{`HKLM\SOFTWARE\WOW6432Node\` + uninstallPath, "i386", "registry"},
	}
	if users, err := reg.SubKeys("HKU"); err == nil {
		for _, sid := range users {
			if strings.HasPrefix(sid, "S-1-5-21-") && !strings.HasSuffix(sid, "_Classes") {
				views = append(views, view{`HKU\` + sid + `\Software\` + uninstallPath, "", "registry-user"})
			}
		}
	}
	var out []proto.InvSoftware
	for _, v := range views {
		keys, err := reg.SubKeys(v.key)
		if err != nil {
			continue // a view that does not exist (32-bit Windows, no per-user installs)
		}
		for _, k := range keys {
			e, err := reg.Values(v.key + `\` + k)
			name := str(e, "DisplayName")
			if err != nil || name == "" || str(e, "ParentKeyName") != "" || num(e, "SystemComponent") == 1 {
				continue // updates and components are parts of another entry
			}
			sw := proto.InvSoftware{Name: name, Version: str(e, "DisplayVersion"), Publisher: str(e, "Publisher"),
				Comments: str(e, "Comments"), Architecture: v.arch, From: v.from, SizeBytes: int64(num(e, "EstimatedSize")) * 1024}
			if d, err := time.Parse("20060102", str(e, "InstallDate")); err == nil {
				sw.InstallDate = d.Format("2006/01/02")
			}
			out = append(out, sw)
		}
	}
	slices.SortStableFunc(out, func(a, b proto.InvSoftware) int {
		return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
	})
	return out
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return strings.TrimSpace(s)
}

func num(m map[string]any, k string) uint64 {
	switch v := m[k].(type) {
	case uint64:
		return v
	case string:
		n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		return n
	}
	return 0
}

// Package inventory collects a Linux computer's facts in the shape of an
// OCS inventory (proto.AgentInventory): host name, OS from /etc/os-release,
// kernel, CPUs from /proc/cpuinfo, memory from /proc/meminfo, disks from
// /sys/block, mounted file systems, network interfaces, installed packages
// from the dpkg status file (or rpm when there is no dpkg) and BIOS/DMI
// from /sys/class/dmi/id.
//
// It needs no privileges: a source it cannot read (DMI serial numbers are
// root-only) leaves its fields empty and is named in Problems.
package inventory

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-project/shoal/proto"
)

// Config tunes inventories.
type Config struct {
	// Interval is the longest time between two inventories sent (default 24h).
	Interval time.Duration `yaml:"interval"`
	// CheckInterval is how often facts are collected to see whether they
	// changed (default 1h).
	CheckInterval time.Duration `yaml:"check_interval"`
	// AfterInstall: after an install the inventory (its software and
	// history changed) is collected and sent after a random wait between
	// half and all of it (default 30s; negative: at once), so that the agents
	// of a branch that finish a deployment together neither send their
	// inventories to central in the same second nor collect them while
	// their peers still fetch the last fragments from them.
	AfterInstall time.Duration `yaml:"after_install"`
}

func (c Config) withDefaults() Config {
	if c.Interval == 0 {
		c.Interval = 24 * time.Hour
	}
	if c.CheckInterval == 0 {
		c.CheckInterval = time.Hour
	}
	if c.AfterInstall == 0 {
		c.AfterInstall = 30 * time.Second
	}
	return c
}

// AfterInstallWait returns the wait before the inventory that follows an
// install: a random time between half and all of AfterInstall, zero when
// it is negative.
func (c Config) AfterInstallWait() time.Duration {
	d := c.withDefaults().AfterInstall
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

// WithDefaults returns c with its defaults applied.
func (c Config) WithDefaults() Config { return c.withDefaults() }

// Validate checks the configuration.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.CheckInterval < time.Second || c.Interval < c.CheckInterval {
		return fmt.Errorf("inventory: check_interval must be at least 1s and interval at least check_interval")
	}
	if c.AfterInstall > c.CheckInterval {
		return fmt.Errorf("inventory: after_install (%s) must not be longer than check_interval (%s)", c.AfterInstall, c.CheckInterval)
	}
	return nil
}

// Collector reads facts below a root directory ("/" on a real system).
// It is not safe for concurrent use.
type Collector struct {
	root     string
	hostname string
	log      *slog.Logger
	problems []string
}

// New returns a Collector reading below root. A non-empty hostname
// replaces the system's host name in inventories.
func New(root, hostname string, logger *slog.Logger) *Collector {
	if root == "" {
		root = "/"
	}
	return &Collector{root: root, hostname: hostname, log: logger.With("component", "inventory")}
}

func (c *Collector) path(p string) string { return filepath.Join(c.root, p) }

func (c *Collector) real() bool { return c.root == "/" }

// read returns a file's trimmed content; a failure is recorded as a
// problem unless the file simply does not exist.
func (c *Collector) read(p string) string {
	b, err := os.ReadFile(c.path(p))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			c.problem(p, err)
		}
		return ""
	}
	return strings.TrimSpace(string(b))
}

func (c *Collector) problem(what string, err error) {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	c.problems = append(c.problems, what+": "+err.Error())
}

// Collect gathers the inventory. It never fails: unreadable sources are
// listed in Problems.
func (c *Collector) Collect(ctx context.Context) *proto.AgentInventory {
	c.problems = nil
	inv := &proto.AgentInventory{}
	c.collect(ctx, inv)
	slices.Sort(c.problems)
	inv.Problems = slices.Compact(c.problems)
	return inv
}

// linux fills inv from the Linux sources below the collector's root.
func (c *Collector) linux(ctx context.Context, inv *proto.AgentInventory) {
	inv.Hostname = c.read("proc/sys/kernel/hostname")
	if inv.Hostname == "" && c.real() {
		inv.Hostname, _ = os.Hostname()
	}
	inv.Hostname = strings.SplitN(inv.Hostname, ".", 2)[0]
	if c.hostname != "" {
		inv.Hostname = c.hostname
	}
	c.osRelease(inv)
	inv.Kernel = c.read("proc/sys/kernel/osrelease")
	inv.Arch = arch()
	inv.Description = inv.Arch + "/" + inv.Kernel
	c.cpus(inv)
	c.memory(inv)
	c.dmi(inv)
	c.storages(inv)
	c.drives(inv)
	c.networks(inv)
	c.resolv(inv)
	c.software(ctx, inv)
}

// Fingerprint hashes what matters for "has the inventory changed": the
// inventory without free disk space, which changes all the time.
func Fingerprint(inv *proto.AgentInventory) string {
	cp := *inv
	cp.Drives = slices.Clone(inv.Drives)
	for i := range cp.Drives {
		cp.Drives[i].FreeMB = 0
	}
	b, _ := json.Marshal(&cp)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func arch() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	case "386":
		return "i686"
	case "arm64":
		return "aarch64"
	}
	return runtime.GOARCH
}

// keyValues parses KEY=value lines, unquoting values.
func keyValues(s string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		} else {
			v = strings.Trim(v, `"'`)
		}
		out[k] = v
	}
	return out
}

// osRelease fills the OS fields the way the OCS Unix agent does: OSNAME
// "Debian GNU/Linux 12", OSVERSION "12", OSCOMMENTS the pretty name.
func (c *Collector) osRelease(inv *proto.AgentInventory) {
	s := c.read("etc/os-release")
	if s == "" {
		s = c.read("usr/lib/os-release")
	}
	kv := keyValues(s)
	inv.OSName = strings.TrimSpace(kv["NAME"] + " " + kv["VERSION_ID"])
	if inv.OSName == "" {
		inv.OSName = "Linux"
	}
	inv.OSVersion = kv["VERSION_ID"]
	inv.OSComments = kv["PRETTY_NAME"]
}

func (c *Collector) cpus(inv *proto.AgentInventory) {
	s := c.read("proc/cpuinfo")
	type pkg struct {
		cpu     proto.InvCPU
		logical int
	}
	var order []string
	pkgs := map[string]*pkg{}
	for _, block := range strings.Split(s, "\n\n") {
		kv := map[string]string{}
		for _, line := range strings.Split(block, "\n") {
			k, v, ok := strings.Cut(line, ":")
			if ok {
				kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
		if _, ok := kv["processor"]; !ok {
			continue
		}
		inv.ProcessorCount++
		id := kv["physical id"]
		p, ok := pkgs[id]
		if !ok {
			p = &pkg{cpu: proto.InvCPU{Arch: inv.Arch}}
			pkgs[id] = p
			order = append(order, id)
			p.cpu.Type = cmpOr(kv["model name"], kv["Model"], kv["Hardware"], kv["cpu model"])
			p.cpu.Manufacturer = vendor(kv["vendor_id"], kv["CPU implementer"])
			if mhz, err := strconv.ParseFloat(kv["cpu MHz"], 64); err == nil {
				p.cpu.SpeedMHz = int(mhz + 0.5)
			}
			p.cpu.Cores, _ = strconv.Atoi(kv["cpu cores"])
			p.cpu.L2Cache = kv["cache size"]
			if slices.Contains(strings.Fields(kv["flags"]), "lm") || strings.HasSuffix(inv.Arch, "64") {
				p.cpu.DataWidth = 64
			} else {
				p.cpu.DataWidth = 32
			}
		}
		p.logical++
	}
	for _, id := range order {
		p := pkgs[id]
		p.cpu.LogicalCPUs = p.logical
		if p.cpu.Cores == 0 {
			p.cpu.Cores = p.logical
		}
		inv.CPUs = append(inv.CPUs, p.cpu)
	}
	if len(inv.CPUs) > 0 {
		inv.ProcessorType = inv.CPUs[0].Type
	}
}

func cmpOr(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func vendor(id, implementer string) string {
	switch id {
	case "GenuineIntel":
		return "Intel"
	case "AuthenticAMD":
		return "AMD"
	case "":
		if implementer == "0x41" {
			return "ARM"
		}
		return ""
	}
	return id
}

func (c *Collector) memory(inv *proto.AgentInventory) {
	for _, line := range strings.Split(c.read("proc/meminfo"), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "MemTotal:":
			inv.MemoryMB = int(kb / 1024)
		case "SwapTotal:":
			inv.SwapMB = int(kb / 1024)
		}
	}
}

func (c *Collector) dmi(inv *proto.AgentInventory) {
	d := func(name string) string { return c.read("sys/class/dmi/id/" + name) }
	b := &inv.BIOS
	b.SystemManufacturer, b.SystemModel, b.SystemSerial = d("sys_vendor"), d("product_name"), d("product_serial")
	b.BiosManufacturer, b.BiosVersion, b.BiosDate = d("bios_vendor"), d("bios_version"), d("bios_date")
	b.BoardManufacturer, b.BoardModel, b.BoardSerial = d("board_vendor"), d("board_name"), d("board_serial")
	b.AssetTag = d("chassis_asset_tag")
	b.Type = chassisType(d("chassis_type"))
	inv.UUID = strings.ToUpper(d("product_uuid"))
	inv.VMSystem = vmSystem(b.SystemManufacturer+" "+b.SystemModel, c.read("proc/cpuinfo"))
}

// chassisType names an SMBIOS chassis type number.
func chassisType(n string) string {
	names := map[string]string{"1": "Other", "3": "Desktop", "4": "Low Profile Desktop", "6": "Mini Tower", "7": "Tower",
		"8": "Portable", "9": "Laptop", "10": "Notebook", "13": "All in One", "17": "Main Server Chassis", "23": "Rack Mount Chassis",
		"30": "Tablet", "31": "Convertible", "35": "Mini PC"}
	if v, ok := names[n]; ok {
		return v
	}
	return n
}

func vmSystem(dmi, cpuinfo string) string {
	for _, v := range []struct{ needle, name string }{
		{"QEMU", "QEMU"}, {"KVM", "KVM"}, {"VMware", "VMware"}, {"VirtualBox", "VirtualBox"},
		{"Xen", "Xen"}, {"Microsoft Corporation Virtual Machine", "Virtual Machine"}, {"Amazon EC2", "KVM"},
		{"Google Compute Engine", "KVM"}, {"Firecracker", "KVM"},
	} {
		if strings.Contains(dmi, v.needle) {
			return v.name
		}
	}
	if strings.Contains(cpuinfo, " hypervisor") {
		return "Virtual Machine"
	}
	return "Physical"
}

func (c *Collector) storages(inv *proto.AgentInventory) {
	entries, err := os.ReadDir(c.path("sys/block"))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			c.problem("sys/block", err)
		}
		return
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") || strings.HasPrefix(name, "zram") || strings.HasPrefix(name, "dm-") {
			continue
		}
		base := "sys/block/" + name
		sectors, _ := strconv.ParseInt(c.read(base+"/size"), 10, 64)
		s := proto.InvStorage{Name: name, SizeMB: sectors * 512 / (1 << 20), Type: "disk",
			Model: c.read(base + "/device/model"), Manufacturer: c.read(base + "/device/vendor"), SerialNumber: c.read(base + "/device/serial")}
		if c.read(base+"/removable") == "1" {
			s.Type = "removable"
		}
		inv.Storages = append(inv.Storages, s)
	}
}

// realFS lists the file system types worth reporting.
var realFS = map[string]bool{"ext2": true, "ext3": true, "ext4": true, "xfs": true, "btrfs": true, "vfat": true, "exfat": true,
	"ntfs": true, "ntfs3": true, "f2fs": true, "zfs": true, "jfs": true, "reiserfs": true, "nfs": true, "nfs4": true, "cifs": true,
	"smb3": true, "fuseblk": true, "iso9660": true, "overlay": true}

func (c *Collector) drives(inv *proto.AgentInventory) {
	s := c.read("proc/self/mounts")
	if s == "" {
		s = c.read("proc/mounts")
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || !realFS[f[2]] {
			continue
		}
		mp := unescapeMount(f[1])
		if seen[mp] {
			continue
		}
		seen[mp] = true
		d := proto.InvDrive{MountPoint: mp, Device: unescapeMount(f[0]), FileSystem: f[2]}
		if c.real() {
			if total, free, err := diskSpace(mp); err == nil {
				d.TotalMB, d.FreeMB = total>>20, free>>20
			}
		}
		inv.Drives = append(inv.Drives, d)
	}
}

// unescapeMount undoes the octal escapes of /proc/mounts (\040 for space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b bytes.Buffer
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func (c *Collector) resolv(inv *proto.AgentInventory) {
	sc := bufio.NewScanner(strings.NewReader(c.read("etc/resolv.conf")))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if inv.DNS == "" {
				inv.DNS = f[1]
			}
		case "search", "domain":
			if inv.Workgroup == "" {
				inv.Workgroup = f[1]
			}
		}
	}
}

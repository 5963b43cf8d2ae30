package inventory

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-project/shoal/proto"
)

// defaultGateway reads the default IPv4 route from /proc/net/route: its
// interface and gateway.
func (c *Collector) defaultGateway() (iface, gw string) {
	for _, line := range strings.Split(c.read("proc/net/route"), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 3 || f[1] != "00000000" {
			continue
		}
		b, err := hex.DecodeString(f[2])
		if err != nil || len(b) != 4 {
			continue
		}
		ip := make(net.IP, 4)
		binary.LittleEndian.PutUint32(ip, binary.BigEndian.Uint32(b))
		return f[0], ip.String()
	}
	return "", ""
}

func (c *Collector) networks(inv *proto.AgentInventory) {
	gwIface, gw := c.defaultGateway()
	inv.Gateway = gw
	ifaces, err := net.Interfaces()
	if err != nil {
		c.problem("network interfaces", err)
		return
	}
	var firstV4 string
	for _, ifc := range ifaces {
		base := proto.InvNetwork{Interface: ifc.Name, MAC: strings.ToLower(ifc.HardwareAddr.String()), MTU: ifc.MTU, Status: "Down", Type: "ethernet"}
		if ifc.Flags&net.FlagUp != 0 {
			base.Status = "Up"
		}
		if ifc.Flags&net.FlagLoopback != 0 {
			base.Type = "loopback"
		}
		if c.real() {
			if _, err := os.Stat("/sys/devices/virtual/net/" + ifc.Name); err == nil {
				base.Virtual = true
			}
			if v, err := os.ReadFile("/sys/class/net/" + ifc.Name + "/speed"); err == nil {
				if n, err := strconv.Atoi(strings.TrimSpace(string(v))); err == nil && n > 0 {
					base.SpeedMbps = n
				}
			}
		}
		if ifc.Name == gwIface {
			base.Gateway = gw
		}
		addrs, _ := ifc.Addrs()
		added := false
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			n := base
			n.IPAddress = ipn.IP.String()
			n.IPSubnet = ipn.IP.Mask(ipn.Mask).String()
			if v4 := ipn.IP.To4(); v4 != nil {
				n.IPMask = net.IP(ipn.Mask).String()
				if ifc.Flags&net.FlagLoopback == 0 {
					if ifc.Name == gwIface && inv.IPAddr == "" {
						inv.IPAddr = n.IPAddress
					}
					if firstV4 == "" {
						firstV4 = n.IPAddress
					}
				}
			} else {
				ones, _ := ipn.Mask.Size()
				n.IPMask = strconv.Itoa(ones)
			}
			inv.Networks = append(inv.Networks, n)
			added = true
		}
		if !added {
			inv.Networks = append(inv.Networks, base)
		}
	}
	if inv.IPAddr == "" {
		inv.IPAddr = firstV4
	}
}

// software lists the installed packages from the dpkg status file, or from
// rpm when there is no dpkg database.
func (c *Collector) software(ctx context.Context, inv *proto.AgentInventory) {
	f, err := os.Open(c.path("var/lib/dpkg/status"))
	switch {
	case err == nil:
		defer f.Close()
		inv.Softwares = c.dpkg(f)
		return
	case !errors.Is(err, fs.ErrNotExist):
		c.problem("var/lib/dpkg/status", err)
		return
	}
	if c.real() {
		if _, err := exec.LookPath("rpm"); err == nil {
			inv.Softwares = c.rpm(ctx)
		}
	}
}

func (c *Collector) dpkg(f *os.File) []proto.InvSoftware {
	var out []proto.InvSoftware
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	cur := map[string]string{}
	flush := func() {
		defer func() { cur = map[string]string{} }()
		if cur["Package"] == "" || !strings.HasSuffix(cur["Status"], " installed") {
			return
		}
		sw := proto.InvSoftware{Name: cur["Package"], Version: cur["Version"], Architecture: cur["Architecture"],
			Publisher: cur["Maintainer"], Comments: cur["Description"], From: "deb"}
		if kb, err := strconv.ParseInt(cur["Installed-Size"], 10, 64); err == nil {
			sw.SizeBytes = kb * 1024
		}
		for _, name := range []string{sw.Name + ":" + sw.Architecture + ".list", sw.Name + ".list"} {
			if fi, err := os.Stat(c.path("var/lib/dpkg/info/" + name)); err == nil {
				sw.InstallDate = fi.ModTime().Format("2006/01/02 15:04:05")
				break
			}
		}
		out = append(out, sw)
	}
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			flush()
		case line[0] == ' ' || line[0] == '\t':
			// Continuation of a field (the long description): ignored.
		default:
			if k, v, ok := strings.Cut(line, ":"); ok {
				cur[k] = strings.TrimSpace(v)
			}
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		c.problem("var/lib/dpkg/status", err)
	}
	return out
}

func (c *Collector) rpm(ctx context.Context) []proto.InvSoftware {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "rpm", "-qa", "--queryformat",
		`%{NAME}\t%{VERSION}-%{RELEASE}\t%{ARCH}\t%{VENDOR}\t%{SIZE}\t%{INSTALLTIME}\t%{SUMMARY}\n`).Output()
	if err != nil {
		c.problem("rpm -qa", err)
		return nil
	}
	var list []proto.InvSoftware
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 7 || f[0] == "" {
			continue
		}
		sw := proto.InvSoftware{Name: f[0], Version: f[1], Architecture: f[2], Publisher: f[3], Comments: f[6], From: "rpm"}
		sw.SizeBytes, _ = strconv.ParseInt(f[4], 10, 64)
		if ts, err := strconv.ParseInt(f[5], 10, 64); err == nil {
			sw.InstallDate = time.Unix(ts, 0).Format("2006/01/02 15:04:05")
		}
		list = append(list, sw)
	}
	return list
}

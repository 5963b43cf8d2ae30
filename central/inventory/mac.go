package inventory

import (
	"net/netip"
	"strings"

	"github.com/shoal-project/shoal/central/store"
)

// PrimaryMAC picks the MAC address that identifies a computer, lower case,
// from its network rows: the interface that carries ipAddr (HARDWARE/IPADDR,
// the address the agent reached central from), else the first interface
// that is up with a routable address, else the first one up, else the first
// one at all. Loopback, all-zero and virtual interfaces (VIRTUALDEV=1) are
// never chosen while another exists: the agents list the interfaces in name
// order, so a down ifb0 came before eth0 and was taken for the computer's
// MAC.
func PrimaryMAC(nets []store.Network, ipAddr string) string {
	ipAddr = strings.TrimSpace(ipAddr)
	best, bestRank := "", 0
	for _, n := range nets {
		m := strings.ToLower(strings.TrimSpace(n.MACAddr))
		if m == "" || m == "00:00:00:00:00:00" || strings.EqualFold(n.Type, "loopback") {
			continue
		}
		rank := macRank(n, ipAddr)
		if rank > bestRank {
			best, bestRank = m, rank
		}
	}
	return best
}

// macRank scores an interface for PrimaryMAC: higher is better, and the
// first interface of the best rank wins.
func macRank(n store.Network, ipAddr string) int {
	up := !strings.EqualFold(strings.TrimSpace(n.Status), "down")
	virtual := strings.TrimSpace(n.Virtual) == "1"
	addr, err := netip.ParseAddr(strings.TrimSpace(n.IPAddress))
	routable := err == nil && !addr.IsLoopback() && !addr.IsLinkLocalUnicast() && !addr.IsUnspecified()
	rank := 1
	switch {
	case up && ipAddr != "" && strings.TrimSpace(n.IPAddress) == ipAddr:
		rank = 5
	case up && routable:
		rank = 4
	case up && err == nil:
		rank = 3
	case up:
		rank = 2
	}
	if virtual {
		rank -= 10 // below every physical interface, ranked among themselves
	}
	return rank + 10
}

// primaryIP returns the address to show for a computer whose agent sent no
// HARDWARE/IPADDR (the GLPI agent): the first routable IPv4 address of the
// interface with MAC mac, else its first routable IPv6 address, else "".
func primaryIP(nets []store.Network, mac string) string {
	if mac == "" {
		return ""
	}
	v6 := ""
	for _, n := range nets {
		if !strings.EqualFold(strings.TrimSpace(n.MACAddr), mac) || strings.EqualFold(strings.TrimSpace(n.Status), "down") {
			continue
		}
		a, err := netip.ParseAddr(strings.TrimSpace(n.IPAddress))
		if err != nil || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified() {
			continue
		}
		if a.Is4() {
			return a.String()
		}
		if v6 == "" {
			v6 = a.String()
		}
	}
	return v6
}

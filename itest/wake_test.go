//go:build integration

package itest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoal-project/shoal/internal/wol"
	"github.com/shoal-project/shoal/proto/api"
)

// wakeLAN is a branch LAN of two network namespaces joined by a veth
// pair: the relay's host (192.0.2.10) and a sleeping computer's
// (192.0.2.2, the address of the captured inventory). Nothing changes in
// the test's own namespace.
type wakeLAN struct {
	relayNS, sleeperNS string
}

// wakeLANs numbers the LANs of one test process.
var wakeLANs atomic.Int32

// newWakeLAN creates the namespaces; it skips the test without root or
// `ip`.
func newWakeLAN(t *testing.T) *wakeLAN {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("Wake-on-LAN test needs root for network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("Wake-on-LAN test needs ip (iproute2)")
	}
	id := fmt.Sprintf("%d-%d", os.Getpid()%100000, wakeLANs.Add(1)) // parallel tests each get their own
	l := &wakeLAN{relayNS: "shoalwol-r" + id, sleeperNS: "shoalwol-s" + id}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	t.Cleanup(func() {
		for _, ns := range []string{l.relayNS, l.sleeperNS} {
			_ = exec.Command("ip", "netns", "del", ns).Run()
		}
	})
	run("netns", "add", l.relayNS)
	run("netns", "add", l.sleeperNS)
	run("-n", l.relayNS, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", l.sleeperNS)
	for ns, addr := range map[string]string{l.relayNS: "192.0.2.10/24", l.sleeperNS: "192.0.2.2/24"} {
		run("-n", ns, "link", "set", "lo", "up")
		run("-n", ns, "addr", "add", addr, "dev", "eth0")
		run("-n", ns, "link", "set", "eth0", "up")
	}
	// The limited broadcast 255.255.255.255 needs a route.
	run("-n", l.relayNS, "route", "add", "default", "dev", "eth0")
	return l
}

// inNS runs fn on a thread moved into the network namespace ns: sockets
// fn opens belong to ns and stay there. The thread is moved back (or, if
// that fails, ends with its goroutine).
func inNS(t *testing.T, ns string, fn func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open(filepath.Join("/run/netns", ns))
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("setns back: %w", err))
			return // the thread stays locked and ends with this goroutine
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// forward makes central's listener at hostport (in the test's namespace)
// reachable at the same address inside ns, so that the relay there uses
// central's URLs and certificate unchanged.
func forward(t *testing.T, ns, hostport string) {
	t.Helper()
	forwardFrom(t, ns, hostport, nil)
}

// forwardFrom is forward with central's side of each connection made
// from address src (nil: any), as a branch's NAT address would be.
func forwardFrom(t *testing.T, ns, hostport string, src net.IP) {
	t.Helper()
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if src != nil {
		dialer.LocalAddr = &net.TCPAddr{IP: src}
	}
	var ln net.Listener
	inNS(t, ns, func() (err error) {
		ln, err = net.Listen("tcp", hostport)
		return err
	})
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer in.Close()
				out, err := dialer.Dial("tcp", hostport)
				if err != nil {
					return
				}
				defer out.Close()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(out, in); done <- struct{}{} }()
				go func() { _, _ = io.Copy(in, out); done <- struct{}{} }()
				<-done
			}()
		}
	}()
}

// packet is one datagram a listener on the sleeper's LAN received.
type packet struct {
	port int
	from string
	data []byte
}

// listenWake listens on UDP ports 9 and 7 of every address inside ns.
func listenWake(t *testing.T, ns string) <-chan packet {
	t.Helper()
	out := make(chan packet, 16)
	for _, port := range wol.Ports {
		var pc net.PacketConn
		inNS(t, ns, func() (err error) {
			pc, err = net.ListenPacket("udp4", fmt.Sprintf("0.0.0.0:%d", port))
			return err
		})
		t.Cleanup(func() { pc.Close() })
		go func() {
			buf := make([]byte, 1500)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				out <- packet{port: port, from: from.(*net.UDPAddr).IP.String(), data: append([]byte(nil), buf[:n]...)}
			}
		}()
	}
	return out
}

// TestWakeOnLANRelay: an admin wakes a computer; the real shoal-relay of
// its site, in its own network namespace, gets the order with its jobs and
// sends the real magic packet, which a listener on the sleeping
// computer's LAN receives (limited and directed broadcast, ports 9 and 7)
// and checks byte by byte; the status goes from sent to woken when the
// computer contacts central.
func TestWakeOnLANRelay(t *testing.T) {
	t.Parallel()
	lan := newWakeLAN(t)
	got := listenWake(t, lan.sleeperNS)
	c := startCentral(t, "wake:\n  woken_within: 1m\n")
	a := startAgentAPI(t, c)
	for _, u := range []string{c.HTTPSURL, c.HTTPURL} {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		forward(t, lan.relayNS, pu.Host)
	}
	c.do("POST", "/api/v1/sites", api.SiteRequest{Name: "branch", CIDRs: []string{"192.0.2.0/24"}}, nil, http.StatusCreated)
	c.postInventory("sleeper-2026-12-05-07-00-00", "sleeper")
	comps := c.computers("?name=sleeper")
	if len(comps) != 1 {
		t.Fatalf("computers named sleeper: %+v", comps)
	}
	id := comps[0].ID

	// Enroll and start the relay inside its namespace.
	dir := t.TempDir()
	out, err := exec.Command("ip", "netns", "exec", lan.relayNS, filepath.Join(binDir, "shoal-relay"), "enroll",
		"-server", a.URL, "-token", a.relayToken("branch", "wol-relay"), "-ca", c.CAFile, "-site", "branch", "-name", "wol-relay",
		"-url", "http://192.0.2.10:8090", "-data-dir", filepath.Join(dir, "data")).CombinedOutput()
	if err != nil {
		t.Fatalf("shoal-relay enroll: %v\n%s", err, out)
	}
	cfg := fmt.Sprintf("data_dir: %s\nhttp_addr: 192.0.2.10:8090\nreport_interval: 1s\npoll_wait: 20s\nfetch_timeout: 1m\np2p:\n  listen: [/ip4/127.0.0.1/tcp/0]\n",
		filepath.Join(dir, "data"))
	r := startRelayYAMLIn(t, cfg, dir, lan.relayNS)
	waitFor(t, 20*time.Second, "the relay's first jobs poll", func() error {
		var l api.List[api.Relay]
		c.do("GET", "/api/v1/relays", nil, &l, http.StatusOK)
		if len(l.Items) != 1 || l.Items[0].LastSeen == nil {
			return fmt.Errorf("relays %+v", l.Items)
		}
		return nil
	})

	start := time.Now()
	var w api.Wake
	c.do("POST", fmt.Sprintf("/api/v1/computers/%d/wake", id), nil, &w, http.StatusAccepted)
	if w.State != "waiting" || w.MAC != "02:fc:00:00:00:01" {
		t.Fatalf("wake answer %+v", w)
	}
	waitMagicPackets(t, got, 15*time.Second, "relay", r.tail)
	t.Logf("magic packets on the LAN %v after the request", time.Since(start).Round(time.Millisecond))
	wakes := func() []api.Wake {
		var l api.List[api.Wake]
		c.do("GET", fmt.Sprintf("/api/v1/computers/%d/wakes", id), nil, &l, http.StatusOK)
		return l.Items
	}
	if ws := wakes(); len(ws) != 1 || ws[0].State != "sent" || ws[0].SentBy != "relay wol-relay" {
		t.Fatalf("wakes after the packet: %+v", ws)
	}
	// The computer wakes and sends its inventory.
	c.postInventory("sleeper-2026-12-05-07-00-00", "sleeper")
	waitFor(t, 10*time.Second, "woken", func() error {
		if ws := wakes(); ws[0].State != "woken" || ws[0].WokenAt == nil {
			return fmt.Errorf("wakes %+v", ws)
		}
		return nil
	})
	// shoalctl shows the same, and wakes again.
	ctl := newCtl(t, t.TempDir())
	env := []string{"SHOAL_SERVER=" + c.HTTPSURL, "SHOAL_CA=" + c.CAFile, "SHOAL_TOKEN=" + c.Token}
	code, cout, errOut := ctl.run(env, "computers", "wakes", fmt.Sprint(id))
	if code != 0 || !strings.Contains(cout, "woken") || !strings.Contains(cout, "relay wol-relay") {
		t.Fatalf("shoalctl computers wakes: exit %d\n%s%s", code, cout, errOut)
	}
	code, cout, errOut = ctl.run(env, "computers", "wake", fmt.Sprint(id))
	if code != 0 || !strings.Contains(cout, "MAC 02:fc:00:00:00:01") {
		t.Fatalf("shoalctl computers wake: exit %d\n%s%s", code, cout, errOut)
	}
	select {
	case p := <-got:
		if hw, err := wol.Target(p.data); err != nil || hw.String() != "02:fc:00:00:00:01" {
			t.Fatalf("second magic packet %x: %v", p.data, err)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("no magic packet after shoalctl computers wake\nrelay:\n%s", r.tail())
	}
	// An unknown computer is a clear 404.
	c.do("POST", "/api/v1/computers/999999/wake", nil, nil, http.StatusNotFound)
}

// TestWakeOnLANAgent: an admin wakes a computer of a site without relay;
// the real shoal-agent of an awake computer of the same site, in its own
// network namespace, gets the order with its jobs long-poll and sends the
// real magic packet, which a listener on the sleeping computer's LAN
// receives and checks byte by byte; the status says which agent sent it
// and goes to woken when the computer contacts central. The agent's own
// computer is never handed its own wake order.
func TestWakeOnLANAgent(t *testing.T) {
	t.Parallel()
	lan := newWakeLAN(t)
	got := listenWake(t, lan.sleeperNS)
	c := startCentral(t, "wake:\n  woken_within: 1m\n")
	a := startAgentAPI(t, c)
	pu, err := url.Parse(a.URL)
	if err != nil {
		t.Fatal(err)
	}
	// Central places a Shoal agent by the address its connections come
	// from, never by what the agent reports: the branch's connections
	// reach central from its NAT address, 127.0.2.1 here, which the site
	// lists beside its LAN.
	nat := net.ParseIP("127.0.2.1")
	forwardFrom(t, lan.relayNS, pu.Host, nat)
	c.do("POST", "/api/v1/sites", api.SiteRequest{Name: "branch", CIDRs: []string{"192.0.2.0/24", nat.String() + "/32"}}, nil, http.StatusCreated)
	c.postInventory("sleeper-2026-12-05-07-00-00", "sleeper")
	comps := c.computers("?name=sleeper")
	if len(comps) != 1 {
		t.Fatalf("computers named sleeper: %+v", comps)
	}
	id := comps[0].ID

	// The awake computer's shoal-agent (192.0.2.10), enrolled and run in
	// its namespace: its connections put it in the branch site.
	dir := t.TempDir()
	ag := &Agent{t: t, Name: "wol-sender", Dir: dir, Config: filepath.Join(dir, "agent.yaml"), LogFile: filepath.Join(dir, "agent.log"),
		NetNS: lan.relayNS}
	cfg := fmt.Sprintf("server: %s\nstate_dir: %s\nhostname: wol-sender\njobs:\n  long_poll: 20s\n", a.URL, filepath.Join(dir, "state"))
	if err := os.WriteFile(ag.Config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ip", "netns", "exec", lan.relayNS, filepath.Join(binDir, "shoal-agent"), "enroll",
		"-config", ag.Config, "--token", a.token(1), "--ca", c.CAFile).CombinedOutput()
	if err != nil {
		t.Fatalf("shoal-agent enroll: %v\n%s", err, out)
	}
	ag.Start()
	sender := a.computerOf("wol-sender")
	waitFor(t, 30*time.Second, "the agent's computer in the branch site", func() error {
		var d api.ComputerDetail
		c.do("GET", fmt.Sprintf("/api/v1/computers/%d", sender), nil, &d, http.StatusOK)
		if d.SiteName != "branch" {
			return fmt.Errorf("agent computer: site %q, address %s", d.SiteName, d.IPAddr)
		}
		return nil
	})
	// A wake order of the sender's own computer is not handed to it.
	var own api.Wake
	c.do("POST", fmt.Sprintf("/api/v1/computers/%d/wake", sender), nil, &own, http.StatusAccepted)

	start := time.Now()
	var w api.Wake
	c.do("POST", fmt.Sprintf("/api/v1/computers/%d/wake", id), nil, &w, http.StatusAccepted)
	if w.State != "waiting" || w.MAC != "02:fc:00:00:00:01" {
		t.Fatalf("wake answer %+v", w)
	}
	waitMagicPackets(t, got, 30*time.Second, "agent", ag.tail)
	t.Logf("magic packets on the LAN %v after the request", time.Since(start).Round(time.Millisecond))
	// The agent logs the packet and reports it after sending it: the
	// packets on the LAN can come first (one CI run read the log 1 ms
	// before the line).
	waitFor(t, 10*time.Second, "the agent's log line for the packet it sent", func() error {
		if ag.logLine("wake-on-lan packet sent", "02:fc:00:00:00:01") == "" {
			return fmt.Errorf("not logged:\n%s", ag.tail())
		}
		return nil
	})
	wakes := func(cid uint) []api.Wake {
		var l api.List[api.Wake]
		c.do("GET", fmt.Sprintf("/api/v1/computers/%d/wakes", cid), nil, &l, http.StatusOK)
		return l.Items
	}
	wantBy := fmt.Sprintf("agent wol-sender (computer %d)", sender)
	waitFor(t, 10*time.Second, "the wake reported sent by the agent", func() error {
		if ws := wakes(id); len(ws) != 1 || ws[0].State != "sent" || ws[0].SentBy != wantBy {
			return fmt.Errorf("wakes after the packet: %+v, want sent by %q", ws, wantBy)
		}
		return nil
	})
	if ws := wakes(sender); len(ws) != 1 || ws[0].SentBy != "" {
		t.Errorf("the sender's own wake request: %+v, want not sent (no other sender in its site)", ws)
	}
	c.postInventory("sleeper-2026-12-05-07-00-00", "sleeper")
	waitFor(t, 10*time.Second, "woken", func() error {
		if ws := wakes(id); ws[0].State != "woken" || ws[0].WokenAt == nil {
			return fmt.Errorf("wakes %+v", ws)
		}
		return nil
	})
}

// waitMagicPackets waits until the sleeping computer's LAN got two magic
// packets for its MAC (02:fc:00:00:00:01) from the sender's host
// (192.0.2.10) on each of ports 9 and 7: the limited and the directed
// broadcast. tail gives the sender's log for a failure.
func waitMagicPackets(t *testing.T, got <-chan packet, within time.Duration, sender string, tail func() string) {
	t.Helper()
	seen := map[int]int{}
	deadline := time.After(within)
	for seen[9] < 2 || seen[7] < 2 {
		select {
		case p := <-got:
			hw, err := wol.Target(p.data)
			if err != nil {
				t.Fatalf("datagram from %s to port %d: %v (%x)", p.from, p.port, err, p.data)
			}
			if hw.String() != "02:fc:00:00:00:01" || p.from != "192.0.2.10" {
				t.Fatalf("magic packet for %s from %s, want the sleeper's from the %s's host", hw, p.from, sender)
			}
			seen[p.port]++
		case <-deadline:
			t.Fatalf("magic packets received by port: %v (want 2 each: limited and directed broadcast)\n%s:\n%s", seen, sender, tail())
		}
	}
}

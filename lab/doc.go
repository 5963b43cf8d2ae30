// Package lab is Shoal's branch lab: a testbed of Linux network namespaces
// with a shaped WAN in which the real central server and real agents deploy
// one package, and a report of what crossed each branch's uplink, how fast
// every agent finished, and what it cost central.
//
// # Topology
//
// Every namespace is named <prefix>-<role>, where the prefix holds the PID of
// the run ("slab1234"), so two runs never collide and a crashed run's
// leftovers are recognised and removed by the next one.
//
//	<prefix>-dc      central, 10.99.0.1/30 on eth0
//	<prefix>-wan     the WAN router, 10.99.0.2/30 on dc0; one point-to-point
//	                 uplink wb<b> per branch, 10.99.<b>.1 peer 10.99.<b>.2
//	<prefix>-b<b>    branch b's router: uplink up0 10.99.<b>.2 peer 10.99.<b>.1,
//	                 LAN bridge lan0 10.98.<b>.1/24 with one port p<i> per host
//	<prefix>-b<b>r   the branch relay (shoal-relay on :8090), 10.98.<b>.2
//	<prefix>-b<b>a<i> agent i of branch b, 10.98.<b>.<10+i> on eth0
//
// Routes name only lab addresses (10.98.0.0/16 and 10.99.0.0/16); no
// namespace has a default route, a NAT rule or a link to the host's real
// interfaces. IPv6 is disabled in every lab namespace so that the byte
// counters see only the deployment's traffic.
//
// # The WAN link
//
// The kernel this lab was written on has no netem qdisc, so the uplink of
// each branch is a pair of TUN devices, wb<b> in the WAN router and up0 in
// the branch router, joined by a delay line in this process: it reads each
// packet from one side, drops it with the configured loss probability, and
// writes it into the other side after the configured one-way delay. The
// rate is a tbf qdisc on the egress of both TUN devices (so both directions
// are shaped), with a queue limit that holds twice the bandwidth-delay
// product. The byte counters of the uplink are wb<b>'s tx bytes (towards the
// branch) and rx bytes (from the branch), read with `ip -s -j link show`;
// they count IP packets, headers included.
//
// # Scenarios
//
// The scenarios of issue 8 share one topology, one central and one package
// payload; each uploads its own copy of the package (so central's
// per-package download counters separate them) and uses fresh agents with
// their own state. ocs-direct runs the real Debian ocsinventory-agent in
// each agent namespace against central across the shaped WAN; shoal-direct
// (not in issue 8) does the same with shoal-agent, without relay or peers.
//
// The relay and P2P scenarios first create one central site per branch
// (<scenario>-b<b>, CIDR the branch LAN) so that the agents and the relay of
// a branch share a site, and delete the sites at the end. A relay scenario
// starts a fresh shoal-relay per branch: enrolled with central
// (`shoal-relay enroll`), which then names it as the site's fragment
// location and to the site's Shoal agents; a relay binary without the
// enroll command is configured by hand (upstream, manifest key, the site's
// fragment_location), which serves OCS agents only. ocs-relay runs OCS
// agents behind the relay, shoal-relay Shoal agents, shoal-p2p Shoal agents
// with LAN peers and no relay, shoal-both both. Relays, agents and their
// namespaces are stopped and swept at the end of each scenario.
// docs/LAB.md describes the measurements.
package lab

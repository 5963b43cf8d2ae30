// Package sim is Shoal's scale simulator (issue 20): it runs the shipped
// swarm scheduler (agent/swarm), the shipped upstream fetcher
// (agent/fetch), the shipped fragment store (internal/fragstore) and the
// shipped tracker (tracker, with its real HTTP handler, authentication,
// state and lease logic, called through the real internal/trackerclient)
// for hundreds of agents of a branch in one process, under virtual time
// (testing/synctest), over a simulated network.
//
// # What is simulated, and what is not
//
// Only the transports are replaced, at their interfaces:
//
//   - libp2p fragment streams (internal/p2p Node.Source) by peerSource: a
//     request costs a LAN round trip, is answered "not found" unless the
//     serving agent's fragstore holds the fragment verified, "busy" past
//     MaxUploads (8) uploads at once, as internal/p2p serves, and its
//     bytes cross the server's LAN port (upload) and the requester's
//     (download);
//   - libp2p have sessions (internal/p2p WatchHaves, PublishHave) by
//     haveHub: a session is refused unless the other side fetches or
//     seeds the package (Scheduler.Local), then both bitfields are
//     exchanged and every stored fragment is pushed once to the peers of
//     the package's sessions that do not claim it, after a LAN delay;
//   - memberlist (agent/lan) by the Alive function: an agent that left is
//     dead for its peers MemberlistDetect after it left;
//   - HTTP to central (agent/client CentralSource) by centralSource, a
//     fetch.RangeSource whose bytes cross the branch uplink;
//   - HTTP to the tracker by an http.RoundTripper that calls the
//     tracker's Handler in process after half a WAN round trip and
//     returns its answer after the other half, counting the bytes.
//
// # The relay
//
// A scenario with Relay puts the branch's relay on the LAN as a host
// with its own LAN port (relayHost). Its upstream side is the shipped
// relay (relay.New, not enrolled, driven through relay/inprocess.go
// instead of Run): it learns of the deployment with its jobs long-poll
// (half a WAN round trip), then prefetches every fragment (relay
// FetchAll) through its goodput-driven stream controller
// (internal/upstream, 12 to 24 streams), pulls a fragment an agent asks
// for first through from central (single-flight with the prefetch), and
// runs its upstream endgame (relay/endgame.go): a package's first
// fragment in exact byte ranges over the free streams, and halves of slow
// ranges for streams that find nothing queued. Its upstream HTTP client
// is centralRT, which answers each request, Range ones with 206, after a
// WAN round trip with a flow across the uplink. The simulator serves the
// agents from the relay's fragment store over "libp2p" (32 uploads, busy
// beyond, the shipped super-seeding policy p2p.Seeder for swarm
// requests) and over "HTTP" (no bound, no seeding), as the agent's
// relaySources order them, and announces what the relay holds to the
// real tracker as a relay (kind relay), so lease answers tell the agents
// that it owns the WAN and lookups list it. A range response the relay
// cuts (a split) costs no bytes beyond the split here, where the lab's
// central has some in flight. NoSwarm runs the agents without the swarm
// (the lab's shoal-relay).
//
// # The network
//
// Every host has a LAN port (a link each way at LANMbit; the relay's at
// RelayLANMbit, by default the lab's gigabit relay port) and the branch has
// an uplink (UplinkMbit each way, Delay added each way). A link is a
// token bucket (golang.org/x/time/rate) that the flows crossing it wait on
// chunk by chunk (64 KiB), so concurrent flows share it in turn. A TCP
// flow across a lossy uplink is further capped at the Mathis et al. rate,
// MSS / RTT · 1.22 / √loss (1.8 Mbit/s at 80 ms and 1 %), which is what
// one Reno stream keeps on such a link; the fetcher's parallel streams and
// byte ranges are what fill the uplink, as in the lab. Slow start, the
// switch, the hosts' CPU (hashing, assembling, installing) and the
// scheduler's own CPU cost no virtual time.
//
// # Output
//
// Run returns a Result per scenario: WAN bytes ÷ S of the branch, the
// completion p50/p95/max ÷ the floor S·8/U, the last agent's tail after
// the last WAN byte, tracker requests and bytes per second per 1,000
// agents, central's fragment requests and the bytes each agent hashed.
// Report writes them as JSON, markdown and an SVG chart; `make sim` runs
// the scenarios of issue 20 (TestScale with -sim.full).
package sim

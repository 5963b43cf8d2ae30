// Package lan finds the live agents of this agent's site with memberlist
// (SWIM gossip), so that the fragment scheduler knows whom to ask and
// drops dead peers within seconds.
//
// # One cluster per site
//
// Each site has its own memberlist cluster. Central hands every agent of
// the site a 32-byte gossip key (SiteInfo.GossipKey); all memberlist
// traffic, UDP and TCP, is encrypted and authenticated with it
// (AES-256-GCM, unencrypted messages refused), and labelled "shoal/<site>"
// so clusters of different sites never mix. A node without the key cannot
// take part at all: its join fails and nobody lists it.
//
// Central rotates a site's key when one of its computers or relays is
// revoked or moved, and on a schedule, and hands out a key ring:
// SiteInfo.GossipKey (send with it) and SiteInfo.GossipKeys (accept them
// too). SetKeys makes the memberlist keyring exactly that ring. The new key
// is handed out one overlap window before members send with it, and the
// old one stays accepted until every member has switched, so the members
// re-key without a partition; a node holding only the old key is cut off
// once the members send with the new one and cannot join after the window.
//
// The memberlist node name is the agent's libp2p peer ID. The node
// metadata is exactly {peer ID, site, version}: a version byte, then three
// uvarint-length-prefixed strings, at most 512 bytes, encoded and parsed
// only in meta.go.
//
// Seeds come from the tracker: TrackerLookup.Members lists the site's
// members with their GossipAddr, which each agent announces from
// LocalAddr. Join contacts a few of them (JoinSeeds) in random order.
//
// # Admission: peer records
//
// The key only proves that a node was once given the site's key; it does
// not prove that the node is still a valid member (the key outlives
// revocations until it is rotated). So the application sees a node as a
// member only when it holds a valid central-signed peer record: the
// record verifies with central's key, has not expired, names this site and
// the node's name as peer ID, and the peer is not in SiteInfo.RevokedPeers
// (SetRevoked).
//
// Records (about 350 bytes, too large for the metadata next to the rest)
// travel in three ways, all through memberlist and its encryption:
//
//   - Push-pull state (Delegate.LocalState / MergeRemoteState): a node's
//     own record and every record it has verified. A joining node sends
//     its record to the seed and receives the whole site's records in the
//     same exchange; the periodic push-pull repairs anything missed.
//   - Gossip broadcasts (Delegate.GetBroadcasts / NotifyMsg): a node that
//     verifies a record it did not have queues it for gossip, once, so a
//     newcomer's record spreads as fast as memberlist's own alive message
//     about it. Renewed records (SetRecord) spread the same way.
//   - Direct request: a node alive for a second without a valid record is
//     sent an "ask" carrying the asker's record over memberlist's TCP
//     stream; a node whose record verifies gets the answer. Retries back
//     off up to a minute, so a node that never proves itself costs little.
//
// Messages are one kind byte (1 records, 2 ask) and a JSON array of
// proto.SignedPeerRecord, bounded in count and size. Every record is
// verified before it is cached or passed on; identical ones are not
// verified twice.
//
// memberlist's AliveDelegate refuses, before they enter its node table,
// nodes whose metadata is malformed, names another peer than the node
// name, names another site, or whose peer ID is revoked; its MergeDelegate
// refuses to merge with a cluster holding another site's nodes. A node
// with the key but without a valid record (forged, expired, other site)
// stays in memberlist's table but is never reported by Members, never
// announced to subscribers and never asked for fragments.
//
// Limits: memberlist authenticates the site, not individual nodes, so a
// holder of the site key can claim another peer's name at another address.
// That gains it nothing beyond a wrong address in Members: fragment
// exchange dials peers over libp2p, which authenticates the peer ID, and
// checks peer records again.
//
// # Timing
//
// The defaults are the moderate profile measured in dependencies.md §2c:
// probe every 500 ms (300 ms timeout), SuspicionMult 3, gossip every
// 200 ms to 3 nodes, push-pull every 15 s. A new agent is seen by a
// 20-node site within about a second; a crashed one is declared dead after
// the suspicion timeout, 3·log10(N)·0.5 s, longer when few members confirm
// it (BenchmarkMembership20 prints the numbers, make bench). A leaving
// agent (Run's context ends) broadcasts its leave and is dropped at once.
//
// # Ownership
//
// Cluster's membership state (nodes, records, revocations, the admitted
// set, subscribers) has one owner, Cluster.mu. memberlist's delegate
// callbacks take it briefly (events arrive while memberlist holds its node
// lock), so nothing holding it calls into memberlist or blocks; network
// sends (asks and answers) happen on Run's goroutine. Subscribers get a
// coalescing signal and read Members, so a slow subscriber never stalls
// gossip and never misses a change.
package lan

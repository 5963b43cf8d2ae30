// Package p2p is the LAN fragment exchange of agents and relays: a libp2p
// host (TCP + TLS 1.3 + yamux) that serves verified fragments from the
// node's fragment store to the peers of its site, and fetches fragments
// from them as fragment sources (internal/source). It is neutral: the
// agent and the relay both run a Node, and it imports neither.
//
// # Trust
//
// libp2p's TLS handshake authenticates the remote peer ID (the hash of its
// Ed25519 identity key). The handshake is libp2p's own (/tls/1.0.0,
// interoperable), but the self-signed certificate is valid from a day
// before the local clock (tlssec.go) instead of libp2p's hour, so a peer
// whose clock is hours ahead is not refused as "not yet valid". That alone proves nothing about the peer, so each
// side also presents its central-signed proto.SignedPeerRecord, and the
// other side accepts it only if
//
//   - central's pinned Ed25519 key signed it (proto.VerifyPeerRecord),
//   - it has not expired,
//   - it names the peer ID the connection authenticated (a record copied
//     from another peer is useless without that peer's private key),
//   - its site is ours, and
//   - its peer ID is not in the site's revoked list (SetSite).
//
// Signature checks are cached by the SHA-256 of the record's bytes (key
// ID, record, signature) for the life of the record; every other check is
// made on every stream, so a revocation or a site change applies to the
// next request. A server refuses a requester that fails with "forbidden";
// a requester refuses the bytes of a server that fails (ErrUntrusted).
// Neither side ever trusts fragment bytes: the fetcher verifies them
// against their CID before it stores them (agent/fetch), and the server
// sends only fragments its fragstore holds verified.
//
// # Message flow
//
// One fragment per stream of protocol /shoal/fragment/1.0.0
// (proto.FragmentProtocol). Every header is a 4-byte big-endian length
// (1..MaxHeaderSize, 16 KiB) followed by that many bytes of JSON; a longer
// length resets the stream before anything else is read.
//
//	requester                                   server
//	  | -- dial (2 s TCP, TLS + yamux) ------------> |
//	  | -- open stream /shoal/fragment/1.0.0 ------> |
//	  | -- request {record, package, cid, size} ---> |  hello and request in
//	  |    (then CloseWrite)                         |  one header: one RTT
//	  |                                              |  check record, size
//	  |                                              |  (≤ 16 MiB), CID, store,
//	  |                                              |  upload slot
//	  | <-- response {status, size, record} -------- |
//	  | <-- exactly size raw bytes (status ok) ----- |
//	  |     check the server's record, read size     |
//	  |     bytes, Close                             |  Close
//
// Status is ok, not_found, forbidden, busy or error; only ok is followed
// by bytes, and only an ok response carries the server's record (a
// refusal tells the requester nothing about the server). The requester
// sends its record on every stream rather than once per connection: it is
// a few hundred bytes against a fragment of up to 16 MiB, the server's
// cache makes it cost one hash, and no per-connection state has to be kept
// or expired. The requester maps refusals to ErrNotFound, ErrBusy and
// ErrForbidden, and any other failure to ErrPeer.
//
// Super-seeding (seed.go): a request made under SwarmRequest carries
// "swarm": true, saying the requester can get the fragment from other
// peers of its site. A node with Config.SeedCopies > 0 (3 by default,
// relays and agents alike) sends a fragment to at most that many such
// requesters within SeedWindow (2 s) of its first upload, and answers the
// others busy with "seeding": true, which the requester maps to
// ErrSeeding: the peers it seeded push the fragment over their have
// sessions, and the node's one LAN port does not carry every copy of a
// fragment the whole site wants at once (a relay's last fragments, a WAN
// owner's). Requests
// without the mark (a plain fetcher, which has no peers) are served as
// before; older nodes ignore both fields.
//
// # Have sessions
//
// Peers learn of each other's new fragments as they are stored, not from
// tracker lookups: a downloader (agent/swarm) opens one long-lived stream
// of protocol /shoal/have/1.0.0 (proto.HaveProtocol) per peer and package
// (WatchHaves) to the peers a lookup lists, and both sides push what they
// store (PublishHave). Frames are the same length-prefixed JSON headers:
//
//	opener                                        acceptor
//	  | -- hello {record, package, total, -------> |  check record (as for
//	  |          have bitfield, listen addrs}      |  fragments), bounds,
//	  |                                            |  Haves.Local(package)
//	  | <-- reply {status, record, have} --------- |  ok, or forbidden,
//	  |     check the acceptor's record            |  not_interested, error
//	  | <-> {have: [indexes]} either way ---------> |  each side's new
//	  |     (empty every StreamTimeout/3: alive)   |  fragments, coalesced
//	  |     Close when the opener's download ends  |
//
// Both bitfields and every later message go to Haves.Claim. A peer is
// told of a fragment once, and only if it does not claim it already. A
// claim is only a hint for the scheduler: it never lets bytes in, since
// every fragment fetched is verified against its CID from the signed
// manifest, and a peer that claims what it does not serve answers "not
// found" (agent/swarm drops a peer whose pushed claims prove false three
// times). Trust is the fragment protocol's: both records are checked, so
// only members of the site with valid, unrevoked records exchange claims.
//
// Bounds: at most MaxHaveStreams inbound have streams (the resource
// manager and a counter), a hello of at most MaxHaveTotal fragments and 16
// addresses, indexes in range, and HaveRate messages a second per stream
// (burst twice that); a peer past any of them is cut off (reset), and the
// downloader bounds the claims it has not read yet. An outbound session
// that fails is not opened again for 30 s.
//
// # Limits
//
// Every read and write of a stream runs under a deadline (StreamTimeout,
// 30 s by default, refreshed per 256 KiB chunk), so a stalled peer costs
// at most that long; any failure resets the stream, success closes it.
// The resource manager caps inbound connections and inbound fragment
// streams; at most MaxUploads fragments are sent at once (more are
// answered "busy", the requester tries another peer) and UploadRate caps
// their bytes per second.
//
// # Corrupt test builds
//
// For the "one agent serves corrupt or forged fragments" tests, a binary
// built with `go build -tags shoalcorrupt` damages every fragment it
// serves (corrupt_on.go; SHOAL_P2P_CORRUPT=flip|forge|off selects how).
// Without the tag the hook does not exist, so no configuration can turn a
// production binary into a corrupt one.
package p2p

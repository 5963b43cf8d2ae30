// Package relay is shoal-relay, the branch LAN cache: it fetches each
// fragment over the WAN once, verifies it against the CID of the signed
// manifest, and serves the branch's OCS agents over HTTP with exactly
// central's download paths. See docs/ARCHITECTURE.md, section 1.
//
// # Message flow (OCS agents)
//
// Central sends the site's fragment location (host:port/path of the relay)
// as PACK_LOC to the agents of the relay's site. An agent then asks the
// relay for GET /download/<ID>/info and GET /download/<ID>/<ID>-<n>.
//
//  1. On the first request for a package the relay fetches
//     <upstream>/download/<ID>/manifest.json once, verifies its Ed25519
//     signature with the pinned manifest public key and keeps it on disk.
//  2. A fragment <ID>-<n> is looked up in the fragment store by the CID of
//     OCSFragments[n-1]. On a miss, one upstream fetch runs (concurrent
//     requests for the same CID wait for it, single-flight); the bytes are
//     hashed while they are written to a temporary file, checked against
//     the CID, fsynced and renamed into place. Only then is the fragment
//     served. Bytes that do not match are discarded, the event is logged
//     and counted, the client gets 502, and the next request fetches again.
//  3. The info file is fetched once and cached after its ID, FRAGS and
//     DIGEST were checked against the verified manifest.
//
// The cache survives a restart: on start every cached fragment of every
// cached manifest is hashed again, and a damaged one is removed (and
// fetched again on the next request).
//
// Counters (hits, misses, bytes from upstream, bytes served, corrupt
// upstream answers) are served as Prometheus text on /metrics.
package relay

// Package relay is shoal-relay, the branch LAN cache: it fetches each
// 1 MiB Shoal fragment over the WAN once, verifies it against the CID of
// the signed manifest, and serves the branch's OCS agents (exactly
// central's download paths) and Shoal agents (fragments by CID, over
// libp2p or HTTP). See docs/ARCHITECTURE.md, section 1.
//
// # Storage
//
// The relay stores only verified Shoal fragments (manifest.Fragments, by
// CID, in an internal/fragstore) and the signed manifests.
// An OCS fragment <ID>-<n> is the byte range [Offset, Offset+Size) of
// OCSFragments[n-1], streamed out of the Shoal fragments covering it, so
// each byte crosses the WAN once whatever the agent kind.
//
// # Message flow
//
//  1. On the first request for a package the relay fetches
//     <upstream>/download/<ID>/manifest.json once, verifies its Ed25519
//     signature with the pinned manifest key and keeps it on disk.
//  2. A missing Shoal fragment is fetched from
//     <upstream>/shoal/v1/fragments/<ID>/<CID> (central, or a parent relay:
//     a relay serves the same paths). Concurrent requests share one fetch
//     (single-flight by CID); the bytes go through the WAN limiter, are
//     hashed while written to a temporary file, checked, fsynced and
//     renamed into place. Bytes that do not match are discarded, counted
//     and reported, the client gets 502, and the next request refetches.
//     The first fragment of a response is verified before any header is
//     sent; a later failure cuts the connection, so nothing unverified is
//     ever served.
//  3. The info file is never fetched: the relay builds it from the verified
//     manifest (ocs.InfoFromManifest), which signs every field an OCS agent
//     acts on (ACT, COMMAND/PATH/NAME, DIGEST, FRAGS, PRI, PROTO, NOTIFY_*),
//     so nothing on the WAN path can rewrite it. Manifests are signed and
//     fragments content-addressed, so a plain-HTTP upstream is safe.
//
// # Enrolled relays
//
// `shoal-relay enroll` registers the relay with central (identity key,
// proof, CA pinning) and keeps central's answer in the data directory. An
// enrolled relay long-polls GET /api/agent/v1/relay/jobs: it prefetches
// every active package at once (Parallel fetches at a time to start with,
// more while more raise the goodput, up to MaxParallel; the first
// fragment comes in byte ranges over all the streams, and once fewer
// fragments remain than streams, idle streams fetch byte ranges of the
// last ones, assembled and verified whole (endgame.go); verified fragments
// survive a crash, so a restart resumes), purges what central
// lists, and adopts renewed peer records. It POSTs a report (per-package
// counters, disk use, quota, evictions, WAN cap, recent errors) every
// ReportInterval and after each prefetch; calls to central back off with
// jitter.
//
// # Shoal agents over libp2p
//
// Unless p2p.disabled, an enrolled relay also runs an internal/p2p node with
// its enrolled identity and peer record on the same verified store: the
// site's agents (valid, unrevoked records of the relay's site only) fetch
// fragments by CID over /shoal/fragment/1.0.0, and a fragment the relay
// lacks is pulled through exactly like an HTTP request (single-flight,
// verified before it is stored, "busy" after p2p.pull_timeout). The relay
// reports its libp2p addresses to central, which passes them to the site's
// agents (SiteInfo.Relays), and announces itself to the site's tracker as
// kind relay with the fragments it holds (on the tracker's interval and
// within a second of a change): lookups list it first, and lease answers
// name it the WAN owner, so agents fetch what no peer holds from it.
//
// # Limits
//
// All upstream reads share one token bucket (wan.rate_mbit, optional
// time-of-day windows, optionally on some days of the week, evaluated in
// local time at every read); LAN serving is not capped unless
// lan.rate_mbit is set. With cache.quota_bytes (bytes or "20GiB") the
// least recently used fragments of inactive packages are evicted;
// fragments of active packages and fragments being served never are. When
// nothing can be freed the relay answers 507. ENOSPC evicts and retries
// once.
//
// The cache survives a restart: on start every cached fragment of every
// cached manifest is hashed again; damaged and orphan files are removed.
// Counters are served on /metrics through prometheus/client_golang
// (internal/metrics names them: totals, per package, and the Go
// runtime's), health as JSON on /healthz, with the clock's offset from
// central (measured from the Date of central's answers) and a warning
// when it is larger than five minutes.
package relay

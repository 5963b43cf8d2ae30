// Package agentapi is central's side of the Shoal agent API: JSON over HTTPS
// under proto.AgentAPIPath (/api/agent/v1), with the wire types of
// proto/agent.go, plus the admin routes that manage enrollment tokens and
// agents under the authenticated /api/v1.
//
// # Authentication
//
// POST /enroll is authenticated by an enrollment token (created by an admin,
// limited in uses, revocable) and by a proof that the agent holds the
// private key of the libp2p peer ID it claims. It returns a random bearer
// secret, of which central stores only the SHA-256. Every other call sends
// "Authorization: Bearer <secret>"; an unknown secret gets 401 and the
// agent of a revoked computer gets 403 on every call.
//
// A computer enrolled once stays bound to its identity key: enrolling it
// again (its device ID) with another key gets 409 (store.ErrAlreadyEnrolled)
// and is audited; the same key may enroll again, and after an admin deletes
// the computer any key may. The duplicate rule (name, serial, MAC) never
// hands an enrolled computer to another enrollment or inventory. Every
// enrollment is audited ("agent.enroll", with its token).
//
// An agent's site is the site of its connection address, else the one it
// has (an earlier connection's or an admin's choice); the address it
// reports in its inventory is never used, since the site decides its
// gossip key and peer record.
//
// # Message flow
//
//	agent                                   central
//	POST /enroll {token, device, peer, proof, inventory}
//	                                        computer created or updated,
//	                                        site from the connection, secret,
//	                                        manifest key, signed peer record
//	POST /inventory {AgentInventory}        stored like an OCS inventory
//	                                        (Source "shoal")
//	GET  /jobs?tag=T&wait=25s               held until the job list differs
//	                                        from T (checked every 500 ms in
//	                                        the database, so any central
//	                                        instance answers), or wait ends
//	GET  /packages/<id>/manifest            signed manifest, as built
//	GET  /fragments/<id>/<cid>              one Shoal fragment, read from the
//	                                        OCS fragment files on disk
//	POST /deployments/<id>/progress         downloading/downloaded/running,
//	                                        fragments x/y, bytes by source;
//	                                        409 when the deployment is over
//	POST /deployments/<id>/result           final code, exit code, output
//	                                        tail (kept in the event detail)
//	POST /peer-record                       a fresh signed peer record
//	GET  /info                              protocol version, manifest key ID
//
// # Relays
//
// A shoal-relay enrolls with a relay token (kind "relay"), which an admin
// mints for one relay name of one existing site (single use by default),
// and a proof over proto.RelayEnrollProof. An agent token never enrolls a
// relay, nor a relay token an agent. The relay gets a TLS certificate for
// exactly the hosts of its URLs from central's relay CA (pki.IssueRelay:
// an intermediate name-constrained to exclude central's names; wildcards
// and central's names are refused), a peer record with the relay
// role (proto.RoleRelay; device ID "relay:<name>"), a bearer secret (proto.RelaySecretPrefix) and central's
// plain-HTTP URL as its default upstream. A name (or peer ID) that is
// enrolled is refused (409) until an admin removes that relay (DELETE
// /api/v1/relays/<id>), which stops its secret at once and lists its peer
// ID as revoked until its record expires. Enrollments and refusals with a
// known token are audited, naming the token.
//
//	relay                                   central
//	POST /relays/enroll {token, name, site, peer, proof, urls}
//	GET  /relay/jobs?tag=T&wait=25s         packages with unfinished
//	                                        deployments in the site (never
//	                                        evicted, prefetched), purges, the
//	                                        site's info, a renewed peer record
//	                                        past 2/3 of its life
//	POST /relay/report {RelayReport}        counters and health for the UI
//
// A held /relay/jobs request answers as soon as its list may have changed:
// it watches the notify hub (every job list change, on any replica, and
// purges), re-reading the database every 5 s as a safety net (every
// PollInterval while the hub is not live), like the agents' jobs. The end
// of a deployment is not notified: a package leaves the list (becomes
// evictable) at the next re-read.
//
// A relay that called within store.RelayStale is live: agents of its site
// get it in JobsResponse.Site.Relays, and OCS agents of its site get
// <relay host:port>/download as PACK_LOC unless the site names its own
// fragment location. Fragments are public at proto.FragmentPath on both of
// central's listeners (RegisterPublic), counted like the agent route.
//
// Admin routes (mounted by central under /api/v1 with its own auth):
//
//	POST   /agents/enrollment-tokens        {name, kind, site, relay_name,
//	                                        max_uses, expires_in}
//	GET    /agents/enrollment-tokens
//	DELETE /agents/enrollment-tokens/<id>   revoke
//	GET    /agents                          enrolled agents
//	POST   /agents/<computer>/revoke        and /unrevoke
//	GET    /agents/fragment-stats           bytes of fragments served per package
package agentapi

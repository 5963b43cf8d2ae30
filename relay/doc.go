// Package relay will hold shoal-relay, the branch LAN cache: it fetches each
// fragment over the WAN once, verifies it against the CID of the signed
// manifest, and serves the branch's OCS agents over HTTP and Shoal agents
// over libp2p. See docs/ARCHITECTURE.md, section 1; the relay issue builds it.
package relay

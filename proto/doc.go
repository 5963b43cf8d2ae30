// Package proto holds Shoal's wire types and the rules that make them
// trustworthy: content identifiers for fragments and the signed package
// manifest.
//
// # Content identifiers
//
// Every fragment is named by a CIDv1 with the raw codec (0x55) and a sha2-256
// multihash, written in its canonical base32 string form ("bafkrei…").
// [FragmentCID] computes one, [ParseCID] accepts only that shape, and
// [VerifyFragment] or a streaming [FragmentHasher] checks received bytes
// against it. Because data is addressed by its hash, no peer or relay has to
// be trusted for content: the hash decides.
//
// # Manifests
//
// Central builds a package once (see central/packages) and describes it in a
// [Manifest]: the OCS attributes (ID, action, priority …), the whole-file
// SHA-256 and MD5, and two fragment lists over the same bytes:
//
//   - Fragments: Shoal fragments of FragmentSize bytes (the last may be
//     shorter), fetched by Shoal agents from LAN peers, relays or central.
//   - OCSFragments: the OCS files <ID>-1 … <ID>-n served to unmodified OCS
//     agents; OCS fragment n is OCSFragments[n-1].
//
// The manifest travels as a [SignedManifest] envelope:
//
//	{"manifest": {…exact signed bytes…}, "key_id": "…", "signature": "base64"}
//
// The Ed25519 signature covers [ManifestSignContext] ("shoal-manifest-v2"
// and a zero byte) followed by the exact bytes of the "manifest" value, so a
// verifier never re-encodes before checking, and a signature central's key
// made for another kind of message never verifies as a manifest.
// [VerifyManifest] checks the signature first, then parses the manifest,
// validates it (contiguous fragments, sizes, CIDs) and finally checks the
// package ID the caller asked for. The manifest carries every field of the
// package's OCS info file, so a relay builds the info file it serves from
// the verified manifest (proto/ocs InfoFromManifest). An agent pins central's public key at enrollment and rejects any
// manifest that fails one of these steps.
//
// # Flow
//
//	central: upload → fragments + CIDs → Manifest → SignManifest → manifest.json
//	agent:   GET manifest → VerifyManifest(pinned key, package ID)
//	         → for each fragment: fetch → VerifyFragment(CID) → store
//	         → assemble → check SHA-256 / MD5 → run the action
package proto

// ProtocolVersion is the version of Shoal's wire formats. It is written into
// every manifest and raised whenever a change is not understood by older
// peers. History:
//
//	1: 2026-11-26: initial manifest and fragment CIDs
//	2: 2026-12-04: manifests carry every OCS info file field (fragment_proto,
//	   notify) and are signed behind the "shoal-manifest-v2\x00" context;
//	   relays build the info file from the manifest. Version 1 manifests no
//	   longer verify; central re-signs them at start. Peer records carry a
//	   signed role ("agent" or "relay") and an issue time, and are signed
//	   over "shoal-peer-record-v2\x00" + the record bytes; version 1 records
//	   (role told by a "relay:" device ID) no longer verify, and their
//	   holders renew them.
const ProtocolVersion = 2

// Package ocs is the wire layer of the OCS Inventory NG agent protocol, as
// spoken by unmodified OCS agents (Unix agent 2.10, Windows agent 2.x) to the
// communication server that Shoal's central replaces. It only encodes and
// decodes; what to answer is decided by central. It uses the standard
// library only, and proto for the signed manifest that InfoFromManifest
// turns into an info file. The protocol is described in
// docs/ocs-protocol.md; section numbers (§) below refer to it.
//
// # Message flow
//
// Every agent message is an HTTP POST of one compressed XML document with
// root <REQUEST> to one URL (/ocsinventory). The server branches on QUERY
// only:
//
//	agent                                         central
//	PROLOG   <REQUEST><DEVICEID/><QUERY>PROLOG    → PrologReply: RESPONSE SEND|STOP,
//	                                                PROLOG_FREQ, INVENTORY_ON_STARTUP,
//	                                                OPTION DOWNLOAD (CONF + one PACK per package)
//	GET https://<INFO_LOC>/<ID>/info              → Info (static file, not this endpoint)
//	INVENTORY  <REQUEST><CONTENT>…<DEVICEID/>     → InventoryReply: NO_ACCOUNT_UPDATE, or
//	           <QUERY>INVENTORY                     ACCOUNT_UPDATE + every ACCOUNTINFO
//	GET <proto>://<PACK_LOC>/<ID>/<ID>-1..n       → fragments (static files)
//	DOWNLOAD <REQUEST DEVICEID ERR ID QUERY/>     → 200 with an empty body (no XML)
//
// A PROLOG reply of SEND asks for an inventory; downloads advertised in it
// run whatever RESPONSE says. The inventory carries DOWNLOAD/HISTORY, the
// IDs of packages the agent deployed successfully. The info file describes a
// package (action, priority, fragment count, MD5 of the concatenated
// fragments); the agent fetches the fragments <ID>-1 … <ID>-n, concatenates
// them, checks the digest, runs the action and reports one result code per
// package (ResultClass classifies it).
//
// # Encodings
//
// Agents compress bodies with zlib (RFC 1950, never raw deflate). Decode also
// accepts gzip and plain XML, sniffing the first bytes, and bounds the
// decompressed size so that a zip bomb fails with ErrTooLarge instead of
// exhausting memory. Replies must be encoded like their request with Encode:
// the Unix agent can only inflate zlib and exits on anything else. The
// reply's Content-Type is the reference server's "application/x-compressed"
// except for a request labelled "application/x-compress-zlib" or
// "-gzip" (FusionInventory, the GLPI agent), which gets its own label back
// ([ReplyContentType]): the GLPI agent picks its decoder from that header
// and drops a reply labelled otherwise.
//
// # Agents
//
// testdata holds a real capture of each agent that speaks the protocol (its
// README lists them with their sources): the OCS Unix agent, FusionInventory
// 2.6, the GLPI agent 1.12 in OCS mode, and real sections of Windows
// inventories quoted in public issues (no Windows agent runs here). They
// send the same sections with different fields:
// FusionInventory and the GLPI agent add OPERATINGSYSTEM (the distribution's
// version and the architecture), NETWORKS/IPADDRESS6, CPUS NAME/CORE/THREAD/
// ARCH, SOFTWARES/ARCH and CONTROLLERS VENDORID/PRODUCTID; the GLPI agent's
// HARDWARE has no OS, IPADDR or processor fields at all; the Windows agent
// adds HARDWARE ARCH, WINPRODID, WINPRODKEY, WINOWNER and WINCOMPANY, and
// DRIVES/LETTER. testdata/golden/sections-<agent>.txt lists, per capture,
// the fields parsed and ignored.
//
// Requests: [Decode] → [Parse] (or [ParseRequest] and [ParseInventory]).
// Replies: [PrologReply.Marshal], [InventoryReply.Marshal] → [Encode]. Info
// files: [Info.Marshal], written as plain files. The reverse directions
// ([Request.Marshal], [Inventory.Marshal], [ParsePrologReply],
// [ParseInventoryReply], [ParseInfo]) exist for Shoal's test agents.
//
// # Leniency rules
//
// The reference server reads XML with Perl's XML::Simple, and agents rely on
// its tolerance. The parsers here follow it:
//
//   - An attribute and a child element with the same name mean the same
//     thing; the attribute wins. The Unix agent's download result uses
//     attributes only, the Windows agent mixes both forms.
//   - DEVICEID falls back to CONTENT/DEVICEID. Values are trimmed.
//   - Element order is free, any list may have one entry, empty elements are
//     accepted, and unknown elements and sections are ignored.
//   - Declared charsets ISO-8859-1, Windows-1252 and ISO-8859-15 are
//     converted to UTF-8 (ISO-8859-1 is read as its superset Windows-1252).
//     In a document declared UTF-8, bytes that are not valid UTF-8 are read
//     as Windows-1252, as the real server's re-encoding retry does.
//   - Control characters that XML forbids are dropped, a UTF-8 byte order
//     mark is skipped, and HTML entities such as &nbsp; are understood.
//
// and are strict where the real server is:
//
//   - Any DOCTYPE (or other <!…> directive) is rejected (ErrXML), which also
//     rules out entity expansion and external entities.
//   - The root must be <REQUEST> (ErrXML); QUERY must be present (ErrQuery);
//     DEVICEID must match ^.+-\d{4}(-\d{2}){5}$ (ErrDeviceID), the check that
//     makes the real server answer 400.
//
// Replies are written by hand in the exact shape the agents were tested with
// (§4.2, §5.4): RESPONSE, PROLOG_FREQ and INVENTORY_ON_STARTUP as elements,
// OPTION/NAME as an element, PARAM values as attributes, and a CONF that
// always carries TIMEOUT.
package ocs

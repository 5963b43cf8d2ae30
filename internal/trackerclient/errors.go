package trackerclient

import "errors"

// Sentinel errors of a tracker's answers. The tracker server returns them
// and maps them to statuses; the Client maps the statuses back (StatusError).
var (
	// ErrUnauthorized: missing or malformed credentials, a peer record
	// that does not verify or has expired, a bad identity signature or a
	// request time too far off (401).
	ErrUnauthorized = errors.New("tracker: unauthorized")
	// ErrRevoked: central revoked the caller (403).
	ErrRevoked = errors.New("tracker: peer revoked")
	// ErrNoSite: the caller's record names no site, so it has no swarm (403).
	ErrNoSite = errors.New("tracker: peer has no site")
	// ErrUnknownPeer: the caller has no live entry (it never announced, its
	// entry expired or the tracker restarted). Announce, then retry (410).
	ErrUnknownPeer = errors.New("tracker: unknown peer: announce first")
	// ErrReplay: an announce older than the caller's last one (409).
	ErrReplay = errors.New("tracker: announce older than the last one")
	// ErrBadRequest: an invalid request (400).
	ErrBadRequest = errors.New("tracker: bad request")
	// ErrFull: the tracker holds MaxEntries entries (503).
	ErrFull = errors.New("tracker: too many peers")
)

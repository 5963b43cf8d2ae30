package proto

import "strings"

// Relay wire types. A relay enrolls with an enrollment token like an agent
// (POST <AgentAPIPath>/relays/enroll), then authenticates every call with
// "Authorization: Bearer <relay secret>" on the routes under
// <AgentAPIPath>/relay/.
//
// Fragments (1 MiB Shoal fragments, by CID) are served without
// authentication, like OCS fragments, by central and by every relay at
// FragmentPath on both the HTTP and HTTPS listeners: the bytes are checked
// against the signed manifest by whoever receives them. The signed manifest
// is at /download/<ID>/manifest.json on the same listeners.

// RelaySecretPrefix marks the per-relay bearer secrets.
const RelaySecretPrefix = "shoalrelay_"

// FragmentPathPrefix is where central and relays serve Shoal fragments.
const FragmentPathPrefix = "/shoal/v1/fragments/"

// FragmentPath is the path of fragment cid of package pkg.
func FragmentPath(pkg, cid string) string {
	return FragmentPathPrefix + pkg + "/" + cid
}

// ManifestPath is the path of a package's signed manifest in the download
// tree of central and relays.
func ManifestPath(pkg string) string { return "/download/" + pkg + "/manifest.json" }

// RelayDeviceIDPrefix starts the DeviceID of every relay's peer record
// ("relay:<name>"), a readable label. It is reserved (ReservedDeviceID): no
// agent may enroll or inventory under it. A relay's record is told from an
// agent's by its signed Role, never by this prefix.
const RelayDeviceIDPrefix = "relay:"

// RelayEnrollProof is the message an enrolling relay signs with its
// identity key.
func RelayEnrollProof(token, name, peerID string) []byte {
	return []byte("shoal-relay-enroll-v1\x00" + token + "\x00" + name + "\x00" + peerID)
}

// RelayEnrollRequest is POST <AgentAPIPath>/relays/enroll.
type RelayEnrollRequest struct {
	// Token is an enrollment token created by an admin.
	Token string `json:"token"`
	// Name identifies the relay (unique; re-enrolling a name replaces it).
	Name string `json:"name"`
	// Site is the name of the site the relay serves (it must exist).
	Site string `json:"site"`
	// PeerID and PublicKey are the relay's libp2p identity; Proof is the
	// identity key's signature over RelayEnrollProof(Token, Name, PeerID).
	PeerID    string `json:"peer_id"`
	PublicKey []byte `json:"public_key"`
	Proof     []byte `json:"proof"`
	// HTTPURL is the plain-HTTP base URL branch agents reach the relay at
	// (http://host:port); it becomes the site's fragment location.
	HTTPURL string `json:"http_url"`
	// HTTPSURL is the optional HTTPS base URL (https://host:port).
	HTTPSURL string `json:"https_url,omitempty"`
	// Hostnames are the DNS names and IP addresses the TLS certificate
	// central issues must cover; empty means the hosts of the URLs.
	Hostnames []string `json:"hostnames,omitempty"`
	// Version is the relay's build version.
	Version string `json:"version"`
}

// RelayEnrollResponse answers a successful relay enrollment.
type RelayEnrollResponse struct {
	RelayID uint   `json:"relay_id"`
	Site    string `json:"site"`
	// Secret authenticates the relay's later calls; shown this once.
	Secret            string `json:"secret"`
	ManifestPublicKey []byte `json:"manifest_public_key"`
	ManifestKeyID     string `json:"manifest_key_id"`
	// CACertPEM is central's CA; CertPEM and KeyPEM the relay's TLS
	// server certificate and private key, issued by that CA.
	CACertPEM []byte `json:"ca_cert_pem"`
	CertPEM   []byte `json:"cert_pem"`
	KeyPEM    []byte `json:"key_pem"`
	// Upstream is the base URL the relay fetches from when its
	// configuration names none: central's plain-HTTP download URL.
	Upstream string `json:"upstream"`
	// PeerRecord is the relay's signed peer record (for the tracker and
	// LAN peers).
	PeerRecord SignedPeerRecord `json:"peer_record"`
}

// RelayPackage is one package central wants a relay to hold.
type RelayPackage struct {
	PackageID string `json:"package_id"`
	Name      string `json:"name"`
	Size      int64  `json:"size"`
	// Active: the package has unfinished deployments in the relay's site.
	// The relay prefetches it at once and never evicts it.
	Active bool `json:"active"`
}

// RelayJobs answers GET <AgentAPIPath>/relay/jobs?wait=<duration>&tag=<tag>,
// a long poll like the agents' jobs.
type RelayJobs struct {
	Packages []RelayPackage `json:"packages"`
	// Purge lists packages to drop from the cache now.
	Purge []string `json:"purge,omitempty"`
	Tag   string   `json:"tag"`
	// PeerRecord is a fresh peer record when the current one is past two
	// thirds of its life; empty otherwise.
	PeerRecord *SignedPeerRecord `json:"peer_record,omitempty"`
	// Site describes the relay's site (tracker, gossip key).
	Site *SiteInfo `json:"site,omitempty"`
	// Wake lists magic packets to send now for sleeping computers of the
	// relay's site (an answer carrying orders comes at once).
	Wake []WakeOrder `json:"wake,omitempty"`
}

// RelayJobsTag returns the tag of a relay's job list.
func RelayJobsTag(pkgs []RelayPackage, purge []string) string {
	var b strings.Builder
	b.WriteString("r1:")
	for _, p := range pkgs {
		b.WriteString(p.PackageID)
		if p.Active {
			b.WriteByte('*')
		}
		b.WriteByte(',')
	}
	b.WriteString("|")
	b.WriteString(strings.Join(purge, ","))
	return b.String()
}

// RelayPackageStats counts one package at a relay since it started.
type RelayPackageStats struct {
	PackageID       string `json:"package_id"`
	BytesUpstream   int64  `json:"bytes_upstream"`
	BytesServed     int64  `json:"bytes_served"`
	Hits            int64  `json:"hits"`
	Misses          int64  `json:"misses"`
	CorruptUpstream int64  `json:"corrupt_upstream"`
	// CachedBytes and Complete describe what the cache holds now.
	CachedBytes int64 `json:"cached_bytes"`
	Complete    bool  `json:"complete"`
}

// RelayReport is POST <AgentAPIPath>/relay/report, sent every report
// interval and after every prefetch.
type RelayReport struct {
	Version   string `json:"version"`
	StartedAt int64  `json:"started_at"` // Unix seconds
	// DiskUsed and DiskQuota are the cache's bytes (quota 0: none).
	DiskUsed  int64 `json:"disk_used"`
	DiskQuota int64 `json:"disk_quota"`
	// WANRateBits is the current upstream cap in bits/s (0: none).
	WANRateBits int64               `json:"wan_rate_bits"`
	Evictions   int64               `json:"evictions"`
	Packages    []RelayPackageStats `json:"packages"`
	// Errors lists recent problems for the admin (bounded).
	Errors []string `json:"errors,omitempty"`
	// P2PAddrs are the libp2p multiaddrs the relay serves Shoal agents
	// on (empty: libp2p off); at most MaxRelayAddrs.
	P2PAddrs []string `json:"p2p_addrs,omitempty"`
	// P2PServed counts the fragment bytes served over libp2p since start
	// (the per-package counters include them).
	P2PServed int64 `json:"p2p_served,omitempty"`
}

// MaxRelayAddrs bounds the libp2p addresses of a relay report.
const MaxRelayAddrs = 16

// RelayRef names a relay to the agents of its site.
type RelayRef struct {
	Name   string `json:"name"`
	URL    string `json:"url"`
	PeerID string `json:"peer_id,omitempty"`
	// Addrs are the relay's libp2p listen multiaddrs (no /p2p part), as
	// it last reported them; Shoal agents fetch over libp2p first and
	// over URL when these fail. Empty: HTTP only.
	Addrs []string `json:"addrs,omitempty"`
}

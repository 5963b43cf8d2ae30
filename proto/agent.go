package proto

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// AgentAPIPath is the path prefix of the agent API on central's HTTPS
// listener. Package central/agentapi describes its message flow; the types
// below are its JSON bodies.
const AgentAPIPath = "/api/agent/v1"

// AgentSecretPrefix marks the per-agent bearer secrets central hands out at
// enrollment, so that leaked ones are easy to recognise.
const AgentSecretPrefix = "shoalagent_"

// EnrollTokenPrefix marks enrollment tokens.
const EnrollTokenPrefix = "shoalenroll_"

// Result codes a Shoal agent reports besides the OCS ones of proto/ocs. Like
// every ERR_ code they count as errors.
const (
	// ResultErrBadSignature: the manifest is not signed by the key the agent
	// pinned at enrollment (altered after signing, or another central).
	ResultErrBadSignature = "ERR_BAD_SIGNATURE"
	// ResultErrBadManifest: the manifest verifies but is invalid or names
	// another package.
	ResultErrBadManifest = "ERR_BAD_MANIFEST"
	// ResultSuccessAlreadyInstalled: the package is in the agent's local
	// history and the deployment is not forced; nothing was run.
	ResultSuccessAlreadyInstalled = "SUCCESS_ALREADY_SETUP"
)

// Sentinel errors of peer records.
var (
	// ErrBadPeerRecord reports a peer record that does not verify, cannot be
	// parsed or is incomplete.
	ErrBadPeerRecord = errors.New("proto: bad peer record")
	// ErrPeerRecordExpired reports a valid but expired peer record.
	ErrPeerRecordExpired = errors.New("proto: peer record expired")
)

// ReservedDeviceID reports whether a device ID starts with a prefix that
// only central assigns (RelayDeviceIDPrefix): no agent, Shoal or OCS, may
// enroll, inventory or be renamed under such an ID.
func ReservedDeviceID(id string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(id)), RelayDeviceIDPrefix)
}

// EnrollRequest is POST /enroll, the only agent call without an agent
// secret: the enrollment token authenticates it.
type EnrollRequest struct {
	// Token is an enrollment token created by an admin.
	Token string `json:"token"`
	// DeviceID is the agent's device ID, OCS style: hostname-YYYY-MM-DD-HH-MM-SS.
	DeviceID string `json:"device_id"`
	// PeerID is the libp2p peer ID of the agent's identity key.
	PeerID string `json:"peer_id"`
	// PublicKey is the identity public key in libp2p's protobuf encoding.
	PublicKey []byte `json:"public_key"`
	// Proof is the identity key's signature over EnrollProof(Token,
	// DeviceID, PeerID): the agent holds the private key of PeerID.
	Proof []byte `json:"proof"`
	// AgentVersion is the agent's build version.
	AgentVersion string `json:"agent_version"`
	// Inventory is the first inventory; it creates the computer.
	Inventory *AgentInventory `json:"inventory"`
}

// EnrollProof is the message an enrolling agent signs with its identity key.
func EnrollProof(token, deviceID, peerID string) []byte {
	return []byte("shoal-enroll-v1\x00" + token + "\x00" + deviceID + "\x00" + peerID)
}

// EnrollResponse answers a successful enrollment.
type EnrollResponse struct {
	ComputerID uint   `json:"computer_id"`
	DeviceID   string `json:"device_id"`
	// Site is the site central assigned from the agent's address; empty
	// when no site matches.
	Site string `json:"site,omitempty"`
	// Secret authenticates every later call as "Authorization: Bearer
	// <secret>". Central keeps only its hash; it is shown this once.
	Secret string `json:"secret"`
	// ManifestPublicKey is central's Ed25519 manifest key, which the agent
	// pins; ManifestKeyID is KeyID of it.
	ManifestPublicKey []byte `json:"manifest_public_key"`
	ManifestKeyID     string `json:"manifest_key_id"`
	// PeerRecord is the agent's first signed peer record.
	PeerRecord SignedPeerRecord `json:"peer_record"`
}

// AgentInfo is GET /info (no authentication): enough for an agent or a
// test to know the agent API is there.
type AgentInfo struct {
	ProtocolVersion int    `json:"protocol_version"`
	ManifestKeyID   string `json:"manifest_key_id"`
}

// Job is one deployment central wants the agent to run.
type Job struct {
	PackageID string `json:"package_id"`
	Name      string `json:"name"`
	// Priority: lower numbers run first (0..MaxPriority).
	Priority int `json:"priority"`
	// Force installs even when the package is in the agent's history.
	Force bool `json:"force,omitempty"`
	// State is central's view of the deployment (waiting, notified,
	// downloading, downloaded, running).
	State string `json:"state"`
	// InstallAfter, when set, holds the install until then: the
	// deployment's window is closed. The agent downloads now and installs
	// once the time has passed or a later list no longer holds it. Central
	// sends it only to agents that ask for it (JobsHoldParam); older ones
	// are not told about held deployments at all.
	InstallAfter *time.Time `json:"install_after,omitempty"`
}

// JobsHoldParam is the query parameter (value "1") of GET /jobs by which an
// agent says it honours Job.InstallAfter.
const JobsHoldParam = "hold"

// JobsResponse answers GET /jobs?wait=<duration>&tag=<tag>. Jobs is the full
// list of the computer's active deployments, lowest priority number first.
// Central answers as soon as the list differs from the one tag names, or
// when wait has passed.
type JobsResponse struct {
	Jobs []Job `json:"jobs"`
	// Tag names this list; send it back to wait for the next change.
	Tag string `json:"tag"`
	// Site describes the agent's site: relays, tracker, gossip key. Nil
	// when the agent has no site.
	Site *SiteInfo `json:"site,omitempty"`
	// Wake lists magic packets to send now for sleeping computers of the
	// agent's site (an answer carrying orders comes at once).
	Wake []WakeOrder `json:"wake,omitempty"`
}

// JobsTag returns the tag of a job list: package IDs with a force marker in
// priority order. Equal lists give equal tags.
func JobsTag(jobs []Job) string {
	var b strings.Builder
	for i, j := range jobs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(j.PackageID)
		if j.Force {
			b.WriteString("!")
		}
		if j.InstallAfter != nil {
			fmt.Fprintf(&b, "@%d", j.InstallAfter.Unix())
		}
	}
	return "v1:" + b.String()
}

// Deployment states an agent reports in Progress (central's names).
const (
	StateDownloading = "downloading"
	StateDownloaded  = "downloaded"
	StateRunning     = "running"
)

// Progress is POST /deployments/<pkg>/progress.
type Progress struct {
	// State is downloading, downloaded or running.
	State          string `json:"state"`
	FragmentsDone  int    `json:"fragments_done"`
	FragmentsTotal int    `json:"fragments_total"`
	BytesPeer      int64  `json:"bytes_peer"`
	BytesRelay     int64  `json:"bytes_relay"`
	BytesCentral   int64  `json:"bytes_central"`
}

// Result is POST /deployments/<pkg>/result: the final outcome.
type Result struct {
	// Code is an OCS result code (SUCCESS, ERR_*, EXIT_CODE_<n>) or one of
	// the Result* codes of this package.
	Code string `json:"code"`
	// ExitCode is the command's exit status when one ran.
	ExitCode *int `json:"exit_code,omitempty"`
	// Detail explains the code for a person: the error, and the tail of
	// the command's output. Central stores it in the deployment's event.
	Detail string `json:"detail,omitempty"`
}

// MaxResultDetail bounds Result.Detail; central truncates longer ones.
const MaxResultDetail = 8 << 10

// Peer roles: the Role of a PeerRecord, set by central from the enrolled
// identity (an agent enrollment or a relay enrollment), never from inventory
// data such as the device ID.
const (
	RoleAgent = "agent"
	RoleRelay = "relay"
)

// MaxPeerRecordSkew is how far in the future a peer record's Issued time may
// lie before VerifyPeerRecord refuses it: a day, so that a verifier whose
// clock is behind central's by hours still accepts fresh records, while a
// record dated far ahead (a forged clock on central, or a replay meant to
// outlive a key change) is refused.
const MaxPeerRecordSkew = 24 * time.Hour

// peerRecordContext starts the signed bytes of a peer record, so that a
// signature made by central's key over another message (a manifest, a
// revocation list) never verifies as a peer record.
const peerRecordContext = "shoal-peer-record-v2\x00"

// PeerRecord binds a peer's libp2p peer ID to its device, site and role
// from Issued until Expires. Central signs it; peers and relays serve
// fragments only to holders of a valid record for their own site, and the
// tracker grants a site's WAN ownership only to a record with RoleRelay.
type PeerRecord struct {
	PeerID   string `json:"peer_id"`
	DeviceID string `json:"device_id"`
	Site     string `json:"site"`
	// Role is RoleAgent or RoleRelay.
	Role    string    `json:"role"`
	Issued  time.Time `json:"issued"`
	Expires time.Time `json:"expires"`
}

// IsRelay reports whether central signed the record for an enrolled relay.
func (r *PeerRecord) IsRelay() bool { return r.Role == RoleRelay }

// peerRecordMessage is what central's key signs for a record's bytes.
func peerRecordMessage(raw []byte) []byte {
	return append([]byte(peerRecordContext), raw...)
}

func validRole(role string) bool { return role == RoleAgent || role == RoleRelay }

// SignedPeerRecord is a PeerRecord with central's Ed25519 signature over
// the context "shoal-peer-record-v2\x00" followed by the exact bytes of
// Record.
type SignedPeerRecord struct {
	Record    json.RawMessage `json:"record"`
	KeyID     string          `json:"key_id"`
	Signature []byte          `json:"signature"`
}

// SignPeerRecord encodes r and signs it with key. PeerID, DeviceID, Role,
// Issued and Expires are required.
func SignPeerRecord(r PeerRecord, key ed25519.PrivateKey) (SignedPeerRecord, error) {
	if len(key) != ed25519.PrivateKeySize {
		return SignedPeerRecord{}, fmt.Errorf("sign peer record: private key has %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	if r.PeerID == "" || r.DeviceID == "" || r.Expires.IsZero() || r.Issued.IsZero() || !validRole(r.Role) {
		return SignedPeerRecord{}, fmt.Errorf("sign peer record: peer_id, device_id, role, issued and expires are required: %w", ErrBadPeerRecord)
	}
	r.Issued = r.Issued.UTC().Truncate(time.Second)
	r.Expires = r.Expires.UTC().Truncate(time.Second)
	raw, err := json.Marshal(r)
	if err != nil {
		return SignedPeerRecord{}, fmt.Errorf("sign peer record: encode: %w", err)
	}
	pub := key.Public().(ed25519.PublicKey)
	return SignedPeerRecord{Record: raw, KeyID: KeyID(pub), Signature: ed25519.Sign(key, peerRecordMessage(raw))}, nil
}

// VerifyPeerRecord checks the signature of s with pub, parses the record
// and checks that it is valid at now: issued no more than MaxPeerRecordSkew
// after now, and not expired. An expired record is returned with an error
// wrapping ErrPeerRecordExpired; every other failure wraps ErrBadPeerRecord.
// Records signed before protocol version 2 (no context, no role) do not
// verify; their holders renew them.
func VerifyPeerRecord(s SignedPeerRecord, pub ed25519.PublicKey, now time.Time) (*PeerRecord, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("verify peer record: public key has %d bytes: %w", len(pub), ErrBadPeerRecord)
	}
	// The signer signs compact JSON (json.Marshal). A record kept in a
	// file written with indentation has its raw bytes re-indented, so the
	// bytes are compacted again before the check; compacting compact JSON
	// changes nothing.
	raw := s.Record
	var buf bytes.Buffer
	if json.Compact(&buf, raw) == nil {
		raw = buf.Bytes()
	}
	if s.KeyID != KeyID(pub) || len(raw) == 0 || !ed25519.Verify(pub, peerRecordMessage(raw), s.Signature) {
		return nil, fmt.Errorf("verify peer record: signature: %w", ErrBadPeerRecord)
	}
	var r PeerRecord
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("verify peer record: parse: %w: %w", ErrBadPeerRecord, err)
	}
	if r.PeerID == "" || r.DeviceID == "" || r.Expires.IsZero() || r.Issued.IsZero() || !validRole(r.Role) {
		return nil, fmt.Errorf("verify peer record: incomplete: %w", ErrBadPeerRecord)
	}
	if r.Issued.After(now.Add(MaxPeerRecordSkew)) {
		return nil, fmt.Errorf("verify peer record: issued at %s, more than %s in the future: %w",
			r.Issued.Format(time.RFC3339), MaxPeerRecordSkew, ErrBadPeerRecord)
	}
	if !now.Before(r.Expires) {
		return &r, fmt.Errorf("verify peer record: expired at %s: %w", r.Expires.Format(time.RFC3339), ErrPeerRecordExpired)
	}
	return &r, nil
}

// AgentInventory is POST /inventory (and part of EnrollRequest): a Linux
// computer's facts in the shape of an OCS inventory, so that central stores
// it in the same tables. Unknown values are left empty.
type AgentInventory struct {
	Hostname    string `json:"hostname"`
	Workgroup   string `json:"workgroup,omitempty"`
	OSName      string `json:"os_name"`
	OSVersion   string `json:"os_version"`
	OSComments  string `json:"os_comments,omitempty"`
	Kernel      string `json:"kernel,omitempty"`
	Arch        string `json:"arch"`
	Description string `json:"description,omitempty"`
	// ProcessorType is the CPU model; ProcessorCount counts logical CPUs.
	ProcessorType  string `json:"processor_type,omitempty"`
	ProcessorCount int    `json:"processor_count"`
	MemoryMB       int    `json:"memory_mb"`
	SwapMB         int    `json:"swap_mb"`
	IPAddr         string `json:"ip_addr,omitempty"`
	DNS            string `json:"dns,omitempty"`
	Gateway        string `json:"gateway,omitempty"`
	UUID           string `json:"uuid,omitempty"`
	VMSystem       string `json:"vm_system,omitempty"`
	UserID         string `json:"user_id,omitempty"`

	BIOS      InvBIOS       `json:"bios"`
	CPUs      []InvCPU      `json:"cpus,omitempty"`
	Storages  []InvStorage  `json:"storages,omitempty"`
	Drives    []InvDrive    `json:"drives,omitempty"`
	Networks  []InvNetwork  `json:"networks,omitempty"`
	Softwares []InvSoftware `json:"softwares,omitempty"`
	// History lists the packages the agent installed successfully.
	History []string `json:"history,omitempty"`
	// Problems lists the sources that could not be read (permission,
	// missing file), so an admin sees why a section is empty.
	Problems []string `json:"problems,omitempty"`
}

// InvBIOS is the DMI information.
type InvBIOS struct {
	SystemManufacturer string `json:"system_manufacturer,omitempty"`
	SystemModel        string `json:"system_model,omitempty"`
	SystemSerial       string `json:"system_serial,omitempty"`
	BiosManufacturer   string `json:"bios_manufacturer,omitempty"`
	BiosVersion        string `json:"bios_version,omitempty"`
	BiosDate           string `json:"bios_date,omitempty"`
	BoardManufacturer  string `json:"board_manufacturer,omitempty"`
	BoardModel         string `json:"board_model,omitempty"`
	BoardSerial        string `json:"board_serial,omitempty"`
	AssetTag           string `json:"asset_tag,omitempty"`
	Type               string `json:"type,omitempty"`
}

// InvCPU is one physical CPU package.
type InvCPU struct {
	Manufacturer string `json:"manufacturer,omitempty"`
	Type         string `json:"type,omitempty"`
	SpeedMHz     int    `json:"speed_mhz,omitempty"`
	Cores        int    `json:"cores,omitempty"`
	LogicalCPUs  int    `json:"logical_cpus,omitempty"`
	Arch         string `json:"arch,omitempty"`
	DataWidth    int    `json:"data_width,omitempty"`
	L2Cache      string `json:"l2_cache,omitempty"`
}

// InvStorage is one block device (a disk).
type InvStorage struct {
	Name         string `json:"name"`
	Model        string `json:"model,omitempty"`
	Manufacturer string `json:"manufacturer,omitempty"`
	Type         string `json:"type,omitempty"`
	SizeMB       int64  `json:"size_mb"`
	SerialNumber string `json:"serial_number,omitempty"`
}

// InvDrive is one mounted file system.
type InvDrive struct {
	MountPoint string `json:"mount_point"`
	Device     string `json:"device"`
	FileSystem string `json:"file_system"`
	TotalMB    int64  `json:"total_mb"`
	FreeMB     int64  `json:"free_mb"`
}

// InvNetwork is one address of an interface (an interface without an
// address gets one entry with an empty address), as OCS sends them.
type InvNetwork struct {
	Interface string `json:"interface"`
	IPAddress string `json:"ip_address,omitempty"`
	IPMask    string `json:"ip_mask,omitempty"`
	IPSubnet  string `json:"ip_subnet,omitempty"`
	Gateway   string `json:"gateway,omitempty"`
	MAC       string `json:"mac,omitempty"`
	Status    string `json:"status"`
	Type      string `json:"type,omitempty"`
	MTU       int    `json:"mtu,omitempty"`
	SpeedMbps int    `json:"speed_mbps,omitempty"`
	Virtual   bool   `json:"virtual,omitempty"`
}

// InvSoftware is one installed package (dpkg or rpm).
type InvSoftware struct {
	Name         string `json:"name"`
	Version      string `json:"version,omitempty"`
	Architecture string `json:"architecture,omitempty"`
	Publisher    string `json:"publisher,omitempty"`
	Comments     string `json:"comments,omitempty"`
	SizeBytes    int64  `json:"size_bytes,omitempty"`
	InstallDate  string `json:"install_date,omitempty"`
	// From is "deb" or "rpm".
	From string `json:"from,omitempty"`
}

package proto

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Platforms a package targets, as named by OCS.
const (
	PlatformLinux   = "LINUX"
	PlatformWindows = "WINDOWS"
	PlatformMacOSX  = "MACOSX"
)

// Actions an agent runs after assembling a package, as named by OCS (§6.7).
const (
	// ActionExecute runs Command in the extracted directory.
	ActionExecute = "EXECUTE"
	// ActionStore copies the extracted files to Path.
	ActionStore = "STORE"
	// ActionLaunch runs the program LaunchName from the archive.
	ActionLaunch = "LAUNCH"
)

// Limits on manifests.
const (
	// MaxManifestBytes bounds a signed manifest on the wire; readers should
	// stop reading after this many bytes.
	MaxManifestBytes = 32 << 20
	// MaxPackageIDLen is the longest accepted package ID (OCS uses Unix
	// timestamps, 10 digits today).
	MaxPackageIDLen = 19
	// MaxPriority is the lowest OCS priority; 0 is the highest.
	MaxPriority = 10
	// MinManifestVersion is the oldest manifest version accepted: version 2
	// added the OCS info file fields (FragmentProto, Notify) and the
	// domain-separated signature.
	MinManifestVersion = 2
)

// ManifestSignContext prefixes the bytes a manifest signature covers, so
// that a signature made by central's key for another kind of message (a
// peer record, a revocation list) can never pass as a manifest signature.
const ManifestSignContext = "shoal-manifest-v2\x00"

// Fragment protocols of the OCS info file (PROTO), the scheme OCS agents
// use for fragment URLs.
const (
	FragmentProtoHTTP  = "HTTP"
	FragmentProtoHTTPS = "HTTPS"
)

// Sentinel errors of manifest signing and verification.
var (
	// ErrBadSignature reports a manifest not signed by the expected key.
	ErrBadSignature = errors.New("proto: bad manifest signature")
	// ErrManifestMismatch reports a valid manifest for another package.
	ErrManifestMismatch = errors.New("proto: manifest is for another package")
	// ErrManifestInvalid reports a manifest that cannot be parsed or whose
	// fields are inconsistent.
	ErrManifestInvalid = errors.New("proto: invalid manifest")
)

// Fragment is one contiguous byte range of a package and its CID.
type Fragment struct {
	// Index is the position in its list, starting at 0.
	Index int `json:"index"`
	// Offset is the position of the first byte in the whole file.
	Offset int64 `json:"offset"`
	// Size is the number of bytes, always > 0.
	Size int64 `json:"size"`
	// CID is the canonical CIDv1 (raw, sha2-256) of the bytes.
	CID string `json:"cid"`
}

// Manifest describes a built package. Central signs it; agents and relays
// trust a fragment only if its CID is listed in a manifest that verifies.
type Manifest struct {
	// Version is the ProtocolVersion that wrote the manifest.
	Version int `json:"version"`
	// PackageID is the OCS package ID, digits only.
	PackageID string `json:"package_id"`
	// Name is the catalog name shown to admins.
	Name string `json:"name"`
	// Platform is PlatformLinux, PlatformWindows or PlatformMacOSX.
	Platform string `json:"platform"`
	// Action is ActionExecute, ActionStore or ActionLaunch.
	Action string `json:"action"`
	// Command is the shell command of ActionExecute.
	Command string `json:"command,omitempty"`
	// Path is the target directory of ActionStore.
	Path string `json:"path,omitempty"`
	// LaunchName is the program (and arguments) of ActionLaunch.
	LaunchName string `json:"launch_name,omitempty"`
	// Priority is the OCS priority, 0 (highest) to 10.
	Priority int `json:"priority"`
	// Size is the size of the whole file in bytes; 0 means no payload.
	Size int64 `json:"size"`
	// SHA256 is the lower-case hex SHA-256 of the whole file.
	SHA256 string `json:"sha256"`
	// MD5 is the lower-case hex MD5 of the whole file, the digest OCS
	// agents check.
	MD5 string `json:"md5"`
	// FragmentSize is the size of every Shoal fragment but the last.
	FragmentSize int64 `json:"fragment_size"`
	// Fragments are the Shoal fragments, in order.
	Fragments []Fragment `json:"fragments"`
	// OCSFragments are the OCS files <ID>-1 … <ID>-n, in order:
	// OCSFragments[k] is the file <ID>-(k+1).
	OCSFragments []Fragment `json:"ocs_fragments"`
	// CreatedAt is when central built the package.
	CreatedAt time.Time `json:"created_at"`
	// FragmentProto is the info file's PROTO: FragmentProtoHTTP or
	// FragmentProtoHTTPS.
	FragmentProto string `json:"fragment_proto"`
	// Notify holds the info file's user dialog fields.
	Notify Notify `json:"notify"`
}

// Notify holds the NOTIFY_* and NEED_DONE_ACTION* fields of an OCS info
// file. Only the Windows agent shows these dialogs, but they are signed like
// every other field, so a relay serves exactly what central built.
type Notify struct {
	User           bool   `json:"user,omitempty"`
	Text           string `json:"text,omitempty"`
	Countdown      string `json:"countdown,omitempty"` // Seconds, digits only.
	CanAbort       bool   `json:"can_abort,omitempty"`
	CanDelay       bool   `json:"can_delay,omitempty"`
	DoneAction     bool   `json:"done_action,omitempty"`
	DoneActionText string `json:"done_action_text,omitempty"`
}

// SignedManifest is the envelope stored as manifest.json and sent to
// agents. Signature is the Ed25519 signature of ManifestSignContext followed
// by the exact bytes of Manifest.
type SignedManifest struct {
	Manifest  json.RawMessage `json:"manifest"`
	KeyID     string          `json:"key_id"`
	Signature []byte          `json:"signature"`
}

// OCSFragment returns the fragment of the OCS file <ID>-n (n from 1).
func (m *Manifest) OCSFragment(n int) (Fragment, bool) {
	if n < 1 || n > len(m.OCSFragments) {
		return Fragment{}, false
	}
	return m.OCSFragments[n-1], true
}

// maxProblems bounds how many problems Validate reports at once.
const maxProblems = 8

// Validate checks that the manifest is self-consistent. Every problem found
// (up to a few) is joined into the returned error, which wraps
// [ErrManifestInvalid].
func (m *Manifest) Validate() error {
	v := &validator{}
	if m.Version < MinManifestVersion || m.Version > ProtocolVersion {
		v.addf("version %d not supported (want %d..%d)", m.Version, MinManifestVersion, ProtocolVersion)
	}
	if !IsPackageID(m.PackageID) {
		v.addf("package_id %q: want 1..%d digits", m.PackageID, MaxPackageIDLen)
	}
	if m.Name == "" {
		v.addf("name is empty")
	}
	switch m.Platform {
	case PlatformLinux, PlatformWindows, PlatformMacOSX:
	default:
		v.addf("platform %q: want LINUX, WINDOWS or MACOSX", m.Platform)
	}
	switch m.Action {
	case ActionExecute:
		if m.Command == "" {
			v.addf("action EXECUTE needs a command")
		}
	case ActionStore:
		if m.Path == "" {
			v.addf("action STORE needs a path")
		}
	case ActionLaunch:
		if m.LaunchName == "" {
			v.addf("action LAUNCH needs a launch_name")
		}
	default:
		v.addf("action %q: want EXECUTE, STORE or LAUNCH", m.Action)
	}
	if m.Priority < 0 || m.Priority > MaxPriority {
		v.addf("priority %d: want 0..%d", m.Priority, MaxPriority)
	}
	if m.Size < 0 {
		v.addf("size %d is negative", m.Size)
	}
	if !isLowerHex(m.SHA256, sha256.Size) {
		v.addf("sha256 %q: want %d lower-case hex digits", m.SHA256, 2*sha256.Size)
	}
	if !isLowerHex(m.MD5, 16) {
		v.addf("md5 %q: want 32 lower-case hex digits", m.MD5)
	}
	if m.CreatedAt.IsZero() {
		v.addf("created_at is zero")
	}
	if m.FragmentProto != FragmentProtoHTTP && m.FragmentProto != FragmentProtoHTTPS {
		v.addf("fragment_proto %q: want HTTP or HTTPS", m.FragmentProto)
	}
	for _, c := range m.Notify.Countdown {
		if c < '0' || c > '9' {
			v.addf("notify countdown %q: want digits", m.Notify.Countdown)
			break
		}
	}
	if m.FragmentSize <= 0 {
		v.addf("fragment_size %d: want > 0", m.FragmentSize)
	} else if m.Size >= 0 {
		want := (m.Size + m.FragmentSize - 1) / m.FragmentSize
		if int64(len(m.Fragments)) != want {
			v.addf("fragments: %d entries, want %d for size %d and fragment_size %d",
				len(m.Fragments), want, m.Size, m.FragmentSize)
		}
		for i, f := range m.Fragments {
			if int64(i) < want-1 && f.Size != m.FragmentSize {
				v.addf("fragments[%d]: size %d, want fragment_size %d", i, f.Size, m.FragmentSize)
			}
		}
	}
	v.fragments("fragments", m.Fragments, m.Size)
	v.fragments("ocs_fragments", m.OCSFragments, m.Size)
	return v.err()
}

// validator collects Validate's problems.
type validator struct {
	problems []string
	dropped  int
}

func (v *validator) addf(format string, args ...any) {
	if len(v.problems) >= maxProblems {
		v.dropped++
		return
	}
	v.problems = append(v.problems, fmt.Sprintf(format, args...))
}

// fragments checks that list covers [0, size) contiguously, in order, with
// positive sizes and valid CIDs.
func (v *validator) fragments(name string, list []Fragment, size int64) {
	var end int64 // End of the previous fragment.
	for i, f := range list {
		if f.Index != i {
			v.addf("%s[%d]: index %d, want %d", name, i, f.Index, i)
		}
		if f.Offset != end {
			v.addf("%s[%d]: offset %d, want %d (gap or overlap)", name, i, f.Offset, end)
		}
		if f.Size <= 0 {
			v.addf("%s[%d]: size %d, want > 0", name, i, f.Size)
		}
		if _, err := ParseCID(f.CID); err != nil {
			v.addf("%s[%d]: cid %q is not a canonical raw sha2-256 CIDv1", name, i, f.CID)
		}
		if f.Offset < 0 || f.Offset > size || f.Size > size-f.Offset {
			v.addf("%s[%d]: range %d+%d outside size %d", name, i, f.Offset, f.Size, size)
			return
		}
		end = f.Offset + max(f.Size, 0)
	}
	if end != size {
		v.addf("%s: cover %d bytes, want size %d", name, end, size)
	}
}

func (v *validator) err() error {
	if len(v.problems) == 0 {
		return nil
	}
	if v.dropped > 0 {
		v.problems = append(v.problems, fmt.Sprintf("and %d more", v.dropped))
	}
	return fmt.Errorf("validate manifest: %s: %w", strings.Join(v.problems, "; "), ErrManifestInvalid)
}

// IsPackageID reports whether id is a valid OCS package ID: 1 to
// MaxPackageIDLen ASCII digits. Such an ID is safe as a file name.
func IsPackageID(id string) bool {
	if id == "" || len(id) > MaxPackageIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return false
		}
	}
	return true
}

func isLowerHex(s string, bytes int) bool {
	if len(s) != 2*bytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// KeyID returns a short, stable identifier of a manifest-signing key: the
// first 16 hex digits of the SHA-256 of the public key.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// SignManifest validates m, encodes it and signs the encoded bytes with key.
// It returns the JSON of a [SignedManifest].
func SignManifest(m *Manifest, key ed25519.PrivateKey) ([]byte, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("sign manifest: private key has %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	if m == nil {
		return nil, fmt.Errorf("sign manifest: nil manifest: %w", ErrManifestInvalid)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("sign manifest: %w", err)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("sign manifest: encode: %w", err)
	}
	pub, ok := key.Public().(ed25519.PublicKey)
	if !ok {
		return nil, errors.New("sign manifest: private key has no ed25519 public key")
	}
	out, err := json.Marshal(SignedManifest{
		Manifest:  raw, // Already compact and HTML-escaped, so Marshal copies it unchanged.
		KeyID:     KeyID(pub),
		Signature: ed25519.Sign(key, ManifestMessage(raw)),
	})
	if err != nil {
		return nil, fmt.Errorf("sign manifest: encode envelope: %w", err)
	}
	return out, nil
}

// ManifestMessage returns the bytes a manifest signature covers:
// ManifestSignContext followed by raw, the exact manifest JSON.
func ManifestMessage(raw []byte) []byte {
	msg := make([]byte, 0, len(ManifestSignContext)+len(raw))
	return append(append(msg, ManifestSignContext...), raw...)
}

// VerifyManifest checks a signed manifest in this order: the envelope
// parses, the key ID and the Ed25519 signature over the exact manifest bytes
// (behind ManifestSignContext)
// match pub ([ErrBadSignature]), the manifest parses and validates
// ([ErrManifestInvalid]), and it is for wantPackageID
// ([ErrManifestMismatch]). Nothing from the manifest is trusted before the
// signature has been checked.
func VerifyManifest(data []byte, pub ed25519.PublicKey, wantPackageID string) (*Manifest, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("verify manifest: public key has %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	if len(data) > MaxManifestBytes {
		return nil, fmt.Errorf("verify manifest: %d bytes, limit %d: %w", len(data), MaxManifestBytes, ErrManifestInvalid)
	}
	var sm SignedManifest
	if err := json.Unmarshal(data, &sm); err != nil {
		return nil, fmt.Errorf("verify manifest: parse envelope: %w: %w", ErrManifestInvalid, err)
	}
	if want := KeyID(pub); sm.KeyID != want {
		return nil, fmt.Errorf("verify manifest: signed by key %q, want %q: %w", sm.KeyID, want, ErrBadSignature)
	}
	if len(sm.Manifest) == 0 || !ed25519.Verify(pub, ManifestMessage(sm.Manifest), sm.Signature) {
		return nil, fmt.Errorf("verify manifest: key %q: %w", sm.KeyID, ErrBadSignature)
	}
	var m Manifest
	if err := json.Unmarshal(sm.Manifest, &m); err != nil {
		return nil, fmt.Errorf("verify manifest: parse: %w: %w", ErrManifestInvalid, err)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("verify manifest: %w", err)
	}
	if m.PackageID != wantPackageID {
		return nil, fmt.Errorf("verify manifest: package %q, want %q: %w", m.PackageID, wantPackageID, ErrManifestMismatch)
	}
	return &m, nil
}

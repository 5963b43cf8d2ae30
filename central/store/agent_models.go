package store

import "time"

// Kinds of enrollment token: each enrolls only its own kind of peer.
const (
	// TokenKindAgent enrolls Shoal agents (any number, any site).
	TokenKindAgent = "agent"
	// TokenKindRelay enrolls one relay: the one named RelayName, for the
	// site SiteID.
	TokenKindRelay = "relay"
)

// EnrollmentToken lets Shoal agents or one relay enroll. Hash is the
// lower-case hex SHA-256 of the token; the token itself is never stored.
type EnrollmentToken struct {
	ID   uint   `gorm:"primaryKey"`
	Name string `gorm:"not null"`
	Hash string `gorm:"uniqueIndex;not null"`
	// Kind is TokenKindAgent or TokenKindRelay; tokens made before kinds
	// existed are agent tokens.
	Kind string `gorm:"not null;default:agent"`
	// SiteID and RelayName bind a relay token to the one relay it may
	// enroll; both are empty for agent tokens.
	SiteID    *uint
	RelayName string
	// MaxUses bounds the enrollments; 0 means no limit.
	MaxUses   int
	Uses      int
	ExpiresAt *time.Time
	Revoked   bool
	CreatedAt time.Time
	LastUsed  *time.Time
}

// TableName implements gorm's tabler.
func (EnrollmentToken) TableName() string { return "enrollment_tokens" }

// KindOrAgent returns the token's kind, TokenKindAgent when it has none.
func (t EnrollmentToken) KindOrAgent() string {
	if t.Kind == "" {
		return TokenKindAgent
	}
	return t.Kind
}

// Usable reports whether the token may enroll one more peer at now.
func (t EnrollmentToken) Usable(now time.Time) bool {
	switch {
	case t.Revoked:
		return false
	case t.ExpiresAt != nil && !now.Before(*t.ExpiresAt):
		return false
	case t.MaxUses > 0 && t.Uses >= t.MaxUses:
		return false
	}
	return true
}

// AgentIdentity is an enrolled Shoal agent: its libp2p identity and the hash
// of the bearer secret it authenticates with. One per computer; enrolling
// again replaces it.
type AgentIdentity struct {
	ID         uint   `gorm:"primaryKey"`
	ComputerID uint   `gorm:"uniqueIndex;not null"`
	DeviceID   string `gorm:"not null"`
	PeerID     string `gorm:"uniqueIndex;not null"`
	// PublicKey is the libp2p public key (protobuf encoding).
	PublicKey  []byte
	SecretHash string `gorm:"uniqueIndex;not null"`
	// TokenID is the enrollment token used.
	TokenID    uint
	Version    string
	EnrolledAt time.Time
	LastSeen   time.Time
}

// TableName implements gorm's tabler.
func (AgentIdentity) TableName() string { return "agent_identities" }

// AgentPeerRecord is the last peer record central signed for a computer,
// kept so that the tracker and relays can check a peer's site.
type AgentPeerRecord struct {
	ID         uint   `gorm:"primaryKey"`
	ComputerID uint   `gorm:"uniqueIndex;not null"`
	PeerID     string `gorm:"index;not null"`
	Site       string `gorm:"index"`
	Expires    time.Time
	// Signed is the JSON of the proto.SignedPeerRecord.
	Signed    []byte
	UpdatedAt time.Time
}

// TableName implements gorm's tabler.
func (AgentPeerRecord) TableName() string { return "agent_peer_records" }

// agentModels lists the tables of the agent feature for migration.
func agentModels() []any {
	return []any{&EnrollmentToken{}, &AgentIdentity{}, &AgentPeerRecord{}}
}

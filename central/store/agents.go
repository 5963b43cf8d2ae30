package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// AgentIdentityOfDevice returns the agent identity of the computer with
// deviceID; ErrNotFound when there is none.
func (s *Store) AgentIdentityOfDevice(ctx context.Context, deviceID string) (*AgentIdentity, error) {
	db := s.read(ctx)
	var id AgentIdentity
	err := db.Where("computer_id IN (?)", db.Model(&Computer{}).Select("id").Where("device_id = ?", deviceID)).Take(&id).Error
	if err != nil {
		return nil, fmt.Errorf("agent identity of %s: %w", deviceID, translate(err))
	}
	return &id, nil
}

// ReplaceAgentIdentity stores id, deleting the earlier identity of the same
// computer or peer ID; id.ID is set.
func (s *Store) ReplaceAgentIdentity(ctx context.Context, id *AgentIdentity) error {
	if err := id.Validate(); err != nil {
		return fmt.Errorf("replace agent identity: %w", err)
	}
	err := s.tx(ctx, false, func(tx *gorm.DB) error {
		if err := tx.Where("computer_id = ? OR peer_id = ?", id.ComputerID, id.PeerID).Delete(&AgentIdentity{}).Error; err != nil {
			return err
		}
		id.ID = 0
		return tx.Create(id).Error
	})
	if err != nil {
		return fmt.Errorf("replace agent identity of computer %d: %w", id.ComputerID, err)
	}
	return nil
}

// Validate reports an identity without a peer ID or a lower-case hex
// SHA-256 secret hash (ErrInvalid).
func (id *AgentIdentity) Validate() error {
	if id.PeerID == "" || !validHash(id.SecretHash) {
		return fmt.Errorf("identity needs a peer id and a secret hash: %w", ErrInvalid)
	}
	return nil
}

// AgentBySecretHash returns the identity whose secret hashes to hash and
// its computer. A computer that no longer exists gives ErrNotFound.
func (s *Store) AgentBySecretHash(ctx context.Context, hash string) (*AgentIdentity, *Computer, error) {
	db := s.read(ctx)
	var id AgentIdentity
	if err := db.Where("secret_hash = ?", hash).Take(&id).Error; err != nil {
		return nil, nil, fmt.Errorf("agent by secret: %w", translate(err))
	}
	var c Computer
	if err := db.Where("id = ?", id.ComputerID).Take(&c).Error; err != nil {
		return nil, nil, fmt.Errorf("agent by secret: computer %d: %w", id.ComputerID, translate(err))
	}
	return &id, &c, nil
}

// TouchAgent records that a computer's agent called central at at.
func (s *Store) TouchAgent(ctx context.Context, computerID uint, at time.Time) error {
	at = utc(at)
	err := s.tx(ctx, false, func(tx *gorm.DB) error {
		if err := tx.Model(&AgentIdentity{}).Where("computer_id = ?", computerID).Update("last_seen", at).Error; err != nil {
			return err
		}
		return tx.Model(&Computer{}).Where("id = ?", computerID).Update("last_contact", at).Error
	})
	if err != nil {
		return fmt.Errorf("touch agent %d: %w", computerID, translate(err))
	}
	return nil
}

// ListAgents returns every agent identity ordered by computer ID.
func (s *Store) ListAgents(ctx context.Context) ([]AgentIdentity, error) {
	var out []AgentIdentity
	if err := s.read(ctx).Order("computer_id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list agents: %w", translate(err))
	}
	return out, nil
}

// SavePeerRecord stores the last peer record of a computer.
func (s *Store) SavePeerRecord(ctx context.Context, r *AgentPeerRecord) error {
	if r == nil || r.ComputerID == 0 || r.PeerID == "" {
		return fmt.Errorf("save peer record: computer and peer id required: %w", ErrInvalid)
	}
	r.ID = 0
	r.Expires = utc(r.Expires)
	err := s.write(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "computer_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"peer_id", "site", "expires", "signed", "updated_at"}),
	}).Create(r).Error
	if err != nil {
		return fmt.Errorf("save peer record %d: %w", r.ComputerID, translate(err))
	}
	return nil
}

// PeerRecord returns the last peer record of a computer.
func (s *Store) PeerRecord(ctx context.Context, computerID uint) (*AgentPeerRecord, error) {
	var r AgentPeerRecord
	if err := s.read(ctx).Where("computer_id = ?", computerID).Take(&r).Error; err != nil {
		return nil, fmt.Errorf("peer record %d: %w", computerID, translate(err))
	}
	return &r, nil
}

// HasAgentIdentity reports whether a computer has a Shoal agent identity.
func (s *Store) HasAgentIdentity(ctx context.Context, computerID uint) (bool, error) {
	var n int64
	if err := s.read(ctx).Model(&AgentIdentity{}).Where("computer_id = ?", computerID).Count(&n).Error; err != nil {
		return false, fmt.Errorf("agent identity of computer %d: %w", computerID, translate(err))
	}
	return n > 0, nil
}

// ShoalManaged reports whether the computer with deviceID has a Shoal
// agent identity; an unknown device ID is not managed.
func (s *Store) ShoalManaged(ctx context.Context, deviceID string) (bool, error) {
	var n int64
	err := s.read(ctx).Model(&AgentIdentity{}).
		Where("computer_id IN (?)", s.read(ctx).Model(&Computer{}).Select("id").Where("device_id = ?", deviceID)).Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("shoal managed %s: %w", deviceID, translate(err))
	}
	return n > 0, nil
}

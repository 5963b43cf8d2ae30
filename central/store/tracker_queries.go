package store

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// RevokedPeerIDs lists the peer IDs whose central-signed peer records must
// no longer be honoured at now although they may not have expired: the
// identities and unexpired peer records of revoked computers and of
// computers that no longer exist, and of deleted relays. The tracker
// refuses these peers.
func (s *Store) RevokedPeerIDs(ctx context.Context, now time.Time) ([]string, error) {
	db := s.read(ctx)
	revoked := db.Model(&Computer{}).Select("id").Where("revoked = ?", true)
	existing := db.Model(&Computer{}).Select("id")
	var ids, recs []string
	err := db.Model(&AgentIdentity{}).Where("computer_id IN (?) OR computer_id NOT IN (?)", revoked, existing).Pluck("peer_id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("revoked peer IDs: %w", translate(err))
	}
	err = db.Model(&AgentPeerRecord{}).Where("expires > ?", utc(now)).
		Where("computer_id IN (?) OR computer_id NOT IN (?)", revoked, existing).Pluck("peer_id", &recs).Error
	if err != nil {
		return nil, fmt.Errorf("revoked peer IDs: %w", translate(err))
	}
	out := append(ids, recs...)
	// Deleted or replaced relays (relays.go).
	relays, err := s.RelayRevokedPeerIDs(ctx, now)
	if err != nil {
		return nil, err
	}
	out = append(out, relays...)
	slices.Sort(out)
	return slices.Compact(out), nil
}

package store

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// RevokedPeerIDs lists the peer IDs whose central-signed peer records must
// no longer be honoured at now although they have not expired: the
// unexpired peer records of revoked computers, of computers that no longer
// exist, and of deleted relays. Trackers, peers and LAN members refuse
// these peers.
func (s *Store) RevokedPeerIDs(ctx context.Context, now time.Time) ([]string, error) {
	db := s.read(ctx)
	revoked := db.Model(&Computer{}).Select("id").Where("revoked = ?", true)
	existing := db.Model(&Computer{}).Select("id")
	// Only unexpired records matter: peers and trackers refuse expired
	// ones anyway, so the list stays as short as the revocations of the
	// last record lifetime.
	var out []string
	err := db.Model(&AgentPeerRecord{}).Where("expires > ?", utc(now)).
		Where("computer_id IN (?) OR computer_id NOT IN (?)", revoked, existing).Pluck("peer_id", &out).Error
	if err != nil {
		return nil, fmt.Errorf("revoked peer IDs: %w", translate(err))
	}
	// Deleted or replaced relays (relays.go).
	relays, err := s.RelayRevokedPeerIDs(ctx, now)
	if err != nil {
		return nil, err
	}
	out = append(out, relays...)
	slices.Sort(out)
	return slices.Compact(out), nil
}

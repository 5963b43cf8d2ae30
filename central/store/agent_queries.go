package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/shoal-project/shoal/internal/errkind"
)

// Sentinel errors of the agent feature.
var (
	// ErrEnrollRefused reports an enrollment token that is unknown,
	// revoked, expired or used up.
	ErrEnrollRefused = errkind.New(errkind.Forbidden, "store: enrollment token refused")
	// ErrRevoked reports a computer an admin revoked.
	ErrRevoked = errkind.New(errkind.Forbidden, "store: computer revoked")
	// ErrAlreadyEnrolled reports an enrollment that claims a computer
	// enrolled with another identity key. Only the current key may enroll
	// it again; an admin deletes the computer to let a new key enroll.
	ErrAlreadyEnrolled = fmt.Errorf("store: computer is enrolled with another identity key (delete it to enroll anew): %w", ErrConflict)
	// ErrTokenKind reports a usable token of the wrong kind: an agent
	// token presented to enroll a relay or the reverse. It is also an
	// ErrEnrollRefused.
	ErrTokenKind = fmt.Errorf("enrollment token is of another kind: %w", ErrEnrollRefused)
	// ErrTokenTarget reports a relay token presented for another site or
	// relay name than the one it is bound to. It is also an
	// ErrEnrollRefused.
	ErrTokenTarget = fmt.Errorf("relay token is bound to another site or relay name: %w", ErrEnrollRefused)
)

// activeStates are the deployment states a Shoal agent is working on.
var activeStates = []string{StateDownloading, StateDownloaded, StateRunning}

// CreateEnrollmentToken stores an enrollment token. Hash must be the
// lower-case hex SHA-256 of the token. An empty Kind is TokenKindAgent. A
// relay token needs an existing site and a relay name, and is single use
// unless MaxUses says otherwise (it never has unlimited uses).
func (s *Store) CreateEnrollmentToken(ctx context.Context, t *EnrollmentToken) error {
	if t == nil {
		return fmt.Errorf("create enrollment token: nil token: %w", ErrInvalid)
	}
	t.Name = strings.TrimSpace(t.Name)
	t.Kind = t.KindOrAgent()
	t.RelayName = strings.TrimSpace(t.RelayName)
	switch t.Kind {
	case TokenKindAgent:
		if t.SiteID != nil || t.RelayName != "" {
			return fmt.Errorf("create enrollment token %s: an agent token has no site or relay name: %w", t.Name, ErrInvalid)
		}
	case TokenKindRelay:
		if t.SiteID == nil || t.RelayName == "" {
			return fmt.Errorf("create enrollment token %s: a relay token needs a site and a relay name: %w", t.Name, ErrInvalid)
		}
		if t.MaxUses == 0 {
			t.MaxUses = 1
		}
	default:
		return fmt.Errorf("create enrollment token %s: kind %q is neither %q nor %q: %w", t.Name, t.Kind, TokenKindAgent, TokenKindRelay, ErrInvalid)
	}
	switch {
	case t.Name == "":
		return fmt.Errorf("create enrollment token: name is empty: %w", ErrInvalid)
	case !validHash(t.Hash):
		return fmt.Errorf("create enrollment token %s: hash is not lower-case hex sha256: %w", t.Name, ErrInvalid)
	case t.MaxUses < 0:
		return fmt.Errorf("create enrollment token %s: max uses %d is negative: %w", t.Name, t.MaxUses, ErrInvalid)
	}
	if t.ExpiresAt != nil {
		t.ExpiresAt = utcPtr(*t.ExpiresAt)
	}
	t.ID, t.Uses, t.LastUsed = 0, 0, nil
	err := s.tx(ctx, true, func(tx *gorm.DB) error {
		if t.SiteID != nil {
			if err := tx.Where("id = ?", *t.SiteID).Take(&Site{}).Error; err != nil {
				return err
			}
		}
		return tx.Create(t).Error
	})
	if err != nil {
		return fmt.Errorf("create enrollment token %s: %w", t.Name, translate(err))
	}
	return nil
}

// EnrollmentTokenByHash returns the enrollment token whose hash is h,
// whether usable or not.
func (s *Store) EnrollmentTokenByHash(ctx context.Context, h string) (*EnrollmentToken, error) {
	var t EnrollmentToken
	if err := s.read(ctx).Where("hash = ?", h).Take(&t).Error; err != nil {
		return nil, fmt.Errorf("enrollment token by hash: %w", translate(err))
	}
	return &t, nil
}

// ListEnrollmentTokens returns every enrollment token ordered by ID.
func (s *Store) ListEnrollmentTokens(ctx context.Context) ([]EnrollmentToken, error) {
	var out []EnrollmentToken
	if err := s.read(ctx).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list enrollment tokens: %w", translate(err))
	}
	return out, nil
}

// RevokeEnrollmentToken revokes an enrollment token; agents enrolled with
// it stay enrolled.
func (s *Store) RevokeEnrollmentToken(ctx context.Context, id uint) error {
	r := s.write(ctx).Model(&EnrollmentToken{}).Where("id = ?", id).Update("revoked", true)
	if r.Error != nil {
		return fmt.Errorf("revoke enrollment token %d: %w", id, translate(r.Error))
	}
	if r.RowsAffected == 0 {
		return fmt.Errorf("revoke enrollment token %d: %w", id, ErrNotFound)
	}
	return nil
}

// EnrollAgent enrolls an agent in one transaction: it consumes one use of
// the token with hash tokenHash (ErrEnrollRefused when it is not usable),
// ingests snap like IngestInventory (the computer is created or found by
// device ID or the duplicate rule), refuses a revoked computer
// (ErrRevoked) and a computer enrolled with another peer ID
// (ErrAlreadyEnrolled: the caller proved possession of ident's key, so the
// same peer ID proves the current key), and stores ident for the computer,
// replacing an earlier identity of the same computer or peer ID.
func (s *Store) EnrollAgent(ctx context.Context, tokenHash string, snap *InventorySnapshot, ident *AgentIdentity, now time.Time) (*IngestResult, error) {
	if snap == nil || ident == nil {
		return nil, fmt.Errorf("enroll agent: nil snapshot or identity: %w", ErrInvalid)
	}
	if ident.PeerID == "" || !validHash(ident.SecretHash) {
		return nil, fmt.Errorf("enroll agent: identity needs a peer id and a secret hash: %w", ErrInvalid)
	}
	snap.Computer.Source = SourceShoal
	c, err := normalizeComputer(snap)
	if err != nil {
		return nil, fmt.Errorf("enroll agent: %w", err)
	}
	sentAccount := normalizeAccount(snap.AccountInfo)
	history := normalizeHistory(snap.History)
	now = utc(now)
	var res *IngestResult
	err = s.tx(ctx, true, func(tx *gorm.DB) error {
		var tok EnrollmentToken
		if err := tx.Where("hash = ?", tokenHash).Take(&tok).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return ErrEnrollRefused
			}
			return err
		}
		if !tok.Usable(now) {
			return ErrEnrollRefused
		}
		var cur []AgentIdentity
		err := tx.Where("computer_id IN (?)", tx.Model(&Computer{}).Select("id").Where("device_id = ?", c.DeviceID)).
			Limit(1).Find(&cur).Error
		if err != nil {
			return err
		}
		if len(cur) == 1 && cur[0].PeerID != ident.PeerID {
			return fmt.Errorf("computer %d (peer %s): %w", cur[0].ComputerID, cur[0].PeerID, ErrAlreadyEnrolled)
		}
		if res, err = ingest(tx, c, snap, sentAccount, history); err != nil {
			return err
		}
		var comp Computer
		if err := tx.Where("id = ?", res.ComputerID).Take(&comp).Error; err != nil {
			return err
		}
		if comp.Revoked {
			return ErrRevoked
		}
		if err := tx.Model(&EnrollmentToken{}).Where("id = ?", tok.ID).
			Updates(map[string]any{"uses": gorm.Expr("uses + 1"), "last_used": now}).Error; err != nil {
			return err
		}
		if err := tx.Where("computer_id = ? OR peer_id = ?", res.ComputerID, ident.PeerID).Delete(&AgentIdentity{}).Error; err != nil {
			return err
		}
		id := *ident
		id.ID, id.ComputerID, id.DeviceID, id.TokenID = 0, res.ComputerID, comp.DeviceID, tok.ID
		id.EnrolledAt, id.LastSeen = now, now
		if err := tx.Create(&id).Error; err != nil {
			return err
		}
		*ident = id
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("enroll agent %s: %w", c.DeviceID, translate(err))
	}
	return res, nil
}

// EnrollmentTokenByID returns the enrollment token with the given ID.
func (s *Store) EnrollmentTokenByID(ctx context.Context, id uint) (*EnrollmentToken, error) {
	var t EnrollmentToken
	if err := s.read(ctx).Where("id = ?", id).Take(&t).Error; err != nil {
		return nil, fmt.Errorf("enrollment token %d: %w", id, translate(err))
	}
	return &t, nil
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

// AgentJobs returns what a Shoal agent should be working on: the pending
// deployments of PendingForComputer (same history rule) plus those it has
// started (downloading, downloaded, running), all of active packages,
// ordered by package priority then package ID.
func (s *Store) AgentJobs(ctx context.Context, computerID uint, now time.Time) ([]Pending, error) {
	out, err := s.PendingForComputer(ctx, computerID, now)
	if err != nil {
		return nil, fmt.Errorf("agent jobs: %w", err)
	}
	db := s.read(ctx)
	var deps []Deployment
	err = db.Model(&Deployment{}).
		Joins("JOIN packages ON packages.id = deployments.package_id").
		Where("deployments.computer_id = ? AND deployments.state IN ? AND packages.active = ?", computerID, activeStates, true).
		Find(&deps).Error
	if err != nil {
		return nil, fmt.Errorf("agent jobs %d: %w", computerID, translate(err))
	}
	if len(deps) > 0 {
		ids := make([]string, len(deps))
		for i, d := range deps {
			ids[i] = d.PackageID
		}
		var pkgs []Package
		if err := db.Where("id IN ?", ids).Find(&pkgs).Error; err != nil {
			return nil, fmt.Errorf("agent jobs %d: %w", computerID, translate(err))
		}
		byID := make(map[string]Package, len(pkgs))
		for _, p := range pkgs {
			byID[p.ID] = p
		}
		for _, d := range deps {
			if p, ok := byID[d.PackageID]; ok {
				out = append(out, Pending{Deployment: d, Package: p})
			}
		}
	}
	slices.SortFunc(out, func(a, b Pending) int {
		return cmp.Or(cmp.Compare(a.Package.Priority, b.Package.Priority), strings.Compare(a.Package.ID, b.Package.ID))
	})
	return out, nil
}

// RecordAgentResult is RecordResult for Shoal agents: it also stores detail
// (the error or the command's output tail) in the deployment event and, for
// a SUCCESS* code, adds the package to the computer's download history.
func (s *Store) RecordAgentResult(ctx context.Context, computerID uint, packageID, code, detail string, at time.Time) error {
	code = strings.TrimSpace(code)
	if code == "" {
		code = CodeUnknown
	}
	at = utc(at)
	state := ResultState(code)
	err := s.tx(ctx, false, func(tx *gorm.DB) error {
		var d Deployment
		if err := tx.Where("computer_id = ? AND package_id = ?", computerID, packageID).Take(&d).Error; err != nil {
			return err
		}
		err := tx.Model(&Deployment{}).Where("id = ?", d.ID).Updates(map[string]any{
			"state": state, "result_code": code, "finished_at": at, "force": false,
		}).Error
		if err != nil {
			return err
		}
		if state == StateSuccess {
			err := tx.Clauses(clause.OnConflict{DoNothing: true}).
				Create(&DownloadHistory{ComputerID: computerID, PackageID: packageID}).Error
			if err != nil {
				return err
			}
		}
		return addEvents(tx, []DeploymentEvent{{DeploymentID: d.ID, At: at, FromState: d.State, ToState: state, Code: code, Detail: detail}})
	})
	if err != nil {
		return fmt.Errorf("record agent result computer %d package %s: %w", computerID, packageID, translate(err))
	}
	return nil
}

// History returns the package IDs in a computer's download history, sorted.
func (s *Store) History(ctx context.Context, computerID uint) ([]string, error) {
	var out []string
	err := s.read(ctx).Model(&DownloadHistory{}).Where("computer_id = ?", computerID).Order("package_id").Pluck("package_id", &out).Error
	if err != nil {
		return nil, fmt.Errorf("history of computer %d: %w", computerID, translate(err))
	}
	return out, nil
}

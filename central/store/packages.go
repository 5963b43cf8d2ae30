package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// validPackageID reports whether id is a non-empty string of ASCII digits,
// which the OCS Unix agent requires.
func validPackageID(id string) bool {
	if id == "" || len(id) > 32 {
		return false
	}
	for _, r := range id {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func validateLocation(what, loc string) error {
	if loc == "" {
		return fmt.Errorf("%s is empty: %w", what, ErrInvalid)
	}
	if strings.Contains(loc, "://") || strings.ContainsAny(loc, " \t\r\n") {
		return fmt.Errorf("%s %q must be host[:port]/path without a scheme: %w", what, loc, ErrInvalid)
	}
	return nil
}

func validateProto(proto string) error {
	switch proto {
	case "", ProtoHTTP, ProtoHTTPS:
		return nil
	}
	return fmt.Errorf("proto %q: %w", proto, ErrInvalid)
}

func validatePackage(p *Package) error {
	if !validPackageID(p.ID) {
		return fmt.Errorf("package id %q must be digits: %w", p.ID, ErrInvalid)
	}
	if strings.TrimSpace(p.Name) == "" {
		return fmt.Errorf("package name is empty: %w", ErrInvalid)
	}
	if p.Priority < 0 || p.Priority > 10 {
		return fmt.Errorf("package priority %d not in 0..10: %w", p.Priority, ErrInvalid)
	}
	if p.Size < 0 || p.FragmentSize < 0 || p.OCSFragments < 0 || p.ShoalFragments < 0 {
		return fmt.Errorf("package sizes must not be negative: %w", ErrInvalid)
	}
	return validateProto(p.Proto)
}

// CreatePackage inserts a package. A package with the same ID gives
// ErrConflict.
func (s *Store) CreatePackage(ctx context.Context, p *Package) error {
	if p == nil {
		return fmt.Errorf("create package: nil package: %w", ErrInvalid)
	}
	if err := validatePackage(p); err != nil {
		return fmt.Errorf("create package: %w", err)
	}
	if p.ActivatedAt != nil {
		p.ActivatedAt = utcPtr(*p.ActivatedAt)
	}
	if err := s.write(ctx).Create(p).Error; err != nil {
		return fmt.Errorf("create package %s: %w", p.ID, translate(err))
	}
	return nil
}

// Package returns the package with the given ID.
func (s *Store) Package(ctx context.Context, id string) (*Package, error) {
	var p Package
	if err := s.read(ctx).Where("id = ?", id).Take(&p).Error; err != nil {
		return nil, fmt.Errorf("package %s: %w", id, translate(err))
	}
	return &p, nil
}

// ListPackages returns one page of packages, newest first, and the total.
func (s *Store) ListPackages(ctx context.Context, limit, offset int) ([]Package, int64, error) {
	limit, offset, err := pageArgs(limit, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("list packages: %w", err)
	}
	db := s.read(ctx)
	var total int64
	if err := db.Model(&Package{}).Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("list packages: %w", translate(err))
	}
	var out []Package
	if err := db.Order("created_at DESC, id DESC").Limit(limit).Offset(offset).Find(&out).Error; err != nil {
		return nil, 0, fmt.Errorf("list packages: %w", translate(err))
	}
	return out, total, nil
}

// DeletePackage deletes a package with its deployments and their events.
// Files on disk are the caller's business.
func (s *Store) DeletePackage(ctx context.Context, id string) error {
	err := s.tx(ctx, false, func(tx *gorm.DB) error {
		deps := tx.Model(&Deployment{}).Select("id").Where("package_id = ?", id)
		if err := tx.Where("deployment_id IN (?)", deps).Delete(&DeploymentEvent{}).Error; err != nil {
			return err
		}
		if err := tx.Where("package_id = ?", id).Delete(&Deployment{}).Error; err != nil {
			return err
		}
		r := tx.Where("id = ?", id).Delete(&Package{})
		if r.Error != nil {
			return r.Error
		}
		if r.RowsAffected == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete package %s: %w", id, err)
	}
	return nil
}

// SetPackageActivation activates a package at the given locations
// (host[:port]/path, no scheme) and fragment protocol, or deactivates it
// (the locations are then kept and ignored).
func (s *Store) SetPackageActivation(ctx context.Context, id string, active bool, infoLoc, packLoc, proto string, at time.Time) error {
	updates := map[string]any{"active": false, "activated_at": nil}
	if active {
		for _, err := range []error{
			validateLocation("info location", infoLoc),
			validateLocation("pack location", packLoc),
			validateProto(proto),
		} {
			if err != nil {
				return fmt.Errorf("activate package %s: %w", id, err)
			}
		}
		if proto == "" {
			proto = ProtoHTTP
		}
		updates = map[string]any{
			"active": true, "info_loc": infoLoc, "pack_loc": packLoc,
			"proto": proto, "activated_at": utc(at),
		}
	}
	r := s.write(ctx).Model(&Package{}).Where("id = ?", id).Updates(updates)
	if r.Error != nil {
		return fmt.Errorf("activate package %s: %w", id, translate(r.Error))
	}
	if r.RowsAffected == 0 {
		return fmt.Errorf("activate package %s: %w", id, ErrNotFound)
	}
	return nil
}

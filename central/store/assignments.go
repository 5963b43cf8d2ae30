package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// CreateAssignment inserts a.
func (s *Store) CreateAssignment(ctx context.Context, a *Assignment) error {
	if err := s.write(ctx).Create(a).Error; err != nil {
		return fmt.Errorf("create assignment of %s: %w", a.PackageID, translate(err))
	}
	return nil
}

// Assignment returns one assignment.
func (s *Store) Assignment(ctx context.Context, id uint) (*Assignment, error) {
	var a Assignment
	if err := s.read(ctx).First(&a, id).Error; err != nil {
		return nil, fmt.Errorf("assignment %d: %w", id, translate(err))
	}
	return &a, nil
}

// AssignmentFilter selects assignments; zero fields do not filter.
type AssignmentFilter struct {
	PackageID string
	GroupID   *uint
	SiteID    *uint
}

// Assignments returns the assignments f selects, oldest first.
func (s *Store) Assignments(ctx context.Context, f AssignmentFilter) ([]Assignment, error) {
	q := s.read(ctx).Model(&Assignment{})
	if f.PackageID != "" {
		q = q.Where("package_id = ?", f.PackageID)
	}
	if f.GroupID != nil {
		q = q.Where("group_id = ?", *f.GroupID)
	}
	if f.SiteID != nil {
		q = q.Where("site_id = ?", *f.SiteID)
	}
	var out []Assignment
	if err := q.Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("assignments: %w", translate(err))
	}
	return out, nil
}

// DeleteAssignment deletes an assignment and its member rows.
func (s *Store) DeleteAssignment(ctx context.Context, id uint) error {
	return s.tx(ctx, false, func(tx *gorm.DB) error {
		res := tx.Delete(&Assignment{}, id)
		if res.Error != nil {
			return fmt.Errorf("delete assignment %d: %w", id, res.Error)
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("delete assignment %d: %w", id, ErrNotFound)
		}
		return tx.Where("assignment_id = ?", id).Delete(&AssignmentMember{}).Error
	})
}

// AssignmentMembers returns the member rows of an assignment; among, when
// not nil, restricts them to those computers.
func (s *Store) AssignmentMembers(ctx context.Context, assignmentID uint, among []uint) ([]AssignmentMember, error) {
	db := s.read(ctx)
	if among == nil {
		var out []AssignmentMember
		if err := db.Where("assignment_id = ?", assignmentID).Order("computer_id").Find(&out).Error; err != nil {
			return nil, fmt.Errorf("members of assignment %d: %w", assignmentID, translate(err))
		}
		return out, nil
	}
	var out []AssignmentMember
	for _, chunk := range chunks(among) {
		var rows []AssignmentMember
		if err := db.Where("assignment_id = ? AND computer_id IN ?", assignmentID, chunk).Order("computer_id").Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("members of assignment %d: %w", assignmentID, translate(err))
		}
		out = append(out, rows...)
	}
	return out, nil
}

// AddAssignmentMembers inserts member rows (existing pairs are kept).
func (s *Store) AddAssignmentMembers(ctx context.Context, rows []AssignmentMember) error {
	if len(rows) == 0 {
		return nil
	}
	err := s.write(ctx).Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(rows, batchSize).Error
	if err != nil {
		return fmt.Errorf("add assignment members: %w", translate(err))
	}
	return nil
}

// RemoveAssignmentMembers deletes the rows of computers ids.
func (s *Store) RemoveAssignmentMembers(ctx context.Context, assignmentID uint, ids []uint) error {
	for _, chunk := range chunks(ids) {
		if err := s.write(ctx).Where("assignment_id = ? AND computer_id IN ?", assignmentID, chunk).Delete(&AssignmentMember{}).Error; err != nil {
			return fmt.Errorf("remove members of assignment %d: %w", assignmentID, translate(err))
		}
	}
	return nil
}

// SetAssignmentDeployment records the deployment of a member.
func (s *Store) SetAssignmentDeployment(ctx context.Context, assignmentID, computerID, deploymentID uint) error {
	err := s.write(ctx).Model(&AssignmentMember{}).Where("assignment_id = ? AND computer_id = ?", assignmentID, computerID).
		UpdateColumn("deployment_id", deploymentID).Error
	if err != nil {
		return fmt.Errorf("assignment %d member %d: %w", assignmentID, computerID, translate(err))
	}
	return nil
}

// HeldMembers returns the members of assignment that have no deployment
// and are not skipped: those waiting for their AfterPackageID.
func (s *Store) HeldMembers(ctx context.Context, assignmentID uint) ([]uint, error) {
	var ids []uint
	err := s.read(ctx).Model(&AssignmentMember{}).
		Where("assignment_id = ? AND deployment_id IS NULL AND skipped = ?", assignmentID, false).
		Order("computer_id").Pluck("computer_id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("held members of assignment %d: %w", assignmentID, translate(err))
	}
	return ids, nil
}

// OtherAssignmentHolds returns, among deployment IDs, those that a member
// row of another assignment than except also references.
func (s *Store) OtherAssignmentHolds(ctx context.Context, except uint, deploymentIDs []uint) ([]uint, error) {
	var out []uint
	for _, chunk := range chunks(deploymentIDs) {
		var ids []uint
		if err := s.read(ctx).Model(&AssignmentMember{}).Distinct("deployment_id").
			Where("assignment_id <> ? AND deployment_id IN ?", except, chunk).Pluck("deployment_id", &ids).Error; err != nil {
			return nil, fmt.Errorf("other assignments: %w", translate(err))
		}
		out = append(out, ids...)
	}
	return out, nil
}

// Succeeded returns, among computers ids, those on which package
// packageID succeeded or that have it in their download history.
func (s *Store) Succeeded(ctx context.Context, packageID string, ids []uint) ([]uint, error) {
	db := s.read(ctx)
	var out []uint
	for _, chunk := range chunks(ids) {
		var a, b []uint
		if err := db.Model(&Deployment{}).Where("package_id = ? AND state = ? AND computer_id IN ?", packageID, StateSuccess, chunk).
			Pluck("computer_id", &a).Error; err != nil {
			return nil, fmt.Errorf("succeeded %s: %w", packageID, translate(err))
		}
		if err := db.Model(&DownloadHistory{}).Where("package_id = ? AND computer_id IN ?", packageID, chunk).
			Pluck("computer_id", &b).Error; err != nil {
			return nil, fmt.Errorf("succeeded %s: %w", packageID, translate(err))
		}
		out = append(append(out, a...), b...)
	}
	return out, nil
}

// AssignmentCounts is what an assignment's members have reached.
type AssignmentCounts struct {
	Members int64
	// Held members wait for the assignment's AfterPackageID; Skipped ones
	// were in the site when a baseline assignment was made.
	Held, Skipped int64
	// States counts the members' deployments per state.
	States map[string]int64
}

// AssignmentStateCounts counts an assignment's members and their
// deployments' states.
func (s *Store) AssignmentStateCounts(ctx context.Context, assignmentID uint) (AssignmentCounts, error) {
	db := s.read(ctx)
	out := AssignmentCounts{States: map[string]int64{}}
	var rows []struct {
		State string
		N     int64
	}
	err := db.Model(&AssignmentMember{}).Select("deployments.state AS state, COUNT(*) AS n").
		Joins("JOIN deployments ON deployments.id = assignment_members.deployment_id").
		Where("assignment_members.assignment_id = ?", assignmentID).Group("deployments.state").Scan(&rows).Error
	if err != nil {
		return out, fmt.Errorf("assignment %d counts: %w", assignmentID, translate(err))
	}
	for _, r := range rows {
		out.States[r.State] = r.N
	}
	if err := db.Model(&AssignmentMember{}).Where("assignment_id = ?", assignmentID).Count(&out.Members).Error; err != nil {
		return out, fmt.Errorf("assignment %d counts: %w", assignmentID, translate(err))
	}
	if err := db.Model(&AssignmentMember{}).Where("assignment_id = ? AND deployment_id IS NULL AND skipped = ?", assignmentID, false).
		Count(&out.Held).Error; err != nil {
		return out, fmt.Errorf("assignment %d counts: %w", assignmentID, translate(err))
	}
	if err := db.Model(&AssignmentMember{}).Where("assignment_id = ? AND skipped = ?", assignmentID, true).
		Count(&out.Skipped).Error; err != nil {
		return out, fmt.Errorf("assignment %d counts: %w", assignmentID, translate(err))
	}
	return out, nil
}

// AssignmentsOfComputer returns the assignments whose members include a
// computer.
func (s *Store) AssignmentsOfComputer(ctx context.Context, computerID uint) ([]Assignment, error) {
	var out []Assignment
	err := s.read(ctx).Model(&Assignment{}).
		Joins("JOIN assignment_members ON assignment_members.assignment_id = assignments.id").
		Where("assignment_members.computer_id = ?", computerID).Order("assignments.id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("assignments of computer %d: %w", computerID, translate(err))
	}
	return out, nil
}

// ReopenDeployments puts cancelled deployments back to waiting, without
// Force (the download history rule still applies), with an event each.
func (s *Store) ReopenDeployments(ctx context.Context, ids []uint, at time.Time, detail string) error {
	if len(ids) == 0 {
		return nil
	}
	return s.tx(ctx, false, func(tx *gorm.DB) error {
		for _, chunk := range chunks(ids) {
			if err := tx.Model(&Deployment{}).Where("id IN ? AND state = ?", chunk, StateCancelled).Updates(map[string]any{
				"state": StateWaiting, "result_code": "", "notified_at": nil, "finished_at": nil,
			}).Error; err != nil {
				return fmt.Errorf("reopen deployments: %w", err)
			}
		}
		events := make([]DeploymentEvent, len(ids))
		for i, id := range ids {
			events[i] = DeploymentEvent{DeploymentID: id, At: utc(at), FromState: StateCancelled, ToState: StateWaiting,
				Code: EventAffected, Detail: detail}
		}
		return addEvents(tx, events)
	})
}

// SetAssignmentPaused pauses (with a reason) or resumes an assignment,
// setting its forgiven failures.
func (s *Store) SetAssignmentPaused(ctx context.Context, id uint, paused bool, reason string, forgiven int) error {
	res := s.write(ctx).Model(&Assignment{}).Where("id = ?", id).
		Updates(map[string]any{"paused": paused, "paused_reason": reason, "forgiven_failures": forgiven})
	if res.Error != nil {
		return fmt.Errorf("pause assignment %d: %w", id, translate(res.Error))
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("pause assignment %d: %w", id, ErrNotFound)
	}
	return nil
}

// DeploymentGate is what the assignments behind a deployment say about
// when and how it installs.
type DeploymentGate struct {
	DeploymentID uint
	// GroupWindow is the window of the group of a group assignment, ""
	// for other targets or a group without one.
	GroupWindow string
	Reboot      bool
}

// DeploymentGates returns a row per (deployment, assignment) of the
// deployments ids that assignments created or adopted.
func (s *Store) DeploymentGates(ctx context.Context, ids []uint) ([]DeploymentGate, error) {
	var out []DeploymentGate
	for _, chunk := range chunks(ids) {
		var rows []DeploymentGate
		err := s.read(ctx).Table("assignment_members m").
			Select("m.deployment_id AS deployment_id, COALESCE(g.deploy_window, '') AS group_window, COALESCE(a.reboot, ?) AS reboot", false).
			Joins("JOIN assignments a ON a.id = m.assignment_id").
			Joins("LEFT JOIN computer_groups g ON g.id = a.group_id").
			Where("m.deployment_id IN ?", chunk).Scan(&rows).Error
		if err != nil {
			return nil, fmt.Errorf("deployment gates: %w", translate(err))
		}
		out = append(out, rows...)
	}
	return out, nil
}

// AnyGates reports whether any site or group sets a deployment window or
// any assignment asks for a reboot.
func (s *Store) AnyGates(ctx context.Context) (bool, error) {
	db := s.read(ctx)
	for _, q := range []*gorm.DB{
		db.Model(&Site{}).Where("deploy_window <> ''"),
		db.Model(&Group{}).Where("deploy_window <> ''"),
		db.Model(&Assignment{}).Where("reboot = ?", true),
	} {
		var n int64
		if err := q.Limit(1).Count(&n).Error; err != nil {
			return false, fmt.Errorf("any deployment windows: %w", translate(err))
		}
		if n > 0 {
			return true, nil
		}
	}
	return false, nil
}

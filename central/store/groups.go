package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Group is a named set of computers: static (members chosen by an admin)
// or dynamic (Filter, a saved search re-evaluated by central/groups).
type Group struct {
	ID          uint   `gorm:"primaryKey"`
	Name        string `gorm:"uniqueIndex;not null"`
	Description string
	// Filter is the saved search of a dynamic group as URL query
	// parameters of GET /computers (proto/api ComputerFilter.Values), so
	// that relative times such as contact_since=24h stay relative; empty
	// for a static group.
	Filter string
	// EvaluatedAt is the last full evaluation of a dynamic group.
	EvaluatedAt *time.Time
	// Window is the deployment window (deploy.ParseWindow) of the
	// group's assignments, in each member's site time zone; "" follows
	// the site's window.
	Window string `gorm:"column:deploy_window"`
	// PrologFreqHours (0: not set) and OCSTimings ("": not set, "short"
	// or "default") override the agent settings' PROLOG_FREQ and the
	// site's DOWNLOAD latencies for the group's OCS agents.
	PrologFreqHours int
	OCSTimings      string
	// CycleLatency, FragLatency and PeriodLatency (seconds, 0: not set)
	// override the DOWNLOAD latencies of the members' PROLOG replies,
	// after OCSTimings.
	CycleLatency  int
	FragLatency   int
	PeriodLatency int
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// TableName implements gorm's tabler.
func (Group) TableName() string { return "computer_groups" }

// Dynamic reports whether the group's members come from its saved search.
func (g Group) Dynamic() bool { return g.Filter != "" }

// GroupMember is one computer of a group, materialised: a dynamic group's
// rows are written when it is evaluated, never at a PROLOG.
type GroupMember struct {
	GroupID    uint `gorm:"primaryKey;autoIncrement:false"`
	ComputerID uint `gorm:"primaryKey;autoIncrement:false;index"`
	Since      time.Time
}

// TableName implements gorm's tabler.
func (GroupMember) TableName() string { return "group_members" }

// Assignment targets.
const (
	TargetGroup  = "group"
	TargetSite   = "site"
	TargetSearch = "search"
)

// Assignment is desired state: package PackageID belongs on every
// computer of its target (a group, a site, or a saved search), including
// those that join it later.
type Assignment struct {
	ID        uint   `gorm:"primaryKey"`
	PackageID string `gorm:"index;not null"`
	Target    string `gorm:"not null"`
	GroupID   *uint  `gorm:"index"`
	SiteID    *uint  `gorm:"index"`
	// Filter is the saved search of a TargetSearch assignment, in the form
	// of Group.Filter.
	Filter string
	// AfterPackageID holds a member's deployment back until the package
	// named here succeeded on that computer (or is in its history).
	AfterPackageID string
	// Baseline assignments of a site go only to computers that join the
	// site after the assignment was made (new, re-imaged or moved in).
	Baseline bool
	// StageSize or StagePercent (at most one set) make a staged rollout:
	// in each site, a wave of that many members (or that share of the
	// site's members) gets the package; the next wave starts once every
	// deployment released so far in the site has finished, unless more
	// than MaxFailurePercent of the finished ones failed, which pauses the
	// assignment (PausedReason says why, with the failing codes).
	StageSize         int
	StagePercent      int
	MaxFailurePercent int
	Paused            bool
	PausedReason      string
	// ForgivenFailures are the failed deployments an admin accepted by
	// resuming: they no longer count towards MaxFailurePercent.
	ForgivenFailures int
	// Reboot asks OCS agents to reboot after a successful install
	// (POSTCMD=REBOOT, Windows agents).
	Reboot    bool
	CreatedAt time.Time
}

// Staged reports whether the assignment rolls out in waves.
func (a Assignment) Staged() bool { return a.StageSize > 0 || a.StagePercent > 0 }

// TableName implements gorm's tabler.
func (Assignment) TableName() string { return "assignments" }

// AssignmentMember is one computer an assignment currently targets, with
// the deployment it created or adopted (nil while held back by
// AfterPackageID, or for an existing computer of a baseline assignment).
type AssignmentMember struct {
	AssignmentID uint  `gorm:"primaryKey;autoIncrement:false"`
	ComputerID   uint  `gorm:"primaryKey;autoIncrement:false;index"`
	DeploymentID *uint `gorm:"index"`
	// Skipped marks a computer a baseline assignment found in its site
	// when it was made: a member that gets no deployment.
	Skipped bool
	Since   time.Time
}

// TableName implements gorm's tabler.
func (AssignmentMember) TableName() string { return "assignment_members" }

func groupModels() []any {
	return []any{&Group{}, &GroupMember{}, &Assignment{}, &AssignmentMember{}}
}

// GroupSummary is a group and its member count.
type GroupSummary struct {
	Group
	Members int64
}

// CreateGroup inserts g; a taken name gives ErrConflict.
func (s *Store) CreateGroup(ctx context.Context, g *Group) error {
	if err := s.write(ctx).Create(g).Error; err != nil {
		return fmt.Errorf("create group %q: %w", g.Name, translate(err))
	}
	return nil
}

// SaveGroup updates g's name, description and filter.
func (s *Store) SaveGroup(ctx context.Context, g *Group) error {
	res := s.write(ctx).Model(&Group{ID: g.ID}).Select("name", "description", "filter", "deploy_window", "prolog_freq_hours", "ocs_timings", "cycle_latency", "frag_latency", "period_latency", "updated_at").Updates(g)
	if res.Error != nil {
		return fmt.Errorf("save group %d: %w", g.ID, translate(res.Error))
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("save group %d: %w", g.ID, ErrNotFound)
	}
	return nil
}

// Group returns one group.
func (s *Store) Group(ctx context.Context, id uint) (*Group, error) {
	var g Group
	if err := s.read(ctx).First(&g, id).Error; err != nil {
		return nil, fmt.Errorf("group %d: %w", id, translate(err))
	}
	return &g, nil
}

// GroupByName returns the group named name.
func (s *Store) GroupByName(ctx context.Context, name string) (*Group, error) {
	var g Group
	if err := s.read(ctx).Where("name = ?", name).First(&g).Error; err != nil {
		return nil, fmt.Errorf("group %q: %w", name, translate(err))
	}
	return &g, nil
}

// Groups returns every group with its member count, by name.
func (s *Store) Groups(ctx context.Context) ([]GroupSummary, error) {
	db := s.read(ctx)
	var groups []Group
	if err := db.Order("name").Find(&groups).Error; err != nil {
		return nil, fmt.Errorf("groups: %w", translate(err))
	}
	var counts []struct {
		GroupID uint
		N       int64
	}
	if err := db.Model(&GroupMember{}).Select("group_id, COUNT(*) AS n").Group("group_id").Scan(&counts).Error; err != nil {
		return nil, fmt.Errorf("groups: %w", translate(err))
	}
	n := make(map[uint]int64, len(counts))
	for _, c := range counts {
		n[c.GroupID] = c.N
	}
	out := make([]GroupSummary, len(groups))
	for i, g := range groups {
		out[i] = GroupSummary{Group: g, Members: n[g.ID]}
	}
	return out, nil
}

// DeleteGroup deletes a group and its member rows.
func (s *Store) DeleteGroup(ctx context.Context, id uint) error {
	return s.tx(ctx, false, func(tx *gorm.DB) error {
		res := tx.Delete(&Group{}, id)
		if res.Error != nil {
			return fmt.Errorf("delete group %d: %w", id, res.Error)
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("delete group %d: %w", id, ErrNotFound)
		}
		return tx.Where("group_id = ?", id).Delete(&GroupMember{}).Error
	})
}

// SetGroupEvaluated records a full evaluation of a dynamic group.
func (s *Store) SetGroupEvaluated(ctx context.Context, id uint, at time.Time) error {
	if err := s.write(ctx).Model(&Group{}).Where("id = ?", id).UpdateColumn("evaluated_at", utc(at)).Error; err != nil {
		return fmt.Errorf("group %d evaluated: %w", id, translate(err))
	}
	return nil
}

// GroupMemberIDs returns the computers of a group, ascending; among, when
// not nil, restricts them to those IDs.
func (s *Store) GroupMemberIDs(ctx context.Context, groupID uint, among []uint) ([]uint, error) {
	db := s.read(ctx)
	if among == nil {
		var ids []uint
		if err := db.Model(&GroupMember{}).Where("group_id = ?", groupID).Order("computer_id").Pluck("computer_id", &ids).Error; err != nil {
			return nil, fmt.Errorf("members of group %d: %w", groupID, translate(err))
		}
		return ids, nil
	}
	var out []uint
	for _, chunk := range chunks(among) {
		var ids []uint
		if err := db.Model(&GroupMember{}).Where("group_id = ? AND computer_id IN ?", groupID, chunk).
			Order("computer_id").Pluck("computer_id", &ids).Error; err != nil {
			return nil, fmt.Errorf("members of group %d: %w", groupID, translate(err))
		}
		out = append(out, ids...)
	}
	return out, nil
}

// AddGroupMembers adds computers to a group; existing members are kept.
func (s *Store) AddGroupMembers(ctx context.Context, groupID uint, ids []uint, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	rows := make([]GroupMember, len(ids))
	for i, id := range ids {
		rows[i] = GroupMember{GroupID: groupID, ComputerID: id, Since: utc(at)}
	}
	err := s.write(ctx).Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(rows, batchSize).Error
	if err != nil {
		return fmt.Errorf("add members to group %d: %w", groupID, translate(err))
	}
	return nil
}

// RemoveGroupMembers removes computers from a group.
func (s *Store) RemoveGroupMembers(ctx context.Context, groupID uint, ids []uint) error {
	for _, chunk := range chunks(ids) {
		if err := s.write(ctx).Where("group_id = ? AND computer_id IN ?", groupID, chunk).Delete(&GroupMember{}).Error; err != nil {
			return fmt.Errorf("remove members of group %d: %w", groupID, translate(err))
		}
	}
	return nil
}

// GroupsOfComputer returns the groups a computer is a member of, by name.
func (s *Store) GroupsOfComputer(ctx context.Context, computerID uint) ([]Group, error) {
	var out []Group
	err := s.read(ctx).Model(&Group{}).
		Joins("JOIN group_members ON group_members.group_id = computer_groups.id").
		Where("group_members.computer_id = ?", computerID).Order("computer_groups.name").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("groups of computer %d: %w", computerID, translate(err))
	}
	return out, nil
}

// PruneMembers deletes the group and assignment member rows of computers
// that no longer exist, and the assignments (and their rows) of packages
// that no longer exist.
func (s *Store) PruneMembers(ctx context.Context) error {
	return s.tx(ctx, false, func(tx *gorm.DB) error {
		if err := tx.Where("computer_id NOT IN (?)", tx.Model(&Computer{}).Select("id")).Delete(&GroupMember{}).Error; err != nil {
			return fmt.Errorf("prune group members: %w", err)
		}
		if err := tx.Where("package_id NOT IN (?)", tx.Model(&Package{}).Select("id")).Delete(&Assignment{}).Error; err != nil {
			return fmt.Errorf("prune assignments: %w", err)
		}
		if err := tx.Where("computer_id NOT IN (?) OR assignment_id NOT IN (?)", tx.Model(&Computer{}).Select("id"),
			tx.Model(&Assignment{}).Select("id")).Delete(&AssignmentMember{}).Error; err != nil {
			return fmt.Errorf("prune assignment members: %w", err)
		}
		return nil
	})
}

// ComputerChange is a computer and the time its row last changed.
type ComputerChange struct {
	ID        uint
	UpdatedAt time.Time
}

// ChangedComputers returns the computers whose row changed after since
// (an inventory, a site move), at most limit of them, oldest change
// first (then by ID). With after (the last row of the previous page) it
// returns the next page: rows after it in that order, so that a caller
// pages through changes however many share one time. PROLOG contacts do
// not count.
func (s *Store) ChangedComputers(ctx context.Context, since time.Time, after *ComputerChange, limit int) ([]ComputerChange, error) {
	var rows []ComputerChange
	q := s.read(ctx).Model(&Computer{}).Select("id, updated_at")
	if after != nil && !after.UpdatedAt.Before(since) {
		q = q.Where("updated_at > ? OR (updated_at = ? AND id > ?)", utc(after.UpdatedAt), utc(after.UpdatedAt), after.ID)
	} else {
		q = q.Where("updated_at > ?", utc(since))
	}
	err := q.Order("updated_at, id").Limit(limit).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("changed computers: %w", translate(err))
	}
	return rows, nil
}

// ComputerSites returns the site of each of ids that exists (nil: no site).
func (s *Store) ComputerSites(ctx context.Context, ids []uint) (map[uint]*uint, error) {
	out := make(map[uint]*uint, len(ids))
	for _, chunk := range chunks(ids) {
		var rows []struct {
			ID     uint
			SiteID *uint
		}
		if err := s.read(ctx).Model(&Computer{}).Select("id, site_id").Where("id IN ?", chunk).Scan(&rows).Error; err != nil {
			return nil, fmt.Errorf("computer sites: %w", translate(err))
		}
		for _, r := range rows {
			out[r.ID] = r.SiteID
		}
	}
	return out, nil
}

// GroupTimings is what the groups of a computer override of its agent
// timings: the smallest PROLOG_FREQ any of them sets (0: none) and their
// DOWNLOAD latencies ("short" when any says short, "default" when one
// says default, "" when none sets them).
type GroupTimings struct {
	PrologFreqHours int
	OCSTimings      string
	// CycleLatency, FragLatency and PeriodLatency (seconds, 0: not set)
	// override the DOWNLOAD latencies of the members' PROLOG replies, after
	// OCSTimings.
	CycleLatency  int
	FragLatency   int
	PeriodLatency int
}

// timedGroup selects the groups that set agent timings.
const timedGroup = "prolog_freq_hours > 0 OR ocs_timings <> '' OR cycle_latency > 0 OR frag_latency > 0 OR period_latency > 0"

// GroupsWithTimings counts the groups that set timings.
func (s *Store) GroupsWithTimings(ctx context.Context) (int64, error) {
	var n int64
	err := s.read(ctx).Model(&Group{}).Where(timedGroup).Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("groups with timings: %w", translate(err))
	}
	return n, nil
}

// TimingsOfComputer returns the timings the groups of a computer set.
func (s *Store) TimingsOfComputer(ctx context.Context, computerID uint) (GroupTimings, error) {
	var rows []struct {
		PrologFreqHours                          int
		OCSTimings                               string
		CycleLatency, FragLatency, PeriodLatency int
	}
	err := s.read(ctx).Table("group_members m").Select("COALESCE(g.prolog_freq_hours, 0) AS prolog_freq_hours, COALESCE(g.ocs_timings, '') AS ocs_timings, "+
		"COALESCE(g.cycle_latency, 0) AS cycle_latency, COALESCE(g.frag_latency, 0) AS frag_latency, COALESCE(g.period_latency, 0) AS period_latency").
		Joins("JOIN computer_groups g ON g.id = m.group_id").
		Where("m.computer_id = ? AND (g.prolog_freq_hours > 0 OR g.ocs_timings <> '' OR g.cycle_latency > 0 OR g.frag_latency > 0 OR g.period_latency > 0)", computerID).Scan(&rows).Error
	if err != nil {
		return GroupTimings{}, fmt.Errorf("timings of computer %d: %w", computerID, translate(err))
	}
	var out GroupTimings
	for _, r := range rows {
		if r.PrologFreqHours > 0 && (out.PrologFreqHours == 0 || r.PrologFreqHours < out.PrologFreqHours) {
			out.PrologFreqHours = r.PrologFreqHours
		}
		if r.OCSTimings == "short" || (r.OCSTimings == "default" && out.OCSTimings == "") {
			out.OCSTimings = r.OCSTimings
		}
		out.CycleLatency = minSet(out.CycleLatency, r.CycleLatency)
		out.FragLatency = minSet(out.FragLatency, r.FragLatency)
		out.PeriodLatency = minSet(out.PeriodLatency, r.PeriodLatency)
	}
	return out, nil
}

// minSet is the smaller of a and b among those above 0 (0: neither is).
func minSet(a, b int) int {
	switch {
	case b <= 0:
		return a
	case a <= 0:
		return b
	}
	return min(a, b)
}

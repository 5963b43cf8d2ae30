package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Event codes the store writes besides agent result codes.
const (
	EventAffected  = "AFFECTED"
	EventForced    = "FORCED"
	EventNotified  = "NOTIFIED"
	EventRedeploy  = "REDEPLOY"
	EventCancelled = "CANCELLED"
	EventProgress  = "PROGRESS"
)

// pendingStates are the states in which a deployment is advertised.
var pendingStates = []string{StateWaiting, StateNotified}

// resetFields returns a deployment to waiting with Force set.
func resetFields() map[string]any {
	return map[string]any{
		"state": StateWaiting, "force": true, "result_code": "",
		"notified_at": nil, "finished_at": nil,
		"fragments_done": 0, "fragments_total": 0,
		"bytes_peer": 0, "bytes_relay": 0, "bytes_central": 0,
	}
}

func addEvents(tx *gorm.DB, events []DeploymentEvent) error {
	if len(events) == 0 {
		return nil
	}
	return tx.CreateInBatches(events, batchSize).Error
}

// Affect assigns a package to computers. It is idempotent: computers that
// already have a deployment of the package keep it as it is, unless force is
// set, in which case finished deployments (success, error, cancelled) go
// back to waiting and every deployment gets Force (it ignores the history).
// created counts the deployments created or changed. Unknown package or
// computer IDs give ErrNotFound and change nothing.
func (s *Store) Affect(ctx context.Context, packageID string, computerIDs []uint, force bool) (int, error) {
	ids := slices.Clone(computerIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	now := time.Now().UTC()
	changed := 0
	err := s.tx(ctx, false, func(tx *gorm.DB) error {
		changed = 0
		var n int64
		if err := tx.Model(&Package{}).Where("id = ?", packageID).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("package %s: %w", packageID, ErrNotFound)
		}
		for _, chunk := range chunks(ids) {
			c, err := affectChunk(tx, packageID, chunk, force, now)
			if err != nil {
				return err
			}
			changed += c
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("affect package %s: %w", packageID, err)
	}
	return changed, nil
}

func affectChunk(tx *gorm.DB, packageID string, ids []uint, force bool, now time.Time) (int, error) {
	var known []uint
	if err := tx.Model(&Computer{}).Where("id IN ?", ids).Pluck("id", &known).Error; err != nil {
		return 0, err
	}
	if len(known) != len(ids) {
		for _, id := range ids {
			if !slices.Contains(known, id) {
				return 0, fmt.Errorf("computer %d: %w", id, ErrNotFound)
			}
		}
	}
	var existing []Deployment
	if err := tx.Where("package_id = ? AND computer_id IN ?", packageID, ids).Find(&existing).Error; err != nil {
		return 0, err
	}
	has := make(map[uint]bool, len(existing))
	var reset, forced []uint
	var events []DeploymentEvent
	for _, d := range existing {
		has[d.ComputerID] = true
		switch {
		case !force:
		case d.Finished():
			reset = append(reset, d.ID)
			events = append(events, DeploymentEvent{DeploymentID: d.ID, At: now, FromState: d.State,
				ToState: StateWaiting, Code: EventForced, Detail: "re-affected with force"})
		case !d.Force:
			forced = append(forced, d.ID)
			events = append(events, DeploymentEvent{DeploymentID: d.ID, At: now, FromState: d.State,
				ToState: d.State, Code: EventForced, Detail: "force set"})
		}
	}
	var fresh []Deployment
	for _, id := range ids {
		if !has[id] {
			fresh = append(fresh, Deployment{ComputerID: id, PackageID: packageID, State: StateWaiting, Force: force})
		}
	}
	if len(fresh) > 0 {
		if err := tx.CreateInBatches(fresh, batchSize).Error; err != nil {
			return 0, err
		}
	}
	for _, d := range fresh {
		events = append(events, DeploymentEvent{DeploymentID: d.ID, At: now, ToState: StateWaiting, Code: EventAffected})
	}
	if len(reset) > 0 {
		if err := tx.Model(&Deployment{}).Where("id IN ?", reset).Updates(resetFields()).Error; err != nil {
			return 0, err
		}
	}
	if len(forced) > 0 {
		if err := tx.Model(&Deployment{}).Where("id IN ?", forced).Update("force", true).Error; err != nil {
			return 0, err
		}
	}
	if err := addEvents(tx, events); err != nil {
		return 0, err
	}
	return len(fresh) + len(reset) + len(forced), nil
}

// Pending is a deployment to advertise, with its package.
type Pending struct {
	Deployment Deployment
	Package    Package
}

// PendingForComputer returns the deployments to advertise to a computer:
// those of active packages in state waiting or notified, ordered by package
// priority (lower first) then package ID. A deployment whose package is in
// the computer's download history and that is not forced is not returned;
// it is marked success with code SUCCESS_ALREADY_IN_HISTORY at now.
func (s *Store) PendingForComputer(ctx context.Context, computerID uint, now time.Time) ([]Pending, error) {
	now = utc(now)
	db := s.read(ctx)
	var deps []Deployment
	err := db.Model(&Deployment{}).
		Joins("JOIN packages ON packages.id = deployments.package_id").
		Where("deployments.computer_id = ? AND deployments.state IN ? AND packages.active = ?", computerID, pendingStates, true).
		Order("packages.priority, packages.id").Find(&deps).Error
	if err != nil {
		return nil, fmt.Errorf("pending for computer %d: %w", computerID, translate(err))
	}
	if len(deps) == 0 {
		return nil, nil
	}
	var history []string
	if err := db.Model(&DownloadHistory{}).Where("computer_id = ?", computerID).Pluck("package_id", &history).Error; err != nil {
		return nil, fmt.Errorf("pending for computer %d: %w", computerID, translate(err))
	}
	pkgIDs := make([]string, 0, len(deps))
	var installed []uint
	kept := deps[:0]
	for _, d := range deps {
		if !d.Force && slices.Contains(history, d.PackageID) {
			installed = append(installed, d.ID)
			continue
		}
		kept = append(kept, d)
		pkgIDs = append(pkgIDs, d.PackageID)
	}
	if len(installed) > 0 {
		if err := s.markInstalled(ctx, installed, now); err != nil {
			return nil, fmt.Errorf("pending for computer %d: %w", computerID, err)
		}
	}
	if len(kept) == 0 {
		return nil, nil
	}
	var pkgs []Package
	if err := db.Where("id IN ?", pkgIDs).Find(&pkgs).Error; err != nil {
		return nil, fmt.Errorf("pending for computer %d: %w", computerID, translate(err))
	}
	byID := make(map[string]Package, len(pkgs))
	for _, p := range pkgs {
		byID[p.ID] = p
	}
	out := make([]Pending, 0, len(kept))
	for _, d := range kept {
		if p, ok := byID[d.PackageID]; ok {
			out = append(out, Pending{Deployment: d, Package: p})
		}
	}
	return out, nil
}

// markInstalled closes deployments whose package is already in the history,
// unless they changed (or were forced) since they were read.
func (s *Store) markInstalled(ctx context.Context, ids []uint, now time.Time) error {
	return s.tx(ctx, false, func(tx *gorm.DB) error {
		var deps []Deployment
		err := tx.Where("id IN ? AND state IN ? AND force = ?", ids, pendingStates, false).Find(&deps).Error
		if err != nil || len(deps) == 0 {
			return err
		}
		ids := make([]uint, len(deps))
		events := make([]DeploymentEvent, len(deps))
		for i, d := range deps {
			ids[i] = d.ID
			events[i] = DeploymentEvent{DeploymentID: d.ID, At: now, FromState: d.State,
				ToState: StateSuccess, Code: CodeAlreadyInHistory, Detail: "package in the computer's download history"}
		}
		err = tx.Model(&Deployment{}).Where("id IN ?", ids).Updates(map[string]any{
			"state": StateSuccess, "result_code": CodeAlreadyInHistory, "finished_at": now,
		}).Error
		if err != nil {
			return err
		}
		return addEvents(tx, events)
	})
}

// MarkNotified moves waiting deployments to notified (counting an attempt
// and writing an event). Deployments in any other state, and unknown IDs,
// are left alone.
func (s *Store) MarkNotified(ctx context.Context, deploymentIDs []uint, at time.Time) error {
	if len(deploymentIDs) == 0 {
		return nil
	}
	at = utc(at)
	err := s.tx(ctx, false, func(tx *gorm.DB) error {
		for _, chunk := range chunks(deploymentIDs) {
			var ids []uint
			if err := tx.Model(&Deployment{}).Where("id IN ? AND state = ?", chunk, StateWaiting).Pluck("id", &ids).Error; err != nil {
				return err
			}
			if len(ids) == 0 {
				continue
			}
			err := tx.Model(&Deployment{}).Where("id IN ?", ids).Updates(map[string]any{
				"state": StateNotified, "notified_at": at, "attempts": gorm.Expr("attempts + 1"),
			}).Error
			if err != nil {
				return err
			}
			events := make([]DeploymentEvent, len(ids))
			for i, id := range ids {
				events[i] = DeploymentEvent{DeploymentID: id, At: at, FromState: StateWaiting, ToState: StateNotified, Code: EventNotified}
			}
			if err := addEvents(tx, events); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("mark notified: %w", err)
	}
	return nil
}

// DeploymentFor returns the deployment of a package on a computer.
func (s *Store) DeploymentFor(ctx context.Context, computerID uint, packageID string) (*Deployment, error) {
	var d Deployment
	if err := s.read(ctx).Where("computer_id = ? AND package_id = ?", computerID, packageID).Take(&d).Error; err != nil {
		return nil, fmt.Errorf("deployment of package %s on computer %d: %w", packageID, computerID, translate(err))
	}
	return &d, nil
}

// FinishDeployment stores a deployment's final state, result code and
// finish time, and clears its Force flag.
func (s *Store) FinishDeployment(ctx context.Context, id uint, state, code string, at time.Time) error {
	err := s.write(ctx).Model(&Deployment{}).Where("id = ?", id).Updates(map[string]any{
		"state": state, "result_code": code, "finished_at": utc(at), "force": false,
	}).Error
	if err != nil {
		return fmt.Errorf("finish deployment %d: %w", id, translate(err))
	}
	return nil
}

// CancelDeployment stores a deployment as cancelled at at and clears its
// Force flag; its result code is left as it is.
func (s *Store) CancelDeployment(ctx context.Context, id uint, at time.Time) error {
	err := s.write(ctx).Model(&Deployment{}).Where("id = ?", id).Updates(map[string]any{
		"state": StateCancelled, "finished_at": utc(at), "force": false,
	}).Error
	if err != nil {
		return fmt.Errorf("cancel deployment %d: %w", id, translate(err))
	}
	return nil
}

// ResetDeployment puts a deployment back to waiting with Force set and its
// result, times and counters cleared.
func (s *Store) ResetDeployment(ctx context.Context, id uint) error {
	if err := s.write(ctx).Model(&Deployment{}).Where("id = ?", id).Updates(resetFields()).Error; err != nil {
		return fmt.Errorf("reset deployment %d: %w", id, translate(err))
	}
	return nil
}

// DeploymentsOf returns a computer's deployments ordered by ID.
func (s *Store) DeploymentsOf(ctx context.Context, computerID uint) ([]Deployment, error) {
	var out []Deployment
	if err := s.read(ctx).Where("computer_id = ?", computerID).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("deployments of computer %d: %w", computerID, translate(err))
	}
	return out, nil
}

// DeleteDeployments deletes deployments and their events.
func (s *Store) DeleteDeployments(ctx context.Context, ids []uint) error {
	if len(ids) == 0 {
		return nil
	}
	err := s.tx(ctx, false, func(tx *gorm.DB) error {
		for _, chunk := range chunks(ids) {
			if err := tx.Where("deployment_id IN ?", chunk).Delete(&DeploymentEvent{}).Error; err != nil {
				return err
			}
			if err := tx.Where("id IN ?", chunk).Delete(&Deployment{}).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete deployments: %w", err)
	}
	return nil
}

// MoveDeployments gives every deployment of computer from to computer to.
func (s *Store) MoveDeployments(ctx context.Context, from, to uint) error {
	if err := s.write(ctx).Model(&Deployment{}).Where("computer_id = ?", from).Update("computer_id", to).Error; err != nil {
		return fmt.Errorf("move deployments of computer %d to %d: %w", from, to, translate(err))
	}
	return nil
}

// Progress is a Shoal agent's report on a running deployment.
type Progress struct {
	// State is StateDownloading, StateDownloaded or StateRunning.
	State          string
	FragmentsDone  int
	FragmentsTotal int
	BytesPeer      int64
	BytesRelay     int64
	BytesCentral   int64
}

// SaveProgress stores a deployment's state and progress counters.
func (s *Store) SaveProgress(ctx context.Context, id uint, p Progress) error {
	err := s.write(ctx).Model(&Deployment{}).Where("id = ?", id).Updates(map[string]any{
		"state": p.State, "fragments_done": p.FragmentsDone, "fragments_total": p.FragmentsTotal,
		"bytes_peer": p.BytesPeer, "bytes_relay": p.BytesRelay, "bytes_central": p.BytesCentral,
	}).Error
	if err != nil {
		return fmt.Errorf("save progress of deployment %d: %w", id, translate(err))
	}
	return nil
}

// AddDeploymentEvents appends events to deployments' event logs.
func (s *Store) AddDeploymentEvents(ctx context.Context, events ...DeploymentEvent) error {
	if err := addEvents(s.write(ctx), events); err != nil {
		return fmt.Errorf("add deployment events: %w", translate(err))
	}
	return nil
}

// Deployment returns the deployment with the given ID.
func (s *Store) Deployment(ctx context.Context, id uint) (*Deployment, error) {
	var d Deployment
	if err := s.read(ctx).Where("id = ?", id).Take(&d).Error; err != nil {
		return nil, fmt.Errorf("deployment %d: %w", id, translate(err))
	}
	return &d, nil
}

// DeploymentFilter selects deployments. Empty fields do not filter.
type DeploymentFilter struct {
	PackageID  string
	ComputerID uint
	State      string
	// Limit defaults to 50 and is capped at 1000.
	Limit, Offset int
}

// ListDeployments returns one page of deployments ordered by ID and the
// total number of matches.
func (s *Store) ListDeployments(ctx context.Context, f DeploymentFilter) ([]Deployment, int64, error) {
	limit, offset, err := pageArgs(f.Limit, f.Offset)
	if err != nil {
		return nil, 0, fmt.Errorf("list deployments: %w", err)
	}
	db := s.read(ctx)
	q := func() *gorm.DB {
		q := db.Model(&Deployment{})
		if f.PackageID != "" {
			q = q.Where("package_id = ?", f.PackageID)
		}
		if f.ComputerID != 0 {
			q = q.Where("computer_id = ?", f.ComputerID)
		}
		if f.State != "" {
			q = q.Where("state = ?", f.State)
		}
		return q
	}
	var total int64
	if err := q().Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("list deployments: %w", translate(err))
	}
	var out []Deployment
	if err := q().Order("id").Limit(limit).Offset(offset).Find(&out).Error; err != nil {
		return nil, 0, fmt.Errorf("list deployments: %w", translate(err))
	}
	return out, total, nil
}

// DeploymentEvents returns a deployment's events, oldest first.
func (s *Store) DeploymentEvents(ctx context.Context, deploymentID uint) ([]DeploymentEvent, error) {
	db := s.read(ctx)
	var n int64
	if err := db.Model(&Deployment{}).Where("id = ?", deploymentID).Count(&n).Error; err != nil {
		return nil, fmt.Errorf("deployment %d events: %w", deploymentID, translate(err))
	}
	if n == 0 {
		return nil, fmt.Errorf("deployment %d events: %w", deploymentID, ErrNotFound)
	}
	var out []DeploymentEvent
	if err := db.Where("deployment_id = ?", deploymentID).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("deployment %d events: %w", deploymentID, translate(err))
	}
	return out, nil
}

// DeploymentCounts returns the number of deployments per state for a
// package, or for all packages when packageID is empty.
func (s *Store) DeploymentCounts(ctx context.Context, packageID string) (map[string]int64, error) {
	type row struct {
		State string
		N     int64
	}
	var rows []row
	q := s.read(ctx).Model(&Deployment{}).Select("state, COUNT(*) AS n")
	if packageID != "" {
		q = q.Where("package_id = ?", packageID)
	}
	if err := q.Group("state").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("deployment counts %s: %w", packageID, translate(err))
	}
	out := make(map[string]int64, len(rows))
	for _, r := range rows {
		out[r.State] = r.N
	}
	return out, nil
}

// activeStates are the deployment states a Shoal agent is working on.
var activeStates = []string{StateDownloading, StateDownloaded, StateRunning}

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

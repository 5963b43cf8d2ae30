package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Event codes of deployment events besides agent result codes.
const (
	EventAffected  = "AFFECTED"
	EventForced    = "FORCED"
	EventNotified  = "NOTIFIED"
	EventRedeploy  = "REDEPLOY"
	EventCancelled = "CANCELLED"
	EventProgress  = "PROGRESS"
)

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

// CreateDeployments creates a waiting deployment of packageID on each of
// computerIDs, with the given Force, each with an AFFECTED event at at, and
// returns them with their IDs. A computer that already has a deployment of
// the package gives ErrConflict. Whether to create them is central/deploy's
// decision (AffectComputers); tests use it to set up deployments.
func (s *Store) CreateDeployments(ctx context.Context, packageID string, computerIDs []uint, force bool, at time.Time) ([]Deployment, error) {
	if len(computerIDs) == 0 {
		return nil, nil
	}
	at = utc(at)
	deps := make([]Deployment, len(computerIDs))
	for i, id := range computerIDs {
		deps[i] = Deployment{ComputerID: id, PackageID: packageID, State: StateWaiting, Force: force}
	}
	err := s.tx(ctx, false, func(tx *gorm.DB) error {
		for i := range deps {
			deps[i].ID = 0
		}
		if err := tx.CreateInBatches(deps, batchSize).Error; err != nil {
			return err
		}
		events := make([]DeploymentEvent, len(deps))
		for i, d := range deps {
			events[i] = DeploymentEvent{DeploymentID: d.ID, At: at, ToState: StateWaiting, Code: EventAffected}
		}
		return addEvents(tx, events)
	})
	if err != nil {
		return nil, fmt.Errorf("create deployments of package %s: %w", packageID, translate(err))
	}
	return deps, nil
}

// DeploymentsOfPackage returns the deployments of a package on the given
// computers, in no particular order.
func (s *Store) DeploymentsOfPackage(ctx context.Context, packageID string, computerIDs []uint) ([]Deployment, error) {
	db := s.read(ctx)
	var out []Deployment
	for _, chunk := range chunks(computerIDs) {
		var deps []Deployment
		if err := db.Where("package_id = ? AND computer_id IN ?", packageID, chunk).Find(&deps).Error; err != nil {
			return nil, fmt.Errorf("deployments of package %s: %w", packageID, translate(err))
		}
		out = append(out, deps...)
	}
	return out, nil
}

// DeploymentsByID returns the deployments with the given IDs, in no
// particular order; unknown IDs are left out.
func (s *Store) DeploymentsByID(ctx context.Context, ids []uint) ([]Deployment, error) {
	db := s.read(ctx)
	var out []Deployment
	for _, chunk := range chunks(ids) {
		var deps []Deployment
		if err := db.Where("id IN ?", chunk).Find(&deps).Error; err != nil {
			return nil, fmt.Errorf("deployments by id: %w", translate(err))
		}
		out = append(out, deps...)
	}
	return out, nil
}

// ComputerDeployments returns a computer's deployments in the given states
// whose package is active, each with its package, ordered by package
// priority (lower first) then package ID.
func (s *Store) ComputerDeployments(ctx context.Context, computerID uint, states ...string) ([]Pending, error) {
	db := s.read(ctx)
	var deps []Deployment
	err := db.Model(&Deployment{}).
		Joins("JOIN packages ON packages.id = deployments.package_id").
		Where("deployments.computer_id = ? AND deployments.state IN ? AND packages.active = ?", computerID, states, true).
		Order("packages.priority, packages.id").Find(&deps).Error
	if err != nil {
		return nil, fmt.Errorf("deployments of computer %d: %w", computerID, translate(err))
	}
	if len(deps) == 0 {
		return nil, nil
	}
	pkgIDs := make([]string, len(deps))
	for i, d := range deps {
		pkgIDs[i] = d.PackageID
	}
	var pkgs []Package
	if err := db.Where("id IN ?", pkgIDs).Find(&pkgs).Error; err != nil {
		return nil, fmt.Errorf("deployments of computer %d: %w", computerID, translate(err))
	}
	byID := make(map[string]Package, len(pkgs))
	for _, p := range pkgs {
		byID[p.ID] = p
	}
	out := make([]Pending, 0, len(deps))
	for _, d := range deps {
		if p, ok := byID[d.PackageID]; ok {
			out = append(out, Pending{Deployment: d, Package: p})
		}
	}
	return out, nil
}

// Pending is a deployment to advertise, with its package.
type Pending struct {
	Deployment Deployment
	Package    Package
}

// NotifyDeployments stores deployments as notified at at and counts an
// attempt for each.
func (s *Store) NotifyDeployments(ctx context.Context, ids []uint, at time.Time) error {
	db := s.write(ctx)
	for _, chunk := range chunks(ids) {
		err := db.Model(&Deployment{}).Where("id IN ?", chunk).Updates(map[string]any{
			"state": StateNotified, "notified_at": utc(at), "attempts": gorm.Expr("attempts + 1"),
		}).Error
		if err != nil {
			return fmt.Errorf("notify deployments: %w", translate(err))
		}
	}
	return nil
}

// SetDeploymentsForce sets Force on deployments.
func (s *Store) SetDeploymentsForce(ctx context.Context, ids []uint) error {
	db := s.write(ctx)
	for _, chunk := range chunks(ids) {
		if err := db.Model(&Deployment{}).Where("id IN ?", chunk).Update("force", true).Error; err != nil {
			return fmt.Errorf("force deployments: %w", translate(err))
		}
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

// ResetDeployments is ResetDeployment for several deployments.
func (s *Store) ResetDeployments(ctx context.Context, ids []uint) error {
	db := s.write(ctx)
	for _, chunk := range chunks(ids) {
		if err := db.Model(&Deployment{}).Where("id IN ?", chunk).Updates(resetFields()).Error; err != nil {
			return fmt.Errorf("reset deployments: %w", translate(err))
		}
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

package api

import "time"

// Deployment states, in the order a deployment goes through them.
const (
	StateWaiting     = "waiting"
	StateNotified    = "notified"
	StateDownloading = "downloading"
	StateDownloaded  = "downloaded"
	StateRunning     = "running"
	StateSuccess     = "success"
	StateError       = "error"
	StateCancelled   = "cancelled"
)

// States lists every deployment state in order.
func States() []string {
	return []string{StateWaiting, StateNotified, StateDownloading, StateDownloaded, StateRunning,
		StateSuccess, StateError, StateCancelled}
}

// Final reports whether a deployment in state has finished.
func Final(state string) bool {
	return state == StateSuccess || state == StateError || state == StateCancelled
}

// Deployment is one (computer, package) pair and where it stands.
type Deployment struct {
	ID           uint   `json:"id"`
	ComputerID   uint   `json:"computer_id"`
	ComputerName string `json:"computer_name,omitempty"`
	SiteID       *uint  `json:"site_id,omitempty"`
	SiteName     string `json:"site_name,omitempty"`
	PackageID    string `json:"package_id"`
	PackageName  string `json:"package_name,omitempty"`
	State        string `json:"state"`
	// ResultCode is the agent's raw OCS code (SUCCESS, ERR_BAD_DIGEST, …).
	ResultCode string `json:"result_code,omitempty"`
	// ResultHelp explains ResultCode and what to do about it.
	ResultHelp     string `json:"result_help,omitempty"`
	Force          bool   `json:"force"`
	Attempts       int    `json:"attempts"`
	FragmentsDone  int    `json:"fragments_done"`
	FragmentsTotal int    `json:"fragments_total"`
	// Bytes by source: LAN peers, the site's relay, central.
	BytesPeer    int64      `json:"bytes_peer"`
	BytesRelay   int64      `json:"bytes_relay"`
	BytesCentral int64      `json:"bytes_central"`
	NotifiedAt   *time.Time `json:"notified_at,omitempty"`
	FinishedAt   *time.Time `json:"finished_at,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	// UpdatedAt is the last change.
	UpdatedAt time.Time `json:"updated_at"`
}

// DeploymentEvent is one state change of a deployment.
type DeploymentEvent struct {
	ID           uint      `json:"id"`
	DeploymentID uint      `json:"deployment_id"`
	At           time.Time `json:"at"`
	FromState    string    `json:"from_state,omitempty"`
	ToState      string    `json:"to_state"`
	Code         string    `json:"code,omitempty"`
	Detail       string    `json:"detail,omitempty"`
}

// DeploymentDetail is a deployment with its events, oldest first.
type DeploymentDetail struct {
	Deployment Deployment        `json:"deployment"`
	Events     []DeploymentEvent `json:"events"`
}

// DeploymentCounts is GET /packages/{id}/deployment-counts: deployments per
// state, for one site when asked.
type DeploymentCounts struct {
	PackageID string           `json:"package_id"`
	Counts    map[string]int64 `json:"counts"`
	Total     int64            `json:"total"`
	// Finished counts the deployments in a final state.
	Finished int64 `json:"finished"`
}

// CompletionSeries is GET /packages/{id}/completion: how many deployments
// had finished, cumulatively, at each point in time.
type CompletionSeries struct {
	PackageID string            `json:"package_id"`
	Total     int64             `json:"total"`
	Points    []CompletionPoint `json:"points"`
}

// CompletionPoint counts the deployments finished at or before At.
type CompletionPoint struct {
	At        time.Time `json:"at"`
	Success   int64     `json:"success"`
	Error     int64     `json:"error"`
	Cancelled int64     `json:"cancelled"`
}

// SiteBytes sums the bytes a package's deployments fetched, per source, for
// the computers of one site (SiteID nil: computers without a site).
type SiteBytes struct {
	SiteID       *uint  `json:"site_id,omitempty"`
	SiteName     string `json:"site_name"`
	Deployments  int64  `json:"deployments"`
	BytesPeer    int64  `json:"bytes_peer"`
	BytesRelay   int64  `json:"bytes_relay"`
	BytesCentral int64  `json:"bytes_central"`
}

// BulkRequest selects deployments of one package for POST
// /packages/{id}/redeploy or /packages/{id}/cancel: the listed IDs, or every
// deployment in State (for example "error"). One of them must be set.
type BulkRequest struct {
	DeploymentIDs []uint `json:"deployment_ids,omitempty"`
	State         string `json:"state,omitempty"`
}

// BulkResult counts the deployments a bulk action changed.
type BulkResult struct {
	Changed int `json:"changed"`
}

package api

import "time"

// Group is a named set of computers: static (members chosen by an admin)
// or dynamic (Search, a saved search re-evaluated at every inventory and
// on a schedule).
type Group struct {
	ID          uint   `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Dynamic     bool   `json:"dynamic"`
	// Search holds a dynamic group's saved search: query parameters of
	// GET /computers (name, os, software, software_version, ip, tag, site,
	// contact_since, contact_before); a time such as contact_since=24h
	// stays relative to each evaluation.
	Search map[string]string `json:"search,omitempty"`
	// Window is the deployment window of the group's assignments ("":
	// the members' site windows).
	Window string `json:"window,omitempty"`
	// PrologFreqHours and OCSTimings: the group's OCS agent timings (see
	// GroupRequest).
	PrologFreqHours int    `json:"prolog_freq_hours,omitempty"`
	OCSTimings      string `json:"ocs_timings,omitempty"`
	// CycleLatency, FragLatency, PeriodLatency: the group's OCS DOWNLOAD
	// latencies in seconds (see GroupRequest).
	CycleLatency  int   `json:"cycle_latency,omitempty"`
	FragLatency   int   `json:"frag_latency,omitempty"`
	PeriodLatency int   `json:"period_latency,omitempty"`
	Members       int64 `json:"members"`
	// MemberIDs and Assignments are in the answer of GET /groups/{id}.
	MemberIDs   []uint       `json:"member_ids,omitempty"`
	Assignments []Assignment `json:"assignments,omitempty"`
	EvaluatedAt *time.Time   `json:"evaluated_at,omitempty"`
	CreatedAt   time.Time    `json:"created_at"`
}

// GroupRequest creates or replaces a group: POST /groups, PUT /groups/{id}.
// A group with a Search is dynamic; without, Members are its computers.
type GroupRequest struct {
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Search      map[string]string `json:"search,omitempty"`
	Members     []uint            `json:"members,omitempty"`
	// Window is the deployment window of the group's assignments, in
	// each member's site time zone (syntax of SiteRequest.Window); ""
	// follows the members' site windows.
	Window string `json:"window,omitempty"`
	// PrologFreqHours (0: the agent settings') and OCSTimings ("": the
	// site's; "short" 1 s latencies or "default" the agent settings')
	// override the OCS agent timings of the group's members; among
	// several groups the smallest PROLOG_FREQ and "short" win.
	PrologFreqHours int    `json:"prolog_freq_hours,omitempty"`
	OCSTimings      string `json:"ocs_timings,omitempty"`
	// CycleLatency, FragLatency and PeriodLatency (seconds, 0: not set,
	// at most 86400) override each DOWNLOAD latency of the members' OCS
	// PROLOG replies after OCSTimings; among several groups the smallest
	// wins.
	CycleLatency  int `json:"cycle_latency,omitempty"`
	FragLatency   int `json:"frag_latency,omitempty"`
	PeriodLatency int `json:"period_latency,omitempty"`
}

// GroupPatch changes some fields of a group: PATCH /groups/{id}. A field
// left out (or null) keeps its value; "" or 0 clears it (window "": the
// members' site windows). Members replaces a static group's members.
type GroupPatch struct {
	Name            *string            `json:"name,omitempty"`
	Description     *string            `json:"description,omitempty"`
	Search          *map[string]string `json:"search,omitempty"`
	Members         *[]uint            `json:"members,omitempty"`
	Window          *string            `json:"window,omitempty"`
	PrologFreqHours *int               `json:"prolog_freq_hours,omitempty"`
	OCSTimings      *string            `json:"ocs_timings,omitempty"`
	CycleLatency    *int               `json:"cycle_latency,omitempty"`
	FragLatency     *int               `json:"frag_latency,omitempty"`
	PeriodLatency   *int               `json:"period_latency,omitempty"`
}

// GroupMembersRequest adds computers to a static group or removes them.
type GroupMembersRequest struct {
	ComputerIDs []uint `json:"computer_ids"`
}

// Assignment targets.
const (
	TargetGroup  = "group"
	TargetSite   = "site"
	TargetSearch = "search"
)

// Assignment is desired state: a package belongs on every computer of a
// group, a site or a saved search, including computers that join it
// later; a computer that leaves keeps what it installed and its pending
// deployment is cancelled.
type Assignment struct {
	ID        uint   `json:"id"`
	PackageID string `json:"package_id"`
	// Target is group, site or search; TargetName the group's or site's
	// name, or the saved search as a query string.
	Target     string            `json:"target"`
	GroupID    *uint             `json:"group_id,omitempty"`
	SiteID     *uint             `json:"site_id,omitempty"`
	Search     map[string]string `json:"search,omitempty"`
	TargetName string            `json:"target_name"`
	// After holds each member's deployment until this package succeeded
	// on it (or is in its download history).
	After string `json:"after,omitempty"`
	// Baseline (site targets): only computers that join the site after
	// the assignment get the package; those already there are Skipped.
	Baseline bool `json:"baseline,omitempty"`
	// Stage or StagePercent make a staged rollout: waves of that many
	// computers (or that share) per site, the next once a site's wave
	// finished; more than MaxFailurePercent of failed finished deployments
	// pause it, and PausedReason names the failing codes.
	Stage             int    `json:"stage,omitempty"`
	StagePercent      int    `json:"stage_percent,omitempty"`
	MaxFailurePercent int    `json:"max_failure_percent,omitempty"`
	Paused            bool   `json:"paused,omitempty"`
	PausedReason      string `json:"paused_reason,omitempty"`
	// Reboot: OCS agents reboot after a successful install.
	Reboot bool `json:"reboot,omitempty"`
	// Members are the computers targeted now (of the package's platform);
	// Done succeeded, Failed ended in error, Pending are waiting or under
	// way, Held wait for After, Cancelled were cancelled by an admin.
	Members   int64     `json:"members"`
	Done      int64     `json:"done"`
	Pending   int64     `json:"pending"`
	Failed    int64     `json:"failed"`
	Held      int64     `json:"held"`
	Cancelled int64     `json:"cancelled"`
	Skipped   int64     `json:"skipped"`
	CreatedAt time.Time `json:"created_at"`
}

// AssignmentRequest creates an assignment (POST /assignments): exactly
// one of GroupID, SiteID and Search.
type AssignmentRequest struct {
	PackageID string            `json:"package_id"`
	GroupID   *uint             `json:"group_id,omitempty"`
	SiteID    *uint             `json:"site_id,omitempty"`
	Search    map[string]string `json:"search,omitempty"`
	After     string            `json:"after,omitempty"`
	Baseline  bool              `json:"baseline,omitempty"`
	// Stage (computers) or StagePercent per site and wave, and the share of
	// failures that pauses the rollout (0: any failure).
	Stage             int `json:"stage,omitempty"`
	StagePercent      int `json:"stage_percent,omitempty"`
	MaxFailurePercent int `json:"max_failure_percent,omitempty"`
	// Reboot asks OCS agents to reboot after a successful install
	// (POSTCMD=REBOOT, Windows agents only).
	Reboot bool `json:"reboot,omitempty"`
}

package api

import (
	"strings"
	"time"
)

// BasePath is the path prefix of every API route.
const BasePath = "/api/v1"

// Roles of API callers.
const (
	RoleAdmin    = "admin"
	RoleReadOnly = "readonly"
)

// List is the envelope of every list answer. Total counts every match, not
// only the items of this page.
type List[T any] struct {
	Items  []T   `json:"items"`
	Total  int64 `json:"total"`
	Limit  int   `json:"limit"`
	Offset int   `json:"offset"`
}

// Error is the body of every error answer.
type Error struct {
	// Error is one sentence a person can act on.
	Error string `json:"error"`
	// Detail lists the individual problems, when there are several (the
	// failed checks of an activation, the invalid fields of a package).
	Detail []string `json:"detail,omitempty"`
	// Fields maps a request field (form or JSON name) to its problem, so a
	// form can show each error next to its field.
	Fields map[string]string `json:"fields,omitempty"`
}

// Principal is the authenticated caller.
type Principal struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// ServerInfo describes central: GET /server.
type ServerInfo struct {
	CAFingerprintSHA256 string `json:"ca_fingerprint_sha256"`
	ManifestKeyID       string `json:"manifest_key_id"`
	// ManifestPublicKey is central's Ed25519 manifest key, base64.
	ManifestPublicKey []byte `json:"manifest_public_key"`
	ProtocolVersion   int    `json:"protocol_version"`
	DefaultInfoLoc    string `json:"default_info_loc"`
	DefaultPackLoc    string `json:"default_pack_loc"`
	// OCSServerURL is the --server value for OCS agents.
	OCSServerURL string `json:"ocs_server_url"`
	// OCSAgentCommand is the command line (OCSAgentCommand) that
	// inventories a Unix computer with the OCS agent and reports its
	// deployments, trusting the CA at CAFile: as printed it runs on
	// central's machine; elsewhere put cacert.pem at the same path.
	OCSAgentCommand string `json:"ocs_agent_command"`
	// CAFile is the absolute path of central's CA certificate on central's
	// machine.
	CAFile string `json:"ca_file"`
	// CACertPath is where cacert.pem is served (on HTTP and HTTPS).
	CACertPath string    `json:"ca_cert_path"`
	Caller     Principal `json:"caller"`
	Time       time.Time `json:"time"`
}

// DownloadStats counts what central served of one package from its
// download tree since it started.
type DownloadStats struct {
	Bytes     int64 `json:"bytes"`
	Requests  int64 `json:"requests"`
	Fragments int64 `json:"fragments"`
	Info      int64 `json:"info"`
}

// Stats is GET /stats: row counts per table and download counters per
// package ID.
type Stats struct {
	Rows      map[string]int64         `json:"rows"`
	Downloads map[string]DownloadStats `json:"downloads"`
}

// Dashboard is GET /dashboard: what the admin sees first.
type Dashboard struct {
	Computers      int64 `json:"computers"`
	Sites          int64 `json:"sites"`
	Packages       int64 `json:"packages"`
	ActivePackages int64 `json:"active_packages"`
	// DeploymentCounts counts deployments per state, all packages.
	DeploymentCounts map[string]int64 `json:"deployment_counts"`
	// Active lists the active packages that have unfinished deployments.
	Active []PackageProgress `json:"active"`
	// RecentFailures are the latest deployments that ended in error.
	RecentFailures []Deployment `json:"recent_failures"`
	// ComputersInProgress counts the computers with an unfinished
	// deployment (Active counts packages).
	ComputersInProgress int64 `json:"computers_in_progress"`
	// FailureGroups fold the recent failures by package and code, most
	// recent first, with how many computers each has.
	FailureGroups []FailureGroup `json:"failure_groups"`
}

// FailureGroup is the recent failures of one package with one code.
type FailureGroup struct {
	PackageID   string `json:"package_id"`
	PackageName string `json:"package_name"`
	ResultCode  string `json:"result_code"`
	ResultHelp  string `json:"result_help,omitempty"`
	Computers   int    `json:"computers"`
	// Last is when the most recent of them failed.
	Last *time.Time `json:"last,omitempty"`
}

// PackageProgress is a package's deployment counts.
type PackageProgress struct {
	PackageID   string           `json:"package_id"`
	PackageName string           `json:"package_name"`
	Counts      map[string]int64 `json:"counts"`
	Total       int64            `json:"total"`
	Finished    int64            `json:"finished"`
}

// Token is an API token. The secret Token is only in the answer to its
// creation.
type Token struct {
	ID        uint       `json:"id"`
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	Token     string     `json:"token,omitempty"`
	CreatedAt *time.Time `json:"created_at,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	LastUsed  *time.Time `json:"last_used,omitempty"`
	Revoked   bool       `json:"revoked"`
}

// TokenRequest mints a token: POST /tokens.
type TokenRequest struct {
	Name string `json:"name"`
	// Role is RoleAdmin (default) or RoleReadOnly.
	Role string `json:"role,omitempty"`
	// ExpiresIn is a Go duration such as "720h"; empty means no expiry.
	ExpiresIn string `json:"expires_in,omitempty"`
}

// AuditEvent is one admin action: GET /audit.
type AuditEvent struct {
	ID     uint      `json:"id"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	Detail string    `json:"detail,omitempty"`
	Remote string    `json:"remote,omitempty"`
}

// Site is a branch: CIDR ranges and where its OCS agents fetch fragments.
type Site struct {
	ID               uint     `json:"id"`
	Name             string   `json:"name"`
	Description      string   `json:"description,omitempty"`
	CIDRs            []string `json:"cidrs"`
	FragmentLocation string   `json:"fragment_location,omitempty"`
	// TimeZone is the site's IANA time zone, such as Europe/Paris ("" is UTC).
	TimeZone string `json:"time_zone,omitempty"`
	// OCSTimings is the DOWNLOAD latencies the site's OCS agents get: ""
	// (central's agents.relay_site_timings when a relay serves the site),
	// "short" or "default".
	OCSTimings string `json:"ocs_timings,omitempty"`
	// Window is the site's deployment window in its time zone, such as
	// "mon-fri 22:00-06:00": agents install only inside it ("" always).
	Window string `json:"window,omitempty"`
	// Computers counts the computers in the site.
	Computers int64 `json:"computers"`
	// ComputersMoved (in the answer to a create or a replace) counts the
	// existing computers whose last address is in the site's ranges and
	// that moved to it at once.
	ComputersMoved *int       `json:"computers_moved,omitempty"`
	CreatedAt      *time.Time `json:"created_at,omitempty"`
	UpdatedAt      *time.Time `json:"updated_at,omitempty"`
}

// SiteRequest creates or replaces a site: POST /sites, PUT /sites/{id}.
type SiteRequest struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	CIDRs       []string `json:"cidrs"`
	// FragmentLocation is host[:port]/path without a scheme, as OCS
	// PACK_LOC; empty means central's own.
	FragmentLocation string `json:"fragment_location,omitempty"`
	// TimeZone is an IANA time zone such as Europe/Paris ("" is UTC).
	TimeZone string `json:"time_zone,omitempty"`
	// OCSTimings: "" follows central's agents.relay_site_timings when a
	// relay serves the site; "short" (1 s latencies) or "default" (the
	// agent settings' latencies) force one.
	OCSTimings string `json:"ocs_timings,omitempty"`
	// Window is the deployment window: "days HH:MM-HH:MM" spans separated
	// by ";" (days: daily, or mon..sun lists and ranges such as
	// "mon-fri" or "sat,sun"), in TimeZone; an end before the start runs
	// past midnight. Packages install only inside it; "" is always open.
	Window string `json:"window,omitempty"`
}

// SiteImportRequest creates or updates many sites at once: POST
// /sites/import. CSV has one site a line: name, CIDRs (separated by spaces
// or semicolons), time zone; a first line starting with "name" is a header.
// A site that exists (same name) gets the line's CIDRs and time zone.
type SiteImportRequest struct {
	CSV string `json:"csv"`
}

// SiteImportResult tells what an import did.
type SiteImportResult struct {
	Created int `json:"created"`
	Updated int `json:"updated"`
	// ComputersMoved counts the existing computers that moved to a site
	// because their last address is in its ranges.
	ComputersMoved int `json:"computers_moved"`
}

// Settings are the agent-facing timings central sends in every PROLOG
// answer: GET and PUT /settings. PUT replaces all of them; a zero value
// takes the default.
type Settings struct {
	PrologFreqHours        int              `json:"prolog_freq_hours"`
	InventoryFrequencyDays int              `json:"inventory_frequency_days"`
	InventoryOnStartup     bool             `json:"inventory_on_startup"`
	Download               DownloadSettings `json:"download"`
}

// DownloadSettings is the OCS DOWNLOAD CONF block.
type DownloadSettings struct {
	Disabled             bool `json:"disabled"`
	CycleLatency         int  `json:"cycle_latency"`
	FragLatency          int  `json:"frag_latency"`
	PeriodLatency        int  `json:"period_latency"`
	PeriodLength         int  `json:"period_length"`
	TimeoutDays          int  `json:"timeout_days"`
	ExecutionTimeoutMins int  `json:"execution_timeout_mins"`
}

// OCSAgentCommand is the command line that runs the OCS Unix agent against
// central, as central prints it (start-up banner, GET /server, the UI's
// settings page) and the README shows it. serverURL is central's HTTPS base
// URL and caFile an absolute path: the agent's download worker changes
// directory before it reports a result, so a relative CA path loses every
// result. --nolocal makes the agent use --server even when its
// configuration (Debian's sets local=) says to write inventories locally.
func OCSAgentCommand(serverURL, caFile string) string {
	return "ocsinventory-agent --nolocal --server=" + strings.TrimSuffix(serverURL, "/") + "/ocsinventory --ca=" + caFile
}

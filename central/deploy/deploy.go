// Package deploy decides what central tells agents: the PROLOG answer with its
// DOWNLOAD option, activation of packages at their info and fragment
// locations, affectation of packages to computers, and the results agents
// report back.
//
// State per (computer, package) lives in central/store, which only persists
// it; this package holds the rules: lower priority numbers are delivered
// first, a package already in an agent's history is not sent again unless
// forced, a forced affectation re-opens finished deployments, and a
// computer's site may redirect fragment downloads to that site's relay
// (PACK_LOC). The deployment state machine, and the one result recorder that
// both the Shoal agent API and the OCS QUERY=DOWNLOAD report use, are in
// results.go; affectation, pending deployments and notification in affect.go.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/internal/errkind"
	"github.com/shoal-project/shoal/internal/metrics"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/proto/ocs"
)

// ErrInvalid reports a request that does not make sense, such as an empty
// affectation or a location with a scheme.
var ErrInvalid = errkind.New(errkind.Invalid, "invalid request")

// ErrNotActive reports an affectation of a package that is not active.
var ErrNotActive = errkind.New(errkind.Invalid, "package is not active")

// ErrUnavailable reports an activation whose availability check failed.
var ErrUnavailable = errkind.New(errkind.Unprocessable, "package is not available at the given locations")

// Config holds the agent-facing timings. All of them are sent to OCS agents.
type Config struct {
	// PrologFreqHours is how often agents contact central (PROLOG_FREQ).
	PrologFreqHours int `yaml:"prolog_freq_hours"`
	// InventoryFrequencyDays: 0 asks for an inventory at every contact, n
	// asks when the last one is older than n days, -1 never (OCS FREQUENCY).
	InventoryFrequencyDays int `yaml:"inventory_frequency_days"`
	// InventoryOnStartup is sent as INVENTORY_ON_STARTUP (Windows agents).
	InventoryOnStartup bool `yaml:"inventory_on_startup"`
	// Download holds the DOWNLOAD CONF values.
	Download DownloadConfig `yaml:"download"`
	// RelaySiteTimings is what OCS agents of a site served by a relay (an
	// enrolled live relay, or a fragment location) get when the site sets
	// no ocs_timings: TimingsShort (the default) or TimingsDefault. It is
	// read from the configuration file only: the Settings page and API keep
	// it as it is.
	RelaySiteTimings string `yaml:"relay_site_timings"`
}

// Timings names of RelaySiteTimings and store.Site.OCSTimings.
const (
	// TimingsShort sends ShortLatency for CYCLE_LATENCY, FRAG_LATENCY and
	// PERIOD_LATENCY. The defaults space an agent's fragment requests by
	// a minute to spare the WAN link to central; a relay on the site's LAN
	// needs no such spacing.
	TimingsShort = "short"
	// TimingsDefault sends the Download latencies of the agent settings.
	TimingsDefault = "default"
)

// ShortLatency is the seconds of each latency under TimingsShort. Not 0:
// the Unix agent's worker then loops without pause between fragments,
// and one second still bounds an agent to about one request a second on
// the relay while a 10-fragment package at priority 5 runs in about 70 s
// instead of about 55 minutes (OCSExpected).
const ShortLatency = 1

// ValidTimings reports whether t names timings (TimingsShort or
// TimingsDefault).
func ValidTimings(t string) bool { return t == TimingsShort || t == TimingsDefault }

// Short returns d with every latency at ShortLatency.
func (d DownloadConfig) Short() DownloadConfig {
	d.CycleLatency, d.FragLatency, d.PeriodLatency = ShortLatency, ShortLatency, ShortLatency
	return d
}

// DownloadConfig is the OCS DOWNLOAD CONF block.
type DownloadConfig struct {
	Disabled             bool `yaml:"disabled"`
	CycleLatency         int  `yaml:"cycle_latency"`          // seconds
	FragLatency          int  `yaml:"frag_latency"`           // seconds
	PeriodLatency        int  `yaml:"period_latency"`         // seconds
	PeriodLength         int  `yaml:"period_length"`          // cycles
	TimeoutDays          int  `yaml:"timeout_days"`           // days
	ExecutionTimeoutMins int  `yaml:"execution_timeout_mins"` // minutes
}

func (c Config) withDefaults() Config {
	if c.PrologFreqHours == 0 {
		c.PrologFreqHours = 12
	}
	d := &c.Download
	if d.CycleLatency == 0 {
		d.CycleLatency = 60
	}
	if d.FragLatency == 0 {
		d.FragLatency = 10
	}
	if d.PeriodLength == 0 {
		d.PeriodLength = 10
	}
	if d.TimeoutDays == 0 {
		d.TimeoutDays = 7
	}
	if d.ExecutionTimeoutMins == 0 {
		d.ExecutionTimeoutMins = 120
	}
	if c.RelaySiteTimings == "" {
		c.RelaySiteTimings = TimingsShort
	}
	return c
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config { return c.withDefaults() }

// Validate checks the configuration.
func (c Config) Validate() error {
	c = c.withDefaults()
	d := c.Download
	switch {
	case c.PrologFreqHours < 1:
		return fmt.Errorf("deploy: prolog_freq_hours must be at least 1")
	case c.InventoryFrequencyDays < -1:
		return fmt.Errorf("deploy: inventory_frequency_days must be -1 or more")
	case d.CycleLatency < 1 || d.FragLatency < 0 || d.PeriodLatency < 0 || d.PeriodLength < 1:
		return fmt.Errorf("deploy: download latencies must be positive and period_length at least 1")
	case d.TimeoutDays < 1:
		// OCS agents abandon packages at once without a TIMEOUT.
		return fmt.Errorf("deploy: download timeout_days must be at least 1")
	case !ValidTimings(c.RelaySiteTimings):
		return fmt.Errorf("deploy: relay_site_timings must be %s or %s, not %q", TimingsShort, TimingsDefault, c.RelaySiteTimings)
	}
	return nil
}

// Locations are the default places packages are published when an admin
// activates without naming any: host[:port]/path without a scheme, as OCS.
type Locations struct {
	InfoLoc string
	PackLoc string
}

// Service applies the deployment rules on top of the store.
type Service struct {
	cfgMu    sync.RWMutex // guards cfg; read it with Config()
	cfg      Config
	store    *store.Store
	builder  *packages.Builder
	client   *http.Client
	defaults Locations
	log      *slog.Logger
	now      func() time.Time
	contacts *contactLog
	checks   checking         // packages whose availability check runs now
	metrics  *metrics.Central // set once before serving (SetMetrics)
	changes  changes          // set once before serving (SetChanges); may be nil
	timings  groupTimings     // whether any group sets agent timings
	gates    groupTimings     // whether any window or reboot is set
	replicas func() []string  // set once before serving (SetReplicas); may be nil
}

// New returns a Service. client is used for availability checks and must
// trust central's CA.
func New(cfg Config, st *store.Store, b *packages.Builder, client *http.Client, defaults Locations, logger *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := logger.With("component", "deploy")
	return &Service{cfg: cfg.withDefaults(), store: st, builder: b, client: client, defaults: defaults,
		log: log, now: time.Now, contacts: newContactLog(st, log)}, nil
}

// Defaults returns the default publication locations.
func (s *Service) Defaults() Locations { return s.defaults }

// PrologRequest is what an agent's PROLOG tells central.
type PrologRequest struct {
	DeviceID  string
	UserAgent string
	Remote    netip.Addr
}

// Prolog answers an agent's PROLOG: SEND or STOP, and the packages waiting
// for it, lowest priority number first. Advertised deployments become
// "notified".
func (s *Service) Prolog(ctx context.Context, req PrologRequest) (*ocs.PrologReply, error) {
	now := s.now()
	cfg := s.Config()
	reply := &ocs.PrologReply{Response: "SEND", PrologFreq: cfg.PrologFreqHours}
	if cfg.InventoryOnStartup {
		reply.InventoryOnStartup = 1
	}
	comp, err := s.store.ComputerByDeviceID(ctx, req.DeviceID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		comp = nil // first contact: the inventory creates the computer
	case err != nil:
		return nil, fmt.Errorf("prolog: %w", err)
	default:
		s.contacts.record(req.DeviceID, req.UserAgent, now)
	}
	var gt store.GroupTimings
	if comp != nil {
		gt = s.groupTimingsOf(ctx, comp.ID, now)
		if gt.PrologFreqHours > 0 {
			reply.PrologFreq = gt.PrologFreqHours
		}
	}
	if cfg.InventoryFrequencyDays == -1 {
		reply.Response = "STOP"
		return reply, nil
	}
	if comp != nil {
		if comp.Revoked {
			reply.Response = "STOP"
			return reply, nil
		}
		if cfg.InventoryFrequencyDays > 0 && !comp.LastInventory.IsZero() &&
			now.Sub(comp.LastInventory) < time.Duration(cfg.InventoryFrequencyDays)*24*time.Hour {
			reply.Response = "STOP"
		}
	}
	d := cfg.Download
	var packLocOverride string
	if comp != nil {
		d, packLocOverride = s.siteDownload(ctx, cfg, comp, now)
		switch gt.OCSTimings {
		case TimingsShort:
			d = cfg.Download.Short()
		case TimingsDefault:
			d = cfg.Download
		}
		// A group's own latencies (the smallest among the computer's
		// groups) override each one it sets.
		if gt.CycleLatency > 0 {
			d.CycleLatency = gt.CycleLatency
		}
		if gt.FragLatency > 0 {
			d.FragLatency = gt.FragLatency
		}
		if gt.PeriodLatency > 0 {
			d.PeriodLatency = gt.PeriodLatency
		}
	}
	opt := &ocs.DownloadOption{Conf: ocs.DownloadConf{
		On: !d.Disabled, CycleLatency: d.CycleLatency, FragLatency: d.FragLatency,
		PeriodLatency: d.PeriodLatency, PeriodLength: d.PeriodLength, Timeout: d.TimeoutDays,
		ExecutionTimeout: d.ExecutionTimeoutMins,
	}}
	reply.Download = opt
	if comp == nil || d.Disabled {
		// A computer central has never inventoried has no affectations yet.
		return reply, nil
	}
	all, err := s.PendingForComputer(ctx, comp.ID, now)
	if err != nil {
		return nil, fmt.Errorf("prolog: %w", err)
	}
	// The Unix agent ignores SCHEDULE and installs what it downloads at
	// once, so a package outside its window is not advertised to it at
	// all. The Windows agent downloads at once and installs once SCHEDULE
	// (its local time) has passed, so it gets held packages with SCHEDULE
	// set to the window's next opening in the site's time zone.
	var pending, held []gated
	if windowsOCSAgent(req.UserAgent) {
		pending, held, err = s.gateHeld(ctx, comp.SiteID, all, now)
	} else {
		pending, err = s.gate(ctx, comp.SiteID, all, now)
	}
	if err != nil {
		return nil, fmt.Errorf("prolog: %w", err)
	}
	ids := make([]uint, 0, len(pending)+len(held))
	for _, p := range append(pending, held...) {
		packLoc := p.Package.PackLoc
		if packLocOverride != "" {
			packLoc = packLocOverride
		}
		pack := ocs.Pack{
			ID: p.Package.ID, InfoLoc: p.Package.InfoLoc, PackLoc: packLoc,
			CertPath: "INSTALL_PATH", CertFile: "INSTALL_PATH/cacert.pem", Force: p.Deployment.Force,
		}
		if p.Reboot {
			pack.PostCmd = "REBOOT"
		}
		if !p.Until.IsZero() {
			pack.Schedule = p.Until.Format(ocsScheduleLayout) // in the site's time zone
		}
		opt.Packs = append(opt.Packs, pack)
		// Only waiting deployments change state: one already notified
		// (advertised again until the agent reports) needs no write
		// transaction, which on SQLite would queue every such PROLOG
		// behind the single writer.
		if p.Deployment.State == store.StateWaiting {
			ids = append(ids, p.Deployment.ID)
		}
	}
	if len(ids) > 0 {
		if err := s.MarkNotified(ctx, ids, now); err != nil {
			return nil, fmt.Errorf("prolog: %w", err)
		}
		s.log.Info("packages advertised", "device", req.DeviceID, "count", len(ids))
	}
	return reply, nil
}

// ocsScheduleLayout is the SCHEDULE date of a PACK param: the Windows agent
// reads it with COleDateTime::ParseDateTime (CPackage::isTimeToSetup), in
// its local time; an unparsable value means "now".
const ocsScheduleLayout = "2006/01/02 15:04"

// windowsOCSAgent reports whether a PROLOG comes from the Windows OCS agent
// (User-Agent OCS-NG_WINDOWS_AGENT_v…), the one that honours SCHEDULE.
func windowsOCSAgent(userAgent string) bool {
	return strings.Contains(strings.ToUpper(userAgent), "WINDOWS_AGENT")
}

// siteFragmentLocation is the PACK_LOC of the computer's site: the one an
// admin set, else one of the site's live relays (they reported within
// store.RelayStale), else "" (the package's own, central). A site with
// several live relays spreads its computers over them, each computer
// staying on the same relay while the set of live relays is unchanged.
func (s *Service) siteFragmentLocation(ctx context.Context, site *store.Site, comp *store.Computer, now time.Time) string {
	if site.FragmentLocation != "" {
		return site.FragmentLocation
	}
	relays, err := s.store.LiveRelays(ctx, site.ID, now.Add(-store.RelayStale))
	if err != nil {
		s.log.Warn("live relays", "site", site.Name, "err", err)
		return ""
	}
	locs := make([]string, 0, len(relays))
	for _, r := range relays {
		if loc := RelayLocation(r.HTTPURL); loc != "" {
			locs = append(locs, loc)
		}
	}
	if len(locs) == 0 {
		return ""
	}
	return locs[comp.ID%uint(len(locs))]
}

// siteDownload returns the DOWNLOAD CONF values for comp (see
// SiteDownload) and the PACK_LOC of its site's fragment location or
// relay, "" for central's own.
func (s *Service) siteDownload(ctx context.Context, cfg Config, comp *store.Computer, now time.Time) (DownloadConfig, string) {
	if comp.SiteID == nil {
		return cfg.Download, ""
	}
	site, err := s.store.Site(ctx, *comp.SiteID)
	if err != nil {
		return cfg.Download, ""
	}
	loc := s.siteFragmentLocation(ctx, site, comp, now)
	return timingsFor(cfg, site, loc != ""), loc
}

// timingsFor applies the site's OCSTimings, or cfg.RelaySiteTimings when
// the site sets none and relayed.
func timingsFor(cfg Config, site *store.Site, relayed bool) DownloadConfig {
	t := site.OCSTimings
	if t == "" && relayed {
		t = cfg.RelaySiteTimings
	}
	if t == TimingsShort {
		return cfg.Download.Short()
	}
	return cfg.Download
}

// SiteDownload returns the DOWNLOAD CONF values central sends to the OCS
// agents of site (nil: computers in no site): the site's OCSTimings if
// set, else RelaySiteTimings when a fragment location or a live relay
// serves the site, else the agent settings' Download.
func (s *Service) SiteDownload(ctx context.Context, site *store.Site) DownloadConfig {
	cfg := s.Config()
	if site == nil {
		return cfg.Download
	}
	relayed := site.FragmentLocation != ""
	if !relayed && site.OCSTimings == "" {
		relays, err := s.store.LiveRelays(ctx, site.ID, s.now().Add(-store.RelayStale))
		if err != nil {
			s.log.Warn("live relays", "site", site.Name, "err", err)
		}
		for _, r := range relays {
			relayed = relayed || RelayLocation(r.HTTPURL) != ""
		}
	}
	return timingsFor(cfg, site, relayed)
}

// RelayLocation turns a relay's HTTP base URL into an OCS PACK_LOC
// (host:port/download); "" when the URL is unusable.
func RelayLocation(httpURL string) string {
	u, err := url.Parse(httpURL)
	if err != nil || u.Host == "" || u.Scheme != "http" {
		return ""
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	return host + "/download"
}

// Result records a QUERY=DOWNLOAD report. Reports for packages the computer
// was never affected to are logged and ignored, as the reference server does.
func (s *Service) Result(ctx context.Context, deviceID, packageID, code string) error {
	comp, err := s.store.ComputerByDeviceID(ctx, deviceID)
	if errors.Is(err, store.ErrNotFound) {
		s.log.Warn("result from unknown computer", "device", deviceID, "package", packageID, "code", code)
		return nil
	}
	if err != nil {
		return fmt.Errorf("record result: %w", err)
	}
	// A result is a contact too: an agent busy deploying may send results
	// between PROLOGs, and its last contact must move with them.
	now := s.now()
	s.contacts.record(deviceID, "", now)
	err = s.RecordResult(ctx, Report{ComputerID: comp.ID, PackageID: packageID, Code: code, At: now})
	if errors.Is(err, store.ErrNotFound) {
		s.log.Warn("result for a package not affected", "device", deviceID, "package", packageID, "code", code)
		return nil
	}
	if err != nil {
		return fmt.Errorf("record result: %w", err)
	}
	s.log.Info("deployment result", "device", deviceID, "package", packageID, "code", code)
	return nil
}

var locRE = regexp.MustCompile(`^[A-Za-z0-9.\-\[\]:]+(/[A-Za-z0-9._~\-/]*)?$`)

// CheckLocation validates an OCS location: host[:port]/path, no scheme.
func CheckLocation(loc string) error {
	if strings.Contains(loc, "://") {
		return fmt.Errorf("location %q must not have a scheme (OCS agents add https:// themselves): %w", loc, ErrInvalid)
	}
	if !locRE.MatchString(loc) {
		return fmt.Errorf("location %q is not host[:port]/path: %w", loc, ErrInvalid)
	}
	return nil
}

// ActivateRequest names where a package is published. Empty values take the
// defaults (central itself).
type ActivateRequest struct {
	InfoLoc string `json:"info_loc"`
	PackLoc string `json:"pack_loc"`
	Proto   string `json:"proto"` // HTTP (default) or HTTPS, for fragments
	// SkipCheck activates without the availability check; the report still says so.
	SkipCheck bool `json:"skip_check"`
}

// Activate checks that the info file and every fragment can be fetched from
// the given locations and match the signed manifest, then marks the package
// active. A failed check returns the report and ErrUnavailable.
func (s *Service) Activate(ctx context.Context, id string, req ActivateRequest) (*packages.CheckReport, error) {
	if req.InfoLoc == "" {
		req.InfoLoc = s.defaults.InfoLoc
	}
	if req.PackLoc == "" {
		req.PackLoc = s.defaults.PackLoc
	}
	req.Proto = strings.ToUpper(req.Proto)
	if req.Proto == "" {
		req.Proto = "HTTP"
	}
	if req.Proto != "HTTP" && req.Proto != "HTTPS" {
		return nil, fmt.Errorf("proto must be HTTP or HTTPS: %w", ErrInvalid)
	}
	for _, l := range []string{req.InfoLoc, req.PackLoc} {
		if err := CheckLocation(l); err != nil {
			return nil, err
		}
	}
	if _, err := s.store.Package(ctx, id); err != nil {
		return nil, fmt.Errorf("activate %s: %w", id, err)
	}
	// The check reads the anonymous routes, and a replica that lacks the
	// package pulls it from another one through them: both serve a package
	// under check.
	if !req.SkipCheck || !s.builder.Has(id) {
		end := s.checks.begin(id)
		defer end()
		unmark := s.markChecking(ctx, id) // on every replica
		defer unmark()
	}
	if err := s.builder.Ensure(ctx, id); err != nil {
		return nil, fmt.Errorf("activate %s: %w", id, err)
	}
	m, err := s.Manifest(id)
	if err != nil {
		return nil, fmt.Errorf("activate %s: %w", id, err)
	}
	report := &packages.CheckReport{OK: true}
	if !req.SkipCheck {
		report = packages.CheckAvailability(ctx, s.client, m, req.InfoLoc, req.PackLoc, strings.ToLower(req.Proto))
		if report.OK {
			s.checkReplicas(ctx, m, report)
		}
		if !report.OK {
			return report, fmt.Errorf("activate %s: %w", id, ErrUnavailable)
		}
	}
	if err := s.store.SetPackageActivation(ctx, id, true, req.InfoLoc, req.PackLoc, req.Proto, s.now()); err != nil {
		return nil, fmt.Errorf("activate %s: %w", id, err)
	}
	s.jobsChanged(ctx, nil)
	s.log.Info("package activated", "package", id, "info_loc", req.InfoLoc, "pack_loc", req.PackLoc)
	return report, nil
}

// Deactivate stops advertising a package.
func (s *Service) Deactivate(ctx context.Context, id string) error {
	if err := s.store.SetPackageActivation(ctx, id, false, "", "", "", s.now()); err != nil {
		return fmt.Errorf("deactivate %s: %w", id, err)
	}
	s.jobsChanged(ctx, nil)
	return nil
}

// Manifest reads and verifies a package's signed manifest from disk.
func (s *Service) Manifest(id string) (*proto.Manifest, error) {
	m, _, err := s.builder.LoadManifest(id)
	return m, err
}

// AffectRequest selects computers by IDs or by an inventory search.
type AffectRequest struct {
	ComputerIDs []uint                `json:"computer_ids"`
	Filter      *store.ComputerFilter `json:"filter"`
	Force       bool                  `json:"force"`
	// DryRun only counts the computers the request selects.
	DryRun bool `json:"dry_run"`
}

// AffectResult tells how many computers were selected, how many were
// excluded and why, and how many new deployments were created.
type AffectResult struct {
	Selected int `json:"selected"`
	Created  int `json:"created"`
	// Excluded counts the computers left out; Exclusions say why.
	Excluded   int         `json:"excluded"`
	Exclusions []Exclusion `json:"exclusions"`
}

// maxAffect bounds one affectation request.
const maxAffect = 100000

// Affect assigns an active package to computers.
func (s *Service) Affect(ctx context.Context, id string, req AffectRequest) (*AffectResult, error) {
	pkg, err := s.store.Package(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("affect %s: %w", id, err)
	}
	ids := req.ComputerIDs
	if req.Filter != nil {
		found, err := s.store.FindComputerIDs(ctx, *req.Filter, maxAffect)
		if err != nil {
			return nil, fmt.Errorf("affect %s: %w", id, err)
		}
		ids = append(ids, found...)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("affect %s: no computer selected: %w", id, ErrInvalid)
	}
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	kept, excluded, err := s.checkPlatform(ctx, pkg, ids)
	if err != nil {
		return nil, fmt.Errorf("affect %s: %w", id, err)
	}
	res := &AffectResult{Selected: len(kept), Excluded: len(ids) - len(kept), Exclusions: excluded}
	if req.DryRun {
		return res, nil
	}
	if len(kept) == 0 {
		return nil, fmt.Errorf("affect %s: no computer left: %s: %w", id, ExclusionSummary(excluded), ErrInvalid)
	}
	ids = kept
	if !pkg.Active {
		return nil, fmt.Errorf("affect %s: %w", id, ErrNotActive)
	}
	for _, cid := range req.ComputerIDs {
		if _, err := s.store.Computer(ctx, cid); err != nil {
			return nil, fmt.Errorf("affect %s: computer %d: %w", id, cid, err)
		}
	}
	res.Created, err = s.AffectComputers(ctx, id, ids, req.Force)
	if err != nil {
		return nil, fmt.Errorf("affect %s: %w", id, err)
	}
	s.log.Info("package affected", "package", id, "selected", res.Selected, "created", res.Created, "excluded", res.Excluded)
	return res, nil
}

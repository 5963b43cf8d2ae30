// Package admin is central's operations layer: every audited change an
// administrator makes (package delete, purge, activation and affectation,
// sites, API and relay tokens, relays, agent settings) exists here once,
// with its rules and its audit event. The admin UI and the REST API are
// thin edges that read a request, call one method and present the result.
//
// Errors are the domain sentinels (store, packages, deploy) or carry an
// errkind; the edges map them to statuses with httperr.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-project/shoal/central/audit"
	"github.com/shoal-project/shoal/central/auth"
	"github.com/shoal-project/shoal/central/deploy"
	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/central/pki"
	"github.com/shoal-project/shoal/central/relays"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/internal/errkind"
	"github.com/shoal-project/shoal/proto/api"
)

// Deps are the services the operations use.
type Deps struct {
	Store    *store.Store
	Deploy   *deploy.Service
	Packages *packages.Builder
	PKI      *pki.PKI
	// ServerURL is central's HTTPS base URL as agents reach it, for the
	// enroll commands of new tokens.
	ServerURL string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Changes is told what operations changed, for the other replicas
	// (nil: nobody).
	Changes changes
}

// Service carries out the admin operations.
type Service struct {
	store    *store.Store
	deploy   *deploy.Service
	packages *packages.Builder
	pki      *pki.PKI
	audit    *audit.Log
	now      func() time.Time
	// serverURL is Deps.ServerURL.
	serverURL string
	changes   changes
}

// New returns the operations layer.
func New(d Deps, logger *slog.Logger) *Service {
	now := d.Now
	if now == nil {
		now = time.Now
	}
	var ch changes = nopChanges{}
	if d.Changes != nil {
		ch = d.Changes
	}
	return &Service{store: d.Store, deploy: d.Deploy, packages: d.Packages, pki: d.PKI,
		audit: audit.New(d.Store, logger), now: now, serverURL: d.ServerURL, changes: ch}
}

// Now returns the service's clock reading.
func (s *Service) Now() time.Time { return s.now() }

// Record writes an audit event for a change an edge makes on its own
// (logins, users, computers).
func (s *Service) Record(ctx context.Context, who audit.Actor, action, target, detail string) {
	s.audit.Record(ctx, who, action, target, detail)
}

// DeletePackage deletes a package's row, deployments and files. Files
// already gone are fine: the package is deleted either way.
func (s *Service) DeletePackage(ctx context.Context, who audit.Actor, id string) error {
	p, err := s.store.Package(ctx, id)
	if err != nil {
		return err
	}
	if err := s.store.DeletePackage(ctx, id); err != nil {
		return err
	}
	if err := s.packages.Delete(id); err != nil && !errors.Is(err, packages.ErrNotFound) {
		return err
	}
	s.changes.JobsChanged(ctx, nil)
	s.changes.PackageDeleted(ctx, id)
	s.audit.Record(ctx, who, "package.delete", id, p.Name)
	return nil
}

// ActivatePackage checks a package's availability (unless req skips it)
// and activates it. On ErrUnavailable the report says what failed.
func (s *Service) ActivatePackage(ctx context.Context, who audit.Actor, id string, req deploy.ActivateRequest) (*store.Package, *packages.CheckReport, error) {
	report, err := s.deploy.Activate(ctx, id, req)
	if err != nil {
		return nil, report, err
	}
	p, err := s.store.Package(ctx, id)
	if err != nil {
		return nil, report, err
	}
	detail := "info_loc=" + p.InfoLoc + " pack_loc=" + p.PackLoc
	if req.SkipCheck {
		detail += " (availability check skipped)"
	}
	s.audit.Record(ctx, who, "package.activate", id, detail)
	return p, report, nil
}

// DeactivatePackage stops advertising a package.
func (s *Service) DeactivatePackage(ctx context.Context, who audit.Actor, id string) error {
	if err := s.deploy.Deactivate(ctx, id); err != nil {
		return err
	}
	s.audit.Record(ctx, who, "package.deactivate", id, "")
	return nil
}

// AffectPackage assigns an active package to the computers ids.
func (s *Service) AffectPackage(ctx context.Context, who audit.Actor, id string, ids []uint, force bool) (*deploy.AffectResult, error) {
	p, err := s.store.Package(ctx, id)
	if err != nil {
		return nil, err
	}
	if !p.Active {
		return nil, fmt.Errorf("affect %s: activate it first: %w", id, deploy.ErrNotActive)
	}
	res, err := s.deploy.Affect(ctx, id, deploy.AffectRequest{ComputerIDs: ids, Force: force})
	if err != nil {
		return nil, err
	}
	detail := fmt.Sprintf("%s selected, %s created, force=%t", plural(res.Selected, "computer"), plural(res.Created, "deployment"), force)
	if res.Excluded > 0 {
		detail += fmt.Sprintf(", %d excluded (%s)", res.Excluded, deploy.ExclusionSummary(res.Exclusions))
	}
	s.audit.Record(ctx, who, "package.affect", id, detail)
	return res, nil
}

// PurgeResult is what a purge asked of the relays.
type PurgeResult struct {
	// Relays is the number of relays asked to drop the package; Kept of
	// them keep it for unfinished deployments of their site.
	Relays, Kept int
}

// PurgePackage asks every relay to drop a package from its cache.
func (s *Service) PurgePackage(ctx context.Context, who audit.Actor, id string) (PurgeResult, error) {
	if _, err := s.store.Package(ctx, id); err != nil {
		return PurgeResult{}, err
	}
	if err := s.store.RequestPurge(ctx, id, s.now()); err != nil {
		return PurgeResult{}, err
	}
	s.changes.RelaysChanged(ctx) // held relay polls answer at once
	rs, err := s.store.Relays(ctx)
	if err != nil {
		return PurgeResult{}, err
	}
	kept, err := s.store.RelaysKeeping(ctx, id)
	if err != nil {
		return PurgeResult{}, err
	}
	s.audit.Record(ctx, who, "package.purge", id, fmt.Sprintf("from %s, %d keep it for unfinished deployments", plural(len(rs), "relay"), kept))
	return PurgeResult{Relays: len(rs), Kept: int(kept)}, nil
}

// checkSite applies the rules of a site the store does not check.
func checkSite(site *store.Site) error {
	if site.FragmentLocation != "" {
		if err := deploy.CheckLocation(site.FragmentLocation); err != nil {
			return err
		}
	}
	site.TimeZone = strings.TrimSpace(site.TimeZone)
	if site.TimeZone != "" {
		if _, err := time.LoadLocation(site.TimeZone); err != nil || strings.EqualFold(site.TimeZone, "local") {
			return fmt.Errorf("site %s: time zone %q is not an IANA time zone such as Europe/Paris: %w", site.Name, site.TimeZone, ErrBadSite)
		}
	}
	site.OCSTimings = strings.TrimSpace(site.OCSTimings)
	if site.OCSTimings != "" && !deploy.ValidTimings(site.OCSTimings) {
		return fmt.Errorf("site %s: ocs_timings %q is not short, default or empty: %w", site.Name, site.OCSTimings, ErrBadSite)
	}
	site.Window = strings.TrimSpace(site.Window)
	if _, err := deploy.ParseWindow(site.Window); err != nil {
		return fmt.Errorf("site %s: %w: %w", site.Name, ErrBadSite, err)
	}
	return nil
}

// siteDetail is the audit detail of a site.
func siteDetail(site *store.Site) string {
	cidrs := make([]string, len(site.CIDRs))
	for i, c := range site.CIDRs {
		cidrs[i] = c.CIDR
	}
	return fmt.Sprintf("cidrs=%s fragment_location=%s", strings.Join(cidrs, ","), site.FragmentLocation)
}

// CreateSite creates a site and moves into it at once the existing
// computers whose last address falls in its ranges (see ResiteComputers);
// it returns how many moved. A duplicate name or range is
// store.ErrConflict.
func (s *Service) CreateSite(ctx context.Context, who audit.Actor, site *store.Site) (int, error) {
	if err := checkSite(site); err != nil {
		return 0, err
	}
	if err := s.store.CreateSite(ctx, site); err != nil {
		return 0, err
	}
	moved, err := s.ResiteComputers(ctx)
	if err != nil {
		return 0, err
	}
	s.changes.SitesChanged(ctx)
	s.audit.Record(ctx, who, "site.create", site.Name, siteDetail(site)+fmt.Sprintf(" computers_moved=%d", moved))
	return moved, nil
}

// UpdateSite replaces site (by its ID) and re-assigns computers as
// CreateSite does; it returns how many moved.
func (s *Service) UpdateSite(ctx context.Context, who audit.Actor, site *store.Site) (int, error) {
	if err := checkSite(site); err != nil {
		return 0, err
	}
	if err := s.store.UpdateSite(ctx, site); err != nil {
		return 0, err
	}
	moved, err := s.ResiteComputers(ctx)
	if err != nil {
		return 0, err
	}
	s.changes.SitesChanged(ctx)
	s.audit.Record(ctx, who, "site.update", site.Name, siteDetail(site)+fmt.Sprintf(" computers_moved=%d", moved))
	return moved, nil
}

// ResiteComputers moves every OCS-inventoried computer whose last reported address
// falls in a site's ranges into that site (the most specific range wins,
// as at inventory), and returns how many moved. Computers whose address is
// in no range keep their site (an agent behind NAT was placed by its
// connection address, which is not stored); Shoal agents keep theirs, as
// their site follows their connection address or an admin only, never the
// address they report (docs/ARCHITECTURE.md §3).
func (s *Service) ResiteComputers(ctx context.Context) (int, error) {
	comps, err := s.store.ComputerAddrsExcept(ctx, store.SourceShoal)
	if err != nil {
		return 0, err
	}
	moves := map[uint][]uint{}
	moved := 0
	// Each move goes to the computer's change history.
	now := time.Now().UTC()
	var history []store.HistoryEntry
	for _, c := range comps {
		a, err := netip.ParseAddr(strings.TrimSpace(c.IPAddr))
		if err != nil {
			continue
		}
		site, err := s.store.SiteForIP(ctx, a.Unmap())
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("resite computers: %w", err)
		}
		if c.SiteID != nil && *c.SiteID == site.ID {
			continue
		}
		moves[site.ID] = append(moves[site.ID], c.ID)
		moved++
		from := ""
		if c.SiteID != nil {
			from = strconv.FormatUint(uint64(*c.SiteID), 10)
		}
		history = append(history, store.HistoryEntry{ComputerID: c.ID, At: now, Kind: store.ChangeSite, Subject: "site",
			Old: from, New: strconv.FormatUint(uint64(site.ID), 10)})
	}
	for siteID, ids := range moves {
		if err := s.store.SetComputersSite(ctx, ids, siteID); err != nil {
			return 0, fmt.Errorf("resite computers: %w", err)
		}
	}
	if err := s.store.AddHistoryEntries(ctx, history); err != nil {
		return 0, fmt.Errorf("resite computers: %w", err)
	}
	return moved, nil
}

// DeleteSite deletes a site; its computers keep no site.
func (s *Service) DeleteSite(ctx context.Context, who audit.Actor, id uint) error {
	site, err := s.store.Site(ctx, id)
	if err != nil {
		return err
	}
	if err := s.store.DeleteSite(ctx, id); err != nil {
		return err
	}
	s.changes.SitesChanged(ctx)
	s.audit.Record(ctx, who, "site.delete", site.Name, "")
	return nil
}

// ErrBadToken reports an API token request that cannot be granted; its
// message says why.
var ErrBadToken = errkind.New(errkind.Invalid, "api token: bad request")

// CreateAPIToken mints an API token named name with role (admin or
// readonly) that expires after ttl (never when 0). It returns the secret,
// shown once, and the stored token.
func (s *Service) CreateAPIToken(ctx context.Context, who audit.Actor, name, role, owner string, ttl time.Duration) (string, *store.APIToken, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", nil, fmt.Errorf("name is required: %w", ErrBadToken)
	case role == "":
		return "", nil, fmt.Errorf("role is required: %w", ErrBadToken)
	case ttl < 0:
		return "", nil, fmt.Errorf("the expiry must be in the future: %w", ErrBadToken)
	}
	tok, hash, err := auth.NewAPIToken()
	if err != nil {
		return "", nil, err
	}
	if _, err := auth.NewRoles(s.store).Permissions(ctx, role); err != nil {
		return "", nil, fmt.Errorf("role %q: %w", role, errors.Join(err, ErrBadToken))
	}
	t := &store.APIToken{Name: name, Hash: hash, Role: role, Owner: owner}
	if ttl > 0 {
		at := s.now().Add(ttl)
		t.ExpiresAt = &at
	}
	if err := s.store.CreateToken(ctx, t); err != nil {
		return "", nil, err
	}
	detail := "role=" + t.Role
	if owner != "" {
		detail += " owner=" + owner
	}
	s.audit.Record(ctx, who, "token.create", t.Name, detail)
	return tok, t, nil
}

// RevokeAPIToken revokes an API token.
func (s *Service) RevokeAPIToken(ctx context.Context, who audit.Actor, id uint) error {
	if err := s.store.RevokeToken(ctx, id); err != nil {
		return err
	}
	s.audit.Record(ctx, who, "token.revoke", strconv.FormatUint(uint64(id), 10), "")
	return nil
}

// MintEnrollmentToken creates an agent or relay enrollment token (see
// auth.MintToken); the answer carries the token, shown once.
func (s *Service) MintEnrollmentToken(ctx context.Context, who audit.Actor, req auth.TokenRequest) (auth.TokenInfo, error) {
	info, detail, err := auth.MintToken(ctx, s.store, s.pki, req, s.serverURL, s.now())
	if err != nil {
		return auth.TokenInfo{}, err
	}
	s.audit.Record(ctx, who, "agents.enrollment-tokens.create", info.Name, detail)
	return info, nil
}

// RevokeEnrollmentToken revokes an agent or relay enrollment token:
// nothing enrolls with it any more; agents enrolled with it stay.
func (s *Service) RevokeEnrollmentToken(ctx context.Context, who audit.Actor, id uint) error {
	if err := s.store.RevokeEnrollmentToken(ctx, id); err != nil {
		return err
	}
	s.audit.Record(ctx, who, "agents.enrollment-tokens.revoke", strconv.FormatUint(uint64(id), 10), "")
	return nil
}

// Relays lists every relay with its health and counters.
func (s *Service) Relays(ctx context.Context) ([]api.Relay, error) {
	return relays.Statuses(ctx, s.store, s.now())
}

// DeleteRelay removes a relay: its secret and peer record stop working.
func (s *Service) DeleteRelay(ctx context.Context, who audit.Actor, id uint) error {
	r, err := s.store.Relay(ctx, id)
	if err != nil {
		return err
	}
	if err := s.store.DeleteRelay(ctx, id, s.now()); err != nil {
		return err
	}
	s.changes.RevocationsChanged(ctx)
	s.audit.Record(ctx, who, "relay.delete", r.Name, fmt.Sprintf("peer=%s url=%s", r.PeerID, r.HTTPURL))
	return nil
}

// SaveSettings replaces the agent timings.
func (s *Service) SaveSettings(ctx context.Context, who audit.Actor, cfg deploy.Config) error {
	if err := s.deploy.SaveConfig(ctx, cfg); err != nil {
		return err
	}
	now := s.deploy.Config()
	s.audit.Record(ctx, who, "settings.update", "agents", fmt.Sprintf("prolog_freq_hours=%d download_disabled=%t", now.PrologFreqHours, now.Download.Disabled))
	return nil
}

// plural writes n and noun, with an s unless n is 1 ("1 computer").
func plural[N ~int | ~int64](n N, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

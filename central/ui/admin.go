package ui

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/crypto/bcrypt"

	"github.com/shoal-project/shoal/central/admin"
	"github.com/shoal-project/shoal/central/auth"
	"github.com/shoal-project/shoal/central/deploy"
	"github.com/shoal-project/shoal/central/pki"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/proto/api"
)

// siteForm is the create or edit form of a site.
type siteForm struct {
	ID                                         uint
	Name, Description, CIDRs, FragmentLocation string
	TimeZone, OCSTimings, Window               string
	Errors                                     map[string]string
}

// sitesView is the data of the sites page.
type sitesView struct {
	Sites     []store.Site
	Computers map[uint]int64
	Form      siteForm
	// ImportCSV and ImportError are the site import form.
	ImportCSV, ImportError string
}

func (u *UI) sitesView(c echo.Context, form siteForm) (*sitesView, error) {
	ctx := c.Request().Context()
	sites, err := u.deps.Store.ListSites(ctx)
	if err != nil {
		return nil, err
	}
	v := &sitesView{Sites: sites, Computers: map[uint]int64{}, Form: form}
	for _, s := range sites {
		id := s.ID
		_, n, err := u.deps.Store.SearchComputers(ctx, store.ComputerFilter{SiteID: &id, Limit: 1})
		if err != nil {
			return nil, err
		}
		v.Computers[s.ID] = n
	}
	return v, nil
}

func (u *UI) handleSites(c echo.Context) error {
	v, err := u.sitesView(c, siteForm{Errors: map[string]string{}})
	if err != nil {
		return err
	}
	return u.render(c, http.StatusOK, "sites", "Sites", "sites", v)
}

// readSiteForm parses and checks the site form.
func readSiteForm(c echo.Context) (siteForm, *store.Site) {
	f := siteForm{
		Name: strings.TrimSpace(c.FormValue("name")), Description: strings.TrimSpace(c.FormValue("description")),
		CIDRs: c.FormValue("cidrs"), FragmentLocation: strings.TrimSpace(c.FormValue("fragment_location")),
		TimeZone: strings.TrimSpace(c.FormValue("time_zone")), OCSTimings: strings.TrimSpace(c.FormValue("ocs_timings")),
		Window: strings.TrimSpace(c.FormValue("window")), Errors: map[string]string{},
	}
	site := &store.Site{Name: f.Name, Description: f.Description, FragmentLocation: f.FragmentLocation, TimeZone: f.TimeZone,
		OCSTimings: f.OCSTimings, Window: f.Window}
	if _, err := deploy.ParseWindow(f.Window); err != nil {
		f.Errors["window"] = `Write days and hours like "mon-fri 22:00-06:00" or "sat,sun 00:00-24:00" (spans separated by ;), or leave empty to install at any time.`
	}
	if f.OCSTimings != "" && !deploy.ValidTimings(f.OCSTimings) {
		f.Errors["ocs_timings"] = "Choose automatic, short or default."
	}
	if f.Name == "" {
		f.Errors["name"] = "Give the site a name."
	}
	var bad []string
	for _, field := range strings.FieldsFunc(f.CIDRs, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' || r == ' ' || r == '\t' }) {
		if _, err := netip.ParsePrefix(field); err != nil {
			bad = append(bad, field)
			continue
		}
		site.CIDRs = append(site.CIDRs, store.SiteCIDR{CIDR: field})
	}
	if len(bad) > 0 {
		f.Errors["cidrs"] = "Not a range (write them like 10.1.0.0/16): " + strings.Join(bad, ", ") + "."
	}
	if f.FragmentLocation != "" {
		if err := deploy.CheckLocation(f.FragmentLocation); err != nil {
			f.Errors["fragment_location"] = "Write host[:port]/path without http:// (OCS agents add the scheme), for example relay1:8080/download."
		}
	}
	return f, site
}

func siteConflict(f *siteForm, err error) bool {
	if errors.Is(err, admin.ErrBadSite) {
		f.Errors["time_zone"] = "Not an IANA time zone: write it like Europe/Paris or America/New_York."
		return true
	}
	if !errors.Is(err, store.ErrConflict) {
		return false
	}
	f.Errors["name"] = "Another site has this name, or one of these ranges already belongs to another site."
	return true
}

func (u *UI) handleCreateSite(c echo.Context) error {
	f, site := readSiteForm(c)
	if len(f.Errors) == 0 {
		moved, err := u.deps.Ops.CreateSite(c.Request().Context(), u.actor(c), site)
		if err == nil {
			return seeOther(c, uiPrefix+"/sites?done=saved&moved="+strconv.Itoa(moved))
		}
		if !siteConflict(&f, err) {
			return err
		}
	}
	v, err := u.sitesView(c, f)
	if err != nil {
		return err
	}
	return u.render(c, http.StatusBadRequest, "sites", "Sites", "sites", v)
}

func cidrText(s *store.Site) string {
	var parts []string
	for _, c := range s.CIDRs {
		parts = append(parts, c.CIDR)
	}
	return strings.Join(parts, "\n")
}

func (u *UI) handleSite(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	s, err := u.deps.Store.Site(c.Request().Context(), id)
	if err != nil {
		return err
	}
	f := siteForm{ID: s.ID, Name: s.Name, Description: s.Description, CIDRs: cidrText(s), FragmentLocation: s.FragmentLocation,
		TimeZone: s.TimeZone, OCSTimings: s.OCSTimings, Window: s.Window, Errors: map[string]string{}}
	return u.render(c, http.StatusOK, "site", s.Name, "sites", f)
}

func (u *UI) handleUpdateSite(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	f, site := readSiteForm(c)
	f.ID, site.ID = id, id
	if len(f.Errors) == 0 {
		moved, err := u.deps.Ops.UpdateSite(c.Request().Context(), u.actor(c), site)
		if err == nil {
			return seeOther(c, uiPrefix+"/sites?done=saved&moved="+strconv.Itoa(moved))
		}
		if !siteConflict(&f, err) {
			return err
		}
	}
	return u.render(c, http.StatusBadRequest, "site", f.Name, "sites", f)
}

func (u *UI) handleDeleteSite(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if err := u.deps.Ops.DeleteSite(c.Request().Context(), u.actor(c), id); err != nil {
		return err
	}
	return seeOther(c, uiPrefix+"/sites?done=deleted")
}

// settingsView is the data of the settings page.
type settingsView struct {
	Cfg           deploy.Config
	Form          map[string]string
	Errors        map[string]string
	Defaults      deploy.Locations
	ServerURL     string
	CAFile        string
	CADir         string
	OCSCommand    string
	CAFingerprint string
	KeyID         string
}

// settingsFields are the numeric agent timings of the settings form.
var settingsFields = []string{"prolog_freq_hours", "inventory_frequency_days", "cycle_latency", "frag_latency",
	"period_latency", "period_length", "timeout_days", "execution_timeout_mins"}

func (u *UI) settingsView(c echo.Context) *settingsView {
	cfg := u.deps.Deploy.Config()
	d := cfg.Download
	form := map[string]string{}
	for k, n := range map[string]int{"prolog_freq_hours": cfg.PrologFreqHours, "inventory_frequency_days": cfg.InventoryFrequencyDays,
		"cycle_latency": d.CycleLatency, "frag_latency": d.FragLatency, "period_latency": d.PeriodLatency,
		"period_length": d.PeriodLength, "timeout_days": d.TimeoutDays, "execution_timeout_mins": d.ExecutionTimeoutMins} {
		form[k] = strconv.Itoa(n)
	}
	if cfg.InventoryOnStartup {
		form["inventory_on_startup"] = "on"
	}
	if d.Disabled {
		form["download_disabled"] = "on"
	}
	server := strings.TrimSuffix(u.cfg.AgentServerURL, "/")
	if server == "" {
		server = "https://" + c.Request().Host
	}
	caFile := u.deps.PKI.Path(pki.CACertFile)
	return &settingsView{Cfg: cfg, Form: form, Errors: map[string]string{}, Defaults: u.deps.Deploy.Defaults(),
		ServerURL: server, CAFile: caFile, CADir: filepath.Dir(caFile), OCSCommand: api.OCSAgentCommand(server, caFile), CAFingerprint: u.deps.PKI.CAFingerprint(), KeyID: proto.KeyID(u.deps.PKI.SigningPublicKey())}
}

func (u *UI) handleSettings(c echo.Context) error {
	return u.render(c, http.StatusOK, "settings", "Settings", "settings", u.settingsView(c))
}

func (u *UI) handleSaveSettings(c echo.Context) error {
	v := u.settingsView(c)
	vals := map[string]int{}
	for _, k := range settingsFields {
		raw := strings.TrimSpace(c.FormValue(k))
		v.Form[k] = raw
		n, err := strconv.Atoi(raw)
		if err != nil {
			v.Errors[k] = "Enter a whole number."
		}
		vals[k] = n
	}
	v.Form["inventory_on_startup"] = c.FormValue("inventory_on_startup")
	v.Form["download_disabled"] = c.FormValue("download_disabled")
	if len(v.Errors) == 0 {
		cfg := deploy.Config{
			PrologFreqHours: vals["prolog_freq_hours"], InventoryFrequencyDays: vals["inventory_frequency_days"],
			InventoryOnStartup: v.Form["inventory_on_startup"] != "",
			Download: deploy.DownloadConfig{
				Disabled: v.Form["download_disabled"] != "", CycleLatency: vals["cycle_latency"], FragLatency: vals["frag_latency"],
				PeriodLatency: vals["period_latency"], PeriodLength: vals["period_length"], TimeoutDays: vals["timeout_days"],
				ExecutionTimeoutMins: vals["execution_timeout_mins"],
			},
		}
		err := u.deps.Ops.SaveSettings(c.Request().Context(), u.actor(c), cfg)
		if err == nil {
			return seeOther(c, uiPrefix+"/settings?done=saved")
		}
		if !errors.Is(err, deploy.ErrInvalid) {
			return err
		}
		v.Errors["form"] = settingsProblem(err)
	}
	return u.render(c, http.StatusBadRequest, "settings", "Settings", "settings", v)
}

// settingsProblem turns a deploy config error into a sentence.
func settingsProblem(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, "deploy: "); i >= 0 {
		msg = msg[i+len("deploy: "):]
	}
	return "These timings are not valid: " + msg + "."
}

// tokensView is the data of the API tokens page.
type tokensView struct {
	Tokens []store.APIToken
	Form   map[string]string
	Errors map[string]string
	// Created is the secret of the token just created, shown once.
	Created     string
	CreatedName string
	Now         time.Time
}

func (u *UI) tokensView(c echo.Context) (*tokensView, error) {
	ts, err := u.deps.Store.ListTokens(c.Request().Context())
	if err != nil {
		return nil, err
	}
	return &tokensView{Tokens: ts, Form: map[string]string{"role": store.RoleReadonly}, Errors: map[string]string{}, Now: u.now()}, nil
}

func (u *UI) handleTokens(c echo.Context) error {
	v, err := u.tokensView(c)
	if err != nil {
		return err
	}
	return u.render(c, http.StatusOK, "tokens", "API tokens", "tokens", v)
}

func (u *UI) handleCreateToken(c echo.Context) error {
	name := strings.TrimSpace(c.FormValue("name"))
	role := c.FormValue("role")
	days := strings.TrimSpace(c.FormValue("expires_days"))
	errs := map[string]string{}
	var ttl time.Duration
	if name == "" {
		errs["name"] = "Name the token after its user or script."
	}
	if u.deps.Auth.Roles().Check(c.Request().Context(), role) != nil {
		errs["role"] = "Choose admin, read-only or a custom role."
	}
	if days != "" {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 || n > 3650 {
			errs["expires_days"] = "Enter a number of days from 1 to 3650, or leave it empty for no expiry."
		} else {
			ttl = time.Duration(n) * 24 * time.Hour
		}
	}
	var secret string
	if len(errs) == 0 {
		var err error
		owner := ""
		if s := sessionOf(c); s != nil && s.UserName != pki.AdminUser {
			owner = s.UserName
		}
		if secret, _, err = u.deps.Ops.CreateAPIToken(c.Request().Context(), u.actor(c), name, role, owner, ttl); err != nil {
			return err
		}
	}
	v, err := u.tokensView(c)
	if err != nil {
		return err
	}
	v.Form = map[string]string{"name": name, "role": role, "expires_days": days}
	v.Errors = errs
	if len(errs) > 0 {
		return u.render(c, http.StatusBadRequest, "tokens", "API tokens", "tokens", v)
	}
	v.Form = map[string]string{"role": store.RoleReadonly}
	v.Created, v.CreatedName = secret, name
	return u.render(c, http.StatusCreated, "tokens", "API tokens", "tokens", v)
}

func (u *UI) handleRevokeToken(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if err := u.deps.Ops.RevokeAPIToken(c.Request().Context(), u.actor(c), id); err != nil {
		return err
	}
	return seeOther(c, uiPrefix+"/tokens?done=revoked")
}

// minPasswordLen is the shortest password a UI user may have.
const minPasswordLen = 12

// usersView is the data of the users page.
type usersView struct {
	AdminName string
	Users     []store.UIUser
	// Roles are every role name; Sites and Tags the scope of each user
	// (site names, TAGs), comma-separated, by user ID.
	Roles  []string
	Scope  map[uint][2]string
	Form   map[string]string
	Errors map[string]string
	// EditID is the user whose row shows the errors in Errors.
	EditID uint
	// RoleRows are the roles with their permissions, Permissions every
	// permission, RoleForm the role form sent (with its errors).
	RoleRows    []roleRow
	Permissions []permInfo
	RoleForm    roleForm
}

func (u *UI) usersView(c echo.Context) (*usersView, error) {
	us, err := u.deps.Store.ListUIUsers(c.Request().Context())
	if err != nil {
		return nil, err
	}
	roles, err := u.deps.Auth.Roles().Names(c.Request().Context())
	if err != nil {
		return nil, err
	}
	_, names, err := u.siteNames(c)
	if err != nil {
		return nil, err
	}
	scope := map[uint][2]string{}
	for _, usr := range us {
		var sites []string
		for _, id := range store.SplitIDs(usr.ScopeSites) {
			sites = append(sites, names[id])
		}
		scope[usr.ID] = [2]string{strings.Join(sites, ", "), strings.Join(store.SplitTags(usr.ScopeTags), ", ")}
	}
	rows, err := u.roleRows(c, us)
	if err != nil {
		return nil, err
	}
	return &usersView{AdminName: pki.AdminUser, Users: us, Roles: roles, Scope: scope, Form: map[string]string{"role": store.RoleReadonly}, Errors: map[string]string{},
		RoleRows: rows, Permissions: permissionList(), RoleForm: roleForm{Perms: map[string]bool{}, Errors: map[string]string{}}}, nil
}

func (u *UI) handleUsers(c echo.Context) error {
	v, err := u.usersView(c)
	if err != nil {
		return err
	}
	return u.render(c, http.StatusOK, "users", "Users", "users", v)
}

// checkPasswordFields validates a new password and its confirmation.
func checkPasswordFields(pass, confirm string, errs map[string]string) {
	switch {
	case len(pass) < minPasswordLen:
		errs["password"] = fmt.Sprintf("Use at least %d characters.", minPasswordLen)
	case pass != confirm:
		errs["confirm"] = "The two passwords differ."
	}
}

func (u *UI) handleCreateUser(c echo.Context) error {
	name := strings.TrimSpace(c.FormValue("name"))
	role := c.FormValue("role")
	pass, confirm := c.FormValue("password"), c.FormValue("confirm")
	errs := map[string]string{}
	switch {
	case !store.ValidUIUserName(name):
		errs["name"] = "Use 1 to 64 letters, digits or . _ @ -."
	case strings.EqualFold(name, pki.AdminUser):
		errs["name"] = "This name belongs to the built-in administrator."
	}
	if u.deps.Auth.Roles().Check(c.Request().Context(), role) != nil {
		errs["role"] = "Choose admin, read-only or a custom role."
	}
	checkPasswordFields(pass, confirm, errs)
	sc, scopeErr := u.formScope(c)
	if scopeErr != "" {
		errs["scope"] = scopeErr
	}
	if len(errs) == 0 {
		hash, err := bcrypt.GenerateFromPassword([]byte(pass), u.cfg.PasswordCost)
		if err != nil {
			return fmt.Errorf("hash password: %w", err)
		}
		err = u.deps.Store.CreateUIUser(c.Request().Context(), &store.UIUser{Name: name, Role: role, PasswordHash: string(hash),
			ScopeSites: store.JoinIDs(sc.SiteIDs), ScopeTags: strings.Join(sc.Tags, ",")})
		switch {
		case err == nil:
			u.audit(c, "user.create", name, "role "+role+scopeDetail(c))
			return seeOther(c, uiPrefix+"/users?done=saved")
		case errors.Is(err, store.ErrConflict):
			errs["name"] = "A user with this name exists."
		default:
			return err
		}
	}
	v, err := u.usersView(c)
	if err != nil {
		return err
	}
	v.Form, v.Errors = map[string]string{"name": name, "role": role, "sites": c.FormValue("sites"), "tags": c.FormValue("tags")}, errs
	return u.render(c, http.StatusBadRequest, "users", "Users", "users", v)
}

func (u *UI) handleUpdateUser(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	usr, err := u.deps.Store.UIUser(ctx, id)
	if err != nil {
		return err
	}
	role := c.FormValue("role")
	pass, confirm := c.FormValue("password"), c.FormValue("confirm")
	errs := map[string]string{}
	if err := auth.CheckEditable(usr); err != nil {
		errs["role"] = "This user logs in through LDAP: its role and scope come from its directory groups at every login. Change its groups or auth.ldap.groups."
	} else if u.deps.Auth.Roles().Check(c.Request().Context(), role) != nil {
		errs["role"] = "Choose admin, read-only or a custom role."
	}
	if pass != "" || confirm != "" {
		checkPasswordFields(pass, confirm, errs)
	}
	sc, scopeErr := u.formScope(c)
	if scopeErr != "" {
		errs["scope"] = scopeErr
	}
	if len(errs) == 0 {
		hash := ""
		if pass != "" {
			b, err := bcrypt.GenerateFromPassword([]byte(pass), u.cfg.PasswordCost)
			if err != nil {
				return fmt.Errorf("hash password: %w", err)
			}
			hash = string(b)
		}
		// Every session of the user ends but the one making the change,
		// when it is the user's own: a new password shuts out whoever
		// logged in with the old one.
		if err := u.deps.Store.UpdateUIUserKeeping(ctx, id, role, hash, sessionOf(c).Hash); err != nil {
			return err
		}
		// A changed scope ends every session of the user.
		if store.JoinIDs(sc.SiteIDs) != usr.ScopeSites || strings.Join(sc.Tags, ",") != usr.ScopeTags {
			if err := u.deps.Store.SetUIUserScope(ctx, id, sc.SiteIDs, sc.Tags); err != nil {
				return err
			}
		}
		detail := "role " + role + scopeDetail(c)
		if hash != "" {
			detail += ", password changed"
		}
		u.audit(c, "user.update", usr.Name, detail)
		return seeOther(c, uiPrefix+"/users?done=saved")
	}
	v, err := u.usersView(c)
	if err != nil {
		return err
	}
	v.Errors, v.EditID = errs, id
	return u.render(c, http.StatusBadRequest, "users", "Users", "users", v)
}

func (u *UI) handleDeleteUser(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	name, err := u.deps.Store.DeleteUIUser(c.Request().Context(), id)
	if err != nil {
		return err
	}
	u.audit(c, "user.delete", name, "")
	return seeOther(c, uiPrefix+"/users?done=deleted")
}

// auditView is the data of the audit log page.
type auditView struct {
	Actor, Action string
	Events        []store.AuditEvent
	Pager         pager
}

func (u *UI) handleAudit(c echo.Context) error {
	offset, err := offsetParam(c)
	if err != nil {
		return err
	}
	v := auditView{Actor: strings.TrimSpace(c.QueryParam("actor")), Action: strings.TrimSpace(c.QueryParam("action"))}
	events, total, err := u.deps.Store.ListAudit(c.Request().Context(), store.AuditFilter{Actor: v.Actor, Action: v.Action, Limit: pageSize, Offset: offset})
	if err != nil {
		return err
	}
	v.Events, v.Pager = events, newPager(uiPrefix+"/audit", c.QueryParams(), total, offset, pageSize)
	return u.render(c, http.StatusOK, "audit", "Audit log", "audit", v)
}

// handleImportSites creates or updates sites from the CSV of the import
// form.
func (u *UI) handleImportSites(c echo.Context) error {
	text := c.FormValue("csv")
	res, err := u.deps.Ops.ImportSites(c.Request().Context(), u.actor(c), strings.NewReader(text))
	if err == nil {
		return seeOther(c, fmt.Sprintf("%s/sites?done=imported&created=%d&updated=%d&moved=%d", uiPrefix, res.Created, res.Updated, res.Moved))
	}
	if !errors.Is(err, admin.ErrBadSite) && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrInvalid) {
		return err
	}
	v, verr := u.sitesView(c, siteForm{Errors: map[string]string{}})
	if verr != nil {
		return verr
	}
	v.ImportCSV = text
	v.ImportError = strings.TrimPrefix(strings.TrimSuffix(err.Error(), ": "+admin.ErrBadSite.Error()), "import sites: ")
	return u.render(c, http.StatusBadRequest, "sites", "Sites", "sites", v)
}

// formScope reads the scope fields of a user form: site names and TAGs,
// comma-separated. The message is for the form when they are wrong.
func (u *UI) formScope(c echo.Context) (store.Scope, string) {
	split := func(v string) []string {
		var out []string
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out
	}
	sc, err := u.deps.Auth.Roles().ResolveScope(c.Request().Context(), split(c.FormValue("sites")), split(c.FormValue("tags")))
	if err != nil {
		return sc, "Name existing sites and TAGs, separated by commas: " + err.Error()
	}
	return sc, ""
}

// scopeDetail describes the scope fields of a user form for the audit log.
func scopeDetail(c echo.Context) string {
	if c.FormValue("sites") == "" && c.FormValue("tags") == "" {
		return ""
	}
	return ", sites " + c.FormValue("sites") + ", tags " + c.FormValue("tags")
}

package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shoal-project/shoal/central/pki"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/internal/errkind"
)

// Permissions a role grants. A role is a set of them: the built-in admin
// holds all, readonly the read ones, and custom roles (store.Role) any
// set. Every admin route of the API and the UI names the permission it
// needs (central/web perms.go, central/ui perms.go).
const (
	// PermComputersRead lists, searches and exports computers (within
	// the caller's scope) and shows their inventory, history, wakes,
	// deployments and the software catalog.
	PermComputersRead = "computers.read"
	// PermComputersWrite sets a computer's TAG, deletes, merges or
	// revokes it, and saves searches.
	PermComputersWrite = "computers.write"
	// PermComputersSecrets shows, on the computers the caller may read,
	// the secrets their agents report: the Windows product key
	// (WINPRODKEY). Without it the key is masked (MaskProductKey) in the
	// UI and the API.
	PermComputersSecrets = "computers.secrets"
	// PermDeploy affects packages to computers, deploys again, cancels
	// and wakes computers.
	PermDeploy = "deploy"
	// PermPackagesRead lists packages and their manifests.
	PermPackagesRead = "packages.read"
	// PermPackagesWrite uploads, activates, deactivates and deletes
	// packages.
	PermPackagesWrite = "packages.write"
	// PermFleetRead shows sites, groups, relays, settings, the dashboard,
	// users, roles, the audit log and fleet-wide deployment statistics.
	PermFleetRead = "fleet.read"
	// PermFleetWrite changes sites, groups, assignments, relays,
	// settings and the software dictionary.
	PermFleetWrite = "fleet.write"
	// PermAdmin manages users, roles, API and enrollment tokens.
	PermAdmin = "admin"
)

// AllPermissions lists every permission in display order.
var AllPermissions = []string{PermComputersRead, PermComputersWrite, PermComputersSecrets, PermDeploy, PermPackagesRead, PermPackagesWrite,
	PermFleetRead, PermFleetWrite, PermAdmin}

// PermissionText says in a few words what each permission allows, for
// the users page and shoalctl.
var PermissionText = map[string]string{
	PermComputersRead:    "see computers, their inventory, history and deployments; search, export, software catalog",
	PermComputersWrite:   "set TAGs, delete, merge and revoke computers; save searches",
	PermComputersSecrets: "see the Windows product keys of the computers they can see (masked otherwise)",
	PermDeploy:           "affect packages, deploy again, cancel, wake computers",
	PermPackagesRead:     "see packages and their manifests",
	PermPackagesWrite:    "upload, activate, deactivate and delete packages",
	PermFleetRead:        "see sites, groups, relays, settings, the dashboard, users and the audit log",
	PermFleetWrite:       "change sites, groups, assignments, relays, settings and the software dictionary",
	PermAdmin:            "manage users, roles, API and enrollment tokens",
}

// MaskProductKey hides a product key from a caller without
// PermComputersSecrets: every letter and digit but the last five becomes
// '*', the dashes stay, like the partial key Windows itself shows
// ("*****-*****-*****-*****-T83GX"). Keys of up to 10 characters are
// masked whole.
func MaskProductKey(key string) string {
	if key == "" {
		return ""
	}
	b := []rune(key)
	keep := 5
	if len(b) <= 10 {
		keep = 0
	}
	for i := range len(b) - keep {
		if b[i] != '-' {
			b[i] = '*'
		}
	}
	return string(b)
}

// readPermissions are those of the built-in readonly role.
var readPermissions = []string{PermComputersRead, PermPackagesRead, PermFleetRead}

// ErrBadRole reports a role or permission list that is not valid; its
// message says why.
var ErrBadRole = errkind.New(errkind.Invalid, "role: bad request")

// ErrDirectoryUser refuses a change of a directory (LDAP) user's role,
// scope or password: each login sets its role and scope from the group
// mapping, so the change would not last.
var ErrDirectoryUser = errkind.New(errkind.Conflict, "directory user")

// CheckEditable refuses, with ErrDirectoryUser, to change the role, scope
// or password of a user that logs in through LDAP: its next login would
// set them again from auth.ldap.groups. Deleting it stays allowed (it
// cuts the user off at once).
func CheckEditable(u *store.UIUser) error {
	if u.Source != store.UserSourceLDAP {
		return nil
	}
	return fmt.Errorf("user %s logs in through LDAP: its role and scope come from its directory groups (auth.ldap.groups) "+
		"at every login and its password from the directory, so change those instead: %w", u.Name, ErrDirectoryUser)
}

// ErrUnknownUser reports a session or token whose user no longer exists.
var ErrUnknownUser = errkind.New(errkind.Unauthenticated, "unknown user")

// ParsePermissions reads a permission list (separated by spaces or
// commas), refusing unknown names, and returns it sorted and deduplicated.
func ParsePermissions(s string) ([]string, error) {
	var out []string
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\n' || r == '\t' }) {
		if !slices.Contains(AllPermissions, p) {
			return nil, fmt.Errorf("unknown permission %q (known: %s): %w", p, strings.Join(AllPermissions, ", "), ErrBadRole)
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Principal is an authenticated caller with what it may do: its
// permissions and the computers it may see and change.
type Principal struct {
	Name  string
	Role  string
	Perms []string
	// Scope limits the computers of every computer and deployment route;
	// a limited principal is refused every fleet-wide route.
	Scope store.Scope
}

// Can reports whether p holds perm.
func (p *Principal) Can(perm string) bool { return p != nil && slices.Contains(p.Perms, perm) }

// Scoped reports whether p sees only part of the fleet.
func (p *Principal) Scoped() bool { return p != nil && p.Scope.Limited() }

// Roles resolves role names to permissions and users to principals.
type Roles struct {
	st *store.Store
}

// NewRoles returns the role resolver over st.
func NewRoles(st *store.Store) *Roles { return &Roles{st: st} }

// Permissions returns the permissions of role: a built-in role or a
// custom one. An unknown role gives ErrBadRole.
func (r *Roles) Permissions(ctx context.Context, role string) ([]string, error) {
	switch role {
	case store.RoleAdmin:
		return slices.Clone(AllPermissions), nil
	case store.RoleReadonly:
		return slices.Clone(readPermissions), nil
	}
	cr, err := r.st.RoleByName(ctx, role)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("role %q does not exist: %w", role, ErrBadRole)
	}
	if err != nil {
		return nil, err
	}
	return ParsePermissions(cr.Permissions)
}

// Check returns nil when role exists.
func (r *Roles) Check(ctx context.Context, role string) error {
	_, err := r.Permissions(ctx, role)
	return err
}

// Names lists every role name: the built-in ones first.
func (r *Roles) Names(ctx context.Context) ([]string, error) {
	rs, err := r.st.ListRoles(ctx)
	if err != nil {
		return nil, err
	}
	out := []string{store.RoleAdmin, store.RoleReadonly}
	for _, cr := range rs {
		out = append(out, cr.Name)
	}
	return out, nil
}

// User returns the principal of a UI session of user with role: the
// built-in administrator, or a stored user with its scope. A user that no
// longer exists gives ErrUnknownUser.
func (r *Roles) User(ctx context.Context, user, role string) (*Principal, error) {
	if user == pki.AdminUser {
		return &Principal{Name: user, Role: store.RoleAdmin, Perms: slices.Clone(AllPermissions)}, nil
	}
	u, err := r.st.UIUserByName(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("user %s: %w", user, ErrUnknownUser)
	}
	if err != nil {
		return nil, err
	}
	perms, err := r.permsOrNone(ctx, role)
	if err != nil {
		return nil, err
	}
	return &Principal{Name: user, Role: role, Perms: perms, Scope: ScopeOf(u)}, nil
}

// permsOrNone is Permissions where a role deleted since grants nothing.
func (r *Roles) permsOrNone(ctx context.Context, role string) ([]string, error) {
	perms, err := r.Permissions(ctx, role)
	if errors.Is(err, ErrBadRole) {
		return nil, nil
	}
	return perms, err
}

// Token returns the principal of API token t: the token's role, and for
// a token a user minted, at most that user's current permissions and its
// scope.
func (r *Roles) Token(ctx context.Context, t *store.APIToken) (*Principal, error) {
	perms, err := r.permsOrNone(ctx, t.Role)
	if err != nil {
		return nil, err
	}
	p := &Principal{Name: "token:" + t.Name, Role: t.Role, Perms: perms}
	if t.Owner == "" || t.Owner == pki.AdminUser {
		return p, nil
	}
	u, err := r.st.UIUserByName(ctx, t.Owner)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("token %s: owner %s: %w", t.Name, t.Owner, ErrUnknownUser)
	}
	if err != nil {
		return nil, err
	}
	owner, err := r.permsOrNone(ctx, u.Role)
	if err != nil {
		return nil, err
	}
	p.Perms = slices.DeleteFunc(p.Perms, func(x string) bool { return !slices.Contains(owner, x) })
	p.Scope = ScopeOf(u)
	p.Name = "token:" + t.Name + " (" + t.Owner + ")"
	return p, nil
}

// ScopeOf returns the scope of a stored user.
func ScopeOf(u *store.UIUser) store.Scope {
	return store.Scope{SiteIDs: store.SplitIDs(u.ScopeSites), Tags: store.SplitTags(u.ScopeTags)}
}

// Covers reports whether a principal holding perms with scope may hand a
// token or a user role to someone holding other with otherScope: no
// permission it lacks, and no wider scope.
func Covers(perms []string, scope store.Scope, other []string, otherScope store.Scope) bool {
	for _, p := range other {
		if !slices.Contains(perms, p) {
			return false
		}
	}
	if !scope.Limited() {
		return true
	}
	if !otherScope.Limited() {
		return false
	}
	for _, s := range otherScope.SiteIDs {
		if !slices.Contains(scope.SiteIDs, s) {
			return false
		}
	}
	for _, t := range otherScope.Tags {
		if !slices.Contains(scope.Tags, t) {
			return false
		}
	}
	return true
}

// nowUTC is the time of a login.
func nowUTC() time.Time { return time.Now().UTC() }

// ResolveScope turns site names and TAGs into a scope. An unknown site is
// an error: a scope must never widen silently to the whole fleet.
func (r *Roles) ResolveScope(ctx context.Context, sites, tags []string) (store.Scope, error) {
	var sc store.Scope
	for _, name := range sites {
		s, err := r.st.SiteByName(ctx, strings.TrimSpace(name))
		if errors.Is(err, store.ErrNotFound) {
			return sc, fmt.Errorf("site %q does not exist: %w", name, ErrBadRole)
		}
		if err != nil {
			return sc, err
		}
		sc.SiteIDs = append(sc.SiteIDs, s.ID)
	}
	for _, t := range tags {
		t = strings.TrimSpace(t)
		if t == "" || strings.Contains(t, ",") {
			return sc, fmt.Errorf("TAG %q: must be non-empty and without commas: %w", t, ErrBadRole)
		}
		sc.Tags = append(sc.Tags, t)
	}
	return sc, nil
}

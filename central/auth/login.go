package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"golang.org/x/crypto/bcrypt"

	"github.com/shoal-project/shoal/central/pki"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/internal/errkind"
)

// ErrBadCredentials reports a refused password check: a wrong user name or
// password, or a directory user in no mapped group. Its message says which,
// for the audit log; callers show users only "wrong user name or
// password".
var ErrBadCredentials = errkind.New(errkind.Unauthenticated, "wrong user name or password")

// Identity is who a password check found.
type Identity struct {
	Name string
	Role string
	// UserID is the stored user; 0 for the built-in administrator.
	UserID uint
	Source string
}

// Authenticator checks passwords for the UI login and HTTP Basic on the
// API: the built-in administrator, local users (bcrypt), then, when
// configured, the LDAP directory, whose users are stored (source ldap)
// with the role and scope of their groups at each login.
type Authenticator struct {
	st    *store.Store
	admin *pki.Admin
	roles *Roles
	dir   *directory
	log   *slog.Logger
	// dummyHash is checked when a user does not exist, so that a wrong
	// name costs as much time as a wrong password.
	dummyHash []byte
}

// NewAuthenticator returns the password checker. cfg may leave LDAP off.
func NewAuthenticator(cfg Config, st *store.Store, admin *pki.Admin, logger *slog.Logger) (*Authenticator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &Authenticator{st: st, admin: admin, roles: NewRoles(st), log: logger.With("component", "auth")}
	if cfg.LDAP.Enabled() {
		d, err := newDirectory(cfg.LDAP)
		if err != nil {
			return nil, err
		}
		a.dir = d
	}
	var err error
	if a.dummyHash, err = bcrypt.GenerateFromPassword([]byte("shoal-no-such-user"), bcrypt.MinCost); err != nil {
		return nil, fmt.Errorf("dummy hash: %w", err)
	}
	return a, nil
}

// Roles returns the role resolver.
func (a *Authenticator) Roles() *Roles { return a.roles }

// LDAP reports whether directory login is on.
func (a *Authenticator) LDAP() bool { return a.dir != nil }

// unusableHash is the password hash of directory users: no password
// matches it, so only the directory can log them in.
const unusableHash = "!ldap"

// Check checks user's password. A refusal wraps ErrBadCredentials.
func (a *Authenticator) Check(ctx context.Context, user, pass string) (Identity, error) {
	if user == pki.AdminUser {
		if a.admin == nil || !a.admin.Check(user, pass) {
			return Identity{}, fmt.Errorf("wrong password of the built-in administrator: %w", ErrBadCredentials)
		}
		return Identity{Name: user, Role: store.RoleAdmin, Source: store.UserSourceLocal}, nil
	}
	u, err := a.st.UIUserByName(ctx, user)
	switch {
	case err == nil && u.Source != store.UserSourceLDAP:
		if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(pass)) != nil {
			return Identity{}, fmt.Errorf("wrong password: %w", ErrBadCredentials)
		}
		return Identity{Name: u.Name, Role: u.Role, UserID: u.ID, Source: store.UserSourceLocal}, nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return Identity{}, err
	}
	if a.dir == nil {
		_ = bcrypt.CompareHashAndPassword(a.dummyHash, []byte(pass))
		return Identity{}, fmt.Errorf("no such user: %w", ErrBadCredentials)
	}
	return a.checkDirectory(ctx, user, pass)
}

// checkDirectory logs user in against the directory and stores it with the
// role and scope of its first mapped group.
func (a *Authenticator) checkDirectory(ctx context.Context, user, pass string) (Identity, error) {
	acct, err := a.dir.login(ctx, user, pass)
	if errors.Is(err, errDirectoryRefused) {
		return Identity{}, fmt.Errorf("ldap: %w", errors.Join(err, ErrBadCredentials))
	}
	if err != nil {
		a.log.Warn("ldap login", "user", user, "err", err)
		return Identity{}, fmt.Errorf("ldap unavailable: %w", errors.Join(err, ErrBadCredentials))
	}
	m := acct.Match
	if err := a.roles.Check(ctx, m.Role); err != nil {
		return Identity{}, fmt.Errorf("ldap group %s maps to role %q: %w", m.Group, m.Role, errors.Join(err, ErrBadCredentials))
	}
	// A scope naming a site that does not exist must not become the whole
	// fleet: the login is refused until the configuration is fixed.
	var sites []uint
	for _, name := range m.Sites {
		s, err := a.st.SiteByName(ctx, name)
		if err != nil {
			return Identity{}, fmt.Errorf("ldap group %s: site %q: %w", m.Group, name, errors.Join(err, ErrBadCredentials))
		}
		sites = append(sites, s.ID)
	}
	u, err := a.st.UpsertDirectoryUser(ctx, user, m.Role, sites, m.Tags, unusableHash, nowUTC())
	if err != nil {
		return Identity{}, fmt.Errorf("ldap user %s: %w", user, errors.Join(err, ErrBadCredentials))
	}
	a.log.Info("ldap login", "user", user, "dn", acct.DN, "group", m.Group, "role", m.Role)
	return Identity{Name: u.Name, Role: u.Role, UserID: u.ID, Source: store.UserSourceLDAP}, nil
}

package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// LDAPConfig is the auth.ldap section: login with a directory account
// (OpenLDAP, Active Directory). Central binds with BindDN to find the
// user's entry by UserFilter under UserBase, binds as that entry with the
// password given, then reads its groups (the entry's memberOf, and the
// entries under GroupBase that GroupFilter finds); the first of Groups
// that the user is a member of gives its role and scope. A user in none
// of them may not log in.
type LDAPConfig struct {
	// URL is ldap://host:389 or ldaps://host:636; empty disables LDAP.
	URL string `yaml:"url"`
	// StartTLS upgrades an ldap:// connection before binding.
	StartTLS bool `yaml:"start_tls"`
	// CAFile holds the CA certificates of the directory's TLS certificate
	// (PEM); empty trusts the system's.
	CAFile string `yaml:"ca_file"`
	// BindDN and BindPassword are the search account; both empty binds
	// anonymously for the searches.
	BindDN       string `yaml:"bind_dn"`
	BindPassword string `yaml:"bind_password"`
	// UserBase is where users are searched (subtree).
	UserBase string `yaml:"user_base"`
	// UserFilter finds the user, {user} standing for the escaped login
	// name: (uid={user}) (default) or, for Active Directory,
	// (sAMAccountName={user}).
	UserFilter string `yaml:"user_filter"`
	// GroupBase is where groups are searched; empty reads only the
	// user's memberOf.
	GroupBase string `yaml:"group_base"`
	// GroupFilter finds the user's groups, {dn} standing for the user's
	// escaped DN; default (|(member={dn})(uniqueMember={dn})).
	GroupFilter string `yaml:"group_filter"`
	// Groups maps directory groups to roles, first match wins.
	Groups []GroupRole `yaml:"groups"`
	// Timeout bounds the connection and each operation; default 10s.
	Timeout time.Duration `yaml:"timeout"`
}

// GroupRole maps a directory group to a role and a scope.
type GroupRole struct {
	// Group is the group's DN, or its cn, compared case-insensitively.
	Group string `yaml:"group"`
	// Role is admin, readonly or a custom role.
	Role string `yaml:"role"`
	// Sites and Tags limit the members to the computers of these sites
	// (by name) or with these OCS TAGs; both empty is the whole fleet.
	Sites []string `yaml:"sites"`
	Tags  []string `yaml:"tags"`
}

// Enabled reports whether LDAP login is configured.
func (c LDAPConfig) Enabled() bool { return c.URL != "" }

func (c LDAPConfig) withDefaults() LDAPConfig {
	if c.UserFilter == "" {
		c.UserFilter = "(uid={user})"
	}
	if c.GroupFilter == "" {
		c.GroupFilter = "(|(member={dn})(uniqueMember={dn}))"
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	return c
}

// Validate checks an enabled configuration.
func (c LDAPConfig) Validate() error {
	if !c.Enabled() {
		return nil
	}
	c = c.withDefaults()
	var errs []error
	if !strings.HasPrefix(c.URL, "ldap://") && !strings.HasPrefix(c.URL, "ldaps://") {
		errs = append(errs, fmt.Errorf("auth.ldap.url must start with ldap:// or ldaps://, got %q", c.URL))
	}
	if c.UserBase == "" {
		errs = append(errs, errors.New("auth.ldap.user_base is required"))
	}
	if !strings.Contains(c.UserFilter, "{user}") {
		errs = append(errs, errors.New("auth.ldap.user_filter must contain {user}"))
	}
	if !strings.Contains(c.GroupFilter, "{dn}") {
		errs = append(errs, errors.New("auth.ldap.group_filter must contain {dn}"))
	}
	if len(c.Groups) == 0 {
		errs = append(errs, errors.New("auth.ldap.groups must map at least one group to a role"))
	}
	for i, g := range c.Groups {
		if g.Group == "" || g.Role == "" {
			errs = append(errs, fmt.Errorf("auth.ldap.groups[%d] needs group and role", i))
		}
	}
	return errors.Join(errs...)
}

// Config is the auth: section of central's configuration.
type Config struct {
	LDAP LDAPConfig `yaml:"ldap"`
}

// Validate checks the configuration.
func (c Config) Validate() error { return c.LDAP.Validate() }

// directoryAccount is what a successful directory login found.
type directoryAccount struct {
	DN     string
	Groups []string
	// Match is the first configured group the account is a member of.
	Match *GroupRole
}

// errDirectoryRefused is a wrong password, an unknown user, or a user in no
// mapped group (the message says which, for the audit log).
var errDirectoryRefused = errors.New("directory refused the login")

// directory logs users in against an LDAP server.
type directory struct {
	cfg   LDAPConfig
	roots *x509.CertPool
}

func newDirectory(cfg LDAPConfig) (*directory, error) {
	cfg = cfg.withDefaults()
	d := &directory{cfg: cfg}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ldap ca_file: %w", err)
		}
		d.roots = x509.NewCertPool()
		if !d.roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ldap ca_file %s: no PEM certificate", cfg.CAFile)
		}
	}
	return d, nil
}

func (d *directory) dial(ctx context.Context) (*ldap.Conn, error) {
	timeout := d.cfg.Timeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	host := strings.TrimPrefix(strings.TrimPrefix(d.cfg.URL, "ldaps://"), "ldap://")
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	tc := &tls.Config{ServerName: host, RootCAs: d.roots, MinVersion: tls.VersionTLS12}
	conn, err := ldap.DialURL(d.cfg.URL, ldap.DialWithDialer(&net.Dialer{Timeout: timeout}), ldap.DialWithTLSConfig(tc))
	if err != nil {
		return nil, fmt.Errorf("ldap dial: %w", err)
	}
	conn.SetTimeout(timeout)
	if d.cfg.StartTLS {
		if err := conn.StartTLS(tc); err != nil {
			conn.Close()
			return nil, fmt.Errorf("ldap starttls: %w", err)
		}
	}
	return conn, nil
}

// login checks user's password against the directory and returns its
// account with the first mapped group it belongs to. An unknown user, a
// wrong password or no mapped group wrap errDirectoryRefused; other errors
// are the directory's (unreachable, bad search account).
func (d *directory) login(ctx context.Context, user, pass string) (*directoryAccount, error) {
	if user == "" || pass == "" {
		// An empty password would be an unauthenticated bind, which
		// LDAP servers accept.
		return nil, fmt.Errorf("empty user or password: %w", errDirectoryRefused)
	}
	conn, err := d.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if d.cfg.BindDN != "" {
		if err := conn.Bind(d.cfg.BindDN, d.cfg.BindPassword); err != nil {
			return nil, fmt.Errorf("ldap bind as %s: %w", d.cfg.BindDN, err)
		}
	}
	secs := int(d.cfg.Timeout / time.Second)
	filter := strings.ReplaceAll(d.cfg.UserFilter, "{user}", ldap.EscapeFilter(user))
	res, err := conn.Search(ldap.NewSearchRequest(d.cfg.UserBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2, secs, false,
		filter, []string{"dn", "memberOf"}, nil))
	if err != nil {
		return nil, fmt.Errorf("ldap search user: %w", err)
	}
	switch len(res.Entries) {
	case 0:
		return nil, fmt.Errorf("no directory entry for the user: %w", errDirectoryRefused)
	case 1:
	default:
		return nil, fmt.Errorf("%d directory entries match the user: %w", len(res.Entries), errDirectoryRefused)
	}
	acct := &directoryAccount{DN: res.Entries[0].DN, Groups: res.Entries[0].GetAttributeValues("memberOf")}
	if err := conn.Bind(acct.DN, pass); err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			return nil, fmt.Errorf("wrong password: %w", errDirectoryRefused)
		}
		return nil, fmt.Errorf("ldap bind as user: %w", err)
	}
	if d.cfg.GroupBase != "" {
		// Search the groups with the search account: the user may not
		// be allowed to read them.
		if d.cfg.BindDN != "" {
			if err := conn.Bind(d.cfg.BindDN, d.cfg.BindPassword); err != nil {
				return nil, fmt.Errorf("ldap bind as %s: %w", d.cfg.BindDN, err)
			}
		}
		gf := strings.ReplaceAll(d.cfg.GroupFilter, "{dn}", ldap.EscapeFilter(acct.DN))
		gres, err := conn.Search(ldap.NewSearchRequest(d.cfg.GroupBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 1000, secs, false,
			gf, []string{"dn", "cn"}, nil))
		if err != nil {
			return nil, fmt.Errorf("ldap search groups: %w", err)
		}
		for _, e := range gres.Entries {
			acct.Groups = append(acct.Groups, e.DN)
		}
	}
	acct.Match = d.match(acct.Groups)
	if acct.Match == nil {
		return nil, fmt.Errorf("member of no group that auth.ldap.groups maps to a role: %w", errDirectoryRefused)
	}
	return acct, nil
}

// match returns the first configured group among groups (DNs), compared
// by DN or by the cn of its first RDN, case-insensitively.
func (d *directory) match(groups []string) *GroupRole {
	for i := range d.cfg.Groups {
		want := d.cfg.Groups[i].Group
		for _, g := range groups {
			if strings.EqualFold(g, want) || strings.EqualFold(firstCN(g), want) {
				return &d.cfg.Groups[i]
			}
		}
	}
	return nil
}

// firstCN is the value of dn's first RDN when it is a cn.
func firstCN(dn string) string {
	p, err := ldap.ParseDN(dn)
	if err != nil || len(p.RDNs) == 0 || len(p.RDNs[0].Attributes) == 0 {
		return ""
	}
	if a := p.RDNs[0].Attributes[0]; strings.EqualFold(a.Type, "cn") {
		return a.Value
	}
	return ""
}

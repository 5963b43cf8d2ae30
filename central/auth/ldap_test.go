package auth_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/central/auth"
	"github.com/shoal-project/shoal/central/auth/authtest"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

// TestLDAPLogin logs in against a real OpenLDAP slapd: a directory user of
// a mapped group gets that group's role and scope, stored as an ldap user;
// wrong passwords, unknown users, users of no mapped group, empty
// passwords and filter injection are refused; a local user's name cannot be
// taken over by a directory account.
func TestLDAPLogin(t *testing.T) {
	t.Parallel()
	d := authtest.Start(t)
	st := storetest.Open(t)
	ctx := t.Context()
	site := &store.Site{Name: "branch-a", CIDRs: []store.SiteCIDR{{CIDR: "10.1.0.0/16"}}}
	if err := st.CreateSite(ctx, site); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateRole(ctx, &store.Role{Name: "technician", Permissions: "computers.read deploy packages.read"}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUIUser(ctx, &store.UIUser{Name: "dave", Role: store.RoleReadonly, PasswordHash: "$2a$04$x"}); err != nil {
		t.Fatal(err)
	}
	cfg := auth.Config{LDAP: auth.LDAPConfig{
		URL: d.URL, BindDN: d.BindDN, BindPassword: d.BindPassword,
		UserBase: d.People, GroupBase: d.Groups,
		Groups: []auth.GroupRole{
			{Group: "cn=shoal-admins,ou=groups," + d.BaseDN, Role: store.RoleAdmin},
			{Group: "branch-a-techs", Role: "technician", Sites: []string{"branch-a"}, Tags: []string{"shop-a"}},
		},
	}}
	a, err := auth.NewAuthenticator(cfg, st, nil, storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}

	id, err := a.Check(ctx, "alice", authtest.AlicePassword)
	if err != nil {
		t.Fatalf("alice: %v", err)
	}
	if id.Role != "technician" || id.Source != store.UserSourceLDAP {
		t.Fatalf("alice: %+v, want technician from ldap", id)
	}
	p, err := a.Roles().User(ctx, id.Name, id.Role)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Scope.SiteIDs, []uint{site.ID}) || !slices.Equal(p.Scope.Tags, []string{"shop-a"}) || !p.Can(auth.PermDeploy) || p.Can(auth.PermAdmin) {
		t.Fatalf("alice's principal: %+v", p)
	}
	id, err = a.Check(ctx, "carol", authtest.CarolPassword)
	if err != nil || id.Role != store.RoleAdmin {
		t.Fatalf("carol: %+v, %v; want admin", id, err)
	}

	tests := []struct {
		name, user, pass, why string
	}{
		{"wrong_password", "alice", "not-her-password", "wrong password"},
		{"no_mapped_group", "bob", authtest.BobPassword, "member of no group"},
		{"unknown_user", "mallory", "whatever-1", "no directory entry"},
		{"empty_password", "alice", "", "empty"},
		{"filter_injection", "*", authtest.AlicePassword, "no directory entry"},
		{"filter_injection_or", "alice)(uid=*", authtest.AlicePassword, "no directory entry"},
		{"local_user_not_from_directory", "dave", authtest.AlicePassword, "wrong password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.Check(ctx, tt.user, tt.pass)
			if !errors.Is(err, auth.ErrBadCredentials) || !strings.Contains(err.Error(), tt.why) {
				t.Fatalf("Check(%q) = %v, want bad credentials saying %q", tt.user, err, tt.why)
			}
		})
	}

	// The stored directory user has no usable password: with LDAP off, it
	// cannot log in.
	off, err := auth.NewAuthenticator(auth.Config{}, st, nil, storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := off.Check(ctx, "alice", authtest.AlicePassword); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("alice without LDAP: %v, want refused", err)
	}
	// A site the mapping names that does not exist refuses the login
	// instead of widening the scope to the whole fleet.
	cfg.LDAP.Groups[1].Sites = []string{"no-such-site"}
	bad, err := auth.NewAuthenticator(cfg, st, nil, storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Check(ctx, "alice", authtest.AlicePassword); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("alice mapped to a missing site: %v, want refused", err)
	}
}

// TestLDAPUnreachable checks that a directory that does not answer refuses
// the login within the timeout instead of hanging.
func TestLDAPUnreachable(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t)
	cfg := auth.Config{LDAP: auth.LDAPConfig{URL: "ldap://127.0.0.1:1", UserBase: "dc=x", Groups: []auth.GroupRole{{Group: "g", Role: "admin"}}}}
	a, err := auth.NewAuthenticator(cfg, st, nil, storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Check(t.Context(), "alice", "pw-1234567890"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("unreachable directory: %v, want refused", err)
	}
}

func TestLDAPConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  auth.LDAPConfig
		ok   bool
	}{
		{"off", auth.LDAPConfig{}, true},
		{"ok", auth.LDAPConfig{URL: "ldaps://dc1:636", UserBase: "dc=x", Groups: []auth.GroupRole{{Group: "g", Role: "admin"}}}, true},
		{"bad_scheme", auth.LDAPConfig{URL: "http://dc1", UserBase: "dc=x", Groups: []auth.GroupRole{{Group: "g", Role: "admin"}}}, false},
		{"no_groups", auth.LDAPConfig{URL: "ldap://dc1", UserBase: "dc=x"}, false},
		{"no_base", auth.LDAPConfig{URL: "ldap://dc1", Groups: []auth.GroupRole{{Group: "g", Role: "admin"}}}, false},
		{"filter_without_user", auth.LDAPConfig{URL: "ldap://dc1", UserBase: "dc=x", UserFilter: "(uid=x)", Groups: []auth.GroupRole{{Group: "g", Role: "admin"}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

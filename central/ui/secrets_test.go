package ui

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/shoal-project/shoal/central/store"
)

// TestProductKeyNeedsSecrets: a Windows computer's product key (from a real
// Windows agent's HARDWARE section) is shown whole to the admin and to a
// user scoped to its site whose role grants computers.secrets, and masked,
// with a note, to a user of that site with computers.read alone; the
// computers CSV export never carries it.
func TestProductKeyNeedsSecrets(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := t.Context()
	id := ingestCapture(t, e, "windows-agent/ocs-2.4.0.0-hardware.xml", nil)
	site := &store.Site{Name: "branch-a", CIDRs: []store.SiteCIDR{{CIDR: "10.1.0.0/16"}}}
	if err := e.store.CreateSite(ctx, site); err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetComputerSite(ctx, id, &site.ID); err != nil {
		t.Fatal(err)
	}
	for role, perms := range map[string]string{"reader": "computers.read", "licences": "computers.read computers.secrets"} {
		if err := e.store.CreateRole(ctx, &store.Role{Name: role, Permissions: perms}); err != nil {
			t.Fatal(err)
		}
		hash, err := bcrypt.GenerateFromPassword([]byte(role+"-password-1"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.store.CreateUIUser(ctx, &store.UIUser{Name: role, Role: role, PasswordHash: string(hash),
			ScopeSites: store.JoinIDs([]uint{site.ID})}); err != nil {
			t.Fatal(err)
		}
	}
	const whole = `<dd id="win-prod-key"><code>XXXX-XXXXX-YVC9B-4J6C9-T83GX</code></dd>`
	tests := []struct {
		name, user, pass string
		want, not        []string
	}{
		{name: "admin", user: "admin", pass: adminPassword, want: []string{whole}, not: []string{"win-prod-key-masked"}},
		{name: "scoped-with-secrets", user: "licences", pass: "licences-password-1", want: []string{whole}, not: []string{"win-prod-key-masked"}},
		{name: "scoped-read-only", user: "reader", pass: "reader-password-1",
			want: []string{`<dd id="win-prod-key"><code>****-*****-*****-*****-T83GX</code> <small class="muted" id="win-prod-key-masked">`,
				`<dd id="win-prod-id"><code>XXXXX-10000-00001-AA616</code></dd>`},
			not: []string{"YVC9B", "4J6C9"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := e.browser()
			b.login(tt.user, tt.pass)
			r := b.get(fmt.Sprintf("%s/computers/%d", uiPrefix, id))
			wantCode(t, "computer page", r, http.StatusOK)
			wantBody(t, "computer page", r, tt.want...)
			for _, s := range tt.not {
				if strings.Contains(r.body, s) {
					t.Errorf("computer page shows %q", s)
				}
			}
			csv := b.get(uiPrefix + "/computers.csv")
			wantCode(t, "CSV export", csv, http.StatusOK)
			if strings.Count(csv.body, "\n") != 2 || strings.Contains(csv.body, "YVC9B") {
				t.Errorf("CSV export is not one computer without its key:\n%s", csv.body)
			}
		})
	}
}

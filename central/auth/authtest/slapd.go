// Package authtest starts a real OpenLDAP slapd (Debian's slapd package)
// for the LDAP login tests: a throw-away directory in t.TempDir() on a
// loopback port, stopped by t.Cleanup.
package authtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Directory is a running slapd.
type Directory struct {
	URL    string
	BaseDN string
	// BindDN and BindPassword are its root account, which the tests use
	// as the search account.
	BindDN, BindPassword string
	// People and Groups are the bases of users and groups.
	People, Groups string
}

// Fixture users, with their passwords: alice is in cn=branch-a-techs,
// carol in cn=shoal-admins, bob in cn=staff (mapped to nothing).
const (
	AlicePassword = "alice-secret-1"
	BobPassword   = "bob-secret-1"
	CarolPassword = "carol-secret-1"
)

const base = "dc=shoal,dc=test"

// slapdPath finds slapd; Debian installs it in /usr/sbin.
func slapdPath(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := "/usr/sbin/" + name; fileExists(p) {
		return p
	}
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// Start runs slapd with the fixture directory. Without slapd installed
// (scripts/test-deps.sh installs it) the test is skipped.
func Start(t testing.TB) *Directory {
	t.Helper()
	slapd, slapadd := slapdPath("slapd"), slapdPath("slapadd")
	if slapd == "" || slapadd == "" {
		t.Skip("slapd not installed (scripts/test-deps.sh installs slapd and ldap-utils)")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "db")
	if err := os.Mkdir(db, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "slapd.conf")
	modules := "/usr/lib/ldap"
	cfg := fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath %s
moduleload back_mdb
pidfile %s
database mdb
maxsize 10485760
suffix "%s"
rootdn "cn=admin,%s"
rootpw root-secret-1
directory %s
access to attrs=userPassword by anonymous auth by self read by * none
access to * by users read by * none
`, modules, filepath.Join(dir, "slapd.pid"), base, base, db)
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ldif := filepath.Join(dir, "data.ldif")
	if err := os.WriteFile(ldif, []byte(fixture), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, slapadd, "-f", conf, "-l", ldif).CombinedOutput(); err != nil {
		t.Fatalf("slapadd: %v: %s", err, out)
	}
	port := freePort(t)
	url := fmt.Sprintf("ldap://127.0.0.1:%d", port)
	// -d 0 keeps slapd in the foreground, so that the test owns it.
	cmd := exec.Command(slapd, "-f", conf, "-h", url+"/", "-d", "0")
	var logb strings.Builder
	cmd.Stdout, cmd.Stderr = &logb, &logb
	if err := cmd.Start(); err != nil {
		t.Fatalf("start slapd: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-done:
			t.Fatalf("slapd exited: %v: %s", err, logb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("slapd did not listen on %d: %s", port, logb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &Directory{URL: url, BaseDN: base, BindDN: "cn=admin," + base, BindPassword: "root-secret-1",
		People: "ou=people," + base, Groups: "ou=groups," + base}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

const fixture = `dn: ` + base + `
objectClass: dcObject
objectClass: organization
dc: shoal
o: Shoal test

dn: ou=people,` + base + `
objectClass: organizationalUnit
ou: people

dn: ou=groups,` + base + `
objectClass: organizationalUnit
ou: groups

dn: uid=alice,ou=people,` + base + `
objectClass: inetOrgPerson
uid: alice
cn: Alice
sn: Tech
userPassword: ` + AlicePassword + `

dn: uid=bob,ou=people,` + base + `
objectClass: inetOrgPerson
uid: bob
cn: Bob
sn: Staff
userPassword: ` + BobPassword + `

dn: uid=carol,ou=people,` + base + `
objectClass: inetOrgPerson
uid: carol
cn: Carol
sn: Admin
userPassword: ` + CarolPassword + `

dn: cn=branch-a-techs,ou=groups,` + base + `
objectClass: groupOfNames
cn: branch-a-techs
member: uid=alice,ou=people,` + base + `

dn: cn=shoal-admins,ou=groups,` + base + `
objectClass: groupOfNames
cn: shoal-admins
member: uid=carol,ou=people,` + base + `

dn: cn=staff,ou=groups,` + base + `
objectClass: groupOfNames
cn: staff
member: uid=bob,ou=people,` + base + `
member: uid=alice,ou=people,` + base + `
`

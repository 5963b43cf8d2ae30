//go:build integration

package itest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestPostgresBaseBackupRestore: the physical backup of docs/OPERATIONS.md
// ("PostgreSQL"), run exactly as printed, brings a lost central on
// PostgreSQL back. A shoal-agent enrolls and a package is published; while
// central runs, `shoal-central backup` archives its keys and packages and
// pg_basebackup copies the database cluster. Central stops, its data
// directory and its database are lost; the archive is restored into a new
// data directory, the base backup into a new PostgreSQL data directory,
// which a new server starts on, and central starts on that. The agent
// enrolled before the backup, started only now, installs the package
// published before it.
func TestPostgresBaseBackupRestore(t *testing.T) {
	t.Parallel()
	dsn := freshDatabase(t)
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_basebackup")
	if len(bins) == 0 {
		t.Skip("no pg_basebackup installed")
	}
	sort.Strings(bins)
	pgBin := filepath.Dir(bins[len(bins)-1])
	pgUser, err := user.Lookup("postgres")
	if err != nil || os.Getuid() != 0 {
		t.Skip("the restored server runs as the postgres user: run as root with a postgres user")
	}
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)
	// The postgres user's working directory: t.TempDir's parents are
	// private to root.
	work, err := os.MkdirTemp("", "shoal-basebackup-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	if err := os.Chown(work, uid, gid); err != nil {
		t.Fatal(err)
	}
	pgdata := filepath.Join(work, "restored")
	asPostgres := func(line, dsn string) {
		t.Helper()
		cmd := exec.Command("runuser", "-u", "postgres", "--", "sh", "-c", line)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "PATH="+pgBin+string(os.PathListSeparator)+os.Getenv("PATH"), "PGDATA="+pgdata, "SHOAL_DSN="+dsn)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", line, err, out)
		}
		t.Logf("$ %s\n%s", line, out)
	}

	dir := t.TempDir()
	c := startCentralIn(t, dir, "data", postgresYAML(dsn))
	a := startAgentAPI(t, c)
	ag := newAgent(t, a, "based", a.URL, "")
	cid := a.computerOf("based")
	out := t.TempDir()
	pkg := c.publish(PackageSpec{"name": "after-basebackup", "action": "STORE", "priority": "5", "fragments": "2",
		"path": filepath.Join(out, "stored")},
		targz(t, map[string]string{"conf.ini": "[app]\nbase=yes\n", "blob.bin": string(randomBytes(1<<20, 11))}))

	// Online backups: central keeps running.
	runDocLine(t, dir, operationsCommand(t, "shoal-central backup "))
	asPostgres(operationsCommand(t, "pg_basebackup "), dsn)

	// Disaster: central stops, its data directory and its database are gone.
	c.stop()
	if err := os.Rename(c.Dir, c.Dir+".lost"); err != nil {
		t.Fatal(err)
	}
	dbName := dsn[strings.LastIndex(dsn, "dbname=")+len("dbname="):]
	server := strings.TrimSuffix(dsn, " dbname="+dbName)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, "DROP DATABASE "+dbName+" WITH (FORCE)")
	conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// The restored cluster, on a new server. Its listening address is the
	// test's (a socket in work, no TCP), as an operator's configuration
	// would set it.
	asPostgres(operationsCommand(t, "mkdir -m 0700 \"$PGDATA\" "), "")
	conf := fmt.Sprintf("listen_addresses = ''\nunix_socket_directories = '%s'\nfsync = off\n", work)
	f, err := os.OpenFile(filepath.Join(pgdata, "postgresql.auto.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		_, err = f.WriteString(conf)
		f.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = exec.Command("runuser", "-u", "postgres", "--", filepath.Join(pgBin, "pg_ctl"), "stop", "--pgdata="+pgdata, "--mode=immediate").Run()
	})
	asPostgres(operationsCommand(t, "pg_ctl start "), "")
	restored := fmt.Sprintf("host=%s user=postgres sslmode=disable dbname=%s", work, dbName)

	// Central's keys and packages come back from the archive, with the
	// configuration pointing at the restored server.
	cfgPath := filepath.Join(dir, "central.yaml")
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	newCfg := strings.Replace(string(cfg), postgresYAML(dsn), postgresYAML(restored), 1)
	if newCfg == string(cfg) {
		t.Fatal("central.yaml does not hold the database section the test wrote")
	}
	if err := os.WriteFile(cfgPath, []byte(newCfg), 0o600); err != nil {
		t.Fatal(err)
	}
	runDocLine(t, dir, operationsCommand(t, "shoal-central restore "))

	c2 := startCentralAt(t, dir, "data", strings.TrimPrefix(c.HTTPURL, "http://"), strings.TrimPrefix(c.HTTPSURL, "https://"), postgresYAML(restored))
	if a2 := startAgentAPI(t, c2); a2.URL != a.URL {
		t.Fatalf("agent API at %s after the restore, %s before", a2.URL, a.URL)
	}
	ag.Start()
	c2.affectTo(pkg, cid)
	d := c2.waitState(pkg, "success", 90*time.Second)
	if d.Deployment.ResultCode != "SUCCESS" || d.Deployment.FragmentsDone != d.Deployment.FragmentsTotal {
		t.Errorf("deployment after the restore: code %s fragments %d/%d", d.Deployment.ResultCode, d.Deployment.FragmentsDone, d.Deployment.FragmentsTotal)
	}
	if b, err := os.ReadFile(filepath.Join(out, "stored", "conf.ini")); err != nil || string(b) != "[app]\nbase=yes\n" {
		t.Errorf("STORE after the restore: %q, %v", b, err)
	}
}

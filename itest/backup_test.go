//go:build integration

package itest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// operationsCommand returns the one line of docs/OPERATIONS.md's sh
// blocks that starts with prefix.
func operationsCommand(t *testing.T, prefix string) string {
	t.Helper()
	b, err := os.ReadFile("../docs/OPERATIONS.md")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, blk := range readmeBlocks(string(b)) {
		if blk.lang != "sh" {
			continue
		}
		for _, l := range strings.Split(blk.text, "\n") {
			if strings.HasPrefix(l, prefix) {
				found = append(found, l)
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("docs/OPERATIONS.md: %d sh lines start with %q, want 1", len(found), prefix)
	}
	return found[0]
}

// runDocLine runs a documented command line with sh in dir, with the
// test's binaries first on PATH, and returns its output.
func runDocLine(t *testing.T, dir, line string) string {
	t.Helper()
	cmd := exec.Command("sh", "-c", line)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
	t.Logf("$ %s\n%s", line, out)
	return string(out)
}

// TestBackupRestoreDeploys: the backup, restore and migrate commands of
// docs/OPERATIONS.md, run exactly as printed, bring a lost central back.
// A Shoal agent enrolls and a package is published; central is backed up
// while it runs, stopped, and its data directory lost; the archive is
// restored into a new one and central started on it. The restored central
// has the same CA, signing key and admin password; the agent enrolled
// before the backup, started only now, is still trusted and installs the
// package published before the backup, whose files came back from the
// archive.
func TestBackupRestoreDeploys(t *testing.T) {
	dir := t.TempDir()
	c := startCentralIn(t, dir, "data", "")
	a := startAgentAPI(t, c)
	ag := newAgent(t, a, "restored", a.URL, "")
	cid := a.computerOf("restored")
	out := t.TempDir()
	pkg := c.publish(PackageSpec{"name": "after-restore", "action": "STORE", "priority": "5", "fragments": "2",
		"path": filepath.Join(out, "stored")},
		targz(t, map[string]string{"conf.ini": "[app]\nrestored=yes\n", "blob.bin": string(randomBytes(1<<20, 7))}))

	// Online backup: central keeps running.
	runDocLine(t, dir, operationsCommand(t, "shoal-central backup "))
	archives, _ := filepath.Glob(filepath.Join(dir, "*.tar.gz"))
	if len(archives) != 1 {
		t.Fatalf("backup archives in %s: %q, want one", dir, archives)
	}
	if fi, err := os.Stat(archives[0]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("archive %v, %v; want mode 0600", fi.Mode(), err)
	}
	oldCA, err := os.ReadFile(filepath.Join(c.Dir, "pki", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	oldSigning, err := os.ReadFile(filepath.Join(c.Dir, "pki", "manifest-signing-pub.pem"))
	if err != nil {
		t.Fatal(err)
	}

	// Disaster: central stops and its data directory is gone.
	c.stop()
	if err := os.Rename(c.Dir, c.Dir+".lost"); err != nil {
		t.Fatal(err)
	}
	runDocLine(t, dir, operationsCommand(t, "shoal-central restore "))
	if up := runDocLine(t, dir, operationsCommand(t, "shoal-central migrate up ")); !strings.Contains(up, "applied 0 migration(s)") {
		t.Errorf("migrate up after the restore: %q, want nothing to apply", up)
	}
	if st := runDocLine(t, dir, operationsCommand(t, "shoal-central migrate status ")); !strings.Contains(st, "up to date") {
		t.Errorf("migrate status after the restore: %q, want up to date", st)
	}

	// The restored central answers where the old one did (its name and
	// ports), as a replacement machine would; the admin password of the
	// backup still logs in.
	c2 := startCentralAt(t, dir, "data", strings.TrimPrefix(c.HTTPURL, "http://"), strings.TrimPrefix(c.HTTPSURL, "https://"), "")
	for _, f := range []struct {
		name string
		old  []byte
	}{{"ca.pem", oldCA}, {"manifest-signing-pub.pem", oldSigning}} {
		b, err := os.ReadFile(filepath.Join(c2.Dir, "pki", f.name))
		if err != nil || !bytes.Equal(b, f.old) {
			t.Errorf("%s after the restore differs from the one before (%v): the fleet would not trust central", f.name, err)
		}
	}
	if a2 := startAgentAPI(t, c2); a2.URL != a.URL {
		t.Fatalf("agent API at %s after the restore, %s before", a2.URL, a.URL)
	}
	ag.Start()
	c2.affectTo(pkg, cid)
	d := c2.waitState(pkg, "success", 90*time.Second)
	if d.Deployment.ResultCode != "SUCCESS" || d.Deployment.FragmentsDone != d.Deployment.FragmentsTotal {
		t.Errorf("deployment after the restore: code %s fragments %d/%d", d.Deployment.ResultCode, d.Deployment.FragmentsDone, d.Deployment.FragmentsTotal)
	}
	if b, err := os.ReadFile(filepath.Join(out, "stored", "conf.ini")); err != nil || string(b) != "[app]\nrestored=yes\n" {
		t.Errorf("STORE after the restore: %q, %v", b, err)
	}
}

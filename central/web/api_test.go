package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/deploy"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto/api"
	"github.com/shoal-project/shoal/proto/ocs"
)

// inventory ingests the captured inventory of computer "vm" (192.0.2.2,
// from the test remote 192.0.2.1), as the OCS edge would, and returns its
// ID.
func (e *env) inventory() uint {
	e.t.Helper()
	inv, err := ocs.ParseInventory(readFile(e.t, "inventory-request.xml"))
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.inv.Ingest(e.t.Context(), inv, unixAgent, ocsRemote); err != nil {
		e.t.Fatalf("inventory: %v", err)
	}
	var l api.List[api.Computer]
	e.api("GET", "/api/v1/computers?name=vm", "", "token", 200, &l)
	if len(l.Items) != 1 {
		e.t.Fatalf("computers named vm: %+v", l)
	}
	return l.Items[0].ID
}

// uploadPackage uploads a small EXECUTE package and returns it.
func (e *env) uploadPackage(name string) api.Package {
	e.t.Helper()
	rec := upload(e.t, e, map[string]string{"name": name, "action": "EXECUTE", "command": "true", "fragments": "2"}, archived([]byte(strings.Repeat("x", 9000))))
	if rec.Code != 201 {
		e.t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	var p api.Package
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func TestOpenAPICoversEveryRoute(t *testing.T) {
	e := newEnv(t)
	var doc struct {
		OpenAPI    string                               `json:"openapi"`
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]map[string]any `json:"schemas"`
		} `json:"components"`
	}
	rec := e.api("GET", "/api/v1/openapi.json", "", "token", 200, &doc)
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi version %q", doc.OpenAPI)
	}
	ec, ok := e.https.(*echo.Echo)
	if !ok {
		t.Fatalf("HTTPSHandler is a %T, not *echo.Echo", e.https)
	}
	n := 0
	for _, r := range ec.Routes() {
		// echo adds catch-all routes for a group's middleware.
		if !strings.HasPrefix(r.Path, api.BasePath+"/") || r.Path == api.BasePath+"/*" {
			continue
		}
		n++
		p, _ := openAPIPath(strings.TrimPrefix(r.Path, api.BasePath))
		if _, ok := doc.Paths[p][strings.ToLower(r.Method)]; !ok {
			t.Errorf("route %s %s is not in the OpenAPI document", r.Method, r.Path)
		}
	}
	if n < 30 {
		t.Errorf("only %d API routes found", n)
	}
	ids := map[string]bool{}
	for p, ops := range doc.Paths {
		for m, op := range ops {
			id, _ := op["operationId"].(string)
			if id == "" || ids[id] {
				t.Errorf("%s %s: operationId %q is empty or not unique", m, p, id)
			}
			ids[id] = true
		}
	}
	// Every reference resolves, and every property name is snake_case.
	for _, ref := range regexp.MustCompile(`"#/components/schemas/([A-Za-z]+)"`).FindAllStringSubmatch(rec.Body.String(), -1) {
		if _, ok := doc.Components.Schemas[ref[1]]; !ok {
			t.Errorf("dangling schema reference %s", ref[1])
		}
	}
	snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	for name, sch := range doc.Components.Schemas {
		props, _ := sch["properties"].(map[string]any)
		for p := range props {
			if !snake.MatchString(p) {
				t.Errorf("schema %s: property %q is not snake_case", name, p)
			}
		}
	}
	for _, want := range []string{"Computer", "ComputerDetail", "Package", "PackageDetail", "Deployment", "DeploymentEvent",
		"Site", "Token", "AuditEvent", "ComputerList", "Error", "Settings"} {
		if _, ok := doc.Components.Schemas[want]; !ok {
			t.Errorf("schema %s missing", want)
		}
	}
}

func TestAPIWorkflow(t *testing.T) {
	e := newEnv(t)
	var site api.Site
	e.api("POST", "/api/v1/sites", `{"name":"lab","cidrs":["192.0.2.0/24"],"fragment_location":"relay.lab:8080/download"}`, "token", 201, &site)
	cid := e.inventory()

	var detail api.ComputerDetail
	e.api("GET", fmt.Sprintf("/api/v1/computers/%d", cid), "", "token", 200, &detail)
	if detail.SiteName != "lab" || detail.OSName != "Debian GNU/Linux 12" || detail.BIOS == nil || len(detail.Softwares) == 0 ||
		detail.LastContact == nil || detail.LastContact.Location() != time.UTC {
		t.Errorf("computer detail: site %q os %q bios %v softwares %d last contact %v", detail.SiteName, detail.OSName,
			detail.BIOS, len(detail.Softwares), detail.LastContact)
	}

	p := e.uploadPackage("wf")
	// The default locations (127.0.0.1:1) serve nothing: 422 with the
	// problems, and the package stays inactive.
	var apiErr api.Error
	e.api("POST", "/api/v1/packages/"+p.ID+"/activate", "", "token", 422, &apiErr)
	if len(apiErr.Detail) == 0 || !strings.Contains(apiErr.Error, "availability") {
		t.Errorf("failed activation: %+v", apiErr)
	}
	var act api.ActivateResult
	e.api("POST", "/api/v1/packages/"+p.ID+"/activate", `{"skip_check":true}`, "token", 200, &act)
	if !act.Package.Active || !act.Check.Skipped || act.Package.ActivatedAt == nil {
		t.Errorf("activation: %+v", act)
	}

	var res api.AffectResult
	e.api("POST", "/api/v1/packages/"+p.ID+"/affect", `{"filter":{"software":"curl","contact_since":"2000-01-01T00:00:00Z"},"dry_run":true}`, "token", 200, &res)
	if diff := cmp.Diff(api.AffectResult{Selected: 1, DryRun: true}, res); diff != "" {
		t.Errorf("dry run (-want +got):\n%s", diff)
	}
	if n := len(e.deployments("/api/v1/packages/" + p.ID + "/deployments").Items); n != 0 {
		t.Fatalf("a dry run created %d deployments", n)
	}
	e.api("POST", "/api/v1/packages/"+p.ID+"/affect", `{"filter":{"name":"nomatch"}}`, "token", 400, nil)
	e.api("POST", "/api/v1/packages/"+p.ID+"/affect", `{"filter":{"software":"curl"},"computer_ids":[`+itoa(cid)+`]}`, "token", 200, &res)
	if diff := cmp.Diff(api.AffectResult{Selected: 1, Created: 1}, res); diff != "" {
		t.Errorf("affect (-want +got):\n%s", diff)
	}

	siteQ := fmt.Sprintf("?site=%d", site.ID)
	l := e.deployments("/api/v1/packages/" + p.ID + "/deployments" + siteQ)
	if len(l.Items) != 1 || l.Items[0].ComputerName != "vm" || l.Items[0].SiteName != "lab" || l.Items[0].PackageName != "wf" ||
		l.Items[0].State != api.StateWaiting {
		t.Fatalf("deployments of site lab: %+v", l)
	}
	if n := len(e.deployments("/api/v1/packages/" + p.ID + "/deployments?site=none").Items); n != 0 {
		t.Errorf("deployments without a site: %d, want 0", n)
	}
	if n := len(e.deployments("/api/v1/packages/" + p.ID + "/deployments?state=success").Items); n != 0 {
		t.Errorf("successful deployments: %d, want 0", n)
	}
	e.api("GET", "/api/v1/packages/"+p.ID+"/deployments?state=bogus", "", "token", 400, nil)

	// The agent reports a failure; counts, series and history follow.
	if err := e.srv.deps.Deploy.RecordResult(t.Context(), deploy.Report{ComputerID: cid, PackageID: p.ID, Code: "ERR_EXECUTE", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	var counts api.DeploymentCounts
	e.api("GET", "/api/v1/packages/"+p.ID+"/deployment-counts"+siteQ, "", "token", 200, &counts)
	if diff := cmp.Diff(api.DeploymentCounts{PackageID: p.ID, Counts: map[string]int64{api.StateError: 1}, Total: 1, Finished: 1}, counts); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	var series api.CompletionSeries
	e.api("GET", "/api/v1/packages/"+p.ID+"/completion", "", "token", 200, &series)
	if series.Total != 1 || len(series.Points) != 1 || series.Points[0].Error != 1 {
		t.Errorf("completion series: %+v", series)
	}
	var bytes api.List[api.SiteBytes]
	e.api("GET", "/api/v1/packages/"+p.ID+"/bytes-by-site", "", "token", 200, &bytes)
	if len(bytes.Items) != 1 || bytes.Items[0].SiteName != "lab" || bytes.Items[0].Deployments != 1 {
		t.Errorf("bytes by site: %+v", bytes)
	}
	var dash api.Dashboard
	e.api("GET", "/api/v1/dashboard", "", "token", 200, &dash)
	if dash.Computers != 1 || dash.ActivePackages != 1 || len(dash.RecentFailures) != 1 || dash.RecentFailures[0].ResultCode != "ERR_EXECUTE" {
		t.Errorf("dashboard: %+v", dash)
	}
	if len(dash.FailureGroups) != 1 || dash.FailureGroups[0].Computers != 1 || !strings.Contains(dash.FailureGroups[0].ResultHelp, "platform") ||
		dash.ComputersInProgress != 0 {
		t.Errorf("dashboard failure groups %+v, computers in progress %d", dash.FailureGroups, dash.ComputersInProgress)
	}

	// Bulk redeploy of the failed ones, then cancel one by one.
	var bulk api.BulkResult
	e.api("POST", "/api/v1/packages/"+p.ID+"/redeploy", `{"state":"error"}`, "token", 200, &bulk)
	if bulk.Changed != 1 {
		t.Errorf("bulk redeploy changed %d", bulk.Changed)
	}
	e.api("POST", "/api/v1/packages/"+p.ID+"/redeploy", `{}`, "token", 400, nil)
	var dd api.DeploymentDetail
	e.api("POST", fmt.Sprintf("/api/v1/deployments/%d/cancel", l.Items[0].ID), "", "token", 200, &dd)
	if dd.Deployment.State != api.StateCancelled || len(dd.Events) < 4 {
		t.Errorf("after cancel: %+v", dd)
	}
	e.api("GET", fmt.Sprintf("/api/v1/computers/%d", cid), "", "token", 200, &detail)
	if len(detail.Deployments) != 1 || detail.Deployments[0].State != api.StateCancelled || detail.Deployments[0].PackageName != "wf" {
		t.Errorf("computer history: %+v", detail.Deployments)
	}

	// Every change above is in the audit log, newest first, with its author.
	var audit api.List[api.AuditEvent]
	e.api("GET", "/api/v1/audit?limit=100", "", "token", 200, &audit)
	var got []string
	for _, a := range audit.Items {
		if a.Actor == "" || a.At.IsZero() {
			t.Errorf("audit event without actor or time: %+v", a)
		}
		got = append(got, a.Action)
	}
	want := []string{"deployment.cancel", "package.redeploy", "package.affect", "package.activate", "package.create", "site.create", "token.create"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit actions (-want +got):\n%s", diff)
	}
	e.api("GET", "/api/v1/audit?action=package.&actor=token:t", "", "token", 200, &audit)
	if audit.Total != 4 {
		t.Errorf("package actions by token:t: %d, want 4", audit.Total)
	}
	if audit.Items[0].Remote != "192.0.2.1" {
		t.Errorf("audit remote %q", audit.Items[0].Remote)
	}
}

func (e *env) deployments(path string) api.List[api.Deployment] {
	e.t.Helper()
	var l api.List[api.Deployment]
	e.api("GET", path, "", "token", 200, &l)
	return l
}

func TestComputerSearchAPI(t *testing.T) {
	e := newEnv(t)
	cid := e.inventory()
	tests := []struct {
		name  string
		query string
		want  []uint
		code  int
	}{
		{name: "name", query: "name=VM", want: []uint{cid}},
		{name: "os", query: "os=debian", want: []uint{cid}},
		{name: "software_version", query: "software=curl&software_version=nope", want: nil},
		{name: "software_version_compare", query: "software=zstd&software_version=%3C+2", want: []uint{cid}},
		{name: "software_version_compare_none", query: "software=zstd&software_version=%3E%3D1.6", want: nil},
		{name: "no_software", query: "no_software=zstd", want: nil},
		{name: "no_software_other", query: "no_software=7-zip", want: []uint{cid}},
		{name: "bad_version_filter", query: "software=zstd&software_version=%3C", code: 400},
		{name: "cidr", query: "ip=192.0.2.0/24", want: []uint{cid}},
		{name: "other_cidr", query: "ip=10.0.0.0/8", want: nil},
		{name: "contact_since_duration", query: "contact_since=1h", want: []uint{cid}},
		{name: "contact_before_duration", query: "contact_before=1h", want: nil},
		{name: "contact_since_date", query: "contact_since=2000-01-01", want: []uint{cid}},
		{name: "bad_time", query: "contact_since=yesterday", code: 400},
		{name: "bad_site", query: "site=x", code: 400},
		{name: "bad_ip", query: "ip=300.1.1.1", code: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := tt.code
			if code == 0 {
				code = 200
			}
			var l api.List[api.Computer]
			var apiErr api.Error
			var out any = &l
			if code != 200 {
				out = &apiErr
			}
			e.api("GET", "/api/v1/computers?"+tt.query, "", "token", code, out)
			if code != 200 {
				if apiErr.Error == "" || strings.Contains(apiErr.Error, "bad request") {
					t.Errorf("error message %q", apiErr.Error)
				}
				return
			}
			var got []uint
			for _, c := range l.Items {
				got = append(got, c.ID)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" || l.Total != int64(len(tt.want)) {
				t.Errorf("computers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSettingsAPI(t *testing.T) {
	e := newEnv(t)
	var s api.Settings
	e.api("GET", "/api/v1/settings", "", "token", 200, &s)
	if s.PrologFreqHours != 12 || s.Download.TimeoutDays != 7 {
		t.Errorf("default settings: %+v", s)
	}
	s.PrologFreqHours, s.Download.CycleLatency = 2, 9
	body, _ := json.Marshal(s)
	var got api.Settings
	e.api("PUT", "/api/v1/settings", string(body), "token", 200, &got)
	if diff := cmp.Diff(s, got); diff != "" {
		t.Errorf("PUT answer (-want +got):\n%s", diff)
	}
	// Agents get the new timings at their next PROLOG.
	req, err := ocs.ParseRequest(readFile(t, "prolog-request.xml"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.srv.deps.Deploy.Prolog(t.Context(), deploy.PrologRequest{DeviceID: req.DeviceID, UserAgent: unixAgent, Remote: ocsRemote})
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	reply := string(b)
	for _, want := range []string{"<PROLOG_FREQ>2</PROLOG_FREQ>", `CYCLE_LATENCY="9"`} {
		if !strings.Contains(reply, want) {
			t.Errorf("prolog reply lacks %s:\n%s", want, reply)
		}
	}
	// The settings are stored for the next start.
	var stored map[string]any
	if found, err := e.store.GetSetting(t.Context(), "deploy.config", &stored); err != nil || !found {
		t.Errorf("stored settings: found %v, %v", found, err)
	}

	var apiErr api.Error
	e.api("PUT", "/api/v1/settings", `{"prolog_freq_hours":-3}`, "token", 400, &apiErr)
	if !strings.Contains(apiErr.Error, "prolog_freq_hours") {
		t.Errorf("error %q does not name the field", apiErr.Error)
	}
	var ro api.Token
	e.api("POST", "/api/v1/tokens", `{"name":"viewer","role":"readonly"}`, "token", 201, &ro)
	e.api("PUT", "/api/v1/settings", string(body), ro.Token, 403, nil)
	e.api("GET", "/api/v1/settings", "", ro.Token, 200, &got)
	if got.PrologFreqHours != 2 {
		t.Errorf("settings after refused changes: %+v", got)
	}
}

func TestPackageSpecErrors(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name   string
		fields map[string]string
		field  string
	}{
		{name: "no_command", fields: map[string]string{"name": "x", "action": "EXECUTE"}, field: "command"},
		{name: "no_path", fields: map[string]string{"name": "x", "action": "STORE"}, field: "path"},
		{name: "priority", fields: map[string]string{"name": "x", "action": "EXECUTE", "command": "c", "priority": "11"}, field: "priority"},
		{name: "fragments", fields: map[string]string{"name": "x", "action": "EXECUTE", "command": "c", "fragments": "-1"}, field: "fragments"},
		{name: "execute_not_archive", fields: map[string]string{"name": "x", "action": "EXECUTE", "command": "c"}, field: "file"},
		{name: "launch_not_archive", fields: map[string]string{"name": "x", "action": "LAUNCH", "launch_name": "c"}, field: "file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := upload(t, e, tt.fields, []byte("x"))
			var apiErr api.Error
			if err := json.Unmarshal(rec.Body.Bytes(), &apiErr); err != nil || rec.Code != 400 {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			if apiErr.Fields[tt.field] == "" {
				t.Errorf("no error for field %s: %+v", tt.field, apiErr)
			}
		})
	}
	var l api.List[api.Package]
	e.api("GET", "/api/v1/packages", "", "token", 200, &l)
	if l.Total != 0 {
		t.Errorf("invalid uploads left %d packages", l.Total)
	}
}

func TestServerInfoAndTokens(t *testing.T) {
	e := newEnv(t)
	var info api.ServerInfo
	e.api("GET", "/api/v1/server", "", "basic", 200, &info)
	if info.Caller != (api.Principal{Name: "admin", Role: api.RoleAdmin}) || info.OCSAgentCommand != "ocsinventory-agent --nolocal --server=https://127.0.0.1:1/ocsinventory --ca="+info.CAFile ||
		!filepath.IsAbs(info.CAFile) ||
		info.CAFingerprintSHA256 == "" {
		t.Errorf("server info: %+v", info)
	}
	var tokens api.List[api.Token]
	e.api("GET", "/api/v1/tokens", "", "token", 200, &tokens)
	if tokens.Total != 1 || tokens.Items[0].Token != "" || tokens.Items[0].LastUsed == nil || tokens.Items[0].CreatedAt == nil {
		t.Errorf("tokens: %+v", tokens)
	}
	// The raw answer uses snake_case and RFC 3339 times, never Go names.
	rec := e.api("GET", "/api/v1/tokens", "", "token", 200, nil)
	if strings.Contains(rec.Body.String(), `"ID"`) || !regexp.MustCompile(`"created_at":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"`).MatchString(rec.Body.String()) {
		t.Errorf("token list JSON: %s", rec.Body)
	}
}

func TestCompletionPoints(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	done := []store.Completion{
		{State: store.StateSuccess, FinishedAt: t0},
		{State: store.StateError, FinishedAt: t0.Add(time.Minute)},
		{State: store.StateSuccess, FinishedAt: t0.Add(2 * time.Minute)},
		{State: store.StateCancelled, FinishedAt: t0.Add(4 * time.Minute)},
	}
	tests := []struct {
		name string
		done []store.Completion
		n    int
		want []api.CompletionPoint
	}{
		{name: "none", done: nil, n: 5, want: []api.CompletionPoint{}},
		{name: "same_time", done: done[:1], n: 5, want: []api.CompletionPoint{{At: t0, Success: 1}}},
		{name: "three_points", done: done, n: 3, want: []api.CompletionPoint{
			{At: t0, Success: 1},
			{At: t0.Add(2 * time.Minute), Success: 2, Error: 1},
			{At: t0.Add(4 * time.Minute), Success: 2, Error: 1, Cancelled: 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, completionPoints(tt.done, tt.n)); diff != "" {
				t.Errorf("points (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadOnlyCannotChangeAnything(t *testing.T) {
	e := newEnv(t)
	var ro api.Token
	e.api("POST", "/api/v1/tokens", `{"name":"viewer","role":"readonly"}`, "token", 201, &ro)
	ec := e.https.(*echo.Echo)
	for _, r := range ec.Routes() {
		if !strings.HasPrefix(r.Path, api.BasePath+"/") || r.Path == api.BasePath+"/*" || r.Method == http.MethodGet {
			continue
		}
		path := strings.NewReplacer(":id", "1").Replace(r.Path)
		req := httptest.NewRequest(r.Method, path, strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+ro.Token)
		rec := httptest.NewRecorder()
		e.https.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden {
			t.Errorf("read-only %s %s: %d, want 403", r.Method, path, rec.Code)
		}
	}
}

func TestAffectUnknownComputers(t *testing.T) {
	e := newEnv(t)
	cid := e.inventory()
	p := e.uploadPackage("x")
	e.api("POST", "/api/v1/packages/"+p.ID+"/activate", `{"skip_check":true}`, "token", 200, nil)
	var apiErr api.Error
	e.api("POST", "/api/v1/packages/"+p.ID+"/affect", fmt.Sprintf(`{"computer_ids":[%d,77,78],"dry_run":true}`, cid), "token", 404, &apiErr)
	if apiErr.Error != "no computer has id 77, 78: not found" {
		t.Errorf("error %q", apiErr.Error)
	}
	if n := len(e.deployments("/api/v1/deployments").Items); n != 0 {
		t.Errorf("%d deployments created", n)
	}
}

// TestAffectGuardrails: a WINDOWS package previewed on a Linux computer
// says it is excluded and why, and is refused for real; an empty filter
// needs "all": true.
func TestAffectGuardrails(t *testing.T) {
	e := newEnv(t)
	cid := e.inventory()
	rec := upload(t, e, map[string]string{"name": "win", "platform": "WINDOWS", "action": "EXECUTE", "command": "setup.exe"}, archived([]byte("MZ")))
	if rec.Code != 201 {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	var win api.Package
	_ = json.Unmarshal(rec.Body.Bytes(), &win)
	e.api("POST", "/api/v1/packages/"+win.ID+"/activate", `{"skip_check":true}`, "token", 200, nil)
	var res api.AffectResult
	e.api("POST", "/api/v1/packages/"+win.ID+"/affect", fmt.Sprintf(`{"computer_ids":[%d],"dry_run":true}`, cid), "token", 200, &res)
	want := api.AffectResult{DryRun: true, Excluded: 1, Exclusions: []api.Exclusion{{Platform: "LINUX", Count: 1,
		Reason: "1 computer runs Linux: the package is for Windows, so it is excluded"}}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("preview (-want +got):\n%s", diff)
	}
	var apiErr api.Error
	e.api("POST", "/api/v1/packages/"+win.ID+"/affect", fmt.Sprintf(`{"computer_ids":[%d]}`, cid), "token", 400, &apiErr)
	if !strings.Contains(apiErr.Error, "1 computer runs Linux: the package is for Windows, so it is excluded") {
		t.Errorf("error %q", apiErr.Error)
	}

	p := e.uploadPackage("linux")
	e.api("POST", "/api/v1/packages/"+p.ID+"/activate", `{"skip_check":true}`, "token", 200, nil)
	apiErr = api.Error{}
	e.api("POST", "/api/v1/packages/"+p.ID+"/affect", `{"filter":{}}`, "token", 400, &apiErr)
	if !strings.Contains(apiErr.Error, `send "all": true`) {
		t.Errorf("empty filter error %q", apiErr.Error)
	}
	if n := len(e.deployments("/api/v1/deployments").Items); n != 0 {
		t.Errorf("%d deployments created", n)
	}
	res = api.AffectResult{}
	e.api("POST", "/api/v1/packages/"+p.ID+"/affect", `{"filter":{},"all":true}`, "token", 200, &res)
	if res.Selected != 1 || res.Created != 1 || res.Excluded != 0 {
		t.Errorf("affect all: %+v", res)
	}
}

// TestResultCodesExplained: every code central lists is explained, and
// deployments carry the explanation of theirs.
func TestResultCodesExplained(t *testing.T) {
	e := newEnv(t)
	var codes api.List[api.ResultCode]
	e.api("GET", "/api/v1/result-codes", "", "token", 200, &codes)
	found := false
	for _, c := range codes.Items {
		if c.Help == "" {
			t.Errorf("%s has no help", c.Code)
		}
		if c.Code == "ERR_DOWNLOAD_INFO" {
			found = strings.Contains(c.Help, "run the OCS agent with --ca")
		}
	}
	if !found || codes.Total < 20 {
		t.Errorf("result codes: %+v", codes)
	}
	cid := e.inventory()
	p := e.uploadPackage("x")
	e.api("POST", "/api/v1/packages/"+p.ID+"/activate", `{"skip_check":true}`, "token", 200, nil)
	e.api("POST", "/api/v1/packages/"+p.ID+"/affect", fmt.Sprintf(`{"computer_ids":[%d]}`, cid), "token", 200, nil)
	if err := e.srv.deps.Deploy.RecordResult(t.Context(), deploy.Report{ComputerID: cid, PackageID: p.ID, Code: "ERR_DOWNLOAD_INFO", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	d := e.deployments("/api/v1/deployments")
	if len(d.Items) != 1 || !strings.Contains(d.Items[0].ResultHelp, "does not trust central's CA") {
		t.Errorf("deployments: %+v", d.Items)
	}
}

// TestSiteMovesComputersAtOnce: a new site takes the existing computers
// whose last address is in its ranges at once and says how many.
func TestSiteMovesComputersAtOnce(t *testing.T) {
	e := newEnv(t)
	cid := e.inventory()
	var site api.Site
	e.api("POST", "/api/v1/sites", `{"name":"lab","cidrs":["192.0.2.0/24"]}`, "token", 201, &site)
	if site.ComputersMoved == nil || *site.ComputersMoved != 1 || site.Computers != 1 {
		t.Fatalf("created site: %+v", site)
	}
	var detail api.ComputerDetail
	e.api("GET", fmt.Sprintf("/api/v1/computers/%d", cid), "", "token", 200, &detail)
	if detail.SiteName != "lab" {
		t.Errorf("computer site %q, want lab", detail.SiteName)
	}
	// A more specific site takes it over; saving again moves nobody.
	var branch api.Site
	e.api("POST", "/api/v1/sites", `{"name":"branch","cidrs":["192.0.2.0/28"]}`, "token", 201, &branch)
	if *branch.ComputersMoved != 1 {
		t.Errorf("branch moved %d", *branch.ComputersMoved)
	}
	e.api("PUT", fmt.Sprintf("/api/v1/sites/%d", branch.ID), `{"name":"branch","cidrs":["192.0.2.0/28"]}`, "token", 200, &branch)
	if *branch.ComputersMoved != 0 || branch.Computers != 1 {
		t.Errorf("branch saved again: %+v", branch)
	}
	var l api.List[api.AuditEvent]
	e.api("GET", "/api/v1/audit?action=site.create", "", "token", 200, &l)
	if len(l.Items) != 2 || !strings.Contains(l.Items[0].Detail, "computers_moved=1") {
		t.Errorf("audit: %+v", l.Items)
	}
}

// TestImportSites: sites come from CSV with their time zones, an existing
// site is updated, computers move at once, and a bad line refuses the
// whole file saying which line and why.
func TestImportSites(t *testing.T) {
	e := newEnv(t)
	e.inventory() // 192.0.2.2
	e.api("POST", "/api/v1/sites", `{"name":"Lyon","cidrs":["10.20.0.0/16"],"fragment_location":"relay.lyon:8080/download"}`, "token", 201, nil)
	csv := "name,cidrs,time_zone\\nlyon,10.20.0.0/16;10.21.0.0/16,Europe/Paris\\ndoc-net,192.0.2.0/24,America/New_York\\nhq,198.51.100.0/24\\n"
	var res api.SiteImportResult
	e.api("POST", "/api/v1/sites/import", `{"csv":"`+csv+`"}`, "token", 200, &res)
	if diff := cmp.Diff(api.SiteImportResult{Created: 2, Updated: 1, ComputersMoved: 1}, res); diff != "" {
		t.Errorf("import (-want +got):\n%s", diff)
	}
	var sites api.List[api.Site]
	e.api("GET", "/api/v1/sites", "", "token", 200, &sites)
	got := map[string]api.Site{}
	for _, s := range sites.Items {
		got[s.Name] = s
	}
	if l := got["Lyon"]; l.TimeZone != "Europe/Paris" || len(l.CIDRs) != 2 || l.FragmentLocation != "relay.lyon:8080/download" {
		t.Errorf("Lyon: %+v", l)
	}
	if d := got["doc-net"]; d.TimeZone != "America/New_York" || d.Computers != 1 {
		t.Errorf("doc-net: %+v", d)
	}
	if h := got["hq"]; h.TimeZone != "" || len(h.CIDRs) != 1 {
		t.Errorf("hq: %+v", h)
	}
	var apiErr api.Error
	e.api("POST", "/api/v1/sites/import", `{"csv":"paris,10.30.0.0/16,Europe/Pariss\nnice,10.40.0.0/33,Europe/Paris\n"}`, "token", 400, &apiErr)
	if !strings.Contains(apiErr.Error, `line 1: site paris: time zone "Europe/Pariss" is not an IANA time zone`) ||
		!strings.Contains(apiErr.Error, "line 2: site nice: not a range (write them like 10.1.0.0/16): 10.40.0.0/33") {
		t.Errorf("error %q", apiErr.Error)
	}
	e.api("GET", "/api/v1/sites", "", "token", 200, &sites)
	if sites.Total != 3 {
		t.Errorf("a refused import left %d sites, want 3", sites.Total)
	}
}

// TestSiteOCSTimings: a site's ocs_timings is stored, answered and kept by
// an import of the site; an unknown value is a 400 that names it; the
// OpenAPI document describes the field.
func TestSiteOCSTimings(t *testing.T) {
	e := newEnv(t)
	var site api.Site
	e.api("POST", "/api/v1/sites", `{"name":"branch","cidrs":["10.50.0.0/16"],"ocs_timings":"default"}`, "token", 201, &site)
	if site.OCSTimings != "default" {
		t.Fatalf("created site: %+v", site)
	}
	e.api("POST", "/api/v1/sites/import", `{"csv":"branch,10.50.0.0/16;10.51.0.0/16,Europe/Paris\n"}`, "token", 200, nil)
	e.api("GET", fmt.Sprintf("/api/v1/sites/%d", site.ID), "", "token", 200, &site)
	if site.OCSTimings != "default" || len(site.CIDRs) != 2 {
		t.Fatalf("site after an import: %+v", site)
	}
	var apiErr api.Error
	e.api("PUT", fmt.Sprintf("/api/v1/sites/%d", site.ID), `{"name":"branch","cidrs":["10.50.0.0/16"],"ocs_timings":"fast"}`, "token", 400, &apiErr)
	if !strings.Contains(apiErr.Error, `ocs_timings "fast" is not short, default or empty`) {
		t.Errorf("bad ocs_timings: %q", apiErr.Error)
	}
	e.api("PUT", fmt.Sprintf("/api/v1/sites/%d", site.ID), `{"name":"branch","cidrs":["10.50.0.0/16"],"ocs_timings":"short"}`, "token", 200, &site)
	if site.OCSTimings != "short" {
		t.Errorf("updated site: %+v", site)
	}
	doc := e.api("GET", "/api/v1/openapi.json", "", "token", 200, nil)
	if !strings.Contains(doc.Body.String(), `"ocs_timings"`) {
		t.Error("the OpenAPI document does not describe ocs_timings")
	}
}

func TestComputerTagAPI(t *testing.T) {
	e := newEnv(t)
	cid := e.inventory()
	path := fmt.Sprintf("/api/v1/computers/%d/tag", cid)
	var got api.TagRequest
	e.api("PUT", path, `{"tag":" lyon "}`, "token", 200, &got)
	if got.Tag != "lyon" {
		t.Errorf("answer tag = %q, want lyon", got.Tag)
	}
	var d api.ComputerDetail
	e.api("GET", fmt.Sprintf("/api/v1/computers/%d", cid), "", "token", 200, &d)
	if d.AccountInfo["TAG"] != "lyon" {
		t.Errorf("account info = %v, want TAG lyon", d.AccountInfo)
	}
	var apiErr api.Error
	e.api("PUT", path, `{"tag":"a\u0000b"}`, "token", 400, &apiErr)
	if !strings.Contains(apiErr.Error, "control character") {
		t.Errorf("error = %q", apiErr.Error)
	}
	e.api("PUT", "/api/v1/computers/9999/tag", `{"tag":"x"}`, "token", 404, nil)
}

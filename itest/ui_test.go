//go:build integration

package itest

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestWebUIEndToEnd drives the admin web UI of the real shoal-central in
// headless Chromium: log in, upload a package with the form, activate it,
// affect it to the computer the real OCS agent inventoried, run the agent,
// and watch the status page reach success without a reload. Every page is
// saved as a PNG screenshot.
func TestWebUIEndToEnd(t *testing.T) {
	heavy(t)
	br := newBrowser(t)
	t.Logf("browser: %s", chromiumVersion())
	c := startCentral(t, "")
	host := shortHost(t)
	agent := newOCSAgent(t, c.HTTPSURL+"/ocsinventory", c.CAFile)
	if code, log := agent.Run("--tag=uitest"); code != 0 {
		t.Fatalf("agent exit %d:\n%s", code, log)
	}
	base := c.HTTPSURL
	const wait = 30 * time.Second

	// Log in: the dashboard redirects to the form; a wrong password is
	// reported next to the field.
	br.do("open ui", wait, chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.ID("user")))
	br.shot("login")
	br.do("wrong password", wait,
		chromedp.SendKeys(chromedp.ID("user"), "admin"),
		chromedp.SendKeys(chromedp.ID("password"), "not-the-password"),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.CSS(".field-error")))
	if got := br.text(".field-error"); !strings.Contains(got, "Wrong user name or password") {
		t.Fatalf("login error %q", got)
	}
	br.shot("login-error")
	br.do("log in", wait,
		chromedp.SendKeys(chromedp.ID("password"), c.Password),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.CSS(".tiles")))
	br.shot("dashboard-empty")

	// The computer the agent inventoried, found by its TAG.
	br.do("computers", wait, chromedp.Navigate(base+"/ui/computers?tag=uitest"), chromedp.WaitVisible(chromedp.CSS("table")))
	if got := br.text("tbody"); !strings.Contains(got, host) {
		t.Fatalf("computers tagged uitest: %q, want %s", got, host)
	}
	br.shot("computers")
	br.do("computer", wait, chromedp.Click(chromedp.CSS("tbody a")), chromedp.WaitVisible(chromedp.CSS(".kv")))
	br.shot("computer")

	// Upload through the form, which sends the file with XMLHttpRequest and
	// a progress bar.
	work := t.TempDir()
	marker := filepath.Join(work, "ui-marker")
	payload := filepath.Join(work, "payload.tar.gz")
	if err := os.WriteFile(payload, targz(t, map[string]string{
		"run.sh": "#!/bin/sh\necho from-the-ui > \"$1\"\n", "pad.txt": padding(300 << 10),
	}), 0o644); err != nil {
		t.Fatal(err)
	}
	br.do("new package form", wait, chromedp.Navigate(base+"/ui/packages/new"), chromedp.WaitVisible(chromedp.ID("p-file")),
		chromedp.SendKeys(chromedp.ID("p-name"), "ui-exec"),
		chromedp.SendKeys(chromedp.ID("p-command"), "sh run.sh "+marker),
		chromedp.SendKeys(chromedp.ID("p-fragments"), "3"),
		chromedp.SetUploadFiles(chromedp.ID("p-file"), []string{payload}))
	br.shot("package-new")
	br.do("upload", time.Minute, chromedp.Click(chromedp.CSS("form[data-upload] button[type=submit]")))
	br.waitJS("package page", `/^\/ui\/packages\/\d+$/.test(location.pathname) && document.querySelector(".kv") !== null`, time.Minute)
	pkgID := regexp.MustCompile(`\d+$`).FindString(br.eval(`location.pathname`))
	if got := br.text(".flash"); !strings.Contains(got, "built and signed") {
		t.Errorf("after upload: %q", got)
	}
	if got := br.eval(`document.body.textContent.replace(/\s+/g, " ")`); !strings.Contains(got, "valid key") || !strings.Contains(got, pkgID+"-3") {
		t.Errorf("package page lacks the signature status or the fragments:\n%s", got)
	}
	br.shot("package")

	// Activate: the availability check fetches the info file and every
	// fragment from central before the package goes live.
	br.do("activate", 2*time.Minute, chromedp.Click(chromedp.CSS("#activate button.primary")),
		chromedp.WaitVisible(chromedp.CSS(".flash.ok")))
	if got := br.text(".flash.ok"); !strings.Contains(got, "fetched the info file and 3 fragments") {
		t.Errorf("activation result %q", got)
	}
	br.shot("package-activated")

	// Affect by a search, with a preview of the count first.
	br.do("affect form", wait, chromedp.Navigate(base+"/ui/packages/"+pkgID+"/affect"), chromedp.WaitVisible(chromedp.ID("f-name")),
		chromedp.SendKeys(chromedp.ID("f-name"), host),
		chromedp.Click(chromedp.CSS(`button[value=preview]`)),
		chromedp.WaitVisible(chromedp.ID("preview-count")))
	if got := br.text("#preview-count"); got != "1 computer match" {
		t.Errorf("preview %q, want 1 computer match", got)
	}
	br.shot("affect-preview")
	br.do("confirm affect", wait, chromedp.Click(chromedp.ID("confirm-affect")), chromedp.WaitVisible(chromedp.ID("st-rows")))
	if got := br.text("#st-rows"); !strings.Contains(got, host) || !strings.Contains(got, "waiting") {
		t.Errorf("status rows after affect: %q", got)
	}
	br.shot("status-waiting")
	br.do("dashboard with a deployment", wait, chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.CSS(".stackbar")))
	if got := br.text("main"); !strings.Contains(got, "ui-exec") {
		t.Errorf("dashboard does not list the active deployment: %q", got)
	}
	br.shot("dashboard-active")
	br.do("back to status", wait, chromedp.Navigate(base+"/ui/packages/"+pkgID+"/status"), chromedp.WaitVisible(chromedp.ID("st-rows")))

	// Run the agent; the open status page must show success by itself.
	br.eval(`window.shoalNoReload = "still here"; window.shoalNoReload`)
	if code, log := agent.Run(); code != 0 {
		t.Fatalf("agent exit %d:\n%s", code, log)
	}
	br.waitJS("status reaches success", `document.querySelector("#st-rows").innerText.includes("success")`, 4*time.Minute)
	if got := br.eval(`String(window.shoalNoReload)`); got != "still here" {
		t.Errorf("the status page reloaded (marker %q); it should refresh in place", got)
	}
	if got := br.text("#st-rows"); !strings.Contains(got, "SUCCESS") {
		t.Errorf("status rows: %q, want the SUCCESS code", got)
	}
	if got := br.eval(`document.querySelector("#st-charts svg path.c-ok").getAttribute("d")`); !strings.Contains(got, "V") {
		t.Errorf("completion chart has no step: %q", got)
	}
	br.shot("status-success")
	if b, err := os.ReadFile(marker); err != nil || string(b) != "from-the-ui\n" {
		t.Errorf("EXECUTE marker: %q, %v", b, err)
	}
	agent.waitWorker(2 * time.Minute)

	// The other pages.
	br.do("dashboard", wait, chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.CSS(".tiles")))
	br.shot("dashboard")
	br.do("packages", wait, chromedp.Navigate(base+"/ui/packages"), chromedp.WaitVisible(chromedp.CSS("table")))
	br.shot("packages")
	br.do("create site", wait, chromedp.Navigate(base+"/ui/sites"), chromedp.WaitVisible(chromedp.ID("s-name")),
		chromedp.SendKeys(chromedp.ID("s-name"), "loopback"),
		chromedp.SendKeys(chromedp.ID("s-cidrs"), "127.0.0.0/8"),
		chromedp.SendKeys(chromedp.ID("s-loc"), "https://relay/download"),
		chromedp.Submit(chromedp.ID("s-name")),
		chromedp.WaitVisible(chromedp.CSS(".field-error")))
	br.shot("site-error")
	br.do("fix site", wait, chromedp.SetValue(chromedp.ID("s-loc"), "relay.local:8080/download"),
		chromedp.Submit(chromedp.ID("s-name")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	br.shot("sites")
	br.do("settings", wait, chromedp.Navigate(base+"/ui/settings"), chromedp.WaitVisible(chromedp.ID("agent-cmd")))
	// The UI shows the very command that GET /server gives and that
	// TestOCSCommandAsPrinted runs.
	var info struct {
		OCSAgentCommand string `json:"ocs_agent_command"`
	}
	c.do("GET", "/api/v1/server", nil, &info, http.StatusOK)
	if got := br.text("#agent-cmd"); got != info.OCSAgentCommand || !strings.HasPrefix(got, "ocsinventory-agent --nolocal --server="+base+"/ocsinventory --ca=/") {
		t.Errorf("UI agent command %q, want the API's %q", got, info.OCSAgentCommand)
	}
	br.shot("settings")
	br.do("token", wait, chromedp.Navigate(base+"/ui/tokens"), chromedp.WaitVisible(chromedp.ID("t-name")),
		chromedp.SendKeys(chromedp.ID("t-name"), "ui-test"), chromedp.Submit(chromedp.ID("t-name")),
		chromedp.WaitVisible(chromedp.ID("new-token")))
	tok := br.text("#new-token")
	br.shot("tokens")
	br.do("read-only user", wait, chromedp.Navigate(base+"/ui/users"), chromedp.WaitVisible(chromedp.ID("n-name")),
		chromedp.SendKeys(chromedp.ID("n-name"), "viewer"),
		chromedp.SendKeys(chromedp.ID("n-pw"), "viewer-password-1"),
		chromedp.SendKeys(chromedp.ID("n-pc"), "viewer-password-1"),
		chromedp.Submit(chromedp.ID("n-name")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	br.shot("users")
	br.do("audit", wait, chromedp.Navigate(base+"/ui/audit"), chromedp.WaitVisible(chromedp.CSS("table")))
	if got := br.text("tbody"); !strings.Contains(got, "package.affect") || !strings.Contains(got, "package.activate") {
		t.Errorf("audit log lacks the UI's actions: %q", got)
	}
	br.shot("audit")

	// Phone width: the same pages, CSS only.
	br.do("phone", wait, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	for _, p := range []struct{ name, path, sel string }{
		{"phone-dashboard", "/ui/", ".tiles"},
		{"phone-status", "/ui/packages/" + pkgID + "/status", "#st-rows"},
		{"phone-package", "/ui/packages/" + pkgID, ".kv"},
		{"phone-computers", "/ui/computers", "table"},
	} {
		br.do(p.name, wait, chromedp.Navigate(base+p.path), chromedp.WaitVisible(chromedp.CSS(p.sel)))
		if w := br.eval(`String(document.documentElement.scrollWidth)`); w != "390" {
			t.Errorf("%s: page is %s px wide at a 390 px viewport", p.name, w)
		}
		br.shot(p.name)
	}

	// Refusals, outside the browser.
	anon := newUIClient(t, c)
	if code, _ := anon.send("GET", "/ui/packages", nil, nil); code != http.StatusSeeOther {
		t.Errorf("page without a session: %d, want 303 to the login form", code)
	}
	if code, _ := anon.send("GET", "/api/v1/packages", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("API without a token: %d, want 401", code)
	}
	if code, _ := anon.send("GET", "/api/v1/packages", nil, map[string]string{"Authorization": "Bearer " + tok}); code != http.StatusOK {
		t.Errorf("API with the token made in the UI: %d, want 200", code)
	}
	admin := newUIClient(t, c)
	admin.login("admin", c.Password)
	if code, _ := admin.send("POST", "/ui/sites", url.Values{"name": {"nocsrf"}}, nil); code != http.StatusForbidden {
		t.Errorf("form POST without the CSRF token: %d, want 403", code)
	}
	viewer := newUIClient(t, c)
	viewer.login("viewer", "viewer-password-1")
	if code, _ := viewer.send("GET", "/ui/packages/"+pkgID+"/status", nil, nil); code != http.StatusOK {
		t.Errorf("read-only user reading: %d", code)
	}
	for _, p := range []string{"/ui/sites", "/ui/packages/" + pkgID + "/deactivate", "/ui/packages/" + pkgID + "/affect", "/ui/settings", "/ui/tokens"} {
		if code, _ := viewer.send("POST", p, url.Values{"name": {"x"}, "_csrf": {viewer.csrf}}, nil); code != http.StatusForbidden {
			t.Errorf("read-only POST %s: %d, want 403", p, code)
		}
	}
}

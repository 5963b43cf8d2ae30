//go:build integration

package itest

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/shoal-project/shoal/proto/api"
)

// postSoftwareInventory sends the captured Unix-agent inventory as device
// deviceID, named name, with the extra software entries sw (name, version
// pairs) and the memory memMB, as an agent would.
func (c *Central) postSoftwareInventory(deviceID, name string, memMB int, sw ...string) {
	c.t.Helper()
	inv, err := os.ReadFile("../proto/ocs/testdata/unix-agent-2.10.0/inventory-request.xml")
	if err != nil {
		c.t.Fatal(err)
	}
	doc := strings.ReplaceAll(string(inv), captureDeviceID, deviceID)
	doc = strings.Replace(doc, "<NAME>vm</NAME>", "<NAME>"+name+"</NAME>", 1)
	doc = strings.Replace(doc, "<MEMORY>24105</MEMORY>", fmt.Sprintf("<MEMORY>%d</MEMORY>", memMB), 1)
	var extra strings.Builder
	for i := 0; i+1 < len(sw); i += 2 {
		fmt.Fprintf(&extra, "<SOFTWARES><NAME>%s</NAME><VERSION>%s</VERSION><PUBLISHER>Mozilla</PUBLISHER></SOFTWARES>", sw[i], sw[i+1])
	}
	doc = strings.Replace(doc, "</CONTENT>", extra.String()+"</CONTENT>", 1)
	req, _ := http.NewRequest("POST", c.HTTPURL+"/ocsinventory", strings.NewReader(string(zlibBytes([]byte(doc)))))
	req.Header.Set("User-Agent", "OCS-NG_unified_unix_agent_v2.10.0")
	req.Header.Set("Content-Type", "application/x-compress")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("inventory of %s: status %d", name, resp.StatusCode)
	}
}

// TestSoftwareCatalogAndHistory inventories two computers whose Firefox
// names differ ("Mozilla Firefox (x64 fr)", "Mozilla Firefox 133.0"), then
// upgrades one: in Chromium the Software page shows one "Mozilla
// Firefox" title on 2 computers, a rule added with the page's form gives
// it a category, the title's page lists both versions and clicks through
// to the computer, whose page shows the upgrade and the memory change;
// the API answers the same, exports CSV, refuses a bad rule with 400, and
// shoalctl prints the title and the history.
func TestSoftwareCatalogAndHistory(t *testing.T) {
	t.Parallel()
	c := startCentral(t, "inventory:\n  catalog_cache_ttl: 1ms\n")
	c.postSoftwareInventory("fx-one-2026-12-01-07-24-08", "fx-one", 8000, "Mozilla Firefox (x64 fr)", "131.0")
	c.postSoftwareInventory("fx-two-2026-12-01-07-24-08", "fx-two", 8000, "Mozilla Firefox 133.0", "133.0")
	c.postSoftwareInventory("fx-one-2026-12-01-07-24-08", "fx-one", 16000, "Mozilla Firefox (x64 fr)", "133.0.3")
	one := c.computers("?name=fx-one")
	if len(one) != 1 {
		t.Fatalf("computers named fx-one: %d", len(one))
	}
	id := one[0].ID

	// The API.
	var list api.List[api.SoftwareTitle]
	c.do("GET", "/api/v1/software?q=firefox", nil, &list, 200)
	if len(list.Items) != 1 || list.Items[0].Title != "Mozilla Firefox" || list.Items[0].Computers != 2 {
		t.Fatalf("catalog for firefox: %+v", list.Items)
	}
	var hist api.List[api.HistoryEntry]
	c.do("GET", fmt.Sprintf("/api/v1/computers/%d/history", id), nil, &hist, 200)
	var sawUpgrade, sawMemory bool
	for _, h := range hist.Items {
		sawUpgrade = sawUpgrade || h.Kind == "software.upgraded" && h.Subject == "Mozilla Firefox (x64 fr)" && h.Old == "131.0" && h.New == "133.0.3"
		sawMemory = sawMemory || h.Kind == "hardware" && h.Subject == "memory_mb" && h.New == "16000"
	}
	if !sawUpgrade || !sawMemory {
		t.Fatalf("history of fx-one: %+v", hist.Items)
	}
	c.do("POST", "/api/v1/software/rules", api.SoftwareRuleRequest{Pattern: "(unclosed"}, nil, 400)
	csv := string(c.do("GET", "/api/v1/software/"+url.PathEscape("Mozilla Firefox")+"/computers?format=csv", nil, nil, 200))
	if !strings.HasPrefix(csv, "computer_id,computer,site,name,version,publisher,last_inventory\n") || !strings.Contains(csv, ",fx-two,,Mozilla Firefox 133.0,133.0,Mozilla,") {
		t.Errorf("CSV of the title's computers:\n%s", csv)
	}

	// The UI, in Chromium.
	br := newBrowser(t)
	base := c.HTTPSURL
	const wait = 30 * time.Second
	br.do("log in", wait, chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.ID("user")),
		chromedp.SendKeys(chromedp.ID("user"), "admin"),
		chromedp.SendKeys(chromedp.ID("password"), c.Password),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.CSS(".tiles")))
	br.do("software page", wait, chromedp.Navigate(base+"/ui/software?q=firefox"), chromedp.WaitVisible(chromedp.ID("software-titles")))
	if got := br.text("#software-titles tbody tr"); !strings.Contains(got, "Mozilla Firefox") || !strings.Contains(got, "2") {
		t.Fatalf("catalog row %q", got)
	}
	br.do("add a rule", wait,
		chromedp.SendKeys(chromedp.ID("r-pattern"), "firefox"),
		chromedp.SendKeys(chromedp.ID("r-category"), "Browsers"),
		chromedp.Click(chromedp.ID("add-rule")),
		chromedp.WaitVisible(chromedp.ID("software-rules")))
	br.do("browsers", wait, chromedp.Navigate(base+"/ui/software?category=Browsers"), chromedp.WaitVisible(chromedp.ID("software-titles")))
	if got := br.text("#software-titles tbody tr"); !strings.Contains(got, "Browsers") {
		t.Fatalf("catalog row after the rule %q", got)
	}
	br.shot("software-catalog")
	br.do("title", wait, chromedp.Click(chromedp.CSS("#software-titles tbody a")), chromedp.WaitVisible(chromedp.ID("title-versions")))
	if got := br.text("#title-versions"); !strings.Contains(got, "133.0.3") || !strings.Contains(got, "133.0") {
		t.Errorf("versions %q", got)
	}
	br.shot("software-title")
	br.do("computer", wait, chromedp.Navigate(base+"/ui/software/"+url.PathEscape(list.Items[0].Key)+"?version=133.0.3"),
		chromedp.WaitVisible(chromedp.ID("title-holders")),
		chromedp.Click(chromedp.CSS("#title-holders tbody a")), chromedp.WaitVisible(chromedp.ID("computer-history")))
	if got := br.text("#computer-history"); !strings.Contains(got, "upgraded") || !strings.Contains(got, "133.0.3") || !strings.Contains(got, "memory_mb") {
		t.Errorf("computer history %q", got)
	}
	br.shot("computer-history")

	// shoalctl.
	ctl := newCtl(t, t.TempDir())
	if code, out, errOut := ctl.run([]string{"SHOAL_PASSWORD=" + c.Password}, "login", "--server", c.HTTPSURL, "--ca", c.CAFile); code != 0 {
		t.Fatalf("login: exit %d\n%s%s", code, out, errOut)
	}
	if out := ctl.ok(nil, "software", "get", "Mozilla Firefox"); !strings.Contains(out, "Browsers") || !strings.Contains(out, "133.0.3") {
		t.Errorf("shoalctl software get:\n%s", out)
	}
	if out := ctl.ok(nil, "software", "list", "--csv", "--category", "Browsers"); !strings.Contains(out, "Mozilla Firefox,Browsers,Mozilla,2,") {
		t.Errorf("shoalctl software list --csv:\n%s", out)
	}
	if out := ctl.ok(nil, "computer", "history", fmt.Sprint(id)); !strings.Contains(out, "software.upgraded") {
		t.Errorf("shoalctl computer history:\n%s", out)
	}
}

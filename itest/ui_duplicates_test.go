//go:build integration

package itest

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestWebUIDuplicates drives the duplicates page in Chromium against the
// real central: an inventory naming another computer's DEVICEID as its
// OLD_DEVICEID (as the Windows agent does after a reinstall) shows as a
// merge, Split creates the old computer again, the manual merge form merges
// it back, and the automatic purge is set and shown.
func TestWebUIDuplicates(t *testing.T) {
	t.Parallel()
	br := newBrowser(t)
	c := startCentral(t, "")
	c.postInventory("dup-old-2026-12-05-00-00-00", "dup")
	c.postInventoryOldID("dup-new-2026-12-05-00-00-00", "dup-old-2026-12-05-00-00-00")

	base := c.HTTPSURL
	const wait = 30 * time.Second
	br.do("log in", wait, chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.ID("user")),
		chromedp.SendKeys(chromedp.ID("user"), "admin"),
		chromedp.SendKeys(chromedp.ID("password"), c.Password),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.CSS(".tiles")))
	br.do("duplicates", wait, chromedp.Navigate(base+"/ui/duplicates"), chromedp.WaitVisible(chromedp.CSS("tr.merge")))
	if got := br.text("tr.merge"); !strings.Contains(got, "took over") || !strings.Contains(got, "dup-old-2026-12-05-00-00-00") || !strings.Contains(got, "OLD_DEVICEID") {
		t.Fatalf("merge row %q, want the takeover of dup-old by OLD_DEVICEID", got)
	}
	br.do("split", wait, chromedp.Click(chromedp.CSS("tr.merge button")), chromedp.WaitVisible(chromedp.CSS("h1")))
	br.waitJS("split computer page", `location.pathname.startsWith('/ui/computers/')`, wait)
	splitID := strings.TrimPrefix(br.eval(`location.pathname`), "/ui/computers/")
	br.do("duplicates after split", wait, chromedp.Navigate(base+"/ui/duplicates"), chromedp.WaitVisible(chromedp.CSS("tr.merge")))
	if got := br.text("tr.merge"); !strings.Contains(got, "split") || !strings.Contains(got, "computer "+splitID) {
		t.Fatalf("merge row after split %q, want split into computer %s", got, splitID)
	}
	keep := strings.TrimPrefix(br.eval(`document.querySelector('tr.merge a').getAttribute('href')`), "/ui/computers/")
	br.do("merge by hand", wait,
		chromedp.SetValue(chromedp.ID("m-target"), keep),
		chromedp.SetValue(chromedp.ID("m-from"), splitID),
		chromedp.Submit(chromedp.ID("m-from")),
		chromedp.WaitVisible(chromedp.ID("done")))
	if got := br.eval(`String(document.querySelectorAll('tr.merge').length)`); got != "2" {
		t.Errorf("%s merge rows after the manual merge, want 2", got)
	}
	br.do("purge setting", wait,
		chromedp.SetValue(chromedp.ID("p-days"), "120"),
		chromedp.Submit(chromedp.ID("p-days")),
		chromedp.WaitVisible(chromedp.ID("done")))
	if got := br.text("#purge-days"); got != "120" {
		t.Errorf("purge shown %q, want 120", got)
	}
	br.shot("duplicates")
}

// postInventoryOldID posts the captured inventory under deviceID, naming
// oldID as its OLD_DEVICEID.
func (c *Central) postInventoryOldID(deviceID, oldID string) {
	c.t.Helper()
	inv, err := os.ReadFile("../proto/ocs/testdata/unix-agent-2.10.0/inventory-request.xml")
	if err != nil {
		c.t.Fatal(err)
	}
	doc := strings.ReplaceAll(string(inv), captureDeviceID, deviceID)
	doc = strings.Replace(doc, "<NAME>vm</NAME>", "<NAME>dup</NAME>", 1)
	doc = strings.Replace(doc, "<CONTENT>", "<CONTENT><OLD_DEVICEID>"+oldID+"</OLD_DEVICEID>", 1)
	req, _ := http.NewRequest("POST", c.HTTPURL+"/ocsinventory", strings.NewReader(string(zlibBytes([]byte(doc)))))
	req.Header.Set("User-Agent", "OCS-NG_unified_unix_agent_v2.10.0")
	req.Header.Set("Content-Type", "application/x-compress")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("inventory of %s: status %d", deviceID, resp.StatusCode)
	}
}

//go:build integration

package itest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestWebUIComputerTag edits a TAG on the computer page in Chromium: the
// page shows what the real OCS agent sent (architecture, OS without a
// repeated version, local users), the saved TAG replaces the agent's, and
// the agent adopts it at its next inventory.
func TestWebUIComputerTag(t *testing.T) {
	heavy(t)
	br := newBrowser(t)
	c := startCentral(t, "")
	host := shortHost(t)
	agent := newOCSAgent(t, c.HTTPSURL+"/ocsinventory", c.CAFile)
	if code, log := agent.Run("--tag=ui-agent", "--force"); code != 0 {
		t.Fatalf("agent exit %d:\n%s", code, log)
	}
	base := c.HTTPSURL
	const wait = 30 * time.Second
	br.do("log in", wait, chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.ID("user")),
		chromedp.SendKeys(chromedp.ID("user"), "admin"),
		chromedp.SendKeys(chromedp.ID("password"), c.Password),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.CSS(".tiles")))
	br.do("computer", wait, chromedp.Navigate(base+"/ui/computers?tag=ui-agent"), chromedp.WaitVisible(chromedp.CSS("tbody a")),
		chromedp.Click(chromedp.CSS("tbody a")), chromedp.WaitVisible(chromedp.ID("c-tag")))
	if got := br.text("h1"); got != host {
		t.Errorf("computer page of %q, want %s", got, host)
	}
	if got := br.text("#arch"); got == "" {
		t.Error("the computer page shows no architecture")
	}
	if os := br.text("#os"); strings.Count(os, "12") > 1 {
		t.Errorf("operating system %q repeats its version", os)
	}
	if got := br.text("#tag"); got != "ui-agent" {
		t.Fatalf("TAG shown %q, want ui-agent", got)
	}
	br.do("save tag", wait,
		chromedp.SetValue(chromedp.ID("c-tag"), "ui-branch"),
		chromedp.Submit(chromedp.ID("c-tag")))
	br.waitJS("saved TAG shown", `document.querySelector('#tag') && document.querySelector('#tag').textContent === 'ui-branch'`, wait)
	br.shot("computer-tag")

	if code, log := agent.Run("--force"); code != 0 {
		t.Fatalf("agent exit %d:\n%s", code, log)
	}
	b, err := os.ReadFile(filepath.Join(agent.VarDir(), "ocsinv.adm"))
	if err != nil || !strings.Contains(string(b), "<KEYVALUE>ui-branch</KEYVALUE>") {
		t.Fatalf("ocsinv.adm after the next inventory: %s (%v)", b, err)
	}
}

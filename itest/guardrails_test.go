//go:build integration

package itest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestWebUIGuardrails drives the real central's admin UI in headless
// Chromium through the deployment guardrails: a text file uploaded as an
// EXECUTE package is refused next to the file field, and a WINDOWS package
// previewed on the Linux computer the real OCS agent inventoried says that
// computer is excluded and why, and offers no affectation.
func TestWebUIGuardrails(t *testing.T) {
	heavy(t)
	br := newBrowser(t)
	c := startCentral(t, "")
	host := shortHost(t)
	agent := newOCSAgent(t, c.HTTPSURL+"/ocsinventory", c.CAFile)
	if code, log := agent.Run("--tag=guardrails"); code != 0 {
		t.Fatalf("agent exit %d:\n%s", code, log)
	}
	base := c.HTTPSURL
	const wait = 30 * time.Second
	br.do("log in", wait, chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.ID("user")),
		chromedp.SendKeys(chromedp.ID("user"), "admin"),
		chromedp.SendKeys(chromedp.ID("password"), c.Password),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.CSS(".tiles")))

	work := t.TempDir()
	notes := filepath.Join(work, "notes.txt")
	if err := os.WriteFile(notes, []byte("23 bytes of plain text."), 0o644); err != nil {
		t.Fatal(err)
	}
	br.do("upload a text file as EXECUTE", wait, chromedp.Navigate(base+"/ui/packages/new"), chromedp.WaitVisible(chromedp.ID("p-file")),
		chromedp.SendKeys(chromedp.ID("p-name"), "notes"),
		chromedp.SetValue(chromedp.ID("p-platform"), "WINDOWS"),
		chromedp.SendKeys(chromedp.ID("p-command"), "setup.exe /S"),
		chromedp.SetUploadFiles(chromedp.ID("p-file"), []string{notes}),
		chromedp.Click(chromedp.CSS("form[data-upload] button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#p-file + .field-error")))
	if got := br.text("#p-file + .field-error"); !strings.Contains(got, "EXECUTE packages must be a tar.gz or zip archive") ||
		!strings.Contains(got, "23-byte file is neither") {
		t.Errorf("upload error %q", got)
	}
	br.shot("guardrail-upload-text")

	archive := filepath.Join(work, "setup.tar.gz")
	if err := os.WriteFile(archive, targz(t, map[string]string{"setup.cmd": "echo hi\r\n"}), 0o644); err != nil {
		t.Fatal(err)
	}
	br.do("upload the archive", wait, chromedp.SetUploadFiles(chromedp.ID("p-file"), []string{archive}),
		chromedp.Click(chromedp.CSS("form[data-upload] button[type=submit]")))
	br.waitJS("package page", `/^\/ui\/packages\/\d+$/.test(location.pathname) && document.querySelector(".kv") !== null`, time.Minute)
	pkgID := regexp.MustCompile(`\d+$`).FindString(br.eval(`location.pathname`))

	br.do("preview on the Linux computer", wait, chromedp.Navigate(base+"/ui/packages/"+pkgID+"/affect"), chromedp.WaitVisible(chromedp.ID("f-name")),
		chromedp.SendKeys(chromedp.ID("f-name"), host),
		chromedp.Click(chromedp.CSS(`button[value=preview]`)),
		chromedp.WaitVisible(chromedp.ID("preview-excluded")))
	got := br.text("#preview-excluded")
	for _, want := range []string{"1 computer excluded", "1 computer runs Linux: the package is for Windows, so it is excluded",
		"No matching computer runs Windows: nothing to affect."} {
		if !strings.Contains(got, want) {
			t.Errorf("preview %q lacks %q", got, want)
		}
	}
	if n := br.eval(`String(document.querySelectorAll("#confirm-affect").length)`); n != "0" {
		t.Errorf("the preview offers to affect (%s confirm buttons)", n)
	}
	br.shot("guardrail-platform-preview")
}

package ui

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/central/deploy"
)

// TestDashboardCountsFailures: failures show as failures: the bar has a
// red segment, "in progress" counts computers, identical failures are one
// row with their number of computers, and codes are explained.
func TestDashboardCountsFailures(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser()
	b.login("admin", adminPassword)
	ids := seedComputers(t, e)
	id := seedPackage(t, e, b)
	ctx := t.Context()
	wantCode(t, "activate", b.post(uiPrefix+"/packages/"+id+"/activate", url.Values{"skip_check": {"on"}}, true), http.StatusSeeOther)
	wantCode(t, "affect", b.post(uiPrefix+"/packages/"+id+"/affect", url.Values{"os": {"debian"}, "action": {"confirm"}}, true), http.StatusSeeOther)
	for _, cid := range ids[:2] {
		if err := e.dep.RecordResult(ctx, deploy.Report{ComputerID: cid, PackageID: id, Code: "ERR_DOWNLOAD_INFO", At: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}

	r := b.get(uiPrefix + "/")
	wantCode(t, "dashboard", r, http.StatusOK)
	wantBody(t, "dashboard", r,
		`<span class="num">1</span> computer in progress`, "1 package deploying",
		`aria-label="0 success, 2 error, 0 cancelled, 1 unfinished, of 3"`, `class="b-bad"`, "2/3 finished", "2 failed",
		"2 computers</a>", "ERR_DOWNLOAD_INFO", "run the OCS agent with --ca")
	if n := strings.Count(r.body, "<code title="); n != 1 {
		t.Errorf("recent failures show %d code rows, want the 2 identical failures grouped in 1", n)
	}
	if strings.Contains(r.body, `class="b-ok"`) {
		t.Error("the bar shows a success segment with no success")
	}

	r = b.get(uiPrefix + "/packages/" + id + "/status")
	wantCode(t, "status", r, http.StatusOK)
	wantBody(t, "status", r, `class="b-bad"`, "2 error", "does not trust central", "run the OCS agent with --ca")
}

//go:build integration

package itest

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOCSAgentAdoptsServerTag: a TAG changed in central reaches the real OCS
// agent the way the reference server does it. The agent inventories with
// --tag=branch-a; an admin sets branch-b through the API; at its next
// inventory the agent still sends branch-a, central answers ACCOUNT_UPDATE
// with branch-b, and the agent writes branch-b into its ocsinv.adm and
// sends it from then on.
func TestOCSAgentAdoptsServerTag(t *testing.T) {
	// Mostly waiting: runs beside the other such tests (make itest -parallel 6).
	t.Parallel()
	c := startCentral(t, "")
	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".")
	agent := newOCSAgent(t, c.HTTPSURL+"/ocsinventory", c.CAFile)
	adm := filepath.Join(agent.VarDir(), "ocsinv.adm")

	if code, log := agent.Run("--tag=branch-a", "--force"); code != 0 {
		t.Fatalf("agent exit %d:\n%s", code, log)
	}
	comps := c.computers("?name=" + host)
	if len(comps) != 1 {
		t.Fatalf("computers named %s: %d, want 1", host, len(comps))
	}
	id := comps[0].ID
	if got := c.tagOf(id); got != "branch-a" {
		t.Fatalf("TAG after the first inventory = %q, want branch-a", got)
	}

	var set struct {
		Tag string `json:"tag"`
	}
	c.do("PUT", fmt.Sprintf("/api/v1/computers/%d/tag", id), map[string]string{"tag": "branch-b"}, &set, http.StatusOK)
	if set.Tag != "branch-b" {
		t.Fatalf("PUT tag answered %q", set.Tag)
	}

	// The agent sends branch-a from its ocsinv.adm; central's branch-b wins.
	code, log := agent.Run("--force")
	if code != 0 {
		t.Fatalf("agent exit %d:\n%s", code, log)
	}
	b, err := os.ReadFile(adm)
	if err != nil {
		t.Fatalf("agent state: %v\nagent log:\n%s", err, log)
	}
	if !strings.Contains(string(b), "<KEYVALUE>branch-b</KEYVALUE>") {
		t.Fatalf("ocsinv.adm after ACCOUNT_UPDATE:\n%s\nagent log:\n%s", b, log)
	}
	if got := c.tagOf(id); got != "branch-b" {
		t.Errorf("TAG after the second inventory = %q, want central's branch-b", got)
	}
	if l := c.log.String(); !strings.Contains(l, `account_update=true`) && !strings.Contains(l, `"account_update":true`) {
		t.Errorf("central did not log an ACCOUNT_UPDATE answer:\n%s", c.tail())
	}

	// From then on the agent sends branch-b and central has nothing to update.
	if code, log := agent.Run("--force"); code != 0 {
		t.Fatalf("agent exit %d:\n%s", code, log)
	}
	if got := c.tagOf(id); got != "branch-b" {
		t.Errorf("TAG after the third inventory = %q, want branch-b", got)
	}
	if n := len(c.computers("?tag=branch-b")); n != 1 {
		t.Errorf("search tag=branch-b found %d computers, want 1", n)
	}
}

// tagOf returns the TAG central stores for computer id.
func (c *Central) tagOf(id uint) string {
	c.t.Helper()
	var d struct {
		AccountInfo map[string]string `json:"account_info"`
	}
	c.do("GET", fmt.Sprintf("/api/v1/computers/%d", id), nil, &d, http.StatusOK)
	return d.AccountInfo["TAG"]
}

package ui

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/central/audit"
	"github.com/shoal-project/shoal/central/groups"
	"github.com/shoal-project/shoal/proto/api"
)

// TestComputersBulkActions ticks two computers in the list and sets their
// TAG, adds them to a static group and deletes one; the export and the
// saved search follow the page's search; a bulk form without the CSRF
// token is refused.
func TestComputersBulkActions(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser()
	b.login("admin", adminPassword)
	unix := ingestCapture(t, e, "unix-agent-2.10.0/inventory-request.zlib", nil)
	fusion := ingestCapture(t, e, "fusioninventory-2.6/inventory-request.zlib", nil)
	ids := []string{fmt.Sprint(unix), fmt.Sprint(fusion)}

	r := b.get(uiPrefix + "/computers")
	wantCode(t, "computers", r, http.StatusOK)
	wantBody(t, "computers", r, `form="bulk"`, `value="`+ids[0]+`"`, `action="/ui/computers/bulk"`, `href="/ui/computers.csv?"`)

	form := url.Values{"computer": ids, "action": {"tag"}, "tag": {"bulk-tag"}, "return": {"os=debian"}}
	wantCode(t, "bulk without CSRF", b.post(uiPrefix+"/computers/bulk", form, false), http.StatusForbidden)
	r = b.post(uiPrefix+"/computers/bulk", form, true)
	if r.code != http.StatusSeeOther || r.header.Get("Location") != uiPrefix+"/computers?done=bulk-tag&os=debian" {
		t.Fatalf("bulk tag: %d %s", r.code, r.header.Get("Location"))
	}
	tags, err := e.store.UIComputerTags(t.Context(), []uint{unix, fusion})
	if err != nil || tags[unix] != "bulk-tag" || tags[fusion] != "bulk-tag" {
		t.Errorf("tags after the bulk action: %v, %v", tags, err)
	}

	g, err := e.ui.deps.Groups.CreateGroup(t.Context(), audit.Actor{Name: "test"}, groups.GroupInput{Name: "pilots", Members: []uint{unix}})
	if err != nil {
		t.Fatal(err)
	}
	r = b.post(uiPrefix+"/computers/bulk", url.Values{"computer": ids, "action": {"group"}, "group": {fmt.Sprint(g.ID)}}, true)
	wantCode(t, "bulk group", r, http.StatusSeeOther)
	members, err := e.store.GroupMemberIDs(t.Context(), g.ID, nil)
	if err != nil || !cmp.Equal(members, []uint{unix, fusion}) {
		t.Errorf("group members %v, %v", members, err)
	}

	// The export of the page's search, then a saved search of it.
	r = b.get(uiPrefix + "/computers.csv?tag=bulk-tag")
	wantCode(t, "export", r, http.StatusOK)
	rows, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
	if err != nil || len(rows) != 3 || !cmp.Equal(rows[0], api.ComputerCSVHeader) || rows[1][9] != "bulk-tag" {
		t.Errorf("export: %q, %v", rows, err)
	}
	r = b.post(uiPrefix+"/searches", url.Values{"search_name": {"bulk tagged"}, "tag": {"bulk-tag"}, "s_name": {""}}, true)
	wantCode(t, "save search", r, http.StatusSeeOther)
	r = b.get(uiPrefix + "/computers?tag=bulk-tag")
	wantBody(t, "computers with a saved search", r, `<a href="/ui/computers?tag=bulk-tag">bulk tagged</a>`, "private")

	r = b.post(uiPrefix+"/computers/bulk", url.Values{"computer": ids[1:], "action": {"delete"}}, true)
	wantCode(t, "bulk delete", r, http.StatusSeeOther)
	if _, err := e.store.Computer(t.Context(), fusion); err == nil {
		t.Errorf("computer %d still exists after the bulk delete", fusion)
	}

	tests := []struct {
		name string
		form url.Values
		msg  string
	}{
		{name: "none_ticked", form: url.Values{"action": {"tag"}, "tag": {"x"}}, msg: "Tick at least one computer"},
		{name: "bad_id", form: url.Values{"computer": {"x1"}, "action": {"delete"}}, msg: "is not a computer id"},
		{name: "no_action", form: url.Values{"computer": ids[:1]}, msg: "Choose an action"},
		{name: "no_group", form: url.Values{"computer": ids[:1], "action": {"group"}}, msg: "Choose a static group"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := b.post(uiPrefix+"/computers/bulk", tt.form, true)
			if r.code != http.StatusBadRequest || !strings.Contains(r.body, tt.msg) {
				t.Errorf("status %d, want 400 saying %q:\n%s", r.code, tt.msg, r.body)
			}
		})
	}
}

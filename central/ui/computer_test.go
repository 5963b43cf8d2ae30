package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto/ocs"
)

// ingestCapture stores a real agent capture from proto/ocs/testdata as the
// OCS endpoint does and returns the computer's ID.
func ingestCapture(t *testing.T, e *env, path string, edit func(*ocs.Inventory)) uint {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "proto", "ocs", "testdata", path))
	if err != nil {
		t.Fatal(err)
	}
	doc, _, err := ocs.Decode(raw, 0)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := ocs.ParseInventory(doc)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(inv)
	}
	res, err := inventory.Record(t.Context(), e.store, inventory.Snapshot(inv, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	return res.ComputerID
}

// TestComputerPageCaptures renders the computer page of each real capture:
// what the issue listed as shown wrong is right, and every kept section is
// shown.
func TestComputerPageCaptures(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser()
	b.login("admin", adminPassword)
	unix := ingestCapture(t, e, "unix-agent-2.10.0/inventory-request.zlib", nil)
	fusion := ingestCapture(t, e, "fusioninventory-2.6/inventory-request.zlib", func(inv *ocs.Inventory) {
		inv.Drives = append(inv.Drives, ocs.Drive{Letter: "C:", Type: "Hard Drive", Filesystem: "NTFS", Total: "476000", Free: "120000"})
		inv.Monitors = []ocs.Monitor{{Manufacturer: "Dell Inc.", Caption: "DELL U2419H", Serial: "7Q1"}}
		inv.Printers = []ocs.Printer{{Name: "HP LaserJet 400", Driver: "hpcups", Port: "usb://HP"}}
		inv.Videos = []ocs.Video{{Name: "Intel UHD 620", Memory: "1024", Resolution: "1920x1080"}}
	})
	glpi := ingestCapture(t, e, "glpi-agent-1.12/inventory-request.zlib", nil)
	windows := ingestCapture(t, e, "windows-agent/ocs-2.11.0.1-cpus.xml", nil)
	windowsHW := ingestCapture(t, e, "windows-agent/ocs-2.4.0.0-hardware.xml", nil)
	tests := []struct {
		name      string
		id        uint
		want, not []string
	}{
		// The GLPI agent's HARDWARE has no address or processor: the page
		// shows the primary interface's and the CPUS entry's.
		{name: "glpi-agent", id: glpi,
			want: []string{`<dd id="os">Debian GNU/Linux 12 (bookworm) 12.11</dd>`, `<dd id="arch">x86_64</dd>`,
				"<dt>IP address</dt><dd>192.0.2.2</dd>", "<dt>Processor</dt><dd>AMD EPYC × 1</dd>", "<td>8086:0d57</td>",
				"<td>adduser</td><td>3.134</td><td>Debian</td><td>all</td>", `<dd id="tag">glpi-tag</dd>`},
			not: []string{"<dt>IP address</dt><dd></dd>", "<dd> × 0</dd>"}},
		{name: "windows-agent-cpus", id: windows,
			want: []string{"<dt>Processor</dt><dd>11th Gen Intel(R) Core(TM) i7-11700 @ 2.50GHz × 1</dd>", `<dd id="arch">x86_64</dd>`}},
		{name: "windows-agent-hardware", id: windowsHW,
			want: []string{`<dd id="os">Microsoft Windows 8 Professional Edition 6.2.9200</dd>`,
				`<dd id="win-owner">XXXXXXXXX · XXXXX</dd>`, `<dd id="win-prod-id"><code>XXXXX-10000-00001-AA616</code></dd>`,
				`<dd id="win-prod-key"><code>XXXX-XXXXX-YVC9B-4J6C9-T83GX</code></dd>`, "× 4</dd>", "3960 MB (swap 4829 MB)"}},
		{name: "unix-agent", id: unix,
			want: []string{`<dd id="os">Debian GNU/Linux 12</dd>`, `<dd id="arch">x86_64</dd>`, "256.0 GiB", "<dt>MAC address</dt><dd><code>02:fc:00:00:00:01</code>",
				"<li>/ · ext4 · 79.8 GiB free of 252.0 GiB</li>", "Local users <small class=\"muted\">(24)</small>", "games",
				"No monitor reported.", "No printer reported.", "No video adapter reported."},
			not: []string{"Debian GNU/Linux 12 12", "274877.906944"}},
		{name: "fusioninventory", id: fusion,
			want: []string{`<dd id="os">Debian GNU/Linux 12 (bookworm) 12.11</dd>`, "6.18.44-fc-v1272", `<dd id="arch">x86_64</dd>`,
				"fd00::2", "<li>C: (Hard Drive) · NTFS", "Dell Inc. DELL U2419H · serial 7Q1", "HP LaserJet 400 · hpcups · usb://HP",
				"Intel UHD 620 · 1024 MB · 1920x1080", "Local users <small class=\"muted\">(25)</small>", `<dd id="tag">fi-tag</dd>`},
			not: []string{"Hard DriveC:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := b.get(fmt.Sprintf("%s/computers/%d", uiPrefix, tt.id))
			wantCode(t, "computer page", r, http.StatusOK)
			wantBody(t, "computer page", r, tt.want...)
			for _, s := range tt.not {
				if strings.Contains(r.body, s) {
					t.Errorf("computer page shows %q", s)
				}
			}
		})
	}
}

// TestComputerTagEdit sets a TAG from the computer page: the form needs the
// CSRF token and an admin, a bad TAG is refused with a clear message, and a
// saved one is stored, audited and answered to the agent's next inventory.
func TestComputerTagEdit(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser()
	b.login("admin", adminPassword)
	id := ingestCapture(t, e, "unix-agent-2.10.0/inventory-request.zlib", func(inv *ocs.Inventory) {
		inv.AccountInfo = []ocs.AccountInfo{{KeyName: "TAG", KeyValue: "agent-tag"}}
	})
	path := fmt.Sprintf("%s/computers/%d/tag", uiPrefix, id)
	page := b.get(fmt.Sprintf("%s/computers/%d", uiPrefix, id))
	wantBody(t, "computer page", page, `action="`+path+`"`, `name="tag" value="agent-tag"`)

	wantCode(t, "no csrf", b.post(path, url.Values{"tag": {"x"}}, false), http.StatusForbidden)
	r := b.post(path, url.Values{"tag": {strings.Repeat("x", 256)}}, true)
	wantCode(t, "long tag", r, http.StatusBadRequest)
	wantBody(t, "long tag", r, "at most 255")
	wantCode(t, "unknown computer", b.post(uiPrefix+"/computers/9999/tag", url.Values{"tag": {"x"}}, true), http.StatusNotFound)

	r = b.post(path, url.Values{"tag": {" paris-3 "}}, true)
	wantCode(t, "save tag", r, http.StatusSeeOther)
	if loc := r.header.Get("Location"); !strings.HasSuffix(loc, "?done=tag") {
		t.Errorf("Location = %q", loc)
	}
	wantBody(t, "after save", b.get(fmt.Sprintf("%s/computers/%d?done=tag", uiPrefix, id)), `<dd id="tag">paris-3</dd>`, "adopts it at its next inventory")
	acct, err := e.store.AccountInfoOf(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(acct) != 1 || acct[0].KeyName != store.AccountTag || acct[0].KeyValue != "paris-3" {
		t.Errorf("account info = %+v, want TAG paris-3", acct)
	}
	wantBody(t, "audit", b.get(uiPrefix+"/audit"), "computer.tag", "agent-tag", "paris-3")

	// The agent still sends its old TAG: central's wins.
	raw, err := os.ReadFile(filepath.Join("..", "..", "proto", "ocs", "testdata", "unix-agent-2.10.0", "inventory-request.zlib"))
	if err != nil {
		t.Fatal(err)
	}
	doc, _, _ := ocs.Decode(raw, 0)
	inv, err := ocs.ParseInventory(doc)
	if err != nil {
		t.Fatal(err)
	}
	inv.AccountInfo = []ocs.AccountInfo{{KeyName: "TAG", KeyValue: "agent-tag"}}
	res, err := inventory.Record(t.Context(), e.store, inventory.Snapshot(inv, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if !res.AccountUpdate || len(res.AccountInfo) != 1 || res.AccountInfo[0].KeyValue != "paris-3" {
		t.Errorf("ingest result = %+v, want ACCOUNT_UPDATE with TAG paris-3", res)
	}
}

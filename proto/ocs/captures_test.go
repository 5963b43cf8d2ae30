package ocs

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// agentCaptures are the real inventories of every OCS-protocol agent in
// testdata (each directory's README says how and where it was taken).
var agentCaptures = []struct {
	name      string // golden file: testdata/golden/sections-<name>.txt
	inventory string // the INVENTORY request, uncompressed
	prolog    string // the PROLOG request as received, "" when not captured
	userAgent string
}{
	{"unix-agent-2.10.0", "unix-agent-2.10.0/inventory-request.xml", "unix-agent-2.10.0/prolog-request.zlib", "OCS-NG_unified_unix_agent_v2.10.0"},
	{"fusioninventory-2.6", "fusioninventory-2.6/inventory-request.xml", "fusioninventory-2.6/prolog-request.zlib", "FusionInventory-Agent_v2.6-3"},
	{"glpi-agent-1.12", "glpi-agent-1.12/inventory-request.xml", "glpi-agent-1.12/prolog-request.zlib", "GLPI-Agent_v1.12-dev"},
	{"windows-agent-2.4.0.0-hardware", "windows-agent/ocs-2.4.0.0-hardware.xml", "", "OCS-NG_WINDOWS_AGENT_v2.4.0.0"},
	{"windows-agent-2.11.0.1-cpus", "windows-agent/ocs-2.11.0.1-cpus.xml", "", "OCS-NG_WINDOWS_AGENT_v2.11.0.1"},
	{"fusioninventory-windows-os", "windows-agent/fusioninventory-2.4-operatingsystem.xml", "", "FusionInventory-Agent_v2.4"},
	{"fusioninventory-windows-8.1", "windows-agent/fusioninventory-win81-os-printers-software.xml", "", "FusionInventory-Agent"},
	{"fusioninventory-windows-xp", "windows-agent/fusioninventory-winxp-hardware-drives.xml", "", "FusionInventory-Agent"},
}

// sectionLists says, for each CONTENT section Shoal reads, the wire type of
// one entry and how many entries ParseInventory kept.
var sectionLists = map[string]struct {
	typ   reflect.Type
	count func(*Inventory) int
}{
	"HARDWARE":        {reflect.TypeFor[Hardware](), func(i *Inventory) int { return one(i.Hardware != Hardware{}) }},
	"BIOS":            {reflect.TypeFor[BIOS](), func(i *Inventory) int { return 1 }},
	"OPERATINGSYSTEM": {reflect.TypeFor[OperatingSystem](), func(i *Inventory) int { return one(i.OperatingSystem != OperatingSystem{}) }},
	"CPUS":            {reflect.TypeFor[CPU](), func(i *Inventory) int { return len(i.CPUs) }},
	"MEMORIES":        {reflect.TypeFor[Memory](), func(i *Inventory) int { return len(i.Memories) }},
	"STORAGES":        {reflect.TypeFor[Storage](), func(i *Inventory) int { return len(i.Storages) }},
	"DRIVES":          {reflect.TypeFor[Drive](), func(i *Inventory) int { return len(i.Drives) }},
	"NETWORKS":        {reflect.TypeFor[Network](), func(i *Inventory) int { return len(i.Networks) }},
	"SOFTWARES":       {reflect.TypeFor[Software](), func(i *Inventory) int { return len(i.Softwares) }},
	"CONTROLLERS":     {reflect.TypeFor[Controller](), func(i *Inventory) int { return len(i.Controllers) }},
	"ACCOUNTINFO":     {reflect.TypeFor[AccountInfo](), func(i *Inventory) int { return len(i.AccountInfo) }},
	"MONITORS":        {reflect.TypeFor[Monitor](), func(i *Inventory) int { return len(i.Monitors) }},
	"PRINTERS":        {reflect.TypeFor[Printer](), func(i *Inventory) int { return len(i.Printers) }},
	"VIDEOS":          {reflect.TypeFor[Video](), func(i *Inventory) int { return len(i.Videos) }},
	"LOCAL_USERS":     {reflect.TypeFor[LocalUser](), func(i *Inventory) int { return len(i.LocalUsers) }},
	"USERS":           {reflect.TypeFor[User](), func(i *Inventory) int { return len(i.Users) }},
}

func one(b bool) int {
	if b {
		return 1
	}
	return 0
}

// sentSection is what a capture holds of one CONTENT section: how many
// entries, and the names of the fields that carried a value in any entry.
type sentSection struct {
	entries int
	fields  map[string]bool
}

// sentSections walks a capture's CONTENT with encoding/xml, independently of
// the package's reader.
func sentSections(t *testing.T, doc []byte) map[string]*sentSection {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Entity = xml.HTMLEntity
	out := map[string]*sentSection{}
	var path []string
	var text strings.Builder
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("walk capture: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			path = append(path, tok.Name.Local)
			text.Reset()
			if len(path) == 3 && path[1] == "CONTENT" {
				s := out[path[2]]
				if s == nil {
					s = &sentSection{fields: map[string]bool{}}
					out[path[2]] = s
				}
				s.entries++
			}
		case xml.CharData:
			text.Write(tok)
		case xml.EndElement:
			if len(path) == 4 && path[1] == "CONTENT" && strings.TrimSpace(text.String()) != "" {
				out[path[2]].fields[path[3]] = true
			}
			text.Reset()
			path = path[:len(path)-1]
		}
	}
}

// xmlNames returns the wire names a type's fields read.
func xmlNames(typ reflect.Type) map[string]bool {
	names := map[string]bool{}
	for i := range typ.NumField() {
		if n, _, _ := strings.Cut(typ.Field(i).Tag.Get("xml"), ","); n != "" {
			names[n] = true
		}
	}
	return names
}

func sortedKeys(m map[string]bool, want bool) []string {
	var out []string
	for k, v := range m {
		if v == want {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	if out == nil {
		return []string{"-"}
	}
	return out
}

// TestAgentCaptureSections parses each agent's real inventory and checks
// that every entry of every section Shoal reads was kept. The golden file
// testdata/golden/sections-<agent>.txt lists, per section the agent sent,
// the fields read and the fields left out, and the sections not read at
// all, so a review sees what each agent's inventory loses (rewrite it with
// -update).
func TestAgentCaptureSections(t *testing.T) {
	for _, tt := range agentCaptures {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := os.ReadFile(filepath.Join("testdata", tt.inventory))
			if err != nil {
				t.Fatal(err)
			}
			req, err := ParseRequest(doc)
			if err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			inv, err := ParseInventory(doc)
			if err != nil {
				t.Fatalf("ParseInventory: %v", err)
			}
			if req.Query != QueryInventory || inv.DeviceID != req.DeviceID || !ValidDeviceID(inv.DeviceID) {
				t.Errorf("query %q, device ID %q / %q", req.Query, req.DeviceID, inv.DeviceID)
			}
			sent := sentSections(t, doc)
			var b strings.Builder
			fmt.Fprintf(&b, "# %s (%s): sections sent, fields parsed and ignored\n", tt.inventory, tt.userAgent)
			var notRead []string
			names := make([]string, 0, len(sent))
			for n := range sent {
				names = append(names, n)
			}
			slices.Sort(names)
			for _, name := range names {
				s := sent[name]
				l, ok := sectionLists[name]
				if name == "DOWNLOAD" {
					fmt.Fprintf(&b, "DOWNLOAD: %d sent, parsed: HISTORY/PACKAGE@ID (%d packages)\n", s.entries, len(inv.History))
					continue
				}
				if !ok {
					notRead = append(notRead, fmt.Sprintf("%s(%d)", name, s.entries))
					continue
				}
				if got := l.count(inv); got != s.entries && len(s.fields) > 0 {
					t.Errorf("%s: %d entries sent, %d read", name, s.entries, got)
				}
				read := xmlNames(l.typ)
				fields := map[string]bool{}
				for f := range s.fields {
					fields[f] = read[f]
				}
				fmt.Fprintf(&b, "%s: %d sent\n  parsed: %s\n  ignored: %s\n", name, s.entries,
					strings.Join(sortedKeys(fields, true), " "), strings.Join(sortedKeys(fields, false), " "))
			}
			if notRead == nil {
				notRead = []string{"-"}
			}
			fmt.Fprintf(&b, "sections ignored: %s\n", strings.Join(notRead, " "))
			checkGolden(t, "sections-"+tt.name+".txt", []byte(b.String()))
		})
	}
}

// TestAgentCapturePrologs parses each agent's real PROLOG as received
// (zlib body): the GLPI agent adds a TOKEN element the others do not send.
func TestAgentCapturePrologs(t *testing.T) {
	for _, tt := range agentCaptures {
		if tt.prolog == "" {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", tt.prolog))
			if err != nil {
				t.Fatal(err)
			}
			doc, enc, err := Decode(raw, 0)
			if err != nil {
				t.Fatal(err)
			}
			req, err := ParseRequest(doc)
			if err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			if enc != Zlib || req.Query != QueryProlog || !ValidDeviceID(req.DeviceID) {
				t.Errorf("encoding %v, query %q, device ID %q", enc, req.Query, req.DeviceID)
			}
		})
	}
}

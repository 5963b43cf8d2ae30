package web

import (
	"fmt"
	"testing"

	"github.com/shoal-project/shoal/proto/api"
	"github.com/shoal-project/shoal/proto/ocs"
)

// TestAPIMergesAndStalePurge drives the duplicates routes: an automatic
// merge is listed, split (once), merged by hand again; bad input is a
// clear 4xx, a read-only token cannot change anything, every change is
// audited; the stale purge setting round-trips and refuses bad days.
func TestAPIMergesAndStalePurge(t *testing.T) {
	e := newEnv(t)
	vm := e.inventory()
	// The computer under a new DEVICEID naming the old one, as the Windows
	// agent sends after a reinstall (OLD_DEVICEID): it takes the row over.
	inv, err := ocs.ParseInventory(readFile(t, "inventory-request.xml"))
	if err != nil {
		t.Fatal(err)
	}
	oldDevice := inv.DeviceID
	inv.DeviceID, inv.OldDeviceID = "vm-reinstalled-2026-12-05-07-00-00", oldDevice
	if _, err := e.inv.Ingest(t.Context(), inv, unixAgent, ocsRemote); err != nil {
		t.Fatal(err)
	}

	var l api.List[api.ComputerMerge]
	e.api("GET", "/api/v1/computers/merges", "", "token", 200, &l)
	if l.Total != 1 || l.Items[0].TargetID != vm || l.Items[0].MergedDeviceID != oldDevice || l.Items[0].Reason != "old_device_id" {
		t.Fatalf("merges = %+v, want the takeover of %s by computer %d", l, oldDevice, vm)
	}
	var ro api.Token
	e.api("POST", "/api/v1/tokens", `{"name":"viewer","role":"readonly"}`, "token", 201, &ro)
	e.api("GET", "/api/v1/computers/merges", "", ro.Token, 200, nil)
	e.api("POST", fmt.Sprintf("/api/v1/computers/merges/%d/split", l.Items[0].ID), "", ro.Token, 403, nil)
	e.api("GET", "/api/v1/computers/merges", "", "", 401, nil)

	var split api.Computer
	e.api("POST", fmt.Sprintf("/api/v1/computers/merges/%d/split", l.Items[0].ID), "", "token", 201, &split)
	if split.DeviceID != oldDevice || split.ID == vm {
		t.Fatalf("split computer %+v, want a new one with device %s", split, oldDevice)
	}
	e.api("POST", fmt.Sprintf("/api/v1/computers/merges/%d/split", l.Items[0].ID), "", "token", 409, nil)
	e.api("POST", "/api/v1/computers/merges/999/split", "", "token", 404, nil)
	e.api("POST", "/api/v1/computers/merges/x/split", "", "token", 400, nil)

	path := fmt.Sprintf("/api/v1/computers/%d/merge", vm)
	e.api("POST", path, `{"from":0}`, "token", 400, nil)
	e.api("POST", path, `{"from":"x"}`, "token", 400, nil)
	e.api("POST", path, fmt.Sprintf(`{"from":%d}`, vm), "token", 400, nil)
	e.api("POST", path, `{"from":999}`, "token", 404, nil)
	e.api("POST", path, fmt.Sprintf(`{"from":%d}`, split.ID), ro.Token, 403, nil)
	var m api.ComputerMerge
	e.api("POST", path, fmt.Sprintf(`{"from":%d}`, split.ID), "token", 200, &m)
	if m.Reason != "manual" || m.MergedID != split.ID || m.TargetID != vm || m.Actor == "" {
		t.Errorf("manual merge %+v", m)
	}
	e.api("GET", fmt.Sprintf("/api/v1/computers/%d", split.ID), "", "token", 404, nil)
	e.api("GET", "/api/v1/computers/merges?limit=1", "", "token", 200, &l)
	if l.Total != 2 || len(l.Items) != 1 || l.Items[0].ID != m.ID {
		t.Errorf("merges page = %+v, want the manual merge first of 2", l)
	}

	var audit api.List[api.AuditEvent]
	e.api("GET", "/api/v1/audit?limit=100", "", "token", 200, &audit)
	seen := map[string]int{}
	for _, ev := range audit.Items {
		seen[ev.Action]++
	}
	if seen["computer.split"] != 1 || seen["computer.merge"] != 1 {
		t.Errorf("audit actions %v, want one split and one manual merge", seen)
	}

	var p api.StalePurge
	e.api("GET", "/api/v1/settings/stale-purge", "", "token", 200, &p)
	if p.Days != 0 {
		t.Errorf("default purge %+v, want off", p)
	}
	e.api("PUT", "/api/v1/settings/stale-purge", `{"days":-1}`, "token", 400, nil)
	e.api("PUT", "/api/v1/settings/stale-purge", `{"days":99999}`, "token", 400, nil)
	e.api("PUT", "/api/v1/settings/stale-purge", `{"days":90}`, ro.Token, 403, nil)
	e.api("PUT", "/api/v1/settings/stale-purge", `{"days":90}`, "token", 200, nil)
	e.api("GET", "/api/v1/settings/stale-purge", "", ro.Token, 200, &p)
	if p.Days != 90 {
		t.Errorf("purge %+v, want 90 days", p)
	}
}

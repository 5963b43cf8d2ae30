package ocsapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
	"github.com/shoal-project/shoal/proto/ocs"
)

func hexSHA(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// shoalVictim enrolls a Shoal agent's computer straight in the store and
// gives it a waiting deployment of package 1700000007.
func shoalVictim(t *testing.T, e *env, deviceID string) (*store.InventorySnapshot, uint) {
	t.Helper()
	ctx := context.Background()
	tok := &store.EnrollmentToken{Name: "victims", Hash: hexSHA("tok-" + deviceID)}
	if err := e.store.CreateEnrollmentToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	snap := storetest.Snapshot(deviceID, 3)
	res, err := inventory.EnrollAgent(ctx, e.store, tok.Hash, storetest.Snapshot(deviceID, 3),
		&store.AgentIdentity{PeerID: "12D3KooWvictim" + deviceID[:4], SecretHash: hexSHA("secret-" + deviceID)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreatePackage(ctx, &store.Package{ID: "1700000007", Name: "p", Priority: 5, Active: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.CreateDeployments(ctx, "1700000007", []uint{res.ComputerID}, false, time.Now()); err != nil {
		t.Fatal(err)
	}
	return snap, res.ComputerID
}

// ocsInventory is an OCS inventory claiming the hardware of snap.
func ocsInventory(deviceID string, snap *store.InventorySnapshot) *ocs.Inventory {
	return &ocs.Inventory{
		DeviceID:  deviceID,
		Hardware:  ocs.Hardware{Name: snap.Computer.Name, OSName: "Debian", IPAddr: "10.2.0.50"},
		BIOS:      ocs.BIOS{SystemSerial: snap.BIOS.SystemSerial},
		Networks:  []ocs.Network{{Description: "eth0", IPAddress: "10.2.0.50", MACAddr: snap.Networks[0].MACAddr}},
		Softwares: []ocs.Software{{Name: "evil"}},
	}
}

func marshalInventory(t *testing.T, inv *ocs.Inventory) []byte {
	t.Helper()
	b, err := inv.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return zlibBytes(b)
}

// state is what an attack must not change: every table's row count but the
// audit log's, and the victim's computer with its inventory, deployments
// and identity.
type state struct {
	Rows       map[string]int64
	Victim     *store.ComputerDetail
	Identities []store.AgentIdentity
	Revoked    []string
}

func snapshotState(t *testing.T, s *store.Store, victim uint) state {
	t.Helper()
	ctx := context.Background()
	rows, err := s.CountRows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	delete(rows, "audit_events")
	d, err := s.ComputerDetail(ctx, victim)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := s.ListAgents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := s.RevokedPeerIDs(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return state{Rows: rows, Victim: d, Identities: ids, Revoked: rev}
}

// TestOCSCannotTouchShoalComputers performs attacks 3 and 5 of issue 13:
// anonymous OCS requests that name a Shoal agent's computer (PROLOG, a
// DOWNLOAD ERR=SUCCESS result, INVENTORY, an OLD_DEVICEID merge, NOTIFY) or
// rename it to a relay's reserved "relay:" device ID. Each is refused with
// a clear status and changes nothing; the refusals are audited.
func TestOCSCannotTouchShoalComputers(t *testing.T) {
	e := newEnv(t)
	const dev = "victim-2026-12-01-10-00-00"
	snap, victim := shoalVictim(t, e, dev)
	before := snapshotState(t, e.store, victim)

	withOld := ocsInventory("attacker-2026-12-04-10-00-00", snap)
	withOld.OldDeviceID = dev
	tests := []struct {
		name string
		body []byte
		want int
	}{
		{name: "prolog", body: zlibBytes([]byte(`<?xml version="1.0" encoding="UTF-8"?><REQUEST><DEVICEID>` + dev + `</DEVICEID><QUERY>PROLOG</QUERY></REQUEST>`)), want: http.StatusForbidden},
		{name: "download-success", body: zlibBytes([]byte(`<REQUEST DEVICEID="` + dev + `" ERR="SUCCESS" ID="1700000007" QUERY="DOWNLOAD" />`)), want: http.StatusForbidden},
		{name: "notify", body: zlibBytes([]byte(`<REQUEST><DEVICEID>` + dev + `</DEVICEID><QUERY>NOTIFY</QUERY></REQUEST>`)), want: http.StatusForbidden},
		{name: "inventory-same-deviceid", body: marshalInventory(t, ocsInventory(dev, snap)), want: http.StatusForbidden},
		{name: "inventory-old-deviceid", body: marshalInventory(t, withOld), want: http.StatusForbidden},
		{name: "inventory-relay-deviceid", body: marshalInventory(t, ocsInventory("relay:r1-2026-12-04-10-00-00", snap)), want: http.StatusBadRequest},
		{name: "inventory-relay-uppercase", body: marshalInventory(t, ocsInventory("RELAY:r1-2026-12-04-10-00-00", snap)), want: http.StatusBadRequest},
		{name: "prolog-relay-deviceid", body: zlibBytes([]byte(`<REQUEST><DEVICEID>relay:r1-2026-12-04-10-00-00</DEVICEID><QUERY>PROLOG</QUERY></REQUEST>`)), want: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.ocs(tt.body, unixAgent)
			if rec.Code != tt.want || rec.Body.Len() == 0 {
				t.Fatalf("status %d %q, want %d with a message", rec.Code, rec.Body, tt.want)
			}
			after := snapshotState(t, e.store, victim)
			if diff := cmp.Diff(before, after, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("the refused request changed the database (-before +after):\n%s", diff)
			}
		})
	}
	if c, err := e.store.ComputerByDeviceID(context.Background(), "relay:r1-2026-12-04-10-00-00"); err == nil {
		t.Errorf("a relay: computer exists: %+v", c)
	}
	events, _, err := e.store.ListAudit(context.Background(), store.AuditFilter{Action: "ocs.refused"})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 5 || events[0].Target != dev || events[0].Actor != "anonymous ocs client" {
		t.Errorf("audit events of the refusals: %+v, want 5 naming %s", events, dev)
	}

	// The same hardware under a new DEVICEID: the duplicate rule must not
	// merge, rename or delete the Shoal computer; the OCS agent gets a
	// computer of its own.
	rec := e.ocs(marshalInventory(t, ocsInventory("attacker-2026-12-04-10-00-00", snap)), unixAgent)
	if rec.Code != http.StatusOK {
		t.Fatalf("inventory under a new device id: %d %s", rec.Code, rec.Body)
	}
	after := snapshotState(t, e.store, victim)
	if diff := cmp.Diff(before.Victim, after.Victim, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("the victim changed (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(before.Identities, after.Identities); diff != "" || len(after.Revoked) != 0 {
		t.Errorf("identities changed (-before +after):\n%s revoked %v", diff, after.Revoked)
	}
	own, err := e.store.ComputerByDeviceID(context.Background(), "attacker-2026-12-04-10-00-00")
	if err != nil || own.ID == victim || own.Source != store.SourceOCS {
		t.Errorf("the OCS agent's own computer: %+v %v", own, err)
	}
}

// TestOCSRowCaps performs attack 9 of issue 13: an anonymous inventory with
// more rows in a section than the caps is refused with 413 and stores
// nothing.
func TestOCSRowCaps(t *testing.T) {
	e := newEnv(t)
	many := func(n int, each func(i int, inv *ocs.Inventory)) *ocs.Inventory {
		inv := &ocs.Inventory{DeviceID: "big-2026-12-04-10-00-00", Hardware: ocs.Hardware{Name: "big"}}
		for i := range n {
			each(i, inv)
		}
		return inv
	}
	tests := []struct {
		name string
		inv  *ocs.Inventory
	}{
		{name: "softwares", inv: many(20001, func(i int, inv *ocs.Inventory) {
			inv.Softwares = append(inv.Softwares, ocs.Software{Name: fmt.Sprintf("s%d", i)})
		})},
		{name: "networks", inv: many(2001, func(i int, inv *ocs.Inventory) {
			inv.Networks = append(inv.Networks, ocs.Network{Description: fmt.Sprintf("eth%d", i)})
		})},
		{name: "history", inv: many(2001, func(i int, inv *ocs.Inventory) {
			inv.History = append(inv.History, fmt.Sprintf("17000%05d", i))
		})},
	}
	before, err := e.store.CountRows(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.ocs(marshalInventory(t, tt.inv), unixAgent)
			if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), "rows, more than") {
				t.Fatalf("status %d %q, want 413", rec.Code, rec.Body)
			}
			after, err := e.store.CountRows(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(before, after); diff != "" {
				t.Errorf("the refused inventory stored rows (-before +after):\n%s", diff)
			}
		})
	}
	// Under the caps the same shape is stored.
	ok := many(100, func(i int, inv *ocs.Inventory) {
		inv.Softwares = append(inv.Softwares, ocs.Software{Name: fmt.Sprintf("s%d", i)})
	})
	if rec := e.ocs(marshalInventory(t, ok), unixAgent); rec.Code != http.StatusOK {
		t.Fatalf("inventory under the caps: %d %s", rec.Code, rec.Body)
	}
}

// TestOCSMergeAudited: a computer the duplicate rule deletes (an OCS
// computer with the same name, serial and MAC as the one an inventory
// updates) is recorded in the audit log.
func TestOCSMergeAudited(t *testing.T) {
	e := newEnv(t)
	hw := storetest.Snapshot("pc-2026-12-01-10-00-00", 1)
	first := ocsInventory("pc-2026-12-01-10-00-00", hw)
	second := ocsInventory("pc2-2026-12-02-10-00-00", storetest.Snapshot("pc2-2026-12-02-10-00-00", 1))
	for _, inv := range []*ocs.Inventory{first, second, ocsInventory(second.DeviceID, hw)} {
		if rec := e.ocs(marshalInventory(t, inv), unixAgent); rec.Code != http.StatusOK {
			t.Fatalf("inventory %s: %d %s", inv.DeviceID, rec.Code, rec.Body)
		}
	}
	if c, err := e.store.ComputerByDeviceID(context.Background(), first.DeviceID); err == nil {
		t.Fatalf("the duplicate still exists: %+v", c)
	}
	events, _, err := e.store.ListAudit(context.Background(), store.AuditFilter{Action: "computer.merge"})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || !strings.Contains(events[0].Detail, first.DeviceID) || events[0].Remote == "" {
		t.Errorf("merge audit events: %+v", events)
	}
}

package agentapi_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoal-project/shoal/agent/client"
	"github.com/shoal-project/shoal/central/agentapi"
	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto"
)

// identity is an agent's libp2p identity key.
type identity struct {
	key crypto.PrivKey
	id  peer.ID
}

func newIdentity(t testing.TB) identity {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return identity{key: key, id: id}
}

// hardware is an inventory with a name, serial and MAC: what the duplicate
// rule matches on.
func hardware(name, ip string) *proto.AgentInventory {
	return &proto.AgentInventory{Hostname: name, OSName: "Debian", Arch: "x86_64", IPAddr: ip,
		BIOS:     proto.InvBIOS{SystemSerial: "SN-" + name},
		Networks: []proto.InvNetwork{{Interface: "eth0", IPAddress: ip, MAC: "52:54:00:00:00:01", Status: "Up"}}}
}

// enrollRaw sends POST /enroll as an agent with key id would, and returns
// the status and the decoded answer of a 200.
func (e *env) enrollRaw(token, deviceID string, id identity, inv *proto.AgentInventory) (int, proto.EnrollResponse, string) {
	e.t.Helper()
	pub, err := crypto.MarshalPublicKey(id.key.GetPublic())
	if err != nil {
		e.t.Fatal(err)
	}
	proof, err := id.key.Sign(proto.EnrollProof(token, deviceID, id.id.String()))
	if err != nil {
		e.t.Fatal(err)
	}
	code, b := e.post("/enroll", proto.EnrollRequest{Token: token, DeviceID: deviceID, PeerID: id.id.String(), PublicKey: pub,
		Proof: proof, AgentVersion: "test", Inventory: inv})
	var out proto.EnrollResponse
	if code == http.StatusOK {
		if err := json.Unmarshal([]byte(b), &out); err != nil {
			e.t.Fatal(err)
		}
	}
	return code, out, b
}

func (e *env) secretClient(secret string) *client.Client {
	e.t.Helper()
	cl, err := client.New(e.srv.URL, e.pki.CAPool(), secret)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(cl.CloseIdle)
	return cl
}

func (e *env) agents() []agentapi.AgentInfo {
	e.t.Helper()
	var out struct {
		Items []agentapi.AgentInfo `json:"items"`
	}
	e.call("GET", "/api/v1/agents", nil, &out, http.StatusOK)
	for i := range out.Items {
		out.Items[i].LastSeen = time.Time{}
	}
	return out.Items
}

// TestReenrollTakeoverRefused performs attack 4 of issue 13: a holder of an
// enrollment token enrolls its own key under an enrolled computer's device
// ID (and, second try, under a new device ID with the computer's name,
// serial and MAC). Both leave the computer and its agent alone: the real
// agent keeps working, no token use is spent on the refusal, and the
// attempt is audited. Re-enrolling with the computer's own key works, and
// after an admin deletes the computer a new key may enroll it.
func TestReenrollTakeoverRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const dev = "victim-2026-12-01-10-00-00"
	victim := newIdentity(t)
	code, enr, body := e.enrollRaw(e.token(0), dev, victim, hardware("victim", "127.0.0.1"))
	if code != http.StatusOK {
		t.Fatalf("victim enrollment: %d %s", code, body)
	}
	real := e.secretClient(enr.Secret)
	agentsBefore := e.agents()
	compBefore, err := e.store.ComputerDetail(ctx, enr.ComputerID)
	if err != nil {
		t.Fatal(err)
	}

	attacker := newIdentity(t)
	var tok agentapi.TokenInfo
	e.call("POST", "/api/v1/agents/enrollment-tokens", map[string]any{"name": "stolen", "max_uses": 1}, &tok, http.StatusCreated)
	code, _, body = e.enrollRaw(tok.Token, dev, attacker, hardware("victim", "127.0.0.1"))
	if code != http.StatusConflict || !strings.Contains(body, "another identity key") {
		t.Fatalf("takeover by device id: %d %s, want 409", code, body)
	}
	if _, err := real.Jobs(ctx, "", 0); err != nil {
		t.Errorf("the real agent after the refused takeover: %v", err)
	}
	if diff := cmp.Diff(agentsBefore, e.agents()); diff != "" {
		t.Errorf("agent identities changed (-before +after):\n%s", diff)
	}
	compAfter, err := e.store.ComputerDetail(ctx, enr.ComputerID)
	if err != nil {
		t.Fatal(err)
	}
	// The real agent's calls touch these two.
	compBefore.LastContact, compAfter.LastContact = time.Time{}, time.Time{}
	compBefore.UpdatedAt, compAfter.UpdatedAt = time.Time{}, time.Time{}
	if diff := cmp.Diff(compBefore, compAfter); diff != "" {
		t.Errorf("the computer changed (-before +after):\n%s", diff)
	}
	toks, err := e.store.ListEnrollmentTokens(ctx)
	if err != nil || len(toks) != 2 || toks[1].Uses != 0 {
		t.Errorf("tokens after the refusal: %+v %v; want the stolen one unused", toks, err)
	}
	refused, _, _ := e.store.ListAudit(ctx, store.AuditFilter{Action: "agent.enroll.refused"})
	if len(refused) != 1 || refused[0].Target != dev || !strings.Contains(refused[0].Detail, attacker.id.String()) {
		t.Errorf("audit of the refusal: %+v", refused)
	}

	// Same hardware, new device ID: a computer of its own, the victim's is
	// neither renamed nor merged.
	code, other, body := e.enrollRaw(tok.Token, "victim-2026-12-04-11-00-00", attacker, hardware("victim", "127.0.0.1"))
	if code != http.StatusOK || other.ComputerID == enr.ComputerID {
		t.Fatalf("enrollment under a new device id: %d %s (computer %d, victim %d)", code, body, other.ComputerID, enr.ComputerID)
	}
	if c, err := e.store.Computer(ctx, enr.ComputerID); err != nil || c.DeviceID != dev {
		t.Errorf("victim computer after a duplicate's enrollment: %+v %v", c, err)
	}
	if _, err := real.Jobs(ctx, "", 0); err != nil {
		t.Errorf("the real agent after a duplicate's enrollment: %v", err)
	}

	// The computer's own key may enroll again (a lost secret).
	code, again, body := e.enrollRaw(e.token(1), dev, victim, hardware("victim", "127.0.0.1"))
	if code != http.StatusOK || again.ComputerID != enr.ComputerID {
		t.Fatalf("re-enrollment with the current key: %d %s", code, body)
	}
	// An admin deletes the computer: a new key may enroll it.
	if err := e.store.DeleteComputer(ctx, enr.ComputerID); err != nil {
		t.Fatal(err)
	}
	if code, _, body := e.enrollRaw(e.token(1), dev, newIdentity(t), hardware("victim", "127.0.0.1")); code != http.StatusOK {
		t.Fatalf("enrollment after the admin deleted the computer: %d %s", code, body)
	}

	// Every enrollment is in the audit log with its token.
	enrolled, _, _ := e.store.ListAudit(ctx, store.AuditFilter{Action: "agent.enroll"})
	if len(enrolled) != 4 {
		t.Fatalf("agent.enroll audit events: %+v, want 4", enrolled)
	}
	got := enrolled[len(enrolled)-1] // newest last or first: find the stolen token's
	for _, ev := range enrolled {
		if strings.Contains(ev.Actor, `"stolen"`) {
			got = ev
		}
	}
	if got.Actor != fmt.Sprintf("enrollment token %d %q", tok.ID, "stolen") || got.Target != "victim-2026-12-04-11-00-00" ||
		!strings.Contains(got.Detail, attacker.id.String()) || got.Remote == "" {
		t.Errorf("audit of an enrollment: %+v", got)
	}
}

// TestSiteFromConnectionOnly performs attack 7 of issue 13: an agent on
// loopback (no site) reports branchB's address 10.2.0.50 in its inventory,
// and an anonymous OCS inventory placed a computer with its hardware in
// branchB first. Neither the enrollment, nor inventories, nor the job list
// or a renewed peer record give it branchB (its gossip key, its record).
// An admin's decision does.
func TestSiteFromConnectionOnly(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	branchB := &store.Site{Name: "branchB", CIDRs: []store.SiteCIDR{{CIDR: "10.2.0.0/16"}}}
	if err := e.store.CreateSite(ctx, branchB); err != nil {
		t.Fatal(err)
	}
	// The anonymous OCS inventory, with the site OCS derives for it.
	inv := hardware("mallory", "10.2.0.50")
	ocsSnap := &store.InventorySnapshot{Anonymous: true, Computer: store.Computer{DeviceID: "mallory-2026-12-01-10-00-00", Name: "mallory",
		Source: store.SourceOCS, SiteID: &branchB.ID}, BIOS: store.BIOS{SystemSerial: inv.BIOS.SystemSerial},
		Networks: []store.Network{{MACAddr: inv.Networks[0].MAC}}}
	if _, err := inventory.Record(ctx, e.store, ocsSnap); err != nil {
		t.Fatal(err)
	}

	code, enr, body := e.enrollRaw(e.token(1), "mallory-2026-12-04-10-00-00", newIdentity(t), inv)
	if code != http.StatusOK {
		t.Fatalf("enroll: %d %s", code, body)
	}
	rec, err := proto.VerifyPeerRecord(enr.PeerRecord, e.pki.SigningPublicKey(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if enr.Site != "" || rec.Site != "" {
		t.Errorf("enrollment: site %q, record site %q; want none", enr.Site, rec.Site)
	}
	cl := e.secretClient(enr.Secret)
	if err := cl.Inventory(ctx, inv); err != nil {
		t.Fatal(err)
	}
	if c, err := e.store.Computer(ctx, enr.ComputerID); err != nil || c.SiteID != nil {
		t.Errorf("computer after an inventory reporting 10.2.0.50: site %v (%v), want none", c.SiteID, err)
	}
	jobs, err := cl.Jobs(ctx, "", 0)
	if err != nil || jobs.Site != nil {
		t.Errorf("job list site: %+v %v, want none (no gossip key)", jobs, err)
	}
	signed, err := cl.RenewPeerRecord(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rec, err := proto.VerifyPeerRecord(*signed, e.pki.SigningPublicKey(), time.Now()); err != nil || rec.Site != "" {
		t.Errorf("renewed record: %+v %v, want no site", rec, err)
	}

	// An admin puts the computer in branchB: that decision stands through
	// the agent's inventories.
	if err := e.store.SetComputerSite(ctx, enr.ComputerID, &branchB.ID); err != nil {
		t.Fatal(err)
	}
	if err := cl.Inventory(ctx, inv); err != nil {
		t.Fatal(err)
	}
	signed, err = cl.RenewPeerRecord(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rec, err := proto.VerifyPeerRecord(*signed, e.pki.SigningPublicKey(), time.Now()); err != nil || rec.Site != "branchB" {
		t.Errorf("record after the admin's decision: %+v %v, want branchB", rec, err)
	}
}

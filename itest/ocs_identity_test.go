//go:build integration

package itest

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoal-project/shoal/proto"
)

// TestOCSAgentCannotTouchShoalComputer performs attack 5 of issue 13 with
// the real OCS agent: once its computer's device ID belongs to a Shoal
// agent identity, the OCS agent's next run (PROLOG and INVENTORY under that
// device ID) is refused by central and changes nothing of the computer; the
// refusal is in the audit log.
func TestOCSAgentCannotTouchShoalComputer(t *testing.T) {
	c := startCentral(t, "")
	a := startAgentAPI(t, c)
	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".")

	ocsAgent := newOCSAgent(t, c.HTTPSURL+"/ocsinventory", c.CAFile)
	if code, log := ocsAgent.Run(); code != 0 {
		t.Fatalf("first OCS run: exit %d:\n%s", code, log)
	}
	comps := c.computers("?name=" + host)
	if len(comps) != 1 {
		t.Fatalf("computers named %s: %d, want 1", host, len(comps))
	}
	dev := comps[0].DeviceID

	// A Shoal agent identity enrolls under that device ID.
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := peer.IDFromPrivateKey(key)
	pub, _ := crypto.MarshalPublicKey(key.GetPublic())
	tok := a.token(1)
	proof, err := key.Sign(proto.EnrollProof(tok, dev, pid.String()))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(proto.EnrollRequest{Token: tok, DeviceID: dev, PeerID: pid.String(), PublicKey: pub, Proof: proof,
		AgentVersion: "itest", Inventory: &proto.AgentInventory{Hostname: host, OSName: "Debian", Arch: "x86_64"}})
	req, err := http.NewRequest(http.MethodPost, a.URL+proto.AgentAPIPath+"/enroll", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok) // Like shoal-agent: checked before the body is read.
	resp, err := c.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("enroll: %d %s", resp.StatusCode, b)
	}
	var enr proto.EnrollResponse
	if err := json.Unmarshal(b, &enr); err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/api/v1/computers/%d", enr.ComputerID)
	before := c.do("GET", path, nil, nil, http.StatusOK)

	code, log := ocsAgent.Run()
	if !strings.Contains(log, "403") {
		t.Errorf("second OCS run (exit %d) does not show central's 403:\n%s", code, log)
	}
	if after := c.do("GET", path, nil, nil, http.StatusOK); !bytes.Equal(before, after) {
		t.Errorf("the Shoal computer changed:\nbefore %s\nafter  %s", before, after)
	}
	var audit struct {
		Items []struct {
			Action string `json:"action"`
			Target string `json:"target"`
		} `json:"items"`
	}
	c.do("GET", "/api/v1/audit?action=ocs.refused", nil, &audit, http.StatusOK)
	if len(audit.Items) == 0 || audit.Items[0].Target != dev {
		t.Errorf("audit of the refusal: %+v, want entries for %s", audit.Items, dev)
	}
}

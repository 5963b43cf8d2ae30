package ocs

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The agent-state captures are what the real Unix agent stored after talking
// to a server that sent replies of the shapes marshalled here.

func attrMap(n *node) map[string]string {
	m := make(map[string]string, len(n.attrs))
	for _, a := range n.attrs {
		m[localName(a.Name)] = a.Value
	}
	return m
}

// TestAgentStateDownloadConfig compares the CONF parameter we send with the
// agent's copy of the one it received (download/config, written with
// XMLout).
func TestAgentStateDownloadConfig(t *testing.T) {
	stored, err := parseTree(readCapture(t, "agent-state/download-config"), "CONF")
	if err != nil {
		t.Fatal(err)
	}
	reply := PrologReply{Response: ResponseStop, PrologFreq: 12, Download: &DownloadOption{
		Conf: DownloadConf{On: true, CycleLatency: 1, FragLatency: 1, PeriodLatency: 1, PeriodLength: 10, Timeout: 7, ExecutionTimeout: 120},
	}}
	doc, err := reply.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	root, err := parseTree(doc, "REPLY")
	if err != nil {
		t.Fatal(err)
	}
	sent := root.children("OPTION")[0].children("PARAM")[0]
	if diff := cmp.Diff(attrMap(stored), attrMap(sent)); diff != "" {
		t.Errorf("CONF sent differs from the agent's stored copy (-stored +sent):\n%s", diff)
	}
}

// TestAgentStateHistory checks that the history file and the inventory's
// DOWNLOAD/HISTORY carry the same IDs in the same order.
func TestAgentStateHistory(t *testing.T) {
	want := strings.Fields(string(readCapture(t, "agent-state/download-history")))
	inv, err := ParseInventory(readCapture(t, "inventory-request-tag-history.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, inv.History); diff != "" {
		t.Errorf("History differs from the agent's history file (-file +parsed):\n%s", diff)
	}
}

// TestAgentStateAccountInfo checks that an ACCOUNT_UPDATE reply carries the
// ACCOUNTINFO block exactly as the agent stored it in ocsinv.adm, and that
// the next inventory sent it back.
func TestAgentStateAccountInfo(t *testing.T) {
	adm := string(readCapture(t, "agent-state/ocsinv.adm"))
	fields := []AccountInfo{{KeyName: "TAG", KeyValue: "from-server"}}
	doc, err := (&InventoryReply{AccountUpdate: true, AccountInfo: fields}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	block := string(doc)[strings.Index(string(doc), "  <ACCOUNTINFO>"):strings.Index(string(doc), "</REPLY>")]
	if !strings.Contains(adm, block) {
		t.Errorf("ocsinv.adm does not contain the reply's block %q:\n%s", block, adm)
	}
	inv, err := ParseInventory(readCapture(t, "inventory-request-tag-history.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fields, inv.AccountInfo); diff != "" {
		t.Errorf("AccountInfo sent back (-pushed +sent):\n%s", diff)
	}
}

func TestAgentStateDeviceID(t *testing.T) {
	conf, err := parseTree(readCapture(t, "agent-state/ocsinv.conf"), "CONF")
	if err != nil {
		t.Fatal(err)
	}
	if id := conf.value("DEVICEID"); id != deviceID || !ValidDeviceID(id) {
		t.Errorf("stored DEVICEID %q", id)
	}
	if freq := conf.value("PROLOG_FREQ"); freq != "12" {
		t.Errorf("stored PROLOG_FREQ %q, want the 12 of the replies", freq)
	}
}

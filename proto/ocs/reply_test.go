package ocs

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// prologReplies are the PROLOG replies with golden files in testdata/golden.
var prologReplies = []struct {
	name  string
	reply PrologReply
}{
	{
		name: "prolog-send-download",
		reply: PrologReply{
			Response: ResponseSend, PrologFreq: 12,
			Download: &DownloadOption{
				Conf: DefaultDownloadConf(),
				Packs: []Pack{
					{ID: "1700000001", InfoLoc: "central.example:443/download", PackLoc: "relay-paris.example/download"},
					{ID: "1700000002", InfoLoc: "central.example/download", PackLoc: "central.example/download",
						CertPath: "/etc/ocs", CertFile: "/etc/ocs/cacert.pem", Schedule: "2026/12/01 10:00",
						PostCmd: "REBOOT", Force: true},
				},
			},
		},
	},
	{
		name:  "prolog-stop",
		reply: PrologReply{Response: ResponseStop, PrologFreq: 24, InventoryOnStartup: 1},
	},
	{
		name: "prolog-stop-download-off",
		reply: PrologReply{
			Response: ResponseStop, PrologFreq: 12,
			Download: &DownloadOption{
				Conf:  DownloadConf{On: false, CycleLatency: 60, FragLatency: 60, PeriodLatency: 60, PeriodLength: 10, Timeout: 7, ExecutionTimeout: 120},
				Packs: []Pack{{ID: "1700000001", InfoLoc: "c/download", PackLoc: "c/download"}},
			},
		},
	},
	{
		name: "prolog-stop-test-latencies",
		reply: PrologReply{
			Response: ResponseStop, PrologFreq: 1,
			Download: &DownloadOption{
				Conf:  DownloadConf{On: true, CycleLatency: 1, FragLatency: 1, PeriodLatency: 1, PeriodLength: 10, Timeout: 7, ExecutionTimeout: 120},
				Packs: []Pack{{ID: "1700000003", InfoLoc: "127.0.0.1:18443/download", PackLoc: "127.0.0.1:18080/download", Force: true}},
			},
		},
	},
}

var inventoryReplies = []struct {
	name  string
	reply InventoryReply
}{
	{name: "inventory-no-account-update", reply: InventoryReply{}},
	{name: "inventory-no-account-update-ignores-fields", reply: InventoryReply{AccountInfo: []AccountInfo{{KeyName: "TAG", KeyValue: "x"}}}},
	{
		name: "inventory-account-update",
		reply: InventoryReply{AccountUpdate: true, AccountInfo: []AccountInfo{
			{KeyName: "TAG", KeyValue: "from-server"},
			{KeyName: "fields_3", KeyValue: `Büro "2" <R&D>`},
		}},
	},
}

func TestPrologReplyGolden(t *testing.T) {
	for _, tt := range prologReplies {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.reply.Marshal()
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			checkGolden(t, tt.name+".xml", got)
		})
	}
}

func TestInventoryReplyGolden(t *testing.T) {
	for _, tt := range inventoryReplies {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.reply.Marshal()
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			checkGolden(t, tt.name+".xml", got)
		})
	}
}

// TestPrologReplyShape checks the fragments the agents look for (§4.2):
// the Unix agent matches RESPONSE against ^SEND$ and dispatches PARAM on
// TYPE; the Windows agent reads elements and attributes as written here.
func TestPrologReplyShape(t *testing.T) {
	got, err := prologReplies[0].reply.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	doc := string(got)
	for _, want := range []string{
		"<?xml version='1.0' encoding='UTF-8'?>\n<REPLY>\n",
		"<RESPONSE>SEND</RESPONSE>",
		"<PROLOG_FREQ>12</PROLOG_FREQ>",
		"<INVENTORY_ON_STARTUP>0</INVENTORY_ON_STARTUP>",
		"<OPTION>\n    <NAME>DOWNLOAD</NAME>\n",
		`<PARAM TYPE="CONF" ON="1" CYCLE_LATENCY="60" FRAG_LATENCY="60" PERIOD_LATENCY="60" PERIOD_LENGTH="10" TIMEOUT="7" EXECUTION_TIMEOUT="120" />`,
		`<PARAM TYPE="PACK" ID="1700000001" INFO_LOC="central.example:443/download" PACK_LOC="relay-paris.example/download" CERT_PATH="INSTALL_PATH" CERT_FILE="INSTALL_PATH/cacert.pem" SCHEDULE="" POSTCMD="" FORCE="0" />`,
		`FORCE="1" />`,
		"</REPLY>\n",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("reply lacks %q:\n%s", want, doc)
		}
	}
	off, err := prologReplies[2].reply.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(off), `TYPE="PACK"`) || !strings.Contains(string(off), `ON="0"`) || !strings.Contains(string(off), `TIMEOUT="7"`) {
		t.Errorf("download-off reply must have CONF ON=0 with TIMEOUT and no PACK:\n%s", off)
	}
}

func TestPrologReplyRoundTrip(t *testing.T) {
	for _, tt := range prologReplies {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := tt.reply.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParsePrologReply(doc)
			if err != nil {
				t.Fatalf("ParsePrologReply: %v", err)
			}
			want := tt.reply
			if want.Download != nil {
				dl := *want.Download
				dl.Packs = nil
				for _, p := range want.Download.Packs {
					if !dl.Conf.On {
						break
					}
					p.CertPath = orDefault(p.CertPath, DefaultCertPath)
					p.CertFile = orDefault(p.CertFile, DefaultCertFile)
					dl.Packs = append(dl.Packs, p)
				}
				want.Download = &dl
			}
			if diff := cmp.Diff(&want, got); diff != "" {
				t.Errorf("round trip mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParsePrologReplyLenient(t *testing.T) {
	doc := `<REPLY RESPONSE="SEND"><PROLOG_FREQ>10</PROLOG_FREQ>
<OPTION><NAME>IPDISCOVER</NAME><PARAM IPDISC_LAT="100">192.168.1.0</PARAM></OPTION>
<OPTION NAME="download"><PARAM><TYPE>CONF</TYPE><ON>1</ON><TIMEOUT>3</TIMEOUT></PARAM><PARAM TYPE="PACK" ID="5" FORCE="1"/></OPTION></REPLY>`
	got, err := ParsePrologReply([]byte(doc))
	if err != nil {
		t.Fatalf("ParsePrologReply: %v", err)
	}
	want := &PrologReply{Response: "SEND", PrologFreq: 10, Download: &DownloadOption{
		Conf: DownloadConf{On: true, Timeout: 3}, Packs: []Pack{{ID: "5", Force: true}},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

func TestInventoryReplyRoundTrip(t *testing.T) {
	for _, tt := range inventoryReplies {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := tt.reply.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseInventoryReply(doc)
			if err != nil {
				t.Fatalf("ParseInventoryReply: %v", err)
			}
			want := tt.reply
			if !want.AccountUpdate {
				want.AccountInfo = nil
			}
			if diff := cmp.Diff(&want, got); diff != "" {
				t.Errorf("round trip mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPrologReplyInvalid(t *testing.T) {
	pack := Pack{ID: "1700000001", InfoLoc: "c/download", PackLoc: "c/download"}
	with := func(mod func(*PrologReply)) PrologReply {
		r := PrologReply{Response: ResponseSend, PrologFreq: 12,
			Download: &DownloadOption{Conf: DefaultDownloadConf(), Packs: []Pack{pack}}}
		mod(&r)
		return r
	}
	tests := []struct {
		name  string
		reply PrologReply
	}{
		{name: "empty-response", reply: with(func(r *PrologReply) { r.Response = "" })},
		{name: "lowercase-send", reply: with(func(r *PrologReply) { r.Response = "send" })},
		{name: "other-response", reply: with(func(r *PrologReply) { r.Response = "OTHER_ERROR" })},
		{name: "negative-freq", reply: with(func(r *PrologReply) { r.PrologFreq = -1 })},
		{name: "inventory-on-startup-2", reply: with(func(r *PrologReply) { r.InventoryOnStartup = 2 })},
		{name: "missing-timeout", reply: with(func(r *PrologReply) { r.Download.Conf.Timeout = 0 })},
		{name: "negative-latency", reply: with(func(r *PrologReply) { r.Download.Conf.FragLatency = -1 })},
		{name: "non-numeric-id", reply: with(func(r *PrologReply) { r.Download.Packs[0].ID = "pkg-1" })},
		{name: "empty-id", reply: with(func(r *PrologReply) { r.Download.Packs[0].ID = "" })},
		{name: "duplicate-id", reply: with(func(r *PrologReply) { r.Download.Packs = append(r.Download.Packs, pack) })},
		{name: "info-loc-with-scheme", reply: with(func(r *PrologReply) { r.Download.Packs[0].InfoLoc = "https://c/download" })},
		{name: "empty-pack-loc", reply: with(func(r *PrologReply) { r.Download.Packs[0].PackLoc = "" })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.reply.Marshal(); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Marshal error = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestPrologReplyOffSkipsPackChecks(t *testing.T) {
	r := PrologReply{Response: ResponseStop, Download: &DownloadOption{
		Conf:  DownloadConf{On: false},
		Packs: []Pack{{ID: "not-numeric"}},
	}}
	doc, err := r.Marshal()
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	if !strings.Contains(string(doc), `<PARAM TYPE="CONF" ON="0" CYCLE_LATENCY="0" FRAG_LATENCY="0" PERIOD_LATENCY="0" PERIOD_LENGTH="0" TIMEOUT="0" EXECUTION_TIMEOUT="0" />`) {
		t.Errorf("unexpected CONF:\n%s", doc)
	}
}

func TestInventoryReplyInvalid(t *testing.T) {
	r := InventoryReply{AccountUpdate: true, AccountInfo: []AccountInfo{{KeyName: " ", KeyValue: "x"}}}
	if _, err := r.Marshal(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Marshal error = %v, want ErrInvalid", err)
	}
}

func TestParseReplyErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
	}{
		{name: "empty", doc: ""},
		{name: "wrong-root", doc: "<REQUEST/>"},
		{name: "doctype", doc: "<!DOCTYPE REPLY><REPLY/>"},
		{name: "truncated", doc: "<REPLY><RESPONSE>SEND"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParsePrologReply([]byte(tt.doc)); !errors.Is(err, ErrXML) {
				t.Errorf("ParsePrologReply error = %v, want ErrXML", err)
			}
			if _, err := ParseInventoryReply([]byte(tt.doc)); !errors.Is(err, ErrXML) {
				t.Errorf("ParseInventoryReply error = %v, want ErrXML", err)
			}
		})
	}
}

func TestValidPackageID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{id: "1700000001", want: true},
		{id: "0", want: true},
		{id: "12345678901234567890", want: true},
		{id: "123456789012345678901", want: false},
		{id: "", want: false},
		{id: "17x", want: false},
		{id: " 17", want: false},
		{id: "-1", want: false},
	}
	for _, tt := range tests {
		if got := ValidPackageID(tt.id); got != tt.want {
			t.Errorf("ValidPackageID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

package ocs

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var infos = []struct {
	name string
	info Info
}{
	{
		// The example of docs/ocs-protocol.md §6.4.
		name: "info-execute",
		info: Info{ID: "1700000001", Pri: 5, Act: ActExecute, Digest: "13772e970f3caa1856f280801ca85c06",
			Proto: "HTTP", Frags: 2, DigestAlgo: "MD5", DigestEncode: "Hexa", Command: "sh run.sh exec"},
	},
	{
		name: "info-store-defaults",
		info: Info{ID: "1700000002", Pri: 0, Act: ActStore, Digest: "0123456789abcdef0123456789abcdef",
			Frags: 1, Path: "INSTALL_PATH/files", Command: "not written for STORE"},
	},
	{
		name: "info-launch-notify",
		info: Info{ID: "1700000003", Pri: 10, Act: ActLaunch, Digest: "ffffffffffffffffffffffffffffffff",
			Proto: "HTTPS", Frags: 3, DigestAlgo: "MD5", DigestEncode: "Hexa", Name: "setup.exe /S",
			NotifyUser: true, NotifyText: `Install "Tool" <now> & reboot?`, NotifyCountdown: "30",
			NotifyCanAbort: true, NotifyCanDelay: true, NeedDoneAction: true, NeedDoneActionText: "Done.\nThanks"},
	},
	{
		name: "info-command-only",
		info: Info{ID: "1700000004", Pri: 5, Act: ActExecute, Command: `echo "hi" > /tmp/x`},
	},
}

func TestInfoGolden(t *testing.T) {
	for _, tt := range infos {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.info.Marshal()
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			checkGolden(t, tt.name+".xml", got)
		})
	}
}

// TestInfoConsoleFormat checks the byte-exact console layout of §6.4.
func TestInfoConsoleFormat(t *testing.T) {
	got, err := infos[0].info.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<DOWNLOAD ID="1700000001" PRI="5" ACT="EXECUTE" DIGEST="13772e970f3caa1856f280801ca85c06" PROTO="HTTP" FRAGS="2" ` +
		`DIGEST_ALGO="MD5" DIGEST_ENCODE="Hexa" COMMAND="sh run.sh exec" NOTIFY_USER="0" NOTIFY_TEXT="" NOTIFY_COUNTDOWN="" ` +
		`NOTIFY_CAN_ABORT="0" NOTIFY_CAN_DELAY="0" NEED_DONE_ACTION="0" NEED_DONE_ACTION_TEXT="" GARDEFOU="rien" />` + "\n"
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("info file (-want +got):\n%s", diff)
	}
}

func TestInfoRoundTrip(t *testing.T) {
	for _, tt := range infos {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := tt.info.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseInfo(doc)
			if err != nil {
				t.Fatalf("ParseInfo: %v", err)
			}
			want := tt.info
			want.Proto = orDefault(want.Proto, "HTTP")
			want.DigestAlgo = orDefault(want.DigestAlgo, "MD5")
			want.DigestEncode = orDefault(want.DigestEncode, "Hexa")
			if want.Act != ActStore {
				want.Path = ""
			}
			if want.Act != ActLaunch {
				want.Name = ""
			}
			if want.Act != ActExecute {
				want.Command = ""
			}
			if diff := cmp.Diff(&want, got); diff != "" {
				t.Errorf("round trip mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseInfoForms(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want *Info
	}{
		{
			name: "element-fallback",
			doc:  `<DOWNLOAD ID="7"><PRI>3</PRI><ACT>STORE</ACT><PATH>/opt/x</PATH><FRAGS> 0 </FRAGS></DOWNLOAD>`,
			want: &Info{ID: "7", Pri: 3, Act: ActStore, Path: "/opt/x"},
		},
		{
			name: "windows-local-copy-extra-attributes",
			doc:  `<DOWNLOAD ID="8" PRI="" ACT="LAUNCH" NAME="a.exe" FRAGS="1" LOC="srv/download" SCHEDULE="" POSTCMD="REBOOT" GARDEFOU="rien"/>`,
			want: &Info{ID: "8", Act: ActLaunch, Name: "a.exe", Frags: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseInfo([]byte(tt.doc))
			if err != nil {
				t.Fatalf("ParseInfo: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseInfoErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want error
	}{
		{name: "empty", doc: "", want: ErrXML},
		{name: "wrong-root", doc: `<INFO ID="1"/>`, want: ErrXML},
		{name: "doctype", doc: `<!DOCTYPE DOWNLOAD><DOWNLOAD ID="1"/>`, want: ErrXML},
		{name: "unclosed", doc: `<DOWNLOAD ID="1">`, want: ErrXML},
		{name: "missing-id", doc: `<DOWNLOAD PRI="5"/>`, want: ErrInvalid},
		{name: "bad-frags", doc: `<DOWNLOAD ID="1" FRAGS="two"/>`, want: ErrInvalid},
		{name: "bad-pri", doc: `<DOWNLOAD ID="1" PRI="5a"/>`, want: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseInfo([]byte(tt.doc)); !errors.Is(err, tt.want) {
				t.Fatalf("ParseInfo error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestInfoMarshalInvalid(t *testing.T) {
	valid := Info{ID: "1", Pri: 5, Act: ActExecute, Digest: "d", Frags: 1, Command: "true"}
	with := func(mod func(*Info)) Info {
		i := valid
		mod(&i)
		return i
	}
	tests := []struct {
		name string
		info Info
	}{
		{name: "empty-id", info: with(func(i *Info) { i.ID = "" })},
		{name: "non-numeric-id", info: with(func(i *Info) { i.ID = "abc" })},
		{name: "priority-too-high", info: with(func(i *Info) { i.Pri = 11 })},
		{name: "negative-priority", info: with(func(i *Info) { i.Pri = -1 })},
		{name: "unknown-action", info: with(func(i *Info) { i.Act = "RUN" })},
		{name: "lowercase-action", info: with(func(i *Info) { i.Act = "execute" })},
		{name: "negative-frags", info: with(func(i *Info) { i.Frags = -1 })},
		{name: "frags-without-digest", info: with(func(i *Info) { i.Digest = "" })},
		{name: "bad-proto", info: with(func(i *Info) { i.Proto = "FTP" })},
	}
	if _, err := valid.Marshal(); err != nil {
		t.Fatalf("valid info: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.info.Marshal(); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Marshal error = %v, want ErrInvalid", err)
			}
		})
	}
}

package ocs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseRequestPrologCapture(t *testing.T) {
	want := &Request{Query: QueryProlog, DeviceID: deviceID}
	for _, name := range []string{"prolog-request.xml", "prolog-request.zlib"} {
		t.Run(name, func(t *testing.T) {
			doc, _, err := Decode(readCapture(t, name), 0)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseRequest(doc)
			if err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("request mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseRequestDownloadResultCaptures(t *testing.T) {
	tests := []struct {
		name string // file name without extension, equal to the code
		id   string
	}{
		{name: "ERR_BAD_DIGEST", id: "1700000009"},
		{name: "ERR_BAD_ID", id: "1700000010"},
		{name: "ERR_BUILD", id: "1700000011"},
		{name: "ERR_DOWNLOAD_INFO", id: "1700000001"},
		{name: "ERR_EXECUTE", id: "1700000006"},
		{name: "ERR_TIMEOUT", id: "1700000001"},
		{name: "SUCCESS", id: "1700000007"},
		{name: "SUCCESS_3", id: "1700000002"},
		{name: "SUCCESS_ALREADY_SETUP", id: "1700000001"},
	}
	files, err := filepath.Glob(filepath.Join(captureDir, "download-results", "*.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(tests) {
		t.Fatalf("%d download result captures, the table covers %d", len(files), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := &Request{Query: QueryDownload, DeviceID: deviceID, ID: tt.id, Err: tt.name}
			for _, ext := range []string{".xml", ".zlib"} {
				doc, _, err := Decode(readCapture(t, filepath.Join("download-results", tt.name+ext)), 0)
				if err != nil {
					t.Fatal(err)
				}
				got, err := ParseRequest(doc)
				if err != nil {
					t.Fatalf("ParseRequest(%s): %v", ext, err)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s: request mismatch (-want +got):\n%s", ext, diff)
				}
			}
		})
	}
}

func TestParseRequestForms(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want *Request
	}{
		{
			name: "windows-mixed-download-result",
			doc: `<?xml version="1.0" encoding="UTF-8"?>
<REQUEST ID="1700000001" ERR="EXIT_CODE_5"><DEVICEID>PC-01-2024-01-02-03-04-05</DEVICEID><CONTENT/><QUERY>DOWNLOAD</QUERY></REQUEST>`,
			want: &Request{Query: "DOWNLOAD", DeviceID: "PC-01-2024-01-02-03-04-05", ID: "1700000001", Err: "EXIT_CODE_5"},
		},
		{
			name: "elements-only-download-result",
			doc:  `<REQUEST><QUERY>DOWNLOAD</QUERY><ID>17</ID><ERR>SUCCESS</ERR><DEVICEID>h-2024-01-02-03-04-05</DEVICEID></REQUEST>`,
			want: &Request{Query: "DOWNLOAD", DeviceID: "h-2024-01-02-03-04-05", ID: "17", Err: "SUCCESS"},
		},
		{
			name: "attribute-wins-over-element",
			doc:  `<REQUEST QUERY="PROLOG"><QUERY>INVENTORY</QUERY><DEVICEID>h-2024-01-02-03-04-05</DEVICEID></REQUEST>`,
			want: &Request{Query: "PROLOG", DeviceID: "h-2024-01-02-03-04-05"},
		},
		{
			name: "empty-attribute-falls-back-to-element",
			doc:  `<REQUEST QUERY=" "><QUERY>PROLOG</QUERY><DEVICEID>h-2024-01-02-03-04-05</DEVICEID></REQUEST>`,
			want: &Request{Query: "PROLOG", DeviceID: "h-2024-01-02-03-04-05"},
		},
		{
			name: "deviceid-from-content",
			doc:  `<REQUEST><CONTENT><HARDWARE/><DEVICEID>h-2024-01-02-03-04-05</DEVICEID></CONTENT><QUERY>INVENTORY</QUERY></REQUEST>`,
			want: &Request{Query: "INVENTORY", DeviceID: "h-2024-01-02-03-04-05"},
		},
		{
			name: "envelope-deviceid-beats-content",
			doc:  `<REQUEST><CONTENT><DEVICEID>c-2024-01-02-03-04-05</DEVICEID></CONTENT><DEVICEID>e-2024-01-02-03-04-05</DEVICEID><QUERY>INVENTORY</QUERY></REQUEST>`,
			want: &Request{Query: "INVENTORY", DeviceID: "e-2024-01-02-03-04-05"},
		},
		{
			name: "values-trimmed",
			doc:  "<REQUEST DEVICEID=\"  h-2024-01-02-03-04-05\t\"><QUERY>\n  PROLOG\n</QUERY></REQUEST>",
			want: &Request{Query: "PROLOG", DeviceID: "h-2024-01-02-03-04-05"},
		},
		{
			name: "fusioninventory-token-and-unknown-children",
			doc:  `<?xml version="1.0" encoding="UTF-8" ?><REQUEST><DEVICEID>fi-2024-01-02-03-04-05</DEVICEID><QUERY>PROLOG</QUERY><TOKEN>12345678</TOKEN><X><Y>z</Y></X></REQUEST>`,
			want: &Request{Query: "PROLOG", DeviceID: "fi-2024-01-02-03-04-05"},
		},
		{
			name: "notify-type",
			doc:  `<REQUEST><DEVICEID>h-2024-01-02-03-04-05</DEVICEID><QUERY>NOTIFY</QUERY><TYPE>IP</TYPE><CONTENT><IFACE><IP>10.0.0.1</IP></IFACE></CONTENT></REQUEST>`,
			want: &Request{Query: "NOTIFY", DeviceID: "h-2024-01-02-03-04-05", Type: "IP"},
		},
		{
			name: "comments-cdata-and-pi",
			doc:  `<!-- c --><?pi x?><REQUEST><!-- c --><QUERY><![CDATA[PROLOG]]></QUERY><DEVICEID>h-2024-01-02-03-04-05</DEVICEID></REQUEST><!-- trailing -->`,
			want: &Request{Query: "PROLOG", DeviceID: "h-2024-01-02-03-04-05"},
		},
		{
			name: "html-entity",
			doc:  `<REQUEST><QUERY>PROLOG</QUERY><DEVICEID>caf&eacute;-2024-01-02-03-04-05</DEVICEID></REQUEST>`,
			want: &Request{Query: "PROLOG", DeviceID: "café-2024-01-02-03-04-05"},
		},
		{
			name: "character-references",
			doc:  `<REQUEST><QUERY>PROLOG</QUERY><DEVICEID>caf&#233;&#x2d;2024-01-02-03-04-05</DEVICEID></REQUEST>`,
			want: &Request{Query: "PROLOG", DeviceID: "café-2024-01-02-03-04-05"},
		},
		{
			name: "control-characters-dropped",
			doc:  "<REQUEST><QUERY>PRO\x01LOG</QUERY><DEVICEID>h\x1b-2024-01-02-03-04-05</DEVICEID></REQUEST>",
			want: &Request{Query: "PROLOG", DeviceID: "h-2024-01-02-03-04-05"},
		},
		{
			name: "bom",
			doc:  "\xef\xbb\xbf<?xml version=\"1.0\"?><REQUEST><QUERY>PROLOG</QUERY><DEVICEID>h-2024-01-02-03-04-05</DEVICEID></REQUEST>",
			want: &Request{Query: "PROLOG", DeviceID: "h-2024-01-02-03-04-05"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRequest([]byte(tt.doc))
			if err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("request mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseRequestCharsets(t *testing.T) {
	const tail = "-2024-01-02-03-04-05</DEVICEID><QUERY>PROLOG</QUERY></REQUEST>"
	tests := []struct {
		name string
		doc  string
		host string
	}{
		{name: "iso-8859-1", doc: "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><REQUEST><DEVICEID>caf\xe9" + tail, host: "café"},
		{name: "latin1-single-quotes", doc: "<?xml version='1.0' encoding='latin1'?><REQUEST><DEVICEID>M\xfcller" + tail, host: "Müller"},
		{name: "iso-8859-1-read-as-windows-1252", doc: "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?><REQUEST><DEVICEID>it\x92s" + tail, host: "it’s"},
		{name: "windows-1252", doc: "<?xml version=\"1.0\" encoding=\"windows-1252\"?><REQUEST><DEVICEID>\x80uro\x85" + tail, host: "€uro…"},
		{name: "cp1252-alias", doc: "<?xml version=\"1.0\" encoding=\"CP1252\"?><REQUEST><DEVICEID>\x8a\x9f" + tail, host: "ŠŸ"},
		{name: "iso-8859-15", doc: "<?xml version=\"1.0\" encoding=\"ISO-8859-15\"?><REQUEST><DEVICEID>\xa4\xe9" + tail, host: "€é"},
		{name: "utf8-declared", doc: "<?xml version=\"1.0\" encoding=\"UTF-8\"?><REQUEST><DEVICEID>café" + tail, host: "café"},
		{name: "utf8-alias", doc: "<?xml version=\"1.0\" encoding=\"utf8\"?><REQUEST><DEVICEID>café" + tail, host: "café"},
		{name: "latin1-bytes-under-utf8-declaration", doc: "<?xml version=\"1.0\" encoding=\"UTF-8\"?><REQUEST><DEVICEID>caf\xe9-\xc3\xa9" + tail, host: "café-é"},
		{name: "latin1-bytes-without-declaration", doc: "<REQUEST><DEVICEID>caf\xe9" + tail, host: "café"},
		{name: "latin1-attribute", doc: "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><REQUEST QUERY=\"PROLOG\" DEVICEID=\"\xe9t\xe9-2024-01-02-03-04-05\"/>", host: "été"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRequest([]byte(tt.doc))
			if err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			if want := tt.host + "-2024-01-02-03-04-05"; got.DeviceID != want {
				t.Errorf("DeviceID = %q, want %q", got.DeviceID, want)
			}
		})
	}
}

func TestParseRequestErrors(t *testing.T) {
	const ok = `<DEVICEID>h-2024-01-02-03-04-05</DEVICEID><QUERY>PROLOG</QUERY>`
	prolog := string(readCapture(t, "prolog-request.xml"))
	tests := []struct {
		name string
		doc  string
		want error
	}{
		{name: "empty", doc: "", want: ErrXML},
		{name: "whitespace", doc: " \n", want: ErrXML},
		{name: "declaration-only", doc: `<?xml version="1.0"?>`, want: ErrXML},
		{name: "not-xml", doc: "DEVICEID=x", want: ErrXML},
		{name: "truncated", doc: prolog[:len(prolog)/2], want: ErrXML},
		{name: "truncated-before-root-end", doc: strings.TrimSuffix(prolog, "</REQUEST>\n"), want: ErrXML},
		{name: "mismatched-end-tag", doc: `<REQUEST><QUERY>PROLOG</DEVICEID></REQUEST>`, want: ErrXML},
		{name: "stray-end-tag", doc: `</REQUEST>`, want: ErrXML},
		{name: "unknown-entity", doc: `<REQUEST>&bogus;` + ok + `</REQUEST>`, want: ErrXML},
		{name: "bare-ampersand", doc: `<REQUEST><QUERY>A&B</QUERY></REQUEST>`, want: ErrXML},
		{
			name: "doctype-xxe",
			doc: `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<REQUEST><DEVICEID>&xxe;</DEVICEID><QUERY>PROLOG</QUERY></REQUEST>`,
			want: ErrXML,
		},
		{name: "doctype-after-comment", doc: `<!-- x --><!DOCTYPE REQUEST><REQUEST>` + ok + `</REQUEST>`, want: ErrXML},
		{name: "doctype-inside-root", doc: `<REQUEST><!DOCTYPE x>` + ok + `</REQUEST>`, want: ErrXML},
		{name: "billion-laughs", doc: `<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><REQUEST>&b;</REQUEST>`, want: ErrXML},
		{name: "wrong-root", doc: `<REPLY>` + ok + `</REPLY>`, want: ErrXML},
		{name: "lowercase-root", doc: `<request>` + ok + `</request>`, want: ErrXML},
		{name: "prefixed-root", doc: `<x:REQUEST xmlns:x="u">` + ok + `</x:REQUEST>`, want: ErrXML},
		{name: "text-before-root", doc: `hello<REQUEST>` + ok + `</REQUEST>`, want: ErrXML},
		{name: "unsupported-charset", doc: `<?xml version="1.0" encoding="EBCDIC-US"?><REQUEST>` + ok + `</REQUEST>`, want: ErrXML},
		{name: "utf16-declared", doc: `<?xml version="1.0" encoding="UTF-16"?><REQUEST>` + ok + `</REQUEST>`, want: ErrXML},
		{name: "missing-query", doc: `<REQUEST><DEVICEID>h-2024-01-02-03-04-05</DEVICEID></REQUEST>`, want: ErrQuery},
		{name: "empty-query", doc: `<REQUEST QUERY=""><QUERY>  </QUERY><DEVICEID>h-2024-01-02-03-04-05</DEVICEID></REQUEST>`, want: ErrQuery},
		{name: "query-only-in-content", doc: `<REQUEST><CONTENT><QUERY>PROLOG</QUERY></CONTENT><DEVICEID>h-2024-01-02-03-04-05</DEVICEID></REQUEST>`, want: ErrQuery},
		{name: "missing-deviceid", doc: `<REQUEST><QUERY>PROLOG</QUERY></REQUEST>`, want: ErrDeviceID},
		{name: "empty-deviceid", doc: `<REQUEST><QUERY>PROLOG</QUERY><DEVICEID/></REQUEST>`, want: ErrDeviceID},
		{name: "bad-deviceid", doc: `<REQUEST><QUERY>PROLOG</QUERY><DEVICEID>vm</DEVICEID></REQUEST>`, want: ErrDeviceID},
		{name: "bad-deviceid-date", doc: `<REQUEST><QUERY>PROLOG</QUERY><DEVICEID>vm-2024-1-02-03-04-05</DEVICEID></REQUEST>`, want: ErrDeviceID},
		{name: "bad-deviceid-attribute", doc: `<REQUEST QUERY="DOWNLOAD" DEVICEID="-2024-01-02-03-04-05" ID="1" ERR="SUCCESS"/>`, want: ErrDeviceID},
		{name: "update-is-checked-too", doc: `<REQUEST><QUERY>UPDATE</QUERY><DEVICEID>x</DEVICEID></REQUEST>`, want: ErrDeviceID},
		{name: "bad-xml-in-content", doc: `<REQUEST><CONTENT><HARDWARE><NAME>x</HARDWARE></CONTENT>` + ok + `</REQUEST>`, want: ErrXML},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRequest([]byte(tt.doc))
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseRequest error = %v, want %v", err, tt.want)
			}
			if got != nil {
				t.Errorf("ParseRequest returned %+v with an error", got)
			}
			if _, err := ParseInventory([]byte(tt.doc)); !errors.Is(err, tt.want) {
				t.Errorf("ParseInventory error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestValidDeviceID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{id: "vm-2026-11-24-07-24-08", want: true},
		{id: "x-0000-00-00-00-00-00", want: true},
		{id: "DESKTOP-AB12CD-2024-01-02-03-04-05", want: true},
		{id: "host with spaces-2024-01-02-03-04-05", want: true},
		{id: "--2024-01-02-03-04-05", want: true},
		{id: "café-2024-01-02-03-04-05", want: true},
		{id: "", want: false},
		{id: "vm", want: false},
		{id: "-2024-01-02-03-04-05", want: false},
		{id: "vm-2024-01-02-03-04", want: false},
		{id: "vm-2024-01-02-03-04-5", want: false},
		{id: "vm-2024-01-02-03-04-055", want: false},
		{id: "vm-24-01-02-03-04-05", want: false},
		{id: "vm_2024-01-02-03-04-05", want: false},
		{id: "vm-2024_01-02-03-04-05", want: false},
		{id: "vm-2024-01-02-03-04-0a", want: false},
		{id: "vm-２024-01-02-03-04-05", want: false},
		{id: "v\nm-2024-01-02-03-04-05", want: false},
		{id: "vm-2024-01-02-03-04-05\n", want: false},
		{id: strings.Repeat("h", MaxDeviceIDLen-20) + "-2024-01-02-03-04-05", want: true},
		{id: strings.Repeat("h", MaxDeviceIDLen-19) + "-2024-01-02-03-04-05", want: false},
	}
	for _, tt := range tests {
		if got := ValidDeviceID(tt.id); got != tt.want {
			t.Errorf("ValidDeviceID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		query   string
		wantInv bool
	}{
		{name: "prolog", file: "prolog-request.xml", query: QueryProlog},
		{name: "inventory", file: "inventory-request.xml", query: QueryInventory, wantInv: true},
		{name: "download-result", file: "download-results/SUCCESS.xml", query: QueryDownload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, inv, err := Parse(readCapture(t, tt.file))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if req.Query != tt.query || req.DeviceID != deviceID {
				t.Errorf("request = %+v", req)
			}
			if (inv != nil) != tt.wantInv {
				t.Fatalf("inventory returned = %v, want %v", inv != nil, tt.wantInv)
			}
			if inv != nil && (inv.DeviceID != deviceID || len(inv.Softwares) != 761) {
				t.Errorf("inventory: deviceid %q, %d softwares", inv.DeviceID, len(inv.Softwares))
			}
		})
	}
}

// TestRequestMarshal checks that Request.Marshal reproduces the Unix agent's
// bytes exactly.
func TestRequestMarshal(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(captureDir, "download-results", "*.xml"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, filepath.Join(captureDir, "prolog-request.xml"))
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			req, err := ParseRequest(want)
			if err != nil {
				t.Fatal(err)
			}
			got, err := req.Marshal()
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("Marshal differs from the capture (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRequestMarshalInvalid(t *testing.T) {
	tests := []struct {
		name string
		req  Request
		want error
	}{
		{name: "no-query", req: Request{DeviceID: deviceID}, want: ErrQuery},
		{name: "bad-deviceid", req: Request{Query: QueryProlog, DeviceID: "vm"}, want: ErrDeviceID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.req.Marshal(); !errors.Is(err, tt.want) {
				t.Fatalf("Marshal error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestRequestMarshalEscapes(t *testing.T) {
	req := &Request{Query: QueryDownload, DeviceID: `a"<&>-2024-01-02-03-04-05`, ID: "1", Err: "SUCCESS"}
	doc, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseRequest(doc)
	if err != nil {
		t.Fatalf("ParseRequest(%s): %v", doc, err)
	}
	if diff := cmp.Diff(req, got); diff != "" {
		t.Errorf("round trip mismatch (-want +got):\n%s", diff)
	}
}

func TestParseRequestWhitespaceBeforeDeclaration(t *testing.T) {
	body := append([]byte("\xef\xbb\xbf \r\n"), readCapture(t, "prolog-request.xml")...)
	doc, enc, err := Decode(body, 0)
	if err != nil || enc != Plain {
		t.Fatalf("Decode: %v, %v", enc, err)
	}
	req, err := ParseRequest(doc)
	if err != nil {
		t.Fatalf("ParseRequest: %v", err)
	}
	if req.Query != QueryProlog || req.DeviceID != deviceID {
		t.Errorf("request = %+v", req)
	}
}

// TestDecodeParseBadInputs runs wire bodies through the whole request path,
// Decode then ParseRequest, as the HTTP handler does.
func TestDecodeParseBadInputs(t *testing.T) {
	zl := func(s string) []byte { return mustEncode(t, Zlib, []byte(s)) }
	prolog := readCapture(t, "prolog-request.zlib")
	tests := []struct {
		name     string
		body     []byte
		want     error
		deviceID string // when want is nil
	}{
		{name: "empty", body: nil, want: ErrEncoding},
		{name: "truncated-zlib", body: prolog[:len(prolog)-10], want: ErrEncoding},
		{name: "zip-bomb", body: mustEncode(t, Zlib, make([]byte, 2<<20)), want: ErrTooLarge},
		{name: "zlib-of-nothing", body: zl(""), want: ErrXML},
		{name: "doctype-xxe", body: zl(`<!DOCTYPE REQUEST [<!ENTITY x SYSTEM "file:///etc/passwd">]><REQUEST><DEVICEID>&x;</DEVICEID><QUERY>PROLOG</QUERY></REQUEST>`), want: ErrXML},
		{name: "wrong-root", body: zl(`<REPLY><DEVICEID>h-2024-01-02-03-04-05</DEVICEID><QUERY>PROLOG</QUERY></REPLY>`), want: ErrXML},
		{name: "bad-deviceid", body: zl(`<REQUEST><DEVICEID>h-2024-01-02</DEVICEID><QUERY>PROLOG</QUERY></REQUEST>`), want: ErrDeviceID},
		{name: "missing-query", body: zl(`<REQUEST><DEVICEID>h-2024-01-02-03-04-05</DEVICEID></REQUEST>`), want: ErrQuery},
		{
			name:     "latin1-charset-accepted",
			body:     zl("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><REQUEST><DEVICEID>b\xe9b\xe9-2024-01-02-03-04-05</DEVICEID><QUERY>PROLOG</QUERY></REQUEST>"),
			deviceID: "bébé-2024-01-02-03-04-05",
		},
		{name: "gzip-accepted", body: mustEncode(t, Gzip, readCapture(t, "prolog-request.xml")), deviceID: deviceID},
		{name: "plain-accepted", body: readCapture(t, "prolog-request.xml"), deviceID: deviceID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, _, err := Decode(tt.body, 1<<20)
			var req *Request
			if err == nil {
				req, err = ParseRequest(doc)
			}
			checkErr(t, err, tt.want)
			if tt.want == nil && req.DeviceID != tt.deviceID {
				t.Errorf("DeviceID = %q, want %q", req.DeviceID, tt.deviceID)
			}
		})
	}
}

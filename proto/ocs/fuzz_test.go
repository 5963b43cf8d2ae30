package ocs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzDecodeParse feeds arbitrary bodies through the whole request path and
// the reply and info parsers. Nothing may panic or hang, every error must
// wrap one of the package's sentinels, and a parsed request must satisfy the
// documented guarantees.
func FuzzDecodeParse(f *testing.F) {
	for _, pattern := range []string{"*.xml", "*.zlib", "*.ocs", "download-results/*"} {
		paths, err := filepath.Glob(filepath.Join(captureDir, pattern))
		if err != nil {
			f.Fatal(err)
		}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			// The fuzzer minimizes every input that finds new coverage,
			// which takes minutes on a 305 KB inventory and stalls the
			// run, so large captures are seeded in a shortened form.
			if len(b) > 16<<10 {
				b = shortenCapture(f, b)
			}
			f.Add(b)
		}
	}
	golden, err := filepath.Glob(filepath.Join("testdata", "golden", "*.xml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range golden {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"",
		"<",
		"\x78\x9c",
		"\x1f\x8b",
		"\xef\xbb\xbf<REQUEST/>",
		`<?xml version="1.0" encoding="ISO-8859-1"?><REQUEST QUERY="PROLOG" DEVICEID="caf` + "\xe9" + `-2024-01-02-03-04-05"/>`,
		`<REQUEST ID="1" ERR="SUCCESS"><DEVICEID>h-2024-01-02-03-04-05</DEVICEID><CONTENT/><QUERY>DOWNLOAD</QUERY></REQUEST>`,
		`<!DOCTYPE r [<!ENTITY x "y">]><REQUEST>&x;</REQUEST>`,
		`<REQUEST><CONTENT><DOWNLOAD><HISTORY><PACKAGE><ID>1</ID></PACKAGE></HISTORY></DOWNLOAD></CONTENT></REQUEST>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		doc, enc, err := Decode(body, 1<<20)
		if err != nil {
			if !errors.Is(err, ErrEncoding) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Decode error wraps no sentinel: %v", err)
			}
			doc = body // still exercise the parsers on the raw bytes
		} else {
			again, err := Encode(enc, doc)
			if err != nil {
				t.Fatalf("Encode(%v): %v", enc, err)
			}
			back, enc2, err := Decode(again, 1<<20)
			if err != nil || enc2 != enc || string(back) != string(doc) {
				t.Fatalf("re-encode round trip: enc %v→%v, err %v", enc, enc2, err)
			}
		}

		req, reqErr := ParseRequest(doc)
		inv, invErr := ParseInventory(doc)
		for _, err := range []error{reqErr, invErr} {
			if err != nil && !wrapsSentinel(err) {
				t.Fatalf("parse error wraps no sentinel: %v", err)
			}
		}
		if (reqErr == nil) != (invErr == nil) {
			t.Fatalf("ParseRequest error %v but ParseInventory error %v", reqErr, invErr)
		}
		if reqErr == nil {
			if req.Query == "" || !ValidDeviceID(req.DeviceID) {
				t.Fatalf("accepted request without query or valid deviceid: %+v", req)
			}
			if inv.DeviceID != req.DeviceID {
				t.Fatalf("inventory deviceid %q, request %q", inv.DeviceID, req.DeviceID)
			}
			if _, err := inv.Marshal(); err != nil {
				t.Fatalf("Marshal of a parsed inventory: %v", err)
			}
		}
		if _, _, err := Parse(doc); (err == nil) != (reqErr == nil) {
			t.Fatalf("Parse error %v, ParseRequest error %v", err, reqErr)
		}

		if _, err := ParsePrologReply(doc); err != nil && !wrapsSentinel(err) {
			t.Fatalf("ParsePrologReply error wraps no sentinel: %v", err)
		}
		if _, err := ParseInventoryReply(doc); err != nil && !wrapsSentinel(err) {
			t.Fatalf("ParseInventoryReply error wraps no sentinel: %v", err)
		}
		if _, err := ParseInfo(doc); err != nil && !wrapsSentinel(err) {
			t.Fatalf("ParseInfo error wraps no sentinel: %v", err)
		}
	})
}

// shortenCapture keeps the first two entries of every repeated section of a
// large inventory capture (the rest of its bytes unchanged), decompressing and
// recompressing a zlib capture.
func shortenCapture(f *testing.F, b []byte) []byte {
	doc, enc, err := Decode(b, 0)
	if err != nil {
		f.Fatal(err)
	}
	s := string(doc)
	for _, section := range []string{"SOFTWARES", "LOCAL_GROUPS", "LOCAL_USERS", "CONTROLLERS", "REPOSITORY"} {
		open, end := "    <"+section+">", "</"+section+">\n"
		var out strings.Builder
		kept := 0
		for {
			i := strings.Index(s, open)
			if i < 0 {
				break
			}
			j := strings.Index(s[i:], end)
			if j < 0 {
				break
			}
			j += i + len(end)
			out.WriteString(s[:i])
			if kept < 2 {
				out.WriteString(s[i:j])
			}
			kept++
			s = s[j:]
		}
		out.WriteString(s)
		s = out.String()
	}
	short, err := Encode(enc, []byte(s))
	if err != nil {
		f.Fatal(err)
	}
	return short
}

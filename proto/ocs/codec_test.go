package ocs

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeCaptures(t *testing.T) {
	zlibs, err := filepath.Glob(filepath.Join(captureDir, "*.zlib"))
	if err != nil {
		t.Fatal(err)
	}
	more, err := filepath.Glob(filepath.Join(captureDir, "download-results", "*.zlib"))
	if err != nil {
		t.Fatal(err)
	}
	zlibs = append(zlibs, more...)
	if len(zlibs) != 11 {
		t.Fatalf("found %d zlib captures, want 11", len(zlibs))
	}
	for _, path := range zlibs {
		t.Run(filepath.Base(path), func(t *testing.T) {
			body, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			xmlPath := strings.TrimSuffix(path, ".zlib") + ".xml"
			want, err := os.ReadFile(xmlPath)
			if err != nil {
				t.Fatal(err)
			}
			got, enc, err := Decode(body, 0)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if enc != Zlib {
				t.Errorf("encoding = %v, want zlib", enc)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("decoded body differs from %s", filepath.Base(xmlPath))
			}
		})
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	xml := readCapture(t, "inventory-request.xml")
	tests := []struct {
		name  string
		enc   Encoding
		magic []byte
	}{
		{name: "zlib", enc: Zlib, magic: []byte{0x78, 0x9c}},
		{name: "gzip", enc: Gzip, magic: []byte{0x1f, 0x8b}},
		{name: "plain", enc: Plain, magic: []byte("<?xml")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := Encode(tt.enc, xml)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !bytes.HasPrefix(body, tt.magic) {
				t.Errorf("body starts with % x, want % x", body[:2], tt.magic)
			}
			got, enc, err := Decode(body, int64(len(xml)))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if enc != tt.enc {
				t.Errorf("encoding = %v, want %v", enc, tt.enc)
			}
			if !bytes.Equal(got, xml) {
				t.Error("round trip changed the document")
			}
		})
	}
}

func TestDecodeZlibLevels(t *testing.T) {
	xml := readCapture(t, "prolog-request.xml")
	for _, level := range []int{zlib.NoCompression, zlib.BestSpeed, zlib.DefaultCompression, zlib.BestCompression, 2} {
		var buf bytes.Buffer
		w, err := zlib.NewWriterLevel(&buf, level)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(xml)
		w.Close()
		got, enc, err := Decode(buf.Bytes(), 0)
		if err != nil || enc != Zlib || !bytes.Equal(got, xml) {
			t.Errorf("level %d (header % x): enc=%v err=%v", level, buf.Bytes()[:2], enc, err)
		}
	}
}

func TestDecodePlain(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{name: "declaration", body: `<?xml version="1.0"?><REQUEST/>`},
		{name: "bare-root", body: `<REQUEST/>`},
		{name: "leading-whitespace", body: " \r\n\t<REQUEST/>"},
		{name: "bom", body: "\xef\xbb\xbf<REQUEST/>"},
		{name: "bom-and-whitespace", body: "\xef\xbb\xbf\n<REQUEST/>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, enc, err := Decode([]byte(tt.body), 0)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if enc != Plain || string(got) != tt.body {
				t.Errorf("Decode = %q, %v; want the body as plain", got, enc)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	inv := readCapture(t, "inventory-request.zlib")
	corrupt := bytes.Clone(inv)
	corrupt[len(corrupt)/2] ^= 0xff
	badAdler := bytes.Clone(inv)
	badAdler[len(badAdler)-1] ^= 0xff
	gz, err := Encode(Gzip, readCapture(t, "prolog-request.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var deflated bytes.Buffer
	fw, _ := flate.NewWriter(&deflated, flate.DefaultCompression)
	fw.Write([]byte("<REQUEST/>"))
	fw.Close()
	bomb, err := Encode(Zlib, make([]byte, 10<<20))
	if err != nil {
		t.Fatal(err)
	}
	gzBomb, err := Encode(Gzip, make([]byte, 10<<20))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		body []byte
		max  int64
		want error
	}{
		{name: "nil", body: nil, want: ErrEncoding},
		{name: "empty", body: []byte{}, want: ErrEncoding},
		{name: "text", body: []byte("hello"), want: ErrEncoding},
		{name: "whitespace-only", body: []byte("  \n"), want: ErrEncoding},
		{name: "one-byte-zlib-prefix", body: []byte{0x78}, want: ErrEncoding},
		{name: "zlib-header-only", body: []byte{0x78, 0x9c}, want: ErrEncoding},
		{name: "truncated-zlib", body: inv[:len(inv)/2], want: ErrEncoding},
		{name: "truncated-zlib-trailer", body: inv[:len(inv)-2], want: ErrEncoding},
		{name: "corrupt-zlib", body: corrupt, want: ErrEncoding},
		{name: "bad-adler32", body: badAdler, want: ErrEncoding},
		{name: "truncated-gzip", body: gz[:len(gz)-5], want: ErrEncoding},
		{name: "gzip-header-only", body: []byte{0x1f, 0x8b}, want: ErrEncoding},
		{name: "raw-deflate", body: deflated.Bytes(), want: ErrEncoding},
		{name: "utf16-bom", body: []byte("\xff\xfe<\x00"), want: ErrEncoding},
		{name: "zlib-bomb", body: bomb, max: 1 << 20, want: ErrTooLarge},
		{name: "gzip-bomb", body: gzBomb, max: 1 << 20, want: ErrTooLarge},
		{name: "zlib-bomb-default-limit", body: mustEncode(t, Zlib, make([]byte, DefaultMaxXML+1)), want: ErrTooLarge},
		{name: "plain-over-limit", body: []byte("<REQUEST>   </REQUEST>"), max: 10, want: ErrTooLarge},
		{name: "zlib-one-over-limit", body: mustEncode(t, Zlib, []byte("12345678901")), max: 10, want: ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := Decode(tt.body, tt.max)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode error = %v, want %v", err, tt.want)
			}
			if got != nil {
				t.Errorf("Decode returned %d bytes with an error", len(got))
			}
		})
	}
}

func TestDecodeExactLimit(t *testing.T) {
	body := mustEncode(t, Zlib, []byte("1234567890"))
	got, _, err := Decode(body, 10)
	if err != nil || string(got) != "1234567890" {
		t.Fatalf("Decode at the exact limit = %q, %v", got, err)
	}
}

func TestEncodeUnknown(t *testing.T) {
	if _, err := Encode(Encoding(7), []byte("<REPLY/>")); !errors.Is(err, ErrEncoding) {
		t.Fatalf("Encode(7) error = %v, want ErrEncoding", err)
	}
}

func TestEncodingString(t *testing.T) {
	got := []string{Zlib.String(), Gzip.String(), Plain.String(), Encoding(9).String()}
	want := []string{"zlib", "gzip", "plain", "Encoding(9)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("String() mismatch (-want +got):\n%s", diff)
	}
}

func mustEncode(t *testing.T, enc Encoding, xml []byte) []byte {
	t.Helper()
	b, err := Encode(enc, xml)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReplyContentType(t *testing.T) {
	tests := []struct {
		name, request string
		enc           Encoding
		want          string
	}{
		{"unix-agent", "application/x-compress", Zlib, ContentTypeCompressed},
		{"glpi-agent-zlib", "application/x-compress-zlib", Zlib, ContentTypeZlib},
		{"glpi-agent-zlib-case-and-params", "Application/X-Compress-Zlib; charset=binary", Zlib, ContentTypeZlib},
		{"glpi-agent-gzip", "application/x-compress-gzip", Gzip, ContentTypeGzip},
		{"label-and-body-disagree", "application/x-compress-zlib", Gzip, ContentTypeCompressed},
		{"plain-body", "application/x-compress-zlib", Plain, ContentTypeCompressed},
		{"no-label", "", Zlib, ContentTypeCompressed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ReplyContentType(tt.request, tt.enc); got != tt.want {
				t.Errorf("ReplyContentType(%q, %v) = %q, want %q", tt.request, tt.enc, got, tt.want)
			}
		})
	}
}

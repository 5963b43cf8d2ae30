package ocs

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// nestedBomb returns n unclosed <a> elements inside a request: the 24.5 KB
// zlib body of issue 13 (8 million elements) that cost 1.31 GB and 8.6 s.
func nestedBomb(n int, closed bool) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><REQUEST><QUERY>INVENTORY</QUERY><DEVICEID>pc-2026-01-01-00-00-00</DEVICEID><CONTENT><HARDWARE>`)
	b.WriteString(strings.Repeat("<a>", n))
	if closed {
		b.WriteString(strings.Repeat("</a>", n))
		b.WriteString(`</HARDWARE></CONTENT></REQUEST>`)
	}
	return b.Bytes()
}

func TestParseLimits(t *testing.T) {
	soft := strings.Repeat("<SOFTWARES><NAME>x</NAME></SOFTWARES>", 1000)
	wide := `<REQUEST><QUERY>INVENTORY</QUERY><DEVICEID>pc-2026-01-01-00-00-00</DEVICEID><CONTENT>` + soft + `</CONTENT></REQUEST>`
	tests := []struct {
		name    string
		doc     []byte
		lim     Limits
		wantErr error
		wantMsg string
	}{
		{name: "nested-unclosed-8M", doc: nestedBomb(8_000_000, false), wantErr: ErrTooLarge, wantMsg: "nested deeper than 16"},
		{name: "nested-closed", doc: nestedBomb(100_000, true), wantErr: ErrTooLarge, wantMsg: "nested deeper than 16"},
		{name: "depth-within-limit", doc: nestedBomb(10, true)},
		{name: "elements-over-limit", doc: []byte(wide), lim: Limits{MaxElements: 1500}, wantErr: ErrTooLarge, wantMsg: "more than 1500 elements"},
		{name: "elements-within-limit", doc: []byte(wide), lim: Limits{MaxElements: 3000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ParseLimited(tt.doc, tt.lim)
			if !errors.Is(err, tt.wantErr) || tt.wantErr == nil && err != nil {
				t.Fatalf("ParseLimited: %v, want %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not say %q", err, tt.wantMsg)
			}
		})
	}
}

// TestNestedBombIsSmallAndRefused: the compressed attack fits the default
// body limit and inflates within the XML limit, so only the reader's depth
// limit stops it.
func TestNestedBombIsSmallAndRefused(t *testing.T) {
	body := mustEncode(t, Zlib, nestedBomb(8_000_000, false))
	if len(body) > 64<<10 {
		t.Fatalf("bomb is %d bytes compressed", len(body))
	}
	doc, _, err := Decode(body, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Parse(doc); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Parse: %v, want ErrTooLarge", err)
	}
}

// BenchmarkNestedBomb shows the refused bomb costs microseconds and a few
// kilobytes.
func BenchmarkNestedBomb(b *testing.B) {
	doc := nestedBomb(8_000_000, false)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Parse(doc); !errors.Is(err, ErrTooLarge) {
			b.Fatal(err)
		}
	}
}

package lan

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/proto"
)

func TestMetaRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		m    meta
	}{
		{name: "typical", m: meta{PeerID: "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN", Site: "branch-lyon", Version: "v1.4.0"}},
		{name: "empty-version", m: meta{PeerID: "p", Site: "s"}},
		{name: "unicode", m: meta{PeerID: "p", Site: "agence-évry", Version: "dev"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.m.encode()
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseMeta(b)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.m, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMetaErrors(t *testing.T) {
	good, err := (meta{PeerID: "p", Site: "s", Version: "v"}).encode()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{name: "empty", b: nil},
		{name: "version-zero", b: append([]byte{0}, good[1:]...)},
		{name: "truncated", b: good[:len(good)-1]},
		{name: "trailing", b: append(bytes.Clone(good), 'x')},
		{name: "length-overflow", b: []byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{name: "no-peer", b: []byte{1, 0, 1, 's', 0}},
		{name: "no-site", b: []byte{1, 1, 'p', 0, 0}},
		{name: "oversize", b: append([]byte{1}, make([]byte, 600)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parseMeta(tt.b); !errors.Is(err, ErrBadMeta) {
				t.Errorf("parseMeta = %v, want ErrBadMeta", err)
			}
		})
	}
	if _, err := (meta{PeerID: "p", Site: "s", Version: strings.Repeat("v", 520)}).encode(); !errors.Is(err, ErrBadMeta) {
		t.Errorf("encode(oversize) = %v, want ErrBadMeta", err)
	}
	// A later version may append fields.
	later := append([]byte{2}, good[1:]...)
	if got, err := parseMeta(append(later, 0x03, 'n', 'e', 'w')); err != nil || got.Site != "s" {
		t.Errorf("parseMeta(v2 with extra field) = %+v, %v", got, err)
	}
}

func TestRecordsMessage(t *testing.T) {
	central := newTestCentral(t)
	recs := []proto.SignedPeerRecord{central.record(t, "p1", "s", timeIn(t)), central.record(t, "p2", "s", timeIn(t))}
	b, err := encodeRecords(msgAsk, recs)
	if err != nil {
		t.Fatal(err)
	}
	kind, got, err := decodeRecords(b)
	if err != nil || kind != msgAsk {
		t.Fatalf("decodeRecords = %d, %v", kind, err)
	}
	if diff := cmp.Diff(recs, got); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	for _, bad := range [][]byte{nil, {9, '[', ']'}, {msgRecords, '{'}} {
		if _, _, err := decodeRecords(bad); err == nil {
			t.Errorf("decodeRecords(%q) = nil error", bad)
		}
	}
}

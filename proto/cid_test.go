package proto

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// helloCID is the well-known CIDv1 (raw, sha2-256) of "hello".
const helloCID = "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq"

func TestFragmentCIDKnownAnswer(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{name: "hello", data: []byte("hello"), want: helloCID},
		{name: "empty", data: nil, want: "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FragmentCID(tt.data).String(); got != tt.want {
				t.Errorf("FragmentCID(%q) = %s, want %s", tt.data, got, tt.want)
			}
			// The hand-built CID must equal what go-cid builds itself.
			ref, err := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: multihash.SHA2_256, MhLength: -1}.Sum(tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if !ref.Equals(FragmentCID(tt.data)) {
				t.Errorf("FragmentCID differs from go-cid Prefix.Sum %s", ref)
			}
		})
	}
}

func TestParseCID(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{name: "canonical", in: helloCID},
		{name: "empty", in: "", wantErr: true},
		{name: "garbage", in: "not-a-cid", wantErr: true},
		{name: "cidv0", in: "QmRN6wdp1S2A5EtjW9A3M1vKSBuQQGcgvuhoMUoEz4iiT5", wantErr: true},
		{name: "dag-pb-codec", in: "bafybeibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq", wantErr: true},
		{name: "blake3", in: "bafkr4ihkr4ld3m4gqkjf4reryxsy2s5tkbxprqkow6fin2iiyvreuzzab4", wantErr: true},
		{name: "sha2-512", in: "bafkrgqe3ohjcjplc6n4f3fwunlj6upltggn7xqujbsvnvyw764srszz4u4rshq6ztos4chl4plgg4ffyyxnayrtdi5oc4xb2332g645433aeg", wantErr: true},
		{name: "base58-not-canonical", in: "zb2rhZfjRh2FHHB2RkHVEvL2vJnCTcu7kwRqgVsf9gpkLgteo", wantErr: true},
		{name: "upper-case-not-canonical", in: "BAFKREIBM6JG3UX5QUMHCN2B3FLC3TYU6DMLB4XA7U5BF44YEGNRJHC4YEQ", wantErr: true},
		{name: "truncated", in: helloCID[:20], wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCID(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidCID) {
					t.Fatalf("ParseCID(%q) = %s, %v; want ErrInvalidCID", tt.in, c, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCID(%q): %v", tt.in, err)
			}
			if c.String() != tt.in {
				t.Errorf("round trip = %s, want %s", c, tt.in)
			}
		})
	}
}

func TestVerifyFragment(t *testing.T) {
	hello := FragmentCID([]byte("hello"))
	tests := []struct {
		name    string
		want    cid.Cid
		data    []byte
		wantErr error
	}{
		{name: "good", want: hello, data: []byte("hello")},
		{name: "one-byte-changed", want: hello, data: []byte("hellp"), wantErr: ErrDigestMismatch},
		{name: "truncated", want: hello, data: []byte("hell"), wantErr: ErrDigestMismatch},
		{name: "empty", want: hello, data: nil, wantErr: ErrDigestMismatch},
		{name: "undefined-cid", want: cid.Undef, data: []byte("hello"), wantErr: ErrDigestMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyFragment(tt.want, tt.data)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("VerifyFragment = %v, want %v", err, tt.wantErr)
			}
			h := NewFragmentHasher()
			// Write in small pieces to exercise streaming.
			if _, err := io.CopyBuffer(h, bytes.NewReader(tt.data), make([]byte, 2)); err != nil {
				t.Fatal(err)
			}
			if h.Len() != int64(len(tt.data)) {
				t.Errorf("Len = %d, want %d", h.Len(), len(tt.data))
			}
			if err := h.Verify(tt.want); !errors.Is(err, tt.wantErr) {
				t.Errorf("FragmentHasher.Verify = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestFragmentHasherReset(t *testing.T) {
	h := NewFragmentHasher()
	h.Write([]byte("garbage"))
	h.Reset()
	h.Write([]byte("hel"))
	h.Write([]byte("lo"))
	if got := h.CID().String(); got != helloCID {
		t.Errorf("CID after Reset = %s, want %s", got, helloCID)
	}
	// CID must not disturb the running hash.
	h.Write(nil)
	if got := h.CID().String(); got != helloCID {
		t.Errorf("second CID = %s, want %s", got, helloCID)
	}
	if h.Size() != 32 || len(h.Sum(nil)) != 32 {
		t.Errorf("Size = %d, len(Sum) = %d, want 32", h.Size(), len(h.Sum(nil)))
	}
}

func BenchmarkFragmentCID(b *testing.B) {
	data := make([]byte, 1<<20)
	rand.Read(data)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		FragmentCID(data)
	}
}

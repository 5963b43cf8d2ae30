package proto

import (
	"bytes"
	"crypto/ed25519"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testData returns n deterministic pseudo-random bytes.
func testData(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// cutFragments cuts data into consecutive pieces of the given sizes.
func cutFragments(data []byte, sizes []int64) []Fragment {
	var out []Fragment
	var off int64
	for i, s := range sizes {
		out = append(out, Fragment{Index: i, Offset: off, Size: s, CID: FragmentCID(data[off : off+s]).String()})
		off += s
	}
	return out
}

// testManifest builds a valid manifest over data: Shoal fragments of
// fragSize bytes and ocsN OCS fragments cut like the OCS console.
func testManifest(t testing.TB, id string, data []byte, fragSize int64, ocsN int) *Manifest {
	t.Helper()
	size := int64(len(data))
	var shoal []int64
	for off := int64(0); off < size; off += fragSize {
		shoal = append(shoal, min(fragSize, size-off))
	}
	var ocs []int64
	for i := range ocsN {
		if i < ocsN-1 {
			ocs = append(ocs, size/int64(ocsN))
		} else {
			ocs = append(ocs, size-int64(ocsN-1)*(size/int64(ocsN)))
		}
	}
	s := sha256.Sum256(data)
	m := md5.Sum(data)
	return &Manifest{
		Version:       ProtocolVersion,
		PackageID:     id,
		Name:          "firefox",
		Platform:      PlatformLinux,
		Action:        ActionExecute,
		Command:       "sh install.sh",
		Priority:      5,
		Size:          size,
		SHA256:        hex.EncodeToString(s[:]),
		MD5:           hex.EncodeToString(m[:]),
		FragmentSize:  fragSize,
		Fragments:     cutFragments(data, shoal),
		OCSFragments:  cutFragments(data, ocs),
		CreatedAt:     time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC),
		FragmentProto: FragmentProtoHTTP,
		Notify:        Notify{User: true, Text: "Firefox <new> & \"better\"", Countdown: "30", CanDelay: true},
	}
}

func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func TestSignVerifyRoundTrip(t *testing.T) {
	key := testKey(1)
	pub := key.Public().(ed25519.PublicKey)
	tests := []struct {
		name     string
		size     int
		fragSize int64
		ocsN     int
	}{
		{name: "empty", size: 0, fragSize: 1 << 20, ocsN: 0},
		{name: "one-byte", size: 1, fragSize: 1 << 20, ocsN: 1},
		{name: "exact-multiple", size: 4096, fragSize: 1024, ocsN: 4},
		{name: "ragged", size: 5000, fragSize: 1024, ocsN: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testManifest(t, "1700000001", testData(tt.size), tt.fragSize, tt.ocsN)
			signed, err := SignManifest(m, key)
			if err != nil {
				t.Fatalf("SignManifest: %v", err)
			}
			got, err := VerifyManifest(signed, pub, "1700000001")
			if err != nil {
				t.Fatalf("VerifyManifest: %v", err)
			}
			if diff := cmp.Diff(m, got); diff != "" {
				t.Errorf("manifest changed in round trip (-want +got):\n%s", diff)
			}
			var sm SignedManifest
			if err := json.Unmarshal(signed, &sm); err != nil {
				t.Fatal(err)
			}
			if sm.KeyID != KeyID(pub) || len(sm.KeyID) != 16 {
				t.Errorf("key_id = %q, want %q (16 hex digits)", sm.KeyID, KeyID(pub))
			}
		})
	}
}

func TestVerifyManifestRejects(t *testing.T) {
	key := testKey(1)
	pub := key.Public().(ed25519.PublicKey)
	other := testKey(2).Public().(ed25519.PublicKey)
	m := testManifest(t, "1700000001", testData(3000), 1024, 2)
	signed, err := SignManifest(m, key)
	if err != nil {
		t.Fatal(err)
	}

	// flipManifestByte alters one byte inside the signed manifest value.
	flipManifestByte := func() []byte {
		b := bytes.Clone(signed)
		i := bytes.Index(b, []byte(`"name":"firefox"`))
		b[i+len(`"name":"`)] = 'F'
		return b
	}
	// otherKeyID keeps the signature but claims the other key's ID.
	otherKeyID := func() []byte {
		var sm SignedManifest
		json.Unmarshal(signed, &sm)
		sm.KeyID = KeyID(other)
		b, _ := json.Marshal(sm)
		return b
	}
	badSig := func() []byte {
		var sm SignedManifest
		json.Unmarshal(signed, &sm)
		sm.Signature[0] ^= 1
		b, _ := json.Marshal(sm)
		return b
	}
	tests := []struct {
		name    string
		data    []byte
		pub     ed25519.PublicKey
		id      string
		wantErr error
	}{
		{name: "good", data: signed, pub: pub, id: "1700000001"},
		{name: "manifest-byte-altered", data: flipManifestByte(), pub: pub, id: "1700000001", wantErr: ErrBadSignature},
		{name: "other-key", data: signed, pub: other, id: "1700000001", wantErr: ErrBadSignature},
		{name: "other-key-id-claimed", data: otherKeyID(), pub: other, id: "1700000001", wantErr: ErrBadSignature},
		{name: "signature-altered", data: badSig(), pub: pub, id: "1700000001", wantErr: ErrBadSignature},
		{name: "wrong-package-id", data: signed, pub: pub, id: "1700000002", wantErr: ErrManifestMismatch},
		{name: "empty-package-id", data: signed, pub: pub, id: "", wantErr: ErrManifestMismatch},
		{name: "not-json", data: []byte("hello"), pub: pub, id: "1700000001", wantErr: ErrManifestInvalid},
		{name: "empty-input", data: nil, pub: pub, id: "1700000001", wantErr: ErrManifestInvalid},
		{name: "missing-manifest", data: []byte(`{"key_id":"` + KeyID(pub) + `"}`), pub: pub, id: "1700000001", wantErr: ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := VerifyManifest(tt.data, tt.pub, tt.id)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("VerifyManifest error = %v, want %v", err, tt.wantErr)
			}
			if (got == nil) != (err != nil) {
				t.Errorf("manifest = %v with error %v", got, err)
			}
		})
	}
	t.Run("bad-public-key-length", func(t *testing.T) {
		if _, err := VerifyManifest(signed, pub[:5], "1700000001"); err == nil {
			t.Error("VerifyManifest with a 5-byte key succeeded")
		}
	})
}

// signRaw signs an arbitrary manifest value, bypassing SignManifest's
// validation, to test what VerifyManifest does with invalid content.
func signRaw(t *testing.T, key ed25519.PrivateKey, m *Manifest) []byte {
	t.Helper()
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	pub := key.Public().(ed25519.PublicKey)
	b, err := json.Marshal(SignedManifest{Manifest: raw, KeyID: KeyID(pub), Signature: ed25519.Sign(key, ManifestMessage(raw))})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestManifestValidate(t *testing.T) {
	data := testData(3000)
	tests := []struct {
		name   string
		mutate func(m *Manifest)
		ok     bool
	}{
		{name: "valid", mutate: func(m *Manifest) {}, ok: true},
		{name: "fragment-gap", mutate: func(m *Manifest) { m.Fragments[1].Offset++ }},
		{name: "fragment-overlap", mutate: func(m *Manifest) { m.OCSFragments[1].Offset-- }},
		{name: "bad-cid", mutate: func(m *Manifest) { m.Fragments[0].CID = "QmRN6wdp1S2A5EtjW9A3M1vKSBuQQGcgvuhoMUoEz4iiT5" }},
		{name: "empty-cid", mutate: func(m *Manifest) { m.OCSFragments[0].CID = "" }},
		{name: "size-sum-short", mutate: func(m *Manifest) { m.OCSFragments[1].Size-- }},
		{name: "size-sum-long", mutate: func(m *Manifest) { m.Size-- }},
		{name: "fragment-past-size", mutate: func(m *Manifest) { m.OCSFragments[1].Size = 1 << 62 }},
		{name: "negative-offset", mutate: func(m *Manifest) { m.OCSFragments[0].Offset = -1 }},
		{name: "zero-size-fragment", mutate: func(m *Manifest) {
			m.OCSFragments = append(m.OCSFragments, Fragment{Index: 2, Offset: 3000, Size: 0, CID: helloCID})
		}},
		{name: "index-out-of-order", mutate: func(m *Manifest) { m.Fragments[0].Index, m.Fragments[1].Index = 1, 0 }},
		{name: "missing-last-fragment", mutate: func(m *Manifest) { m.Fragments = m.Fragments[:2] }},
		{name: "short-middle-fragment", mutate: func(m *Manifest) {
			m.Fragments[0].Size = 1000
			m.Fragments[1].Offset = 1000
			m.Fragments[1].Size = 1072
		}},
		{name: "fragment-size-zero", mutate: func(m *Manifest) { m.FragmentSize = 0 }},
		{name: "package-id-letters", mutate: func(m *Manifest) { m.PackageID = "17000abc" }},
		{name: "package-id-traversal", mutate: func(m *Manifest) { m.PackageID = "../1" }},
		{name: "package-id-too-long", mutate: func(m *Manifest) { m.PackageID = "12345678901234567890" }},
		{name: "version-zero", mutate: func(m *Manifest) { m.Version = 0 }},
		{name: "version-one", mutate: func(m *Manifest) { m.Version = 1 }},
		{name: "fragment-proto-empty", mutate: func(m *Manifest) { m.FragmentProto = "" }},
		{name: "fragment-proto-ftp", mutate: func(m *Manifest) { m.FragmentProto = "FTP" }},
		{name: "fragment-proto-https", mutate: func(m *Manifest) { m.FragmentProto = FragmentProtoHTTPS }, ok: true},
		{name: "notify-countdown-letters", mutate: func(m *Manifest) { m.Notify.Countdown = "1;rm" }},
		{name: "version-future", mutate: func(m *Manifest) { m.Version = ProtocolVersion + 1 }},
		{name: "no-name", mutate: func(m *Manifest) { m.Name = "" }},
		{name: "bad-platform", mutate: func(m *Manifest) { m.Platform = "linux" }},
		{name: "bad-action", mutate: func(m *Manifest) { m.Action = "RUN" }},
		{name: "execute-without-command", mutate: func(m *Manifest) { m.Command = "" }},
		{name: "store-without-path", mutate: func(m *Manifest) { m.Action = ActionStore }},
		{name: "launch-without-name", mutate: func(m *Manifest) { m.Action = ActionLaunch }},
		{name: "store-with-path", mutate: func(m *Manifest) { m.Action, m.Path = ActionStore, "/opt/x" }, ok: true},
		{name: "priority-high", mutate: func(m *Manifest) { m.Priority = 11 }},
		{name: "priority-negative", mutate: func(m *Manifest) { m.Priority = -1 }},
		{name: "md5-upper-case", mutate: func(m *Manifest) { m.MD5 = "D41D8CD98F00B204E9800998ECF8427E" }},
		{name: "sha256-short", mutate: func(m *Manifest) { m.SHA256 = m.SHA256[:10] }},
		{name: "created-zero", mutate: func(m *Manifest) { m.CreatedAt = time.Time{} }},
		{name: "negative-size", mutate: func(m *Manifest) { m.Size = -1 }},
	}
	key := testKey(1)
	pub := key.Public().(ed25519.PublicKey)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testManifest(t, "1700000001", data, 1024, 2)
			tt.mutate(m)
			err := m.Validate()
			if tt.ok {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrManifestInvalid) {
				t.Fatalf("Validate = %v, want ErrManifestInvalid", err)
			}
			if _, err := SignManifest(m, key); !errors.Is(err, ErrManifestInvalid) {
				t.Errorf("SignManifest = %v, want ErrManifestInvalid", err)
			}
			if _, err := VerifyManifest(signRaw(t, key, m), pub, m.PackageID); !errors.Is(err, ErrManifestInvalid) {
				t.Errorf("VerifyManifest = %v, want ErrManifestInvalid", err)
			}
		})
	}
}

// TestManifestDomainSeparation signs manifest bytes the way other messages
// of central's key would be signed (no context, or another context) and
// checks that none verifies as a manifest.
func TestManifestDomainSeparation(t *testing.T) {
	key := testKey(1)
	pub := key.Public().(ed25519.PublicKey)
	raw, err := json.Marshal(testManifest(t, "1700000001", testData(3000), 1024, 2))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		msg  []byte
		ok   bool
	}{
		{name: "no-context-v1", msg: raw},
		{name: "peer-record-context", msg: append([]byte("shoal-peer-record-v1\x00"), raw...)},
		{name: "context-without-separator", msg: append([]byte("shoal-manifest-v2"), raw...)},
		{name: "manifest-context", msg: ManifestMessage(raw), ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := json.Marshal(SignedManifest{Manifest: raw, KeyID: KeyID(pub), Signature: ed25519.Sign(key, tt.msg)})
			if err != nil {
				t.Fatal(err)
			}
			_, err = VerifyManifest(data, pub, "1700000001")
			if tt.ok {
				if err != nil {
					t.Fatalf("VerifyManifest: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrBadSignature) {
				t.Fatalf("VerifyManifest = %v, want ErrBadSignature", err)
			}
		})
	}
}

func TestSignManifestBadInput(t *testing.T) {
	m := testManifest(t, "1", testData(10), 4, 1)
	if _, err := SignManifest(m, ed25519.PrivateKey{1, 2, 3}); err == nil {
		t.Error("SignManifest with a 3-byte key succeeded")
	}
	if _, err := SignManifest(nil, testKey(1)); !errors.Is(err, ErrManifestInvalid) {
		t.Errorf("SignManifest(nil) = %v, want ErrManifestInvalid", err)
	}
}

func TestOCSFragment(t *testing.T) {
	m := testManifest(t, "1", testData(10), 4, 3)
	tests := []struct {
		name   string
		n      int
		want   Fragment
		wantOK bool
	}{
		{name: "first", n: 1, want: m.OCSFragments[0], wantOK: true},
		{name: "last", n: 3, want: m.OCSFragments[2], wantOK: true},
		{name: "zero", n: 0},
		{name: "past-end", n: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := m.OCSFragment(tt.n)
			if ok != tt.wantOK || got != tt.want {
				t.Errorf("OCSFragment(%d) = %+v, %t; want %+v, %t", tt.n, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func FuzzVerifyManifest(f *testing.F) {
	key := testKey(1)
	pub := key.Public().(ed25519.PublicKey)
	m := testManifest(f, "1700000001", testData(3000), 1024, 2)
	signed, err := SignManifest(m, key)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"manifest":null,"key_id":"","signature":""}`))
	f.Add([]byte(`{"manifest":{"fragments":[{"size":-1}]}}`))
	var sm SignedManifest
	if err := json.Unmarshal(signed, &sm); err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(sm.Manifest))
	check := func(t *testing.T, data []byte) {
		got, err := VerifyManifest(data, pub, "1700000001")
		if err != nil {
			if got != nil {
				t.Errorf("manifest returned with error %v", err)
			}
			return
		}
		if got.PackageID != "1700000001" {
			t.Errorf("package ID %q accepted", got.PackageID)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("accepted manifest does not validate: %v", err)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// As an envelope: almost always stopped at the signature.
		check(t, data)
		// As the manifest value, correctly signed, to reach parsing and
		// validation.
		if json.Valid(data) {
			// Built by hand: json.Marshal would compact data and so
			// change the signed bytes.
			sig, _ := json.Marshal(ed25519.Sign(key, data))
			env := fmt.Appendf(nil, `{"manifest":%s,"key_id":%q,"signature":%s}`, data, KeyID(pub), sig)
			check(t, env)
		}
	})
}

package proto

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// ErrDigestMismatch reports data whose hash differs from the expected CID.
var ErrDigestMismatch = errors.New("proto: digest mismatch")

// ErrInvalidCID reports a CID string that is not a canonical CIDv1 with the
// raw codec and a sha2-256 multihash.
var ErrInvalidCID = errors.New("proto: invalid cid")

// mhPrefix is the multihash header of a sha2-256 digest: code 0x12, length 32.
var mhPrefix = [2]byte{multihash.SHA2_256, sha256.Size}

// cidFromDigest wraps a sha2-256 digest into a CIDv1 with the raw codec.
func cidFromDigest(sum [sha256.Size]byte) cid.Cid {
	mh := make([]byte, 0, len(mhPrefix)+sha256.Size)
	mh = append(mh, mhPrefix[:]...)
	mh = append(mh, sum[:]...)
	return cid.NewCidV1(cid.Raw, multihash.Multihash(mh))
}

// FragmentCID returns the CIDv1 (raw codec, sha2-256) of data.
func FragmentCID(data []byte) cid.Cid {
	return cidFromDigest(sha256.Sum256(data))
}

// ParseCID parses a fragment CID. It accepts only the canonical string form
// (base32) of a CIDv1 with the raw codec and a 32-byte sha2-256 multihash, so
// that one fragment has exactly one spelling.
func ParseCID(s string) (cid.Cid, error) {
	c, err := cid.Decode(s)
	if err != nil {
		return cid.Undef, fmt.Errorf("parse cid %q: %w: %w", s, ErrInvalidCID, err)
	}
	if err := checkCID(c); err != nil {
		return cid.Undef, fmt.Errorf("parse cid %q: %w", s, err)
	}
	if c.String() != s {
		return cid.Undef, fmt.Errorf("parse cid %q: not canonical, want %q: %w", s, c.String(), ErrInvalidCID)
	}
	return c, nil
}

// checkCID reports whether c has the only shape Shoal uses.
func checkCID(c cid.Cid) error {
	if !c.Defined() {
		return fmt.Errorf("undefined cid: %w", ErrInvalidCID)
	}
	p := c.Prefix()
	switch {
	case p.Version != 1:
		return fmt.Errorf("cid version %d, want 1: %w", p.Version, ErrInvalidCID)
	case p.Codec != cid.Raw:
		return fmt.Errorf("cid codec 0x%x, want raw (0x55): %w", p.Codec, ErrInvalidCID)
	case p.MhType != multihash.SHA2_256:
		return fmt.Errorf("cid hash 0x%x, want sha2-256 (0x12): %w", p.MhType, ErrInvalidCID)
	case p.MhLength != sha256.Size:
		return fmt.Errorf("cid digest length %d, want %d: %w", p.MhLength, sha256.Size, ErrInvalidCID)
	}
	return nil
}

// VerifyFragment checks that data hashes to want. A mismatch is reported as
// an error wrapping [ErrDigestMismatch] that names both CIDs.
func VerifyFragment(want cid.Cid, data []byte) error {
	return verifyCID(want, FragmentCID(data), int64(len(data)))
}

func verifyCID(want, got cid.Cid, n int64) error {
	if !got.Equals(want) {
		return fmt.Errorf("verify fragment: %d bytes hash to %s, want %s: %w", n, got, want, ErrDigestMismatch)
	}
	return nil
}

// FragmentHasher computes a fragment CID while the bytes stream past, so a
// fetcher can verify without buffering the fragment first. It implements
// [hash.Hash]; Sum appends the raw sha2-256 digest, CID returns the CID.
// A FragmentHasher is not safe for concurrent use.
type FragmentHasher struct {
	h hash.Hash
	n int64
}

var _ hash.Hash = (*FragmentHasher)(nil)

// NewFragmentHasher returns an empty FragmentHasher.
func NewFragmentHasher() *FragmentHasher {
	return &FragmentHasher{h: sha256.New()}
}

// Write adds p to the running hash. It never returns an error.
func (f *FragmentHasher) Write(p []byte) (int, error) {
	f.n += int64(len(p))
	return f.h.Write(p)
}

// Sum appends the sha2-256 digest of the bytes written so far to b.
func (f *FragmentHasher) Sum(b []byte) []byte { return f.h.Sum(b) }

// Reset clears the hasher for the next fragment.
func (f *FragmentHasher) Reset() {
	f.h.Reset()
	f.n = 0
}

// Size returns the digest size in bytes.
func (f *FragmentHasher) Size() int { return f.h.Size() }

// BlockSize returns the block size of the underlying hash.
func (f *FragmentHasher) BlockSize() int { return f.h.BlockSize() }

// Len returns the number of bytes written since the last Reset.
func (f *FragmentHasher) Len() int64 { return f.n }

// CID returns the CID of the bytes written so far.
func (f *FragmentHasher) CID() cid.Cid {
	var sum [sha256.Size]byte
	f.h.Sum(sum[:0])
	return cidFromDigest(sum)
}

// Verify checks the bytes written so far against want, like [VerifyFragment].
func (f *FragmentHasher) Verify(want cid.Cid) error {
	return verifyCID(want, f.CID(), f.n)
}

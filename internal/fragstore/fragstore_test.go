package fragstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/proto"
)

func data(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func put(t *testing.T, s *Store, b []byte) string {
	t.Helper()
	id := proto.FragmentCID(b).String()
	w, err := s.Create(id, int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestCreateCheckOpen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	b := data(1000, 1)
	id := put(t, s, b)
	ok, err := s.Check(id, 1000)
	if err != nil || !ok {
		t.Fatalf("Check = %v, %v", ok, err)
	}
	f, err := s.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if !bytes.Equal(got, b) {
		t.Error("stored bytes differ")
	}
	if n, err := s.Usage(); err != nil || n != 1000 {
		t.Errorf("Usage = %d, %v", n, err)
	}
	if n := tmpFiles(t, dir); n != 0 {
		t.Errorf("%d temporary files left", n)
	}
}

func tmpFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, tmpSuffix) {
			n++
		}
		return err
	})
	return n
}

func TestCommitRejects(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	good := data(100, 2)
	id := proto.FragmentCID(good).String()
	bad := bytes.Clone(good)
	bad[50] ^= 1
	tests := []struct {
		name    string
		write   []byte
		wantErr error
	}{
		{name: "flipped-byte", write: bad, wantErr: proto.ErrDigestMismatch},
		{name: "short", write: good[:99], wantErr: ErrSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := s.Create(id, 100)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(tt.write); err != nil {
				t.Fatal(err)
			}
			if err := w.Commit(); !errors.Is(err, tt.wantErr) {
				t.Fatalf("Commit = %v, want %v", err, tt.wantErr)
			}
			if ok, _ := s.Check(id, 100); ok {
				t.Error("rejected fragment is in the store")
			}
		})
	}
	w, _ := s.Create(id, 100)
	if _, err := w.Write(data(101, 3)); !errors.Is(err, ErrSize) {
		t.Errorf("overlong write: %v, want ErrSize", err)
	}
	w.Abort()
	if _, err := s.Create("not-a-cid", 10); err == nil {
		t.Error("Create accepted an invalid CID")
	}
}

// TestCheckOnReopen: a new process re-hashes what it finds and drops
// damaged files.
func TestCheckOnReopen(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	b := data(4096, 4)
	id := put(t, s, b)
	other := put(t, s, data(10, 5))

	// Damage the first file behind the store's back and reopen.
	p := s.path(id)
	raw, _ := os.ReadFile(p)
	raw[7] ^= 0xff
	if err := os.WriteFile(p, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(filepath.Dir(p), id+".123"+tmpSuffix), []byte("x"), 0o600)
	s2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s2.Check(id, 4096); ok || err != nil {
		t.Errorf("damaged fragment: Check = %v, %v; want false, nil", ok, err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("damaged fragment not deleted: %v", err)
	}
	if ok, _ := s2.Check(other, 10); !ok {
		t.Error("intact fragment not found after reopen")
	}
	if n := tmpFiles(t, dir); n != 0 {
		t.Errorf("%d leftover temporary files not cleaned", n)
	}
}

func TestReaderAndSHA256(t *testing.T) {
	s, _ := Open(t.TempDir())
	whole := data(2500, 6)
	var frags []proto.Fragment
	for i, off := 0, 0; off < len(whole); i++ {
		end := min(off+1000, len(whole))
		id := put(t, s, whole[off:end])
		frags = append(frags, proto.Fragment{Index: i, Offset: int64(off), Size: int64(end - off), CID: id})
		off = end
	}
	r := s.NewReader(frags, int64(len(whole)))
	defer r.Close()
	got, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
	if err != nil || !bytes.Equal(got, whole) {
		t.Fatalf("ReadAll: %v, equal %v", err, bytes.Equal(got, whole))
	}
	p := make([]byte, 300)
	if n, err := r.ReadAt(p, 900); err != nil || n != 300 || !bytes.Equal(p, whole[900:1200]) {
		t.Errorf("ReadAt across fragments: %d, %v", n, err)
	}
	if n, err := r.ReadAt(p, 2400); err != io.EOF || n != 100 {
		t.Errorf("ReadAt at the end: %d, %v; want 100, EOF", n, err)
	}
	sum := sha256.Sum256(whole)
	if h, err := r.SHA256(t.Context()); err != nil || h != hex.EncodeToString(sum[:]) {
		t.Errorf("SHA256 = %s, %v", h, err)
	}
}

func TestEvict(t *testing.T) {
	s, _ := Open(t.TempDir())
	a := put(t, s, data(100, 7))
	b := put(t, s, data(100, 8))
	c := put(t, s, data(100, 9))
	n, err := s.Evict(150, func(id string) bool { return id == a })
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("evicted %d, want 2", n)
	}
	for id, want := range map[string]bool{a: true, b: false, c: false} {
		if ok, _ := s.Check(id, 100); ok != want {
			t.Errorf("fragment kept = %v, want %v", ok, want)
		}
	}
}

// TestSecondCopyKeepsFile: two downloads of one fragment (an endgame
// duplicate) both finish; the second copy is discarded and the stored
// file, which a reader has open, is not replaced (on Windows a rename
// over an open file fails).
func TestSecondCopyKeepsFile(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	b := data(4096, 7)
	id := proto.FragmentCID(b).String()
	var ws [2]*Writer
	for i := range ws {
		if ws[i], err = s.Create(id, int64(len(b))); err != nil {
			t.Fatal(err)
		}
		if _, err := ws[i].Write(b); err != nil {
			t.Fatal(err)
		}
		if err := ws[i].Verify(); err != nil {
			t.Fatal(err)
		}
	}
	if err := ws[0].Finish(); err != nil {
		t.Fatal(err)
	}
	f, err := s.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	before, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if err := ws[1].Finish(); err != nil {
		t.Fatalf("second Finish = %v, want nil", err)
	}
	after, err := os.Stat(s.path(id))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Error("the second copy replaced the stored file")
	}
	if n := tmpFiles(t, dir); n != 0 {
		t.Errorf("%d temporary files left", n)
	}
	if ok, err := s.Check(id, int64(len(b))); err != nil || !ok {
		t.Errorf("Check = %v, %v", ok, err)
	}
}

package jobs

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/agent/install"
	"github.com/shoal-project/shoal/internal/testwait"
	"github.com/shoal-project/shoal/proto"
)

// tarGz returns a tar.gz archive of one file.
func tarGz(t *testing.T, name string, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// earlyPackage publishes a tar.gz of one 200 KiB file, big.bin, whose
// command copies it to out; the fragments from the middle on wait for
// their gate. It returns the file's bytes.
func earlyPackage(t *testing.T, c *fakeCentral, key ed25519.PrivateKey, pkg, out string) []byte {
	t.Helper()
	// Random bytes go into stored deflate blocks, which the decompressor
	// reads up to 32 KiB at a time, and a read waits for every fragment
	// it spans: the first 8 KiB of the file need about 40 KiB of the
	// archive, far from its held-back second half.
	big := make([]byte, 200<<10)
	r := rand.New(rand.NewPCG(7, 7))
	for i := range big {
		big[i] = byte(r.Uint32())
	}
	archive := tarGz(t, "big.bin", big)
	c.addData(t, key, pkg, archive, "cp big.bin "+out)
	c.gates[pkg] = make(chan struct{})
	c.ungated[pkg] = len(archive) / fragSize / 2
	return big
}

// TestUnpackWhileDownloading: with the real installer, a tar.gz package
// unpacks as its fragments arrive. While the second half of its fragments
// is held back, the first half of the file is already in the work
// directory and nothing ran; once they arrive the command runs on the
// whole file.
func TestUnpackWhileDownloading(t *testing.T) {
	key := newKey(t)
	c := newFakeCentral()
	dir := t.TempDir()
	out := filepath.Join(t.TempDir(), "out.bin")
	big := earlyPackage(t, c, key, "5", out)
	inst, err := install.New(install.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	startWith(t, c, key, dir, inst)
	c.lists <- []proto.Job{{PackageID: "5"}}
	partial := filepath.Join(dir, "work", "5", "files", "big.bin")
	// Each fragment is committed with an fsync: on a loaded machine the
	// first fragments take seconds to arrive.
	testwait.For(t, time.Minute, "big.bin partly unpacked during the download", func() error {
		fi, err := os.Stat(partial)
		if err != nil {
			return err
		}
		if fi.Size() < 8<<10 {
			return fmt.Errorf("%d bytes unpacked", fi.Size())
		}
		return nil
	})
	if r, _ := c.snapshot(); len(r) != 0 {
		t.Fatalf("results %v before the download completed", r)
	}
	if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the command ran before the download completed (%v)", err)
	}
	close(c.gates["5"])
	waitFor(t, "the result", func() bool { r, _ := c.snapshot(); return len(r) == 1 })
	if r, _ := c.snapshot(); !cmp.Equal([]string{"5:SUCCESS"}, r) {
		t.Fatalf("results %v, want 5:SUCCESS", r)
	}
	got, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(got, big) {
		t.Errorf("the command saw %d bytes (err %v), want the %d of the package", len(got), err, len(big))
	}
	waitFor(t, "the work directory removed after the install", func() bool {
		_, err := os.Stat(filepath.Join(dir, "work", "5"))
		return errors.Is(err, fs.ErrNotExist)
	})
}

// TestResultBeforeWorkRemoved: the result of an install goes to central
// while its work directory is still being removed (held back here), and
// the directory goes afterwards; one left by an agent that stopped before
// removing it goes when the agent starts again.
func TestResultBeforeWorkRemoved(t *testing.T) {
	key := newKey(t)
	c := newFakeCentral()
	dir := t.TempDir()
	leftover := filepath.Join(dir, "work", ".discarded", "4-1", "files", "old.bin")
	if err := os.MkdirAll(filepath.Dir(leftover), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(leftover, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.addData(t, key, "5", tarGz(t, "a.txt", []byte("hello")), "true")
	inst, err := install.New(install.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	removed := make(chan string, 1)
	var discard string
	startManager(t, c, key, dir, inst, func(m *Manager) {
		discard = m.discardDir()
		m.removeDir = func(p string) error {
			if p != discard { // A finished install's: held back.
				<-release
				defer func() { removed <- p }()
			}
			return os.RemoveAll(p)
		}
	})
	waitFor(t, "the leftover work directory removed at start", func() bool {
		_, err := os.Stat(filepath.Dir(filepath.Dir(leftover)))
		return errors.Is(err, fs.ErrNotExist)
	})
	c.lists <- []proto.Job{{PackageID: "5"}}
	waitFor(t, "the result", func() bool { r, _ := c.snapshot(); return len(r) == 1 })
	if r, _ := c.snapshot(); !cmp.Equal([]string{"5:SUCCESS"}, r) {
		t.Fatalf("results %v, want 5:SUCCESS", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "work", "5")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the work directory is still in place after the result (%v)", err)
	}
	held, err := os.ReadDir(discard)
	if err != nil || len(held) != 1 {
		t.Fatalf("discarded work directories %v (%v), want the install's, not removed yet", held, err)
	}
	close(release)
	select {
	case p := <-removed:
		if filepath.Dir(p) != discard {
			t.Errorf("removed %s, want a directory of %s", p, discard)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the work directory was not removed")
	}
	if _, err := os.Stat(filepath.Join(discard, held[0].Name())); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("discarded work directory still there (%v)", err)
	}
}

// TestUnpackWhileDownloadingStops: central ends the deployment while its
// download waits; the unpack started with it stops and its work directory
// goes, and the command never runs.
func TestUnpackWhileDownloadingStops(t *testing.T) {
	key := newKey(t)
	c := newFakeCentral()
	dir := t.TempDir()
	out := filepath.Join(t.TempDir(), "out.bin")
	earlyPackage(t, c, key, "6", out)
	inst, err := install.New(install.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	startWith(t, c, key, dir, inst)
	c.lists <- []proto.Job{{PackageID: "6"}}
	work := filepath.Join(dir, "work", "6")
	testwait.For(t, time.Minute, "the unpack under way", func() error {
		_, err := os.Stat(filepath.Join(work, "files", "big.bin"))
		return err
	})
	c.mu.Lock()
	c.finished["6"] = true
	c.mu.Unlock()
	waitFor(t, "the work directory removed", func() bool {
		_, err := os.Stat(work)
		return errors.Is(err, fs.ErrNotExist)
	})
	if r, _ := c.snapshot(); len(r) != 0 {
		t.Errorf("results %v, want none", r)
	}
	if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the command ran (%v)", err)
	}
}

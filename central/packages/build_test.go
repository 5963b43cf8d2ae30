package packages

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/proto/ocs"
)

const testFragSize = 1 << 20

func testKey() ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
}

// newTestBuilder returns a Builder rooted in a temporary directory.
func newTestBuilder(t testing.TB) *Builder {
	t.Helper()
	b, err := NewBuilder(Config{Dir: t.TempDir(), FragmentSize: testFragSize, MaxUploadBytes: 128 << 20}, testKey(), nil)
	if err != nil {
		t.Fatalf("NewBuilder: %v", err)
	}
	return b
}

// randomFile writes size pseudo-random bytes to a new file outside the
// builder's directories and returns its path and content.
func randomFile(t testing.TB, size int) (string, []byte) {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(size), 1))
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	path := filepath.Join(t.TempDir(), "upload")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, data
}

func testSpec(id string) Spec {
	return Spec{
		ID:       id,
		Name:     "test package",
		Platform: proto.PlatformLinux,
		Action:   proto.ActionExecute,
		Command:  "sh install.sh",
		Priority: DefaultPriority,
	}
}

// dirNames lists a directory, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

func TestBuild(t *testing.T) {
	tests := []struct {
		name      string
		size      int
		ocsFrags  int
		ocsSize   int64
		wantOCS   int
		wantShoal int
	}{
		{name: "empty", size: 0, ocsFrags: 3, wantOCS: 0, wantShoal: 0},
		{name: "one-byte", size: 1, ocsFrags: 4, wantOCS: 1, wantShoal: 1},
		{name: "exact-multiple", size: 3 * testFragSize, ocsFrags: 3, wantOCS: 3, wantShoal: 3},
		{name: "five-mib-count", size: 5 << 20, ocsFrags: 7, wantOCS: 7, wantShoal: 5},
		{name: "ragged-count", size: 5<<20 + 17, ocsFrags: 2, wantOCS: 2, wantShoal: 6},
		{name: "ocs-fragment-size", size: 5<<20 + 1, ocsSize: 1 << 20, wantOCS: 6, wantShoal: 6},
		{name: "config-default-size", size: 20 << 20, wantOCS: 3, wantShoal: 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newTestBuilder(t)
			src, data := randomFile(t, tt.size)
			spec := testSpec("1700000001")
			spec.OCSFragments, spec.OCSFragmentSize = tt.ocsFrags, tt.ocsSize
			built, err := b.Build(context.Background(), spec, src)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			dir := b.Path(spec.ID)
			if built.Dir != dir || built.ID != spec.ID || built.Size != int64(tt.size) {
				t.Errorf("Built = %+v", built)
			}
			if built.OCSFragments != tt.wantOCS || len(built.Manifest.Fragments) != tt.wantShoal {
				t.Fatalf("fragments: OCS %d, Shoal %d; want %d, %d",
					built.OCSFragments, len(built.Manifest.Fragments), tt.wantOCS, tt.wantShoal)
			}

			// The directory holds exactly the OCS layout plus the manifest.
			want := []string{InfoFile, ManifestFile}
			for n := 1; n <= tt.wantOCS; n++ {
				want = append(want, FragmentFile(spec.ID, n))
			}
			slices.Sort(want)
			if diff := cmp.Diff(want, dirNames(t, dir)); diff != "" {
				t.Errorf("package files (-want +got):\n%s", diff)
			}
			if got := dirNames(t, b.tmpDir); len(got) != 0 {
				t.Errorf("temporary files left: %q", got)
			}

			// Fragments concatenate to the input and are cut like OCS.
			var all []byte
			for n := 1; n <= tt.wantOCS; n++ {
				frag, err := os.ReadFile(filepath.Join(dir, FragmentFile(spec.ID, n)))
				if err != nil {
					t.Fatal(err)
				}
				if n < tt.wantOCS && len(frag) != tt.size/tt.wantOCS {
					t.Errorf("fragment %d: %d bytes, want size/n = %d", n, len(frag), tt.size/tt.wantOCS)
				}
				f, _ := built.Manifest.OCSFragment(n)
				if err := verifyCIDString(f.CID, frag); err != nil {
					t.Errorf("fragment %d: %v", n, err)
				}
				all = append(all, frag...)
			}
			if !bytes.Equal(all, data) {
				t.Fatalf("concatenated fragments (%d bytes) differ from the input (%d bytes)", len(all), len(data))
			}
			for _, f := range built.Manifest.Fragments {
				if err := verifyCIDString(f.CID, data[f.Offset:f.Offset+f.Size]); err != nil {
					t.Errorf("shoal fragment %d: %v", f.Index, err)
				}
			}

			// Digests.
			md5Sum, shaSum := md5.Sum(data), sha256.Sum256(data)
			if built.MD5 != hex.EncodeToString(md5Sum[:]) || built.SHA256 != hex.EncodeToString(shaSum[:]) {
				t.Errorf("digests md5 %s sha256 %s, want %x %x", built.MD5, built.SHA256, md5Sum, shaSum)
			}

			// The info file matches.
			infoData, err := os.ReadFile(filepath.Join(dir, InfoFile))
			if err != nil {
				t.Fatal(err)
			}
			info, err := ocs.ParseInfo(infoData)
			if err != nil {
				t.Fatalf("ParseInfo: %v", err)
			}
			wantDigest := built.MD5
			if tt.size == 0 {
				wantDigest = ""
			}
			wantInfo := &ocs.Info{
				ID: spec.ID, Pri: spec.Priority, Act: proto.ActionExecute, Digest: wantDigest,
				Proto: "HTTP", Frags: tt.wantOCS, DigestAlgo: "MD5", DigestEncode: "Hexa", Command: spec.Command,
			}
			if diff := cmp.Diff(wantInfo, info); diff != "" {
				t.Errorf("info (-want +got):\n%s", diff)
			}

			// The manifest verifies with the public key.
			signed, err := os.ReadFile(filepath.Join(dir, ManifestFile))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(signed, built.ManifestBytes) {
				t.Error("manifest.json differs from Built.ManifestBytes")
			}
			m, err := proto.VerifyManifest(signed, testKey().Public().(ed25519.PublicKey), spec.ID)
			if err != nil {
				t.Fatalf("VerifyManifest: %v", err)
			}
			if diff := cmp.Diff(built.Manifest, m); diff != "" {
				t.Errorf("manifest on disk (-built +disk):\n%s", diff)
			}

			rep, err := b.VerifyOnDisk(spec.ID)
			if err != nil || !rep.OK || rep.FragmentsChecked != tt.wantOCS {
				t.Errorf("VerifyOnDisk = %+v, %v; want OK with %d fragments", rep, err, tt.wantOCS)
			}
		})
	}
}

func verifyCIDString(s string, data []byte) error {
	c, err := proto.ParseCID(s)
	if err != nil {
		return err
	}
	return proto.VerifyFragment(c, data)
}

func TestBuildActions(t *testing.T) {
	tests := []struct {
		name     string
		spec     func(s *Spec)
		wantInfo func(i *ocs.Info)
	}{
		{name: "store", spec: func(s *Spec) { s.Action, s.Path = proto.ActionStore, "INSTALL_PATH/x" },
			wantInfo: func(i *ocs.Info) { i.Act, i.Path, i.Command = proto.ActionStore, "INSTALL_PATH/x", "" }},
		{name: "launch", spec: func(s *Spec) { s.Action, s.LaunchName = proto.ActionLaunch, "setup.exe /S" },
			wantInfo: func(i *ocs.Info) { i.Act, i.Name, i.Command = proto.ActionLaunch, "setup.exe /S", "" }},
		{name: "https-notify", spec: func(s *Spec) {
			s.Proto, s.Priority = ProtoHTTPS, 0
			s.NotifyUser, s.NotifyText, s.NotifyCountdown, s.NotifyCanAbort = true, "Install <now> & reboot?", "60", true
			s.NeedDoneAction, s.NeedDoneActionText = true, "Done"
		}, wantInfo: func(i *ocs.Info) {
			i.Proto, i.Pri = "HTTPS", 0
			i.NotifyUser, i.NotifyText, i.NotifyCountdown, i.NotifyCanAbort = true, "Install <now> & reboot?", "60", true
			i.NeedDoneAction, i.NeedDoneActionText = true, "Done"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newTestBuilder(t)
			src, _ := randomFile(t, 1000)
			spec := testSpec("42")
			spec.Command = "ignored unless EXECUTE"
			tt.spec(&spec)
			built, err := b.Build(context.Background(), spec, src)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			infoData, err := os.ReadFile(filepath.Join(built.Dir, InfoFile))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ocs.ParseInfo(infoData)
			if err != nil {
				t.Fatal(err)
			}
			want := &ocs.Info{ID: "42", Pri: DefaultPriority, Act: proto.ActionExecute, Digest: built.MD5, Proto: "HTTP",
				Frags: 1, DigestAlgo: "MD5", DigestEncode: "Hexa", Command: "ignored unless EXECUTE"}
			tt.wantInfo(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("info (-want +got):\n%s", diff)
			}
			m := built.Manifest
			if m.Command != want.Command || m.Path != want.Path || m.LaunchName != want.Name {
				t.Errorf("manifest action fields %q %q %q, want %q %q %q", m.Command, m.Path, m.LaunchName, want.Command, want.Path, want.Name)
			}
		})
	}
}

func TestBuildRejects(t *testing.T) {
	b := newTestBuilder(t)
	src, _ := randomFile(t, 100)
	if _, err := b.Build(context.Background(), testSpec("7"), src); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		id      string
		src     string
		spec    func(s *Spec)
		wantErr error
	}{
		{name: "exists", id: "7", src: src, wantErr: ErrExists},
		{name: "traversal-id", id: "../../etc", src: src, wantErr: ErrInvalidSpec},
		{name: "bad-spec", id: "8", src: src, spec: func(s *Spec) { s.Priority = 11 }, wantErr: ErrInvalidSpec},
		{name: "missing-source", id: "9", src: filepath.Join(t.TempDir(), "nope"), wantErr: os.ErrNotExist},
		{name: "source-is-dir", id: "10", src: t.TempDir()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := testSpec(tt.id)
			if tt.spec != nil {
				tt.spec(&spec)
			}
			_, err := b.Build(context.Background(), spec, tt.src)
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("Build = %v, want %v", err, tt.wantErr)
			}
			if got := dirNames(t, b.tmpDir); len(got) != 0 {
				t.Errorf("temporary files left: %q", got)
			}
			if got := dirNames(t, b.downloadDir); !slices.Equal(got, []string{"7"}) {
				t.Errorf("download dir = %q, want only the first package", got)
			}
		})
	}
	if rep, err := b.VerifyOnDisk("7"); err != nil || !rep.OK {
		t.Errorf("first package damaged: %+v, %v", rep, err)
	}
}

// cancelAfter is a context whose Err reports cancellation after n calls.
type cancelAfter struct {
	context.Context
	n atomic.Int64
}

func (c *cancelAfter) Err() error {
	if c.n.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

func TestBuildCancelled(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  func() context.Context
	}{
		{name: "before-start", ctx: func() context.Context { return cancelled }},
		{name: "mid-stream", ctx: func() context.Context {
			c := &cancelAfter{Context: context.Background()}
			c.n.Store(5)
			return c
		}},
		{name: "before-rename", ctx: func() context.Context {
			// One Err call per 256 KiB write: 8 writes for 2 MiB, then the
			// check before the rename fails.
			c := &cancelAfter{Context: context.Background()}
			c.n.Store(8)
			return c
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newTestBuilder(t)
			src, _ := randomFile(t, 2<<20)
			spec := testSpec("1700000002")
			spec.OCSFragments = 4
			_, err := b.Build(tt.ctx(), spec, src)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Build = %v, want context.Canceled", err)
			}
			if got := dirNames(t, b.downloadDir); len(got) != 0 {
				t.Errorf("download dir not empty: %q", got)
			}
			if got := dirNames(t, b.tmpDir); len(got) != 0 {
				t.Errorf("temporary files left: %q", got)
			}
		})
	}
}

func TestSpool(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		max     int64
		wantErr error
	}{
		{name: "empty", size: 0, max: 10},
		{name: "at-limit", size: 10, max: 10},
		{name: "over-limit", size: 11, max: 10, wantErr: ErrTooLarge},
		{name: "config-limit", size: 1000, max: 0},
		{name: "over-config-limit", size: 128<<20 + 1, max: 1 << 40, wantErr: ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newTestBuilder(t)
			var r io.Reader = io.LimitReader(zeroReader{}, int64(tt.size))
			path, size, err := b.Spool(r, tt.max)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Spool = %v, want %v", err, tt.wantErr)
				}
				if got := dirNames(t, b.tmpDir); len(got) != 0 {
					t.Errorf("temporary files left: %q", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Spool: %v", err)
			}
			if size != int64(tt.size) || filepath.Dir(path) != b.tmpDir {
				t.Errorf("Spool = %s, %d; want a file in %s, %d", path, size, b.tmpDir, tt.size)
			}
			if fi, err := os.Stat(path); err != nil || fi.Size() != int64(tt.size) {
				t.Errorf("spooled file: %v, %v", fi, err)
			}
		})
	}
}

func TestSpoolReadError(t *testing.T) {
	b := newTestBuilder(t)
	wantErr := errors.New("connection reset")
	r := io.MultiReader(strings.NewReader("partial"), errReader{wantErr})
	if _, _, err := b.Spool(r, 0); !errors.Is(err, wantErr) {
		t.Fatalf("Spool = %v, want %v", err, wantErr)
	}
	if got := dirNames(t, b.tmpDir); len(got) != 0 {
		t.Errorf("temporary files left: %q", got)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestSpoolThenBuild(t *testing.T) {
	b := newTestBuilder(t)
	_, data := randomFile(t, 3<<20+5)
	path, size, err := b.Spool(bytes.NewReader(data), 0)
	if err != nil {
		t.Fatal(err)
	}
	built, err := b.Build(context.Background(), testSpec("123"), path)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if built.Size != size || built.OCSFragments != 1 {
		t.Errorf("Built size %d, %d OCS fragments; want %d, 1", built.Size, built.OCSFragments, size)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("Build removed its source: %v", err)
	}
}

func TestInvalidIDs(t *testing.T) {
	b := newTestBuilder(t)
	tests := []struct {
		name string
		id   string
	}{
		{name: "empty", id: ""},
		{name: "dot-dot", id: ".."},
		{name: "traversal", id: "../1700000001"},
		{name: "absolute", id: "/etc"},
		{name: "slash", id: "17/00"},
		{name: "letters", id: "17a"},
		{name: "too-long", id: strings.Repeat("1", 20)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p := b.Path(tt.id); p != "" {
				t.Errorf("Path(%q) = %q, want empty", tt.id, p)
			}
			if err := b.Delete(tt.id); !errors.Is(err, ErrInvalidID) {
				t.Errorf("Delete(%q) = %v, want ErrInvalidID", tt.id, err)
			}
			if _, err := b.VerifyOnDisk(tt.id); !errors.Is(err, ErrInvalidID) {
				t.Errorf("VerifyOnDisk(%q) = %v, want ErrInvalidID", tt.id, err)
			}
			if _, _, err := b.LoadManifest(tt.id); !errors.Is(err, ErrInvalidID) {
				t.Errorf("LoadManifest(%q) = %v, want ErrInvalidID", tt.id, err)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	b := newTestBuilder(t)
	src, _ := randomFile(t, 5000)
	if _, err := b.Build(context.Background(), testSpec("55"), src); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete("55"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := os.Stat(b.Path("55")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("package still on disk: %v", err)
	}
	if got := dirNames(t, b.tmpDir); len(got) != 0 {
		t.Errorf("temporary files left: %q", got)
	}
	if err := b.Delete("55"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete = %v, want ErrNotFound", err)
	}
	if _, err := b.VerifyOnDisk("55"); !errors.Is(err, ErrNotFound) {
		t.Errorf("VerifyOnDisk after Delete = %v, want ErrNotFound", err)
	}
	// The ID can be reused once deleted.
	if _, err := b.Build(context.Background(), testSpec("55"), src); err != nil {
		t.Errorf("rebuild: %v", err)
	}
}

func TestCleanTemp(t *testing.T) {
	b := newTestBuilder(t)
	for _, name := range []string{"upload-1", "build-2-x", "delete-3-y", "keep-me"} {
		if err := os.WriteFile(filepath.Join(b.tmpDir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := b.CleanTemp(0); err != nil || n != 3 {
		t.Fatalf("CleanTemp = %d, %v; want 3", n, err)
	}
	if diff := cmp.Diff([]string{"keep-me"}, dirNames(t, b.tmpDir)); diff != "" {
		t.Errorf("tmp after CleanTemp (-want +got):\n%s", diff)
	}
}

func TestVerifyOnDiskDamage(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   []string // Substrings, one per expected problem.
	}{
		{name: "fragment-altered", damage: func(t *testing.T, dir string) {
			flipByte(t, filepath.Join(dir, "900-2"), 10)
		}, want: []string{"fragment 900-2: cid", "whole file: md5", "whole file: sha256", "shoal fragment"}},
		{name: "fragment-missing", damage: func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "900-3"))
		}, want: []string{"fragment 900-3", "not checked"}},
		{name: "fragment-truncated", damage: func(t *testing.T, dir string) {
			os.Truncate(filepath.Join(dir, "900-1"), 5)
		}, want: []string{"fragment 900-1: 5 bytes", "not checked"}},
		{name: "info-missing", damage: func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, InfoFile))
		}, want: []string{InfoFile}},
		{name: "info-wrong-frags", damage: func(t *testing.T, dir string) {
			replaceInFile(t, filepath.Join(dir, InfoFile), `FRAGS="3"`, `FRAGS="4"`)
		}, want: []string{"FRAGS"}},
		{name: "manifest-tampered", damage: func(t *testing.T, dir string) {
			replaceInFile(t, filepath.Join(dir, ManifestFile), `"priority":5`, `"priority":0`)
		}, want: []string{"bad manifest signature"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newTestBuilder(t)
			src, _ := randomFile(t, 3<<20)
			spec := testSpec("900")
			spec.OCSFragments = 3
			if _, err := b.Build(context.Background(), spec, src); err != nil {
				t.Fatal(err)
			}
			tt.damage(t, b.Path("900"))
			rep, err := b.VerifyOnDisk("900")
			if err != nil {
				t.Fatalf("VerifyOnDisk: %v", err)
			}
			if rep.OK || len(rep.Problems) != len(tt.want) {
				t.Fatalf("report OK=%t problems %q; want %d problems", rep.OK, rep.Problems, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(rep.Problems[i], w) {
					t.Errorf("problem %d = %q, want it to mention %q", i, rep.Problems[i], w)
				}
			}
		})
	}
}

func flipByte(t *testing.T, path string, at int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, at); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, at); err != nil {
		t.Fatal(err)
	}
}

func replaceInFile(t *testing.T, path, old, new string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(old)) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	if err := os.WriteFile(path, bytes.Replace(data, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkBuild64MiB(b *testing.B) {
	bld := newTestBuilder(b)
	src, _ := randomFile(b, 64<<20)
	spec := testSpec("1")
	spec.OCSFragments = 8
	b.SetBytes(64 << 20)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bld.Build(context.Background(), spec, src); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := bld.Delete(spec.ID); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

func TestNewIDUniqueAndSkipsExisting(t *testing.T) {
	b := newTestBuilder(t)
	fixed := time.Unix(1700000000, 0)
	b.now = func() time.Time { return fixed }
	if err := os.MkdirAll(b.Path("1700000000"), 0o755); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 5 {
		id := b.NewID()
		if seen[id] || id == "1700000000" {
			t.Fatalf("NewID returned %s twice or an existing package", id)
		}
		seen[id] = true
	}
}

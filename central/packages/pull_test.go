package packages

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shoal-project/shoal/proto"
)

// peerReplica serves a built package the way another replica's public
// routes do: the signed manifest at proto.ManifestPath and the Shoal
// fragments by CID at proto.FragmentPath. tamper, when set, rewrites what
// it serves.
type peerReplica struct {
	srv       *httptest.Server
	manifests atomic.Int64 // manifest requests
	noHeader  atomic.Int64 // requests without PullHeader
}

func servePeer(t *testing.T, m *proto.Manifest, manifest, data []byte, tamper func(path string, body []byte) []byte) *peerReplica {
	t.Helper()
	p := &peerReplica{}
	byCID := map[string]proto.Fragment{}
	for _, f := range m.Fragments {
		byCID[f.CID] = f
	}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(PullHeader) == "" {
			p.noHeader.Add(1)
		}
		var body []byte
		switch {
		case r.URL.Path == proto.ManifestPath(m.PackageID):
			p.manifests.Add(1)
			body = manifest
		case strings.HasPrefix(r.URL.Path, proto.FragmentPathPrefix+m.PackageID+"/"):
			f, ok := byCID[r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]]
			if !ok {
				http.NotFound(w, r)
				return
			}
			body = data[f.Offset : f.Offset+f.Size]
		default:
			http.NotFound(w, r)
			return
		}
		if tamper != nil {
			body = tamper(r.URL.Path, bytes.Clone(body))
		}
		w.Write(body)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// pulledPackage builds package id on one builder and returns it with a
// second, empty builder with the same key (another replica's disk).
func pulledPackage(t *testing.T, id string) (m *proto.Manifest, manifest, data []byte, src, dst *Builder) {
	t.Helper()
	src = newTestBuilder(t)
	path, data := randomFile(t, 3<<20+1234)
	spec := testSpec(id)
	spec.OCSFragments = 2 // OCS fragments of 1.5 MiB over 1 MiB Shoal fragments
	built, err := src.Build(context.Background(), spec, path)
	if err != nil {
		t.Fatal(err)
	}
	return built.Manifest, built.ManifestBytes, data, src, newTestBuilder(t)
}

func peerURLs(ps ...*peerReplica) func() []string {
	return func() []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.srv.URL)
		}
		return out
	}
}

// TestEnsurePullsFromPeer: a replica without the package pulls it from
// another one and ends with the same files, verified; concurrent callers
// share one pull, and every request carries PullHeader.
func TestEnsurePullsFromPeer(t *testing.T) {
	const id = "1700000101"
	m, manifest, data, src, dst := pulledPackage(t, id)
	peer := servePeer(t, m, manifest, data, nil)
	dst.SetPeers(peer.srv.Client(), peerURLs(peer))

	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = dst.Ensure(context.Background(), id) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("Ensure: %v", err)
		}
	}
	if n := peer.manifests.Load(); n != 1 {
		t.Errorf("the peer's manifest was fetched %d times, want once (one shared pull)", n)
	}
	if n := peer.noHeader.Load(); n != 0 {
		t.Errorf("%d requests to the peer without %s", n, PullHeader)
	}
	rep, err := dst.VerifyOnDisk(id)
	if err != nil || !rep.OK {
		t.Fatalf("pulled package does not verify: %v %+v", err, rep)
	}
	for _, name := range []string{InfoFile, ManifestFile, FragmentFile(id, 1), FragmentFile(id, 2)} {
		want, _ := os.ReadFile(filepath.Join(src.Path(id), name))
		got, err := os.ReadFile(filepath.Join(dst.Path(id), name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s differs from the original (%v)", name, err)
		}
	}
	if left, _ := os.ReadDir(dst.tmpDir); len(left) != 0 {
		t.Errorf("left in tmp after the pull: %v", left)
	}
	// Once on disk, Ensure asks nobody.
	if err := dst.Ensure(context.Background(), id); err != nil || peer.manifests.Load() != 1 {
		t.Errorf("Ensure of a package on disk: %v, %d manifest requests", err, peer.manifests.Load())
	}
}

// TestEnsureRefusesTampered: a peer whose answer does not verify (a
// fragment altered, a manifest altered or signed by another key, a
// fragment too long) is refused: nothing is installed or left behind.
// With an honest peer besides, the package comes from that one.
func TestEnsureRefusesTampered(t *testing.T) {
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))
	tests := []struct {
		name   string
		tamper func(m *proto.Manifest) func(path string, body []byte) []byte
	}{
		{name: "fragment-byte-flipped", tamper: func(m *proto.Manifest) func(string, []byte) []byte {
			return func(path string, body []byte) []byte {
				if strings.HasSuffix(path, m.Fragments[1].CID) {
					body[17] ^= 0x40
				}
				return body
			}
		}},
		{name: "fragment-too-long", tamper: func(m *proto.Manifest) func(string, []byte) []byte {
			return func(path string, body []byte) []byte {
				if strings.HasSuffix(path, m.Fragments[0].CID) {
					body = append(body, 'x')
				}
				return body
			}
		}},
		{name: "manifest-command-rewritten", tamper: func(m *proto.Manifest) func(string, []byte) []byte {
			return func(path string, body []byte) []byte {
				return bytes.Replace(body, []byte("sh install.sh"), []byte("sh evil.sh!!!"), 1)
			}
		}},
		{name: "manifest-signed-by-another-key", tamper: func(m *proto.Manifest) func(string, []byte) []byte {
			return func(path string, body []byte) []byte {
				if !strings.HasSuffix(path, ManifestFile) {
					return body
				}
				evil := *m
				evil.Command = "sh evil.sh"
				b, err := proto.SignManifest(&evil, other)
				if err != nil {
					panic(err)
				}
				return b
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const id = "1700000102"
			m, manifest, data, _, dst := pulledPackage(t, id)
			bad := servePeer(t, m, manifest, data, tt.tamper(m))
			dst.SetPeers(bad.srv.Client(), peerURLs(bad))
			err := dst.Ensure(context.Background(), id)
			if !errors.Is(err, ErrPull) {
				t.Fatalf("Ensure from a tampering peer: %v, want ErrPull", err)
			}
			if dst.Has(id) {
				t.Fatal("a package from a tampering peer was installed")
			}
			if _, err := os.Stat(dst.Path(id)); !os.IsNotExist(err) {
				t.Fatalf("package directory after a refused pull: %v", err)
			}
			if left, _ := os.ReadDir(dst.tmpDir); len(left) != 0 {
				t.Errorf("left in tmp after a refused pull: %v", left)
			}

			good := servePeer(t, m, manifest, data, nil)
			dst.SetPeers(good.srv.Client(), peerURLs(bad, good))
			if err := dst.Ensure(context.Background(), id); err != nil {
				t.Fatalf("Ensure with an honest peer besides: %v", err)
			}
			if rep, err := dst.VerifyOnDisk(id); err != nil || !rep.OK {
				t.Fatalf("pulled package does not verify: %v %+v", err, rep)
			}
		})
	}
}

// TestEnsureNotFound: without peers, or when no peer has the package, a
// missing package is ErrNotFound (the edges answer 404 as before).
func TestEnsureNotFound(t *testing.T) {
	b := newTestBuilder(t)
	if err := b.Ensure(context.Background(), "1700000103"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Ensure without peers: %v, want ErrNotFound", err)
	}
	empty := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(empty.Close)
	b.SetPeers(empty.Client(), func() []string { return []string{empty.URL} })
	if err := b.Ensure(context.Background(), "1700000103"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Ensure when no peer has it: %v, want ErrNotFound", err)
	}
	b.SetPeers(empty.Client(), func() []string { return nil })
	if err := b.Ensure(context.Background(), "1700000103"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Ensure with no live peer: %v, want ErrNotFound", err)
	}
	if err := b.Ensure(context.Background(), "../etc"); !errors.Is(err, ErrInvalidID) {
		t.Errorf("Ensure of a bad ID: %v, want ErrInvalidID", err)
	}
}

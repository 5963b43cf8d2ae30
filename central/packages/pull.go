package packages

import (
	"context"
	"crypto/ed25519"
	"crypto/md5"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"

	"github.com/shoal-project/shoal/internal/errkind"
	"github.com/shoal-project/shoal/internal/fragstore"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/proto/ocs"
)

// Replicas of central without shared package storage pull a package they
// lack from another replica that has it, the way a relay pulls from
// central: the signed manifest is verified with the manifest key every
// replica holds, every Shoal fragment is fetched by CID into a fragstore
// (temporary file, CID checked, renamed), the OCS fragment files are cut
// from the verified fragments and each is checked against its CID in the
// manifest, the info file is built from the manifest, and the package
// directory is renamed into place only when all of it checked. A byte that
// did not verify is never served; a peer that answers anything else is
// skipped and the next one is asked.

// PullHeader marks a replica's request to another replica. A replica
// answering it serves only what it has on disk and never pulls in turn, so
// two replicas that both lack a package do not ask each other forever.
const PullHeader = "X-Shoal-Replica-Pull"

// ErrPull reports that no replica gave a package that verified.
var ErrPull = errkind.New(errkind.Unavailable, "packages: pull from another replica failed")

// errCorrupt marks a peer answer that did not verify.
var errCorrupt = errors.New("does not match the signed manifest")

// Pull tunables.
const (
	pullTimeout     = 30 * time.Minute // one whole package from one peer
	pullFileTimeout = 2 * time.Minute  // one file
	pullStreams     = 4                // fragments fetched at once
)

// puller fetches packages from other replicas. Its fields are set once by
// SetPeers before central serves.
type puller struct {
	client *http.Client
	peers  func() []string // other replicas' HTTPS base URLs
	flight singleflight.Group
}

// SetPeers lets the builder pull packages it lacks from other replicas:
// peers returns their HTTPS base URLs (https://host:port), client must
// trust central's CA. Call it once, before Ensure is used.
func (b *Builder) SetPeers(client *http.Client, peers func() []string) {
	b.pull = &puller{client: client, peers: peers}
}

// Has reports whether package id is on this replica's disk (its signed
// manifest is: a package directory is complete or absent).
func (b *Builder) Has(id string) bool {
	dir := b.Path(id)
	if dir == "" {
		return false
	}
	_, err := os.Stat(filepath.Join(dir, ManifestFile))
	return err == nil
}

// Ensure makes sure package id is on disk: at once when it is, else after
// pulling it from another replica (concurrent callers share one pull,
// which goes on for the next caller when this one gives up). Without peers
// (SetPeers not called, or no other replica alive) a missing package is
// ErrNotFound; a package no peer gave intact is ErrPull.
func (b *Builder) Ensure(ctx context.Context, id string) error {
	if !proto.IsPackageID(id) {
		return fmt.Errorf("ensure package %q: %w", id, ErrInvalidID)
	}
	if b.Has(id) {
		return nil
	}
	if b.pull == nil {
		return fmt.Errorf("ensure package %s: %w", id, ErrNotFound)
	}
	ch := b.pull.flight.DoChan(id, func() (any, error) {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pullTimeout)
		defer cancel()
		return nil, b.pullPackage(pctx, id)
	})
	select {
	case res := <-ch:
		return res.Err
	case <-ctx.Done():
		return fmt.Errorf("ensure package %s: %w", id, context.Cause(ctx))
	}
}

// pullPackage asks each peer in turn, in random order, until one gives the
// whole package intact.
func (b *Builder) pullPackage(ctx context.Context, id string) error {
	if b.Has(id) {
		return nil // Installed by a pull that ended between Ensure's check and the flight.
	}
	peers := b.pull.peers()
	rand.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
	var errs []error
	missing := 0
	for _, peer := range peers {
		start := time.Now()
		m, err := b.pullFrom(ctx, peer, id)
		if err == nil || errors.Is(err, ErrExists) {
			b.logger.Info("package pulled from another replica", "package", id, "peer", peer,
				"bytes", m.Size, "duration", time.Since(start).Round(time.Millisecond))
			return nil
		}
		switch {
		case errors.Is(err, ErrNotFound):
			missing++
			b.logger.Debug("replica does not have the package", "package", id, "peer", peer)
		case errors.Is(err, errCorrupt):
			b.logger.Error("package from another replica refused: it does not verify", "package", id, "peer", peer, "err", err)
		default:
			b.logger.Warn("pull package from another replica", "package", id, "peer", peer, "err", err)
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if missing == len(peers) {
		return fmt.Errorf("pull package %s: no other replica has it (%d asked): %w", id, len(peers), ErrNotFound)
	}
	return fmt.Errorf("pull package %s: %w: %w", id, ErrPull, errors.Join(errs...))
}

// pullFrom pulls package id from the replica at base into a temporary
// directory and installs it. It returns the verified manifest.
func (b *Builder) pullFrom(ctx context.Context, base, id string) (*proto.Manifest, error) {
	base = strings.TrimRight(base, "/")
	data, err := b.pullSmall(ctx, base+proto.ManifestPath(id), proto.MaxManifestBytes)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	m, err := proto.VerifyManifest(data, b.signer.Public().(ed25519.PublicKey), id)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w: %w", errCorrupt, err)
	}
	tmp, err := os.MkdirTemp(b.tmpDir, "pull-"+id+"-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	frags, err := fragstore.Open(filepath.Join(tmp, "fragments"))
	if err != nil {
		return nil, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(pullStreams)
	for _, f := range m.Fragments {
		g.Go(func() error { return b.pullFragment(gctx, frags, base, id, f) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	pkg := filepath.Join(tmp, id)
	if err := os.Mkdir(pkg, 0o700); err != nil {
		return nil, err
	}
	if err := writeOCSFragments(ctx, pkg, frags, m); err != nil {
		return nil, err
	}
	info, err := ocs.InfoFromManifest(m).Marshal()
	if err != nil {
		return nil, fmt.Errorf("encode info: %w", err)
	}
	if err := writeFile(filepath.Join(pkg, InfoFile), info); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(pkg, ManifestFile), data); err != nil {
		return nil, err
	}
	if err := b.install(ctx, id, pkg, b.Path(id)); err != nil {
		return m, fmt.Errorf("install: %w", err)
	}
	return m, nil
}

// pullFragment fetches Shoal fragment f into frags, which keeps it only if
// it hashes to f.CID.
func (b *Builder) pullFragment(ctx context.Context, frags *fragstore.Store, base, id string, f proto.Fragment) error {
	ctx, cancel := context.WithTimeout(ctx, pullFileTimeout)
	defer cancel()
	body, err := b.pullOpen(ctx, base+proto.FragmentPath(id, f.CID))
	if err != nil {
		return fmt.Errorf("fragment %s: %w", f.CID, err)
	}
	defer body.Close()
	w, err := frags.Create(f.CID, f.Size)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, io.LimitReader(body, plusOne(f.Size))); err != nil {
		w.Abort()
		if errors.Is(err, fragstore.ErrSize) {
			return fmt.Errorf("fragment %s: %w: %w", f.CID, errCorrupt, err)
		}
		return fmt.Errorf("fragment %s: %w", f.CID, err)
	}
	if err := w.Verify(); err != nil {
		return fmt.Errorf("fragment %s: %w: %w", f.CID, errCorrupt, err)
	}
	return w.Finish()
}

// writeOCSFragments cuts the OCS fragment files of m into dir from the
// verified Shoal fragments in frags, checking each file's CID and the
// whole file's MD5 (the digest OCS agents check) and SHA-256.
func writeOCSFragments(ctx context.Context, dir string, frags *fragstore.Store, m *proto.Manifest) error {
	r := frags.NewReader(m.Fragments, m.Size)
	defer r.Close()
	md5h, shah := md5.New(), sha256.New()
	h := proto.NewFragmentHasher()
	buf := make([]byte, copyBufferSize)
	for k, of := range m.OCSFragments {
		if err := ctx.Err(); err != nil {
			return err
		}
		name := FragmentFile(m.PackageID, k+1)
		f, err := createFile(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		h.Reset()
		n, err := io.CopyBuffer(io.MultiWriter(f, h, md5h, shah), io.NewSectionReader(r, of.Offset, of.Size), buf)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		if n != of.Size || h.CID().String() != of.CID {
			return fmt.Errorf("OCS fragment %s: %w", name, errCorrupt)
		}
	}
	if hexSum(md5h) != m.MD5 || hexSum(shah) != m.SHA256 {
		return fmt.Errorf("whole file: %w", errCorrupt)
	}
	return nil
}

// pullOpen GETs u from another replica and returns the body of a 200
// answer; a 404 is ErrNotFound.
func (b *Builder) pullOpen(ctx context.Context, u string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set(PullHeader, "1")
	resp, err := b.pull.client.Do(req)
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return resp.Body, nil
	case http.StatusNotFound:
		resp.Body.Close()
		return nil, fmt.Errorf("%s: %w", u, ErrNotFound)
	default:
		resp.Body.Close()
		return nil, fmt.Errorf("%s: HTTP status %q", u, resp.Status)
	}
}

// pullSmall GETs u from another replica and returns a body of at most max
// bytes.
func (b *Builder) pullSmall(ctx context.Context, u string, max int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, pullFileTimeout)
	defer cancel()
	body, err := b.pullOpen(ctx, u)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	data, err := io.ReadAll(io.LimitReader(body, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s: over %d bytes: %w", u, max, errCorrupt)
	}
	return data, nil
}

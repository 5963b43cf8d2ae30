package jobs

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-project/shoal/agent/fetch"
	"github.com/shoal-project/shoal/agent/install"
	"github.com/shoal-project/shoal/internal/fragstore"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/proto/ocs"
)

// lyingFetcher's first Fetch puts wrong bytes where a fragment belongs,
// bypassing the store's verification, and says it is done; later calls
// fetch for real.
type lyingFetcher struct {
	*fetch.Fetcher
	dir   string
	calls atomic.Int32
}

func (f *lyingFetcher) Fetch(ctx context.Context, m *proto.Manifest, st *fetch.Stats) error {
	if f.calls.Add(1) > 1 {
		return f.Fetcher.Fetch(ctx, m, st)
	}
	for _, fr := range m.Fragments {
		p := filepath.Join(f.dir, fr.CID[len(fr.CID)-2:], fr.CID)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, bytes.Repeat([]byte{'x'}, int(fr.Size)), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// checkingInstaller records whether the payload it was given is the package.
type checkingInstaller struct {
	want []byte

	mu   sync.Mutex // guards good, bad
	good int
	bad  int
}

func (c *checkingInstaller) Install(ctx context.Context, m *proto.Manifest, payload io.ReaderAt, workDir string) (install.Outcome, error) {
	got := make([]byte, m.Size)
	_, err := payload.ReadAt(got, 0)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil || !bytes.Equal(got, c.want) {
		c.bad++
	} else {
		c.good++
	}
	zero := 0
	return install.Outcome{Code: ocs.ResultSuccess, ExitCode: &zero}, nil
}

// TestNoUnverifiedFragmentInstalled: without the whole-file digest, the
// engine itself checks every fragment against the signed manifest's CID
// before the install: a fetcher that left unverified bytes in the store
// never gets them installed; the run fails, the bad files are deleted, and
// the retry fetches and installs the real package.
func TestNoUnverifiedFragmentInstalled(t *testing.T) {
	key := newKey(t)
	c := newFakeCentral()
	c.add(t, key, "7", 3)
	dir := t.TempDir()
	st, err := fragstore.Open(dir + "/fragments")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	real, err := fetch.New(fetch.Config{Streams: 2}, st, []fetch.Source{c}, log)
	if err != nil {
		t.Fatal(err)
	}
	f := &lyingFetcher{Fetcher: real, dir: dir + "/fragments"}
	inst := &checkingInstaller{want: c.payloads["7"]}
	m, err := New(Config{ProgressInterval: 100 * time.Millisecond, SpaceMargin: 1}, Deps{
		Central: c, Reporter: c, Fetcher: f, Installer: inst, Store: st,
		ManifestKey: key.Public().(ed25519.PublicKey), StateDir: dir,
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- m.Run(ctx) }()
	defer stopRun(t, cancel, errc)

	c.lists <- []proto.Job{{PackageID: "7"}}
	waitFor(t, "the result", func() bool { r, _ := c.snapshot(); return len(r) == 1 })
	results, _ := c.snapshot()
	inst.mu.Lock()
	good, bad := inst.good, inst.bad
	inst.mu.Unlock()
	if fmt.Sprint(results) != "[7:"+ocs.ResultSuccess+"]" || good != 1 || bad != 0 {
		t.Errorf("results %v, installs of the real package %d, of other bytes %d; want one SUCCESS of the real package", results, good, bad)
	}
	if n := f.calls.Load(); n != 2 {
		t.Errorf("%d fetches, want 2 (the lying one, then the retry)", n)
	}
}

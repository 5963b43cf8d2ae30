package jobs

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/shoal-project/shoal/agent/client"
	"github.com/shoal-project/shoal/agent/fetch"
	"github.com/shoal-project/shoal/agent/install"
	"github.com/shoal-project/shoal/internal/fragstore"
	"github.com/shoal-project/shoal/internal/testwait"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/proto/ocs"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const fragSize = 1024

// fakeCentral hands out job lists pushed by the test and records reports.
type fakeCentral struct {
	lists     chan []proto.Job
	manifests map[string][]byte
	payloads  map[string][]byte

	mu       sync.Mutex // guards the fields below
	current  []proto.Job
	results  []string // "pkg:code"
	details  []string // Result.Detail, in the order of results
	site     *proto.SiteInfo
	progress map[string]int
	states   map[string][]string      // progress states other than downloading, in order
	gates    map[string]chan struct{} // fragment requests of a package wait on its gate
	ungated  map[string]int           // fragments below this index pass its gate
	requests map[string]int
	finished map[string]bool // progress answers ErrFinished
}

func newFakeCentral() *fakeCentral {
	return &fakeCentral{lists: make(chan []proto.Job, 8), manifests: map[string][]byte{}, payloads: map[string][]byte{},
		progress: map[string]int{}, states: map[string][]string{}, gates: map[string]chan struct{}{}, ungated: map[string]int{}, requests: map[string]int{}, finished: map[string]bool{}}
}

// Jobs answers like central: at once when tag is not the current list's,
// else when the test pushes a new list.
func (c *fakeCentral) Jobs(ctx context.Context, tag string, wait time.Duration) (*proto.JobsResponse, error) {
	c.mu.Lock()
	cur, site := c.current, c.site
	c.mu.Unlock()
	if tag != proto.JobsTag(cur) {
		return &proto.JobsResponse{Jobs: cur, Tag: proto.JobsTag(cur), Site: site}, nil
	}
	select {
	case l := <-c.lists:
		c.mu.Lock()
		c.current = l
		c.mu.Unlock()
		return &proto.JobsResponse{Jobs: l, Tag: proto.JobsTag(l), Site: site}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *fakeCentral) Manifest(ctx context.Context, pkg string) ([]byte, error) {
	b, ok := c.manifests[pkg]
	if !ok {
		return nil, client.ErrNotFound
	}
	return b, nil
}

func (c *fakeCentral) Progress(ctx context.Context, pkg string, p proto.Progress) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.progress[pkg]++
	if p.State != proto.StateDownloading {
		c.states[pkg] = append(c.states[pkg], p.State)
	}
	if c.finished[pkg] {
		return client.ErrFinished
	}
	return nil
}

func (c *fakeCentral) Result(ctx context.Context, pkg string, r proto.Result) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.results = append(c.results, pkg+":"+r.Code)
	c.details = append(c.details, r.Detail)
	// Like central, a finished deployment leaves the list.
	var left []proto.Job
	for _, j := range c.current {
		if j.PackageID != pkg {
			left = append(left, j)
		}
	}
	c.current = left
	return nil
}

func (c *fakeCentral) Kind() string { return fetch.KindCentral }

func (c *fakeCentral) Fetch(ctx context.Context, pkg string, f proto.Fragment) (io.ReadCloser, error) {
	c.mu.Lock()
	gate := c.gates[pkg]
	c.requests[pkg]++
	if f.Index < c.ungated[pkg] {
		gate = nil
	}
	c.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return io.NopCloser(bytes.NewReader(c.payloads[pkg][f.Offset : f.Offset+f.Size])), nil
}

func (c *fakeCentral) snapshot() (results []string, requests map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	req := map[string]int{}
	for k, v := range c.requests {
		req[k] = v
	}
	return append([]string(nil), c.results...), req
}

// add publishes a package of n fragments signed with key.
func (c *fakeCentral) add(t *testing.T, key ed25519.PrivateKey, pkg string, n int) {
	t.Helper()
	data := make([]byte, n*fragSize)
	var seed uint64
	fmt.Sscan(pkg, &seed)
	r := rand.New(rand.NewPCG(seed, 9))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	c.addData(t, key, pkg, data, "true")
}

// addData publishes data as an EXECUTE package running command, in
// fragments of fragSize bytes, signed with key.
func (c *fakeCentral) addData(t *testing.T, key ed25519.PrivateKey, pkg string, data []byte, command string) {
	t.Helper()
	s, m5 := sha256.Sum256(data), md5.Sum(data)
	man := &proto.Manifest{Version: proto.ProtocolVersion, PackageID: pkg, Name: "p" + pkg, Platform: proto.PlatformLinux,
		Action: proto.ActionExecute, Command: command, Size: int64(len(data)), SHA256: hex.EncodeToString(s[:]), MD5: hex.EncodeToString(m5[:]),
		FragmentSize: fragSize, CreatedAt: time.Now(), FragmentProto: proto.FragmentProtoHTTP,
		OCSFragments: []proto.Fragment{{Index: 0, Offset: 0, Size: int64(len(data)), CID: proto.FragmentCID(data).String()}}}
	for off := 0; off < len(data); off += fragSize {
		b := data[off:min(off+fragSize, len(data))]
		man.Fragments = append(man.Fragments, proto.Fragment{Index: off / fragSize, Offset: int64(off), Size: int64(len(b)), CID: proto.FragmentCID(b).String()})
	}
	raw, err := proto.SignManifest(man, key)
	if err != nil {
		t.Fatal(err)
	}
	c.manifests[pkg], c.payloads[pkg] = raw, data
}

// fakeInstaller records the order of installs.
type fakeInstaller struct {
	mu    sync.Mutex // guards order
	order []string
}

func (f *fakeInstaller) Install(ctx context.Context, m *proto.Manifest, payload io.ReaderAt, workDir string) (install.Outcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.order = append(f.order, m.PackageID)
	zero := 0
	return install.Outcome{Code: ocs.ResultSuccess, ExitCode: &zero}, nil
}

func (f *fakeInstaller) installs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.order...)
}

type harness struct {
	central *fakeCentral
	inst    *fakeInstaller
	key     ed25519.PrivateKey
	dir     string
	stop    func()
}

func start(t *testing.T, c *fakeCentral, key ed25519.PrivateKey, dir string) *harness {
	t.Helper()
	inst := &fakeInstaller{}
	h := startWith(t, c, key, dir, inst)
	h.inst = inst
	return h
}

// startWith runs a Manager with the given installer.
func startWith(t *testing.T, c *fakeCentral, key ed25519.PrivateKey, dir string, inst installer) *harness {
	t.Helper()
	return startManager(t, c, key, dir, inst, nil)
}

// startManager runs a Manager with the given installer, after set (when
// not nil) changed it.
func startManager(t *testing.T, c *fakeCentral, key ed25519.PrivateKey, dir string, inst installer, set func(*Manager)) *harness {
	t.Helper()
	st, err := fragstore.Open(dir + "/fragments")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	// As many workers as streams: with more (the adaptive WAN streams),
	// a worker holding an early fragment can wait for a stream slot for
	// ever while two workers hold the slots waiting at a test's gate.
	f, err := fetch.New(fetch.Config{Streams: 2, MaxStreams: 2}, st, []fetch.Source{c}, log)
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(Config{ProgressInterval: 100 * time.Millisecond, SpaceMargin: 1}, Deps{
		Central: c, Reporter: c, Fetcher: f, Installer: inst, Store: st,
		ManifestKey: key.Public().(ed25519.PublicKey), StateDir: dir,
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	if set != nil {
		set(m)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- m.Run(ctx) }()
	h := &harness{central: c, key: key, dir: dir}
	var once sync.Once
	h.stop = func() { once.Do(func() { stopRun(t, cancel, errc) }) }
	t.Cleanup(h.stop)
	return h
}

func stopRun(t *testing.T, cancel context.CancelFunc, errc <-chan error) {
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("Run did not stop")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.For(t, 10*time.Second, what, func() error {
		if !cond() {
			return errors.New("not yet")
		}
		return nil
	})
}

func newKey(t *testing.T) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestPriorityOrder(t *testing.T) {
	key := newKey(t)
	c := newFakeCentral()
	for _, p := range []string{"10", "20", "30"} {
		c.add(t, key, p, 3)
	}
	h := start(t, c, key, t.TempDir())
	c.lists <- []proto.Job{{PackageID: "10", Priority: 7}, {PackageID: "20", Priority: 3}, {PackageID: "30", Priority: 5}}
	waitFor(t, "three results", func() bool { r, _ := c.snapshot(); return len(r) == 3 })
	if diff := cmp.Diff([]string{"20", "30", "10"}, h.inst.installs()); diff != "" {
		t.Errorf("install order (-want +got):\n%s", diff)
	}
	results, requests := c.snapshot()
	if diff := cmp.Diff([]string{"20:SUCCESS", "30:SUCCESS", "10:SUCCESS"}, results); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"10": 3, "20": 3, "30": 3}, requests); diff != "" {
		t.Errorf("fragment requests (-want +got):\n%s", diff)
	}
}

func TestPreemption(t *testing.T) {
	key := newKey(t)
	c := newFakeCentral()
	c.add(t, key, "100", 8)
	c.add(t, key, "200", 2)
	gate := make(chan struct{})
	c.gates["100"] = gate
	h := start(t, c, key, t.TempDir())

	c.lists <- []proto.Job{{PackageID: "100", Priority: 8}}
	waitFor(t, "the low-priority download to start", func() bool { _, r := c.snapshot(); return r["100"] >= 2 })
	c.lists <- []proto.Job{{PackageID: "100", Priority: 8}, {PackageID: "200", Priority: 1}}
	waitFor(t, "the high-priority result", func() bool { r, _ := c.snapshot(); return len(r) == 1 })
	close(gate)
	waitFor(t, "the low-priority result", func() bool { r, _ := c.snapshot(); return len(r) == 2 })
	if diff := cmp.Diff([]string{"200", "100"}, h.inst.installs()); diff != "" {
		t.Errorf("install order (-want +got):\n%s", diff)
	}
	_, req := c.snapshot()
	// The two blocked requests of 100 were cancelled and asked again.
	if req["100"] != 10 || req["200"] != 2 {
		t.Errorf("fragment requests = %v, want 100:10 200:2", req)
	}
}

func TestHistoryAndForce(t *testing.T) {
	key := newKey(t)
	dir := t.TempDir()
	c := newFakeCentral()
	c.add(t, key, "5", 1)
	h := start(t, c, key, dir)
	c.lists <- []proto.Job{{PackageID: "5"}}
	waitFor(t, "first result", func() bool { r, _ := c.snapshot(); return len(r) == 1 })
	h.stop()

	// A new agent process with the same state directory: central lists the
	// package again (its history was lost), then forces it.
	h2 := start(t, c, key, dir)
	c.lists <- []proto.Job{{PackageID: "5"}}
	waitFor(t, "second result", func() bool { r, _ := c.snapshot(); return len(r) == 2 })
	c.lists <- []proto.Job{{PackageID: "5", Force: true}}
	waitFor(t, "third result", func() bool { r, _ := c.snapshot(); return len(r) == 3 })
	results, _ := c.snapshot()
	want := []string{"5:SUCCESS", "5:" + proto.ResultSuccessAlreadyInstalled, "5:SUCCESS"}
	if diff := cmp.Diff(want, results); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if got := append(h.inst.installs(), h2.inst.installs()...); len(got) != 2 {
		t.Errorf("installs = %v, want two (first run and forced run)", got)
	}
	if diff := cmp.Diff([]string{"5"}, h2.manager(t).Installed()); diff != "" {
		t.Errorf("installed (-want +got):\n%s", diff)
	}
}

// manager reopens the history of the harness's state directory.
func (h *harness) manager(t *testing.T) *Manager {
	t.Helper()
	m, err := New(Config{}, Deps{StateDir: h.dir}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCancelledByCentral(t *testing.T) {
	key := newKey(t)
	c := newFakeCentral()
	c.add(t, key, "7", 4)
	c.add(t, key, "8", 1)
	c.gates["7"] = make(chan struct{})
	h := start(t, c, key, t.TempDir())
	c.lists <- []proto.Job{{PackageID: "7"}}
	waitFor(t, "download start", func() bool { _, r := c.snapshot(); return r["7"] >= 1 })
	c.lists <- []proto.Job{{PackageID: "8"}}
	waitFor(t, "result of 8", func() bool { r, _ := c.snapshot(); return len(r) == 1 })
	if diff := cmp.Diff([]string{"8"}, h.inst.installs()); diff != "" {
		t.Errorf("installs (-want +got):\n%s", diff)
	}
}

func TestProgressFinishedStopsJob(t *testing.T) {
	key := newKey(t)
	c := newFakeCentral()
	c.add(t, key, "9", 2)
	c.gates["9"] = make(chan struct{})
	c.finished["9"] = true
	h := start(t, c, key, t.TempDir())
	c.lists <- []proto.Job{{PackageID: "9"}}
	waitFor(t, "a progress report", func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.progress["9"] >= 1 })
	c.add(t, key, "10", 1)
	c.lists <- []proto.Job{{PackageID: "9"}, {PackageID: "10", Priority: 9}}
	waitFor(t, "result of 10", func() bool { r, _ := c.snapshot(); return len(r) == 1 })
	if diff := cmp.Diff([]string{"10"}, h.inst.installs()); diff != "" {
		t.Errorf("installs (-want +got):\n%s", diff)
	}
}

func TestBadManifest(t *testing.T) {
	key := newKey(t)
	c := newFakeCentral()
	c.add(t, key, "1", 1)
	c.add(t, newKey(t), "2", 1) // Signed by another central.
	c.add(t, key, "3", 1)
	c.manifests["3"] = c.manifests["1"] // Valid signature, other package.
	h := start(t, c, key, t.TempDir())
	c.lists <- []proto.Job{{PackageID: "2"}, {PackageID: "3"}}
	waitFor(t, "two results", func() bool { r, _ := c.snapshot(); return len(r) == 2 })
	results, _ := c.snapshot()
	want := []string{"2:" + proto.ResultErrBadSignature, "3:" + proto.ResultErrBadManifest}
	if diff := cmp.Diff(want, results); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if got := h.inst.installs(); len(got) != 0 {
		t.Errorf("installed %v", got)
	}
}

// TestInstallHeldUntilWindow: a job whose install central holds
// (InstallAfter, its deployment window is closed) is downloaded at once and
// not installed; another job goes on meanwhile; once central lifts the hold
// it is installed from the fragments already downloaded.
func TestInstallHeldUntilWindow(t *testing.T) {
	key := newKey(t)
	c := newFakeCentral()
	c.add(t, key, "700", 3)
	c.add(t, key, "800", 1)
	h := start(t, c, key, t.TempDir())
	opens := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	c.lists <- []proto.Job{{PackageID: "700", Priority: 1, InstallAfter: &opens}, {PackageID: "800", Priority: 5}}
	waitFor(t, "the other job installed", func() bool { r, _ := c.snapshot(); return len(r) == 1 })
	_, req := c.snapshot()
	if req["700"] != 3 {
		t.Errorf("held package: %d fragment requests, want all 3 downloaded while held", req["700"])
	}
	if diff := cmp.Diff([]string{"800"}, h.inst.installs()); diff != "" {
		t.Errorf("installs while 700 is held (-want +got):\n%s", diff)
	}
	// The window opens: central lists the job without a hold.
	c.lists <- []proto.Job{{PackageID: "700", Priority: 1}}
	waitFor(t, "the held job installed", func() bool { r, _ := c.snapshot(); return len(r) == 2 })
	results, req := c.snapshot()
	if diff := cmp.Diff([]string{"800:SUCCESS", "700:SUCCESS"}, results); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if req["700"] != 3 {
		t.Errorf("held package: %d fragment requests in all, want 3 (installed from what was downloaded)", req["700"])
	}
	// "downloaded" only for the package that waited for its window; the
	// other went from downloading to running.
	c.mu.Lock()
	states := c.states
	c.mu.Unlock()
	if diff := cmp.Diff(map[string][]string{"700": {proto.StateDownloaded, proto.StateRunning}, "800": {proto.StateRunning}}, states); diff != "" {
		t.Errorf("reported states (-want +got):\n%s", diff)
	}
}

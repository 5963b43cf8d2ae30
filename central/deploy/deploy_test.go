package deploy

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

type fixture struct {
	t   *testing.T
	st  *store.Store
	svc *Service
	b   *packages.Builder
	dir string
	n   int
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	st := storetest.Open(t)
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	b, err := packages.NewBuilder(packages.Config{Dir: dir}, key, storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(cfg, st, b, http.DefaultClient, Locations{InfoLoc: "central:8443/download", PackLoc: "central:8080/download"}, storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, st: st, svc: svc, b: b, dir: dir}
}

// pkg builds, stores and (optionally) activates a package with a priority.
func (f *fixture) pkg(priority int, active bool) string {
	f.t.Helper()
	f.n++
	id := strconv.Itoa(1700000000 + f.n)
	src := filepath.Join(f.t.TempDir(), "payload")
	if err := os.WriteFile(src, []byte("payload "+id), 0o600); err != nil {
		f.t.Fatal(err)
	}
	spec := packages.Spec{ID: id, Name: "p" + id, Platform: "LINUX", Action: "EXECUTE", Command: "true", Priority: priority}
	built, err := f.b.Build(context.Background(), spec, src)
	if err != nil {
		f.t.Fatal(err)
	}
	p := &store.Package{ID: id, Name: spec.Name, Platform: "LINUX", Action: "EXECUTE", Command: "true", Priority: priority,
		Size: built.Size, MD5: built.MD5, SHA256: built.SHA256, OCSFragments: built.OCSFragments}
	if err := f.st.CreatePackage(context.Background(), p); err != nil {
		f.t.Fatal(err)
	}
	if active {
		if _, err := f.svc.Activate(context.Background(), id, ActivateRequest{SkipCheck: true}); err != nil {
			f.t.Fatal(err)
		}
	}
	return id
}

func (f *fixture) computer(deviceID string) *store.Computer {
	f.t.Helper()
	res, err := inventory.Record(context.Background(), f.st, storetest.Snapshot(deviceID, 3))
	if err != nil {
		f.t.Fatal(err)
	}
	c, err := f.st.Computer(context.Background(), res.ComputerID)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func packIDs(t *testing.T, f *fixture, deviceID string) (string, []string) {
	t.Helper()
	r, err := f.svc.Prolog(context.Background(), PrologRequest{DeviceID: deviceID, UserAgent: "OCS-NG_unified_unix_agent_v2.10.0"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Download == nil || r.Download.Conf.Timeout < 1 {
		t.Fatalf("prolog reply without DOWNLOAD CONF and TIMEOUT: %+v", r)
	}
	var ids []string
	for _, p := range r.Download.Packs {
		ids = append(ids, p.ID)
	}
	return r.Response, ids
}

func TestPrologUnknownDevice(t *testing.T) {
	f := newFixture(t, Config{})
	resp, ids := packIDs(t, f, "new-2026-11-26-10-00-00")
	if resp != "SEND" || len(ids) != 0 {
		t.Fatalf("unknown device: %s %v, want SEND and no packages", resp, ids)
	}
}

func TestPrologPriorityOrderAndNotification(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{})
	c := f.computer("pc1-2026-11-26-10-00-00")
	low := f.pkg(7, true)
	high := f.pkg(2, true)
	exclusive := f.pkg(0, true)
	inactive := f.pkg(1, false)
	for _, id := range []string{low, high, exclusive} {
		if _, err := f.svc.Affect(ctx, id, AffectRequest{ComputerIDs: []uint{c.ID}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.svc.Affect(ctx, inactive, AffectRequest{ComputerIDs: []uint{c.ID}}); !errors.Is(err, ErrNotActive) {
		t.Fatalf("affect inactive package: %v, want ErrNotActive", err)
	}
	_, ids := packIDs(t, f, c.DeviceID)
	if diff := cmp.Diff([]string{exclusive, high, low}, ids); diff != "" {
		t.Fatalf("pack order (-want +got):\n%s", diff)
	}
	ds, _, err := f.st.ListDeployments(ctx, store.DeploymentFilter{ComputerID: c.ID})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.State != store.StateNotified {
			t.Errorf("deployment of %s is %s after PROLOG, want notified", d.PackageID, d.State)
		}
	}
	// Notified packages are advertised again until the agent reports.
	if _, ids := packIDs(t, f, c.DeviceID); len(ids) != 3 {
		t.Fatalf("second PROLOG advertised %v", ids)
	}
	if err := f.svc.Result(ctx, c.DeviceID, high, "SUCCESS"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Result(ctx, c.DeviceID, low, "ERR_BAD_DIGEST"); err != nil {
		t.Fatal(err)
	}
	if _, ids := packIDs(t, f, c.DeviceID); !cmp.Equal(ids, []string{exclusive}) {
		t.Fatalf("after results PROLOG advertised %v, want only %s", ids, exclusive)
	}
	// Results from unknown computers or for packages never affected are ignored.
	if err := f.svc.Result(ctx, "ghost-2026-11-26-10-00-00", high, "SUCCESS"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Result(ctx, c.DeviceID, inactive, "SUCCESS"); err != nil {
		t.Fatal(err)
	}
}

func TestPrologSiteFragmentLocation(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{})
	c := f.computer("branch-2026-11-26-10-00-00")
	site := &store.Site{Name: "branch", FragmentLocation: "relay.branch:8080/download", CIDRs: []store.SiteCIDR{{CIDR: c.IPAddr + "/32"}}}
	if err := f.st.CreateSite(ctx, site); err != nil {
		t.Fatal(err)
	}
	if err := f.st.SetComputerSite(ctx, c.ID, &site.ID); err != nil {
		t.Fatal(err)
	}
	id := f.pkg(5, true)
	if _, err := f.svc.Affect(ctx, id, AffectRequest{Filter: &store.ComputerFilter{Name: c.Name}}); err != nil {
		t.Fatal(err)
	}
	r, err := f.svc.Prolog(ctx, PrologRequest{DeviceID: c.DeviceID, Remote: netip.MustParseAddr(c.IPAddr)})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Download.Packs) != 1 {
		t.Fatalf("packs %+v", r.Download.Packs)
	}
	p := r.Download.Packs[0]
	if p.PackLoc != "relay.branch:8080/download" || p.InfoLoc != "central:8443/download" {
		t.Fatalf("site computer got INFO_LOC %s PACK_LOC %s", p.InfoLoc, p.PackLoc)
	}
}

func TestPrologFrequencyAndRevocation(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{InventoryFrequencyDays: 1})
	c := f.computer("pc2-2026-11-26-10-00-00")
	// storetest snapshots carry an inventory date in the past: SEND.
	if resp, _ := packIDs(t, f, c.DeviceID); resp != "SEND" {
		t.Fatalf("old inventory: %s, want SEND", resp)
	}
	snap := storetest.Snapshot(c.DeviceID, 3)
	snap.Computer.LastInventory = time.Now()
	if _, err := inventory.Record(ctx, f.st, snap); err != nil {
		t.Fatal(err)
	}
	if resp, _ := packIDs(t, f, c.DeviceID); resp != "STOP" {
		t.Fatalf("fresh inventory: %s, want STOP", resp)
	}
	if err := f.st.SetComputerRevoked(ctx, c.ID, true); err != nil {
		t.Fatal(err)
	}
	r, err := f.svc.Prolog(ctx, PrologRequest{DeviceID: c.DeviceID})
	if err != nil {
		t.Fatal(err)
	}
	if r.Response != "STOP" || (r.Download != nil && len(r.Download.Packs) > 0) {
		t.Fatalf("revoked computer got %+v", r)
	}
}

func TestAffectValidation(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{})
	c := f.computer("pc3-2026-11-26-10-00-00")
	id := f.pkg(5, true)
	tests := []struct {
		name string
		req  AffectRequest
		want error
	}{
		{name: "nothing_selected", req: AffectRequest{}, want: ErrInvalid},
		{name: "search_matches_nothing", req: AffectRequest{Filter: &store.ComputerFilter{Name: "nobody"}}, want: ErrInvalid},
		{name: "unknown_computer", req: AffectRequest{ComputerIDs: []uint{9999}}, want: store.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := f.svc.Affect(ctx, id, tt.req); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	res, err := f.svc.Affect(ctx, id, AffectRequest{Filter: &store.ComputerFilter{Name: c.Name}, DryRun: true})
	if err != nil || res.Selected != 1 || res.Created != 0 {
		t.Fatalf("dry run: %+v %v", res, err)
	}
	if _, err := f.svc.Affect(ctx, "1999999999", AffectRequest{ComputerIDs: []uint{c.ID}}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown package: %v", err)
	}
}

func TestActivateValidation(t *testing.T) {
	f := newFixture(t, Config{})
	id := f.pkg(5, false)
	tests := []struct {
		name string
		req  ActivateRequest
	}{
		{name: "scheme_in_info_loc", req: ActivateRequest{InfoLoc: "https://x/download"}},
		{name: "spaces_in_pack_loc", req: ActivateRequest{PackLoc: "x y/download"}},
		{name: "bad_proto", req: ActivateRequest{Proto: "FTP"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := f.svc.Activate(context.Background(), id, tt.req); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
	// Nothing listens on the default locations of the fixture: the check
	// fails and the package stays inactive.
	rep, err := f.svc.Activate(context.Background(), id, ActivateRequest{InfoLoc: "127.0.0.1:1/download", PackLoc: "127.0.0.1:1/download"})
	if !errors.Is(err, ErrUnavailable) || rep == nil || rep.OK || len(rep.Problems) == 0 {
		t.Fatalf("unreachable locations: report %+v, err %v", rep, err)
	}
	p, err := f.st.Package(context.Background(), id)
	if err != nil || p.Active {
		t.Fatalf("package active after failed check: %+v %v", p, err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{name: "defaults", cfg: Config{}, ok: true},
		{name: "negative_frequency", cfg: Config{InventoryFrequencyDays: -2}},
		{name: "negative_latency", cfg: Config{Download: DownloadConfig{FragLatency: -1}}},
		{name: "never_inventory", cfg: Config{InventoryFrequencyDays: -1}, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestContactsWrittenBehind(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{})
	c := f.computer("pc4-2026-11-26-10-00-00")
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	f.svc.now = func() time.Time { return at }
	if _, err := f.svc.Prolog(ctx, PrologRequest{DeviceID: c.DeviceID, UserAgent: "OCS-NG_WINDOWS_AGENT_v2.9"}); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.svc.Run(runCtx) }()
	cancel() // Run flushes what is pending when it stops.
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got, err := f.st.Computer(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.LastContact.Equal(at) || got.UserAgent != "OCS-NG_WINDOWS_AGENT_v2.9" {
		t.Fatalf("contact not recorded: last_contact %v, user agent %q", got.LastContact, got.UserAgent)
	}
}

// TestPrologRelayFragmentLocation: without an explicit fragment location,
// a site's live relay becomes the PACK_LOC; a relay that stopped reporting
// is not used.
func TestPrologRelayFragmentLocation(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{})
	c := f.computer("branch-2026-11-26-10-00-00")
	site := &store.Site{Name: "branch", CIDRs: []store.SiteCIDR{{CIDR: c.IPAddr + "/32"}}}
	if err := f.st.CreateSite(ctx, site); err != nil {
		t.Fatal(err)
	}
	if err := f.st.SetComputerSite(ctx, c.ID, &site.ID); err != nil {
		t.Fatal(err)
	}
	relay := &store.Relay{Name: "r1", SiteID: site.ID, PeerID: "p1", SecretHash: strings.Repeat("a", 64), HTTPURL: "http://10.1.2.3:8090"}
	storetest.EnrollRelay(t, f.st, relay, time.Now())
	id := f.pkg(5, true)
	if _, err := f.svc.Affect(ctx, id, AffectRequest{Filter: &store.ComputerFilter{Name: c.Name}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		lastSeen time.Time
		want     string
	}{
		{"live-relay", time.Now(), "10.1.2.3:8090/download"},
		{"stale-relay", time.Now().Add(-store.RelayStale - time.Minute), "central:8080/download"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := f.st.TouchRelay(ctx, relay.ID, "", time.Time{}, tt.lastSeen); err != nil {
				t.Fatal(err)
			}
			r, err := f.svc.Prolog(ctx, PrologRequest{DeviceID: c.DeviceID, Remote: netip.MustParseAddr(c.IPAddr)})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Download.Packs) != 1 || r.Download.Packs[0].PackLoc != tt.want {
				t.Fatalf("packs %+v, want PACK_LOC %s", r.Download.Packs, tt.want)
			}
		})
	}
}

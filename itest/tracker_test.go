//go:build integration

package itest

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/shoal-project/shoal/internal/trackerclient"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/proto/api"
	"github.com/shoal-project/shoal/tracker"
)

// trackerClient builds a tracker client from an enrolled agent's state
// directory: its libp2p identity and its central-signed peer record.
func trackerClient(t *testing.T, ag *Agent, baseURL string, hc *http.Client) (*trackerclient.Client, proto.PeerRecord) {
	t.Helper()
	state := filepath.Join(ag.Dir, "state")
	raw, err := os.ReadFile(filepath.Join(state, "identity.key"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := crypto.UnmarshalPrivateKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	var enr struct {
		PeerRecord proto.SignedPeerRecord `json:"peer_record"`
	}
	b, err := os.ReadFile(filepath.Join(state, "enrollment.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &enr); err != nil {
		t.Fatal(err)
	}
	var rec proto.PeerRecord
	if err := json.Unmarshal(enr.PeerRecord.Record, &rec); err != nil {
		t.Fatal(err)
	}
	c, err := trackerclient.NewClient(baseURL, hc, trackerclient.NewSigner(key, enr.PeerRecord))
	if err != nil {
		t.Fatal(err)
	}
	return c, rec
}

// TestTrackerEmbeddedAndStandalone: central serves the tracker at
// /tracker/v1 by default; two enrolled agents of one site see each other
// through it with their real identities and records; revoking one in
// central shuts it out of the tracker; shoal-tracker run alone with
// central's public key accepts the same records.
func TestTrackerEmbeddedAndStandalone(t *testing.T) {
	c := startCentral(t, "tracker:\n  revocation_refresh: 200ms\n")
	var rt struct {
		TrackerURL string `json:"tracker_url"`
	}
	b, err := os.ReadFile(filepath.Join(c.Dir, "central.json"))
	if err != nil || json.Unmarshal(b, &rt) != nil || rt.TrackerURL != c.HTTPSURL+proto.TrackerPathPrefix {
		t.Fatalf("central.json tracker_url = %q (%v), want %s", rt.TrackerURL, err, c.HTTPSURL+proto.TrackerPathPrefix)
	}
	c.do("POST", "/api/v1/sites", api.SiteRequest{Name: "branch", CIDRs: []string{"127.0.0.0/8"}}, &api.Site{}, http.StatusCreated)
	a := startAgentAPI(t, c)
	one, two := newAgent(t, a, "trk-one", a.URL, ""), newAgent(t, a, "trk-two", a.URL, "")
	pem, err := os.ReadFile(c.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	c1, rec1 := trackerClient(t, one, rt.TrackerURL, hc)
	c2, rec2 := trackerClient(t, two, rt.TrackerURL, hc)
	if rec1.Site != "branch" || rec2.Site != "branch" {
		t.Fatalf("records name sites %q and %q, want branch", rec1.Site, rec2.Site)
	}
	have := proto.NewBitfield(3)
	have.Set(1)
	exercise := func(name string, c1, c2 *trackerclient.Client) {
		t.Helper()
		ctx := t.Context()
		if _, err := c1.Lookup(ctx, "pkg"); !errors.Is(err, tracker.ErrUnknownPeer) {
			t.Fatalf("%s: lookup before announce = %v, want ErrUnknownPeer", name, err)
		}
		if _, err := c1.Announce(ctx, proto.TrackerAnnounce{Kind: proto.HolderPeer, GossipAddr: "127.0.0.1:7001",
			Packages: []proto.PackageHave{{PackageID: "pkg", Total: 3, Have: have}}}); err != nil {
			t.Fatalf("%s: announce: %v", name, err)
		}
		if _, err := c2.Announce(ctx, proto.TrackerAnnounce{Kind: proto.HolderPeer, GossipAddr: "127.0.0.1:7002"}); err != nil {
			t.Fatalf("%s: announce: %v", name, err)
		}
		l, err := c2.Lookup(ctx, "pkg")
		if err != nil || len(l.Peers) != 1 || l.Peers[0].PeerID != rec1.PeerID || len(l.Members) != 1 {
			t.Fatalf("%s: lookup = %+v, %v; want agent one as holder and member", name, l, err)
		}
		lease, err := c2.Lease(ctx, proto.TrackerLeaseRequest{PackageID: "pkg", Total: 3, Want: []int{0, 1, 2}, Max: 3})
		if err != nil || fmt.Sprint(lease.Granted) != "[0 2]" {
			t.Fatalf("%s: lease = %+v, %v; want [0 2]", name, lease, err)
		}
	}
	exercise("embedded", c1, c2)

	// shoal-tracker alone, trusting central's manifest key.
	cfg := filepath.Join(t.TempDir(), "tracker.yaml")
	keyFile := filepath.Join(c.Dir, "pki", "manifest-signing-pub.pem")
	if err := os.WriteFile(cfg, []byte("listen: 127.0.0.1:0\nmanifest_public_key_file: "+keyFile+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url := startStandaloneTracker(t, cfg)
	s1, _ := trackerClient(t, one, url, nil)
	s2, _ := trackerClient(t, two, url, nil)
	exercise("standalone", s1, s2)

	// Revoking agent two in central shuts it out of the embedded tracker.
	a.adminDo("POST", fmt.Sprintf("/agents/%d/revoke", a.computerOf("trk-two")), nil, nil, http.StatusNoContent)
	waitFor(t, 10*time.Second, "the revocation to reach the tracker", func() error {
		if _, err := c2.Lookup(t.Context(), "pkg"); !errors.Is(err, tracker.ErrRevoked) {
			return fmt.Errorf("lookup by a revoked agent: %v", err)
		}
		return nil
	})
	if l, err := c1.Lookup(t.Context(), "pkg"); err != nil || len(l.Members) != 0 {
		t.Errorf("the revoked agent is still listed: %+v, %v", l, err)
	}
}

// startStandaloneTracker runs shoal-tracker (built here) and returns its
// base URL, read from its start-up log line.
func startStandaloneTracker(t *testing.T, cfg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "shoal-tracker")
	build := exec.Command("go", "build", "-o", bin, "../cmd/tracker")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build shoal-tracker: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-config", cfg)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		re := regexp.MustCompile(`url=(\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case urls <- m[1]:
				default:
				}
			}
		}
		done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("shoal-tracker did not exit cleanly: %v", err)
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("shoal-tracker did not stop within 10s")
		}
	})
	select {
	case u := <-urls:
		return u
	case err := <-done:
		done <- err
		t.Fatalf("shoal-tracker exited: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("shoal-tracker did not start within 30s")
	}
	return ""
}

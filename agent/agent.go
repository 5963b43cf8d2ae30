// Package agent is shoal-agent, Shoal's agent for Linux computers: it
// enrolls with central, sends its inventory, long-polls central for
// deployments, fetches and verifies their fragments, installs them and
// reports every step.
//
// # State directory
//
//	identity.key     libp2p Ed25519 identity (peer ID), 0600
//	ca.pem           central's CA, pinned at enrollment
//	enrollment.json  computer and device ID, agent secret, pinned manifest
//	                 key, signed peer record (0600)
//	inventory.json   fingerprint and time of the last inventory sent
//	clock.json       the clock's offset from central, with a warning when
//	                 it is more than five minutes (ClockStatus)
//	jobs.json        the job queue, results not reported yet
//	history.json     the local install history
//	fragments/       the content-addressed fragment store
//	work/<pkg>/      unpacked packages while they install
//
// # Trust
//
// Enrollment needs an enrollment token and central's CA (a file, or its
// SHA-256 fingerprint, in which case the CA is downloaded and checked).
// Central answers with a per-agent bearer secret (kept only as a hash by
// central), its Ed25519 manifest key, which the agent pins, and a signed
// peer record that the agent renews when two thirds of its lifetime have
// passed. Every later call is HTTPS to central's CA only, with the secret.
// A bearer secret rather than an mTLS client certificate keeps the agent
// API usable behind TLS-terminating load balancers and needs no change to
// central's listener; revocation is a flag on the computer, checked on
// every call.
//
// # Downloads
//
// Every job list carries the agent's SiteInfo (site.go applies it): its
// relays are asked before central (agent/fetch, with fallback reported in
// the result), and when it names a tracker, downloads go through the swarm
// scheduler (agent/swarm) over the libp2p node (internal/p2p), filtered by the
// site's memberlist cluster (agent/lan), which starts once the gossip key
// is known. P2P or LAN failing to start is logged, never fatal: the agent
// then downloads from relays and central.
package agent

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shoal-project/shoal/agent/client"
	"github.com/shoal-project/shoal/agent/fetch"
	"github.com/shoal-project/shoal/agent/install"
	"github.com/shoal-project/shoal/agent/inventory"
	"github.com/shoal-project/shoal/agent/jobs"
	"github.com/shoal-project/shoal/agent/lan"
	"github.com/shoal-project/shoal/agent/swarm"
	"github.com/shoal-project/shoal/internal/enroll"
	"github.com/shoal-project/shoal/internal/fragstore"
	"github.com/shoal-project/shoal/internal/p2p"
	"github.com/shoal-project/shoal/internal/skew"
	"github.com/shoal-project/shoal/internal/statefile"
	"github.com/shoal-project/shoal/internal/trackerclient"
	"github.com/shoal-project/shoal/proto"
)

// Config is shoal-agent's configuration file.
type Config struct {
	// Server is central's HTTPS URL, e.g. https://central.example.org:8443.
	Server string `yaml:"server"`
	// StateDir holds the agent's identity, enrollment, jobs and fragments
	// (default /var/lib/shoal-agent; %ProgramData%\Shoal on Windows).
	StateDir string `yaml:"state_dir"`
	// Hostname replaces the system's host name in inventories and in the
	// device ID (default: the system's).
	Hostname string `yaml:"hostname"`

	Enroll    EnrollConfig     `yaml:"enroll"`
	Fetch     fetch.Config     `yaml:"fetch"`
	Jobs      jobs.Config      `yaml:"jobs"`
	Install   install.Config   `yaml:"install"`
	Inventory inventory.Config `yaml:"inventory"`
	// P2P is the libp2p node that serves and fetches fragments in the
	// site; LAN the site's memberlist cluster; Swarm the P2P download
	// scheduler. They work once central's job list names a tracker.
	P2P   p2p.Config   `yaml:"p2p"`
	LAN   lan.Config   `yaml:"lan"`
	Swarm swarm.Config `yaml:"swarm"`

	// Version is the agent's build version, set by main.
	Version string `yaml:"-"`
	// Clock is the local clock (nil: time.Now); tests set a skewed one.
	Clock func() time.Time `yaml:"-"`
}

// EnrollConfig holds what enrollment needs. After enrolling, the token is
// not used again and may be removed from the file.
type EnrollConfig struct {
	Token string `yaml:"token"`
	// CAFile is central's CA certificate (PEM).
	CAFile string `yaml:"ca_file"`
	// CAFingerprint is the SHA-256 of central's CA certificate (hex), used
	// to download and check it when CAFile is empty.
	CAFingerprint string `yaml:"ca_fingerprint"`
	// Force enrolls a state directory that is already enrolled
	// (shoal-agent enroll -force); never from the file.
	Force bool `yaml:"-"`
}

func (c Config) withDefaults() Config {
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir()
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	return c
}

// Validate checks the configuration and its parts.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.Server != "" {
		if u, err := url.Parse(c.Server); err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fmt.Errorf("server %q: want https://host[:port]", c.Server))
		}
	}
	if !filepath.IsAbs(c.StateDir) {
		errs = append(errs, fmt.Errorf("state_dir %q must be absolute", c.StateDir))
	}
	errs = append(errs, c.Fetch.Validate(), c.Jobs.Validate(), c.Install.Validate(), c.Inventory.Validate(),
		c.P2P.Validate(), c.LAN.Validate(), c.Swarm.Validate())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("agent config: %w", err)
	}
	return nil
}

// Agent is shoal-agent. New builds its parts from the enrollment in the
// state directory; Run supervises them.
type Agent struct {
	cfg  Config
	base *slog.Logger // Handed to the components, which name themselves.
	log  *slog.Logger
	p    *parts // nil until enrolled: Run enrolls first, then builds
}

// parts are the agent's components, each built from those before it.
type parts struct {
	enr        *enrollment
	cl         *client.Client
	sched      *swarm.Scheduler
	site       *site
	mgr        *jobs.Manager
	invTrigger chan struct{} // asks inventoryLoop for an inventory (buffered, 1)
}

// New checks cfg and builds the agent from the enrollment in its state
// directory; it starts nothing. A state directory without an enrollment
// is ErrNotEnrolled, unless cfg can enroll (enroll.token and server): Run
// then enrolls before it builds.
func New(cfg Config, logger *slog.Logger) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg.withDefaults(), base: logger, log: logger.With("component", "agent")}
	if err := os.MkdirAll(a.cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	enr, err := loadEnrollment(a.cfg.StateDir)
	if errors.Is(err, ErrNotEnrolled) && a.cfg.Enroll.Token != "" && a.cfg.Server != "" {
		return a, nil
	}
	if errors.Is(err, ErrNotEnrolled) {
		return nil, fmt.Errorf("state_dir %s: %w", a.cfg.StateDir, err)
	}
	if err != nil {
		return nil, err
	}
	if a.p, err = a.build(enr); err != nil {
		return nil, err
	}
	return a, nil
}

// build makes the agent's components from its enrollment, in order: the
// central client, the fragment store and fetcher, the p2p node, the swarm
// scheduler (over the site's peers), the site and the job engine.
func (a *Agent) build(enr *enrollment) (*parts, error) {
	cfg := a.cfg
	if cfg.Server != "" && cfg.Server != enr.Server {
		a.log.Warn("config names another server than the one enrolled with; using the enrolled one", "config", cfg.Server, "enrolled", enr.Server)
	}
	caPEM, err := os.ReadFile(filepath.Join(cfg.StateDir, caFile))
	if err != nil {
		return nil, fmt.Errorf("pinned CA: %w", err)
	}
	roots, err := poolFromPEM(caPEM)
	if err != nil {
		return nil, fmt.Errorf("pinned CA: %w", err)
	}
	cl, err := client.New(enr.Server, roots, enr.Secret)
	if err != nil {
		return nil, err
	}
	clock := skew.New(cfg.Clock, a.base)
	clock.OnChange(func(s skew.Status) { writeClockStatus(cfg.StateDir, s, a.log) })
	cl.MeasureClock(clock)
	store, err := fragstore.Open(filepath.Join(cfg.StateDir, "fragments"))
	if err != nil {
		return nil, err
	}
	fetcher, err := fetch.New(cfg.Fetch, store, []fetch.Source{client.CentralSource{C: cl}}, a.base)
	if err != nil {
		return nil, err
	}
	key, err := enroll.LoadIdentity(filepath.Join(cfg.StateDir, identityFile))
	if err != nil {
		return nil, err
	}
	node, err := p2p.New(cfg.P2P, key, a.base, p2p.Deps{Store: store, CentralKey: ed25519.PublicKey(enr.ManifestKey), Now: cfg.Clock})
	if err != nil {
		return nil, err
	}
	if err := node.SetPeerRecord(enr.PeerRecord); err != nil {
		a.log.Warn("peer record refused by p2p; serving peers after its renewal", "err", err)
	}
	signer := trackerclient.NewSigner(key, enr.PeerRecord)
	signer.SetClock(clock.Now)
	pe := newPeers(node, enr.PeerID)
	sched, err := swarm.New(cfg.Swarm, swarm.Deps{Upstream: fetcher, Store: store, PeerSource: pe.peerSource,
		RelaySource: pe.relaySource, Alive: pe.alive, Self: pe.self, OnMembers: pe.onMembers, Haves: node,
		SeedFile: filepath.Join(cfg.StateDir, "seeding.json")}, a.base)
	if err != nil {
		return nil, err
	}
	node.SetHaves(sched)
	st := newSite(a.base.With("component", "site"), fetcher, sched, node, pe, signer, roots, cfg.LAN, newIdentity(enr, cfg.Version), cfg.Swarm.Disabled)
	inst, err := install.New(cfg.Install, a.base)
	if err != nil {
		return nil, err
	}
	invTrigger := make(chan struct{}, 1)
	mgr, err := jobs.New(cfg.Jobs, jobs.Deps{
		Central: cl, Reporter: cl, Fetcher: sched, Installer: inst, Store: store, OnSite: st.apply,
		ManifestKey: ed25519.PublicKey(enr.ManifestKey), StateDir: cfg.StateDir,
		OnInstalled: func() {
			select {
			case invTrigger <- struct{}{}:
			default:
			}
		},
	}, a.base)
	if err != nil {
		return nil, err
	}
	return &parts{enr: enr, cl: cl, sched: sched, site: st, mgr: mgr, invTrigger: invTrigger}, nil
}

// Run enrolls first if New could not build (and cfg can enroll), then
// supervises the job engine, the inventory loop, the peer-record renewal,
// the p2p node, the LAN cluster and the swarm scheduler until ctx ends.
// When the state directory is enrolled again under it (shoal-agent enroll
// -force), Run stops these parts and builds them again from the new
// enrollment.
func (a *Agent) Run(ctx context.Context) error {
	if a.p == nil {
		if err := Enroll(ctx, a.cfg, a.base); err != nil {
			return err
		}
		enr, err := loadEnrollment(a.cfg.StateDir)
		if err != nil {
			return err
		}
		if a.p, err = a.build(enr); err != nil {
			return err
		}
	}
	for {
		err := a.runParts(ctx, a.p)
		if !errors.Is(err, errReenrolled) {
			return err
		}
		enr, err := loadEnrollment(a.cfg.StateDir)
		if err != nil {
			return fmt.Errorf("reload enrollment: %w", err)
		}
		if a.p, err = a.build(enr); err != nil {
			return fmt.Errorf("reload enrollment: %w", err)
		}
	}
}

// runParts supervises one build of the agent's parts until ctx ends or
// the state directory is enrolled again (errReenrolled).
func (a *Agent) runParts(ctx context.Context, p *parts) error {
	defer p.cl.CloseIdle()
	a.log.Info("agent running", "server", p.enr.Server, "computer", p.enr.ComputerID, "device", p.enr.DeviceID, "peer", p.enr.PeerID,
		"streams", fetcherStreams(a.cfg.Fetch))
	cur := *p.enr // before renewLoop writes to p.enr
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return p.mgr.Run(gctx) })
	g.Go(func() error { return a.inventoryLoop(gctx, p.cl, p.mgr, p.invTrigger) })
	g.Go(func() error { return a.renewLoop(gctx, p.cl, p.enr, p.site) })
	g.Go(func() error { return a.watchEnrollment(gctx, cur) })
	if !a.cfg.Swarm.Disabled {
		g.Go(func() error { return p.site.runP2P(gctx) })
		g.Go(func() error { return p.site.lanLoop(gctx) })
	}
	g.Go(func() error { return p.sched.Run(gctx) })
	err := g.Wait()
	a.log.Info("agent stopped")
	return err
}

func fetcherStreams(c fetch.Config) int {
	if c.Streams == 0 {
		return 4
	}
	return c.Streams
}

// ClockStatusFile (in the state directory) reports the clock's offset from
// central, written when it is first measured and when it changes.
const ClockStatusFile = "clock.json"

// ClockStatus is the content of ClockStatusFile.
type ClockStatus struct {
	// OffsetSeconds is central's clock minus ours.
	OffsetSeconds int64 `json:"offset_seconds"`
	// Warning is set when the offset is larger than skew.WarnOffset.
	Warning    string    `json:"warning,omitempty"`
	MeasuredAt time.Time `json:"measured_at"`
}

func writeClockStatus(dir string, s skew.Status, log *slog.Logger) {
	cs := ClockStatus{OffsetSeconds: int64(s.Offset.Round(time.Second) / time.Second), MeasuredAt: s.At.UTC()}
	if s.Large() {
		cs.Warning = fmt.Sprintf("local clock is %s off central's (limit %s); fix the time source", s.Offset.Round(time.Second), skew.WarnOffset)
	}
	if err := statefile.Write(filepath.Join(dir, ClockStatusFile), cs, 0o600); err != nil {
		log.Warn("save clock status", "err", err)
	}
}

// inventoryMark remembers the last inventory sent.
type inventoryMark struct {
	Fingerprint string    `json:"fingerprint"`
	SentAt      time.Time `json:"sent_at"`
}

func saveInventoryMark(dir, fp string, at time.Time, log *slog.Logger) {
	if err := statefile.Write(filepath.Join(dir, "inventory.json"), inventoryMark{Fingerprint: fp, SentAt: at.UTC()}, 0o600); err != nil {
		log.Warn("save inventory mark", "err", err)
	}
}

// inventoryLoop sends the inventory when it changed, when the last one is
// older than Interval, and after installs.
func (a *Agent) inventoryLoop(ctx context.Context, cl *client.Client, mgr *jobs.Manager, trigger <-chan struct{}) error {
	icfg := a.cfg.Inventory.WithDefaults()
	col := inventory.New("/", a.cfg.Hostname, a.base)
	var mark inventoryMark
	if _, err := statefile.Read(filepath.Join(a.cfg.StateDir, "inventory.json"), &mark); err != nil {
		a.log.Warn("read inventory mark", "err", err)
	}
	next := time.Now() // The first at once.
	for {
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		case <-trigger:
			// An install: collect after AfterInstallWait (several
			// installs in that time make one inventory).
			t.Stop()
			if at := time.Now().Add(icfg.AfterInstallWait()); at.Before(next) {
				next = at
			}
			continue
		}
		next = time.Now().Add(icfg.CheckInterval)
		inv := col.Collect(ctx)
		inv.History = mgr.Installed()
		fp := inventory.Fingerprint(inv)
		if fp == mark.Fingerprint && time.Since(mark.SentAt) < icfg.Interval {
			continue
		}
		inv.History = mgr.Installed() // As late as possible.
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := cl.Inventory(sctx, inv)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			retry := inventoryRetry(err, icfg.CheckInterval)
			next = time.Now().Add(retry)
			a.log.Warn("send inventory", "err", err, "retry_in", retry.Round(time.Second))
			continue
		}
		mark = inventoryMark{Fingerprint: fp, SentAt: time.Now().UTC()}
		saveInventoryMark(a.cfg.StateDir, fp, mark.SentAt, a.log)
		a.log.Info("inventory sent", "softwares", len(inv.Softwares), "history", len(inv.History), "problems", len(inv.Problems))
	}
}

// inventoryRetry is the wait before sending an inventory again after err:
// at least central's Retry-After when it gave one (a busy central), up to
// half as long again; else half to all of a minute (of the check interval
// when shorter). The jitter keeps the agents a busy central turned away
// from coming back at once.
func inventoryRetry(err error, check time.Duration) time.Duration {
	if ra, ok := client.RetryAfter(err); ok {
		return ra + rand.N(ra/2+1)
	}
	d := min(check, time.Minute)
	if d <= time.Second {
		return d
	}
	return d/2 + rand.N(d/2)
}

// renewLoop renews the peer record when two thirds of its lifetime have
// passed, retrying failures with backoff (1 to 30 minutes).
func (a *Agent) renewLoop(ctx context.Context, cl *client.Client, enr *enrollment, st *site) error {
	key := ed25519.PublicKey(enr.ManifestKey)
	var retry time.Duration
	for {
		wait := time.Minute // An invalid or expired record: renew soon.
		if rec, err := proto.VerifyPeerRecord(enr.PeerRecord, key, time.Now()); err == nil {
			wait = time.Until(enr.RecordAt.Add(rec.Expires.Sub(enr.RecordAt) * 2 / 3))
		}
		t := time.NewTimer(max(wait, retry))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		signed, err := cl.RenewPeerRecord(rctx)
		cancel()
		if err == nil {
			_, err = proto.VerifyPeerRecord(*signed, key, time.Now())
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			retry = min(max(2*retry, time.Minute), 30*time.Minute)
			a.log.Warn("renew peer record", "err", err, "retry_in", retry)
			continue
		}
		retry = 0
		rec, _ := proto.VerifyPeerRecord(*signed, key, time.Now())
		enr.PeerRecord, enr.RecordAt, enr.Site = *signed, time.Now().UTC(), rec.Site
		st.setRecord(*signed)
		if err := enr.save(a.cfg.StateDir); err != nil {
			a.log.Warn("save peer record", "err", err)
		}
		a.log.Info("peer record renewed", "site", rec.Site, "expires", rec.Expires)
	}
}

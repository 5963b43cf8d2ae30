// Package central is Shoal's head-office server: inventory, package catalog,
// deployments, the REST API, the OCS agent endpoint, its own CA and the
// manifest-signing key. Server.Run opens everything in the data directory,
// serves plain HTTP (agent traffic and fragments) and HTTPS (info files and
// the API), and stops cleanly when its context ends.
package central

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	adminops "github.com/shoal-project/shoal/central/admin"
	"github.com/shoal-project/shoal/central/agentapi"
	"github.com/shoal-project/shoal/central/auth"
	"github.com/shoal-project/shoal/central/deploy"
	"github.com/shoal-project/shoal/central/groups"
	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/notify"
	"github.com/shoal-project/shoal/central/ocsapi"
	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/central/pki"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/ui"
	"github.com/shoal-project/shoal/central/wake"
	"github.com/shoal-project/shoal/central/web"
	"github.com/shoal-project/shoal/internal/metrics"
	"github.com/shoal-project/shoal/internal/statefile"
	"github.com/shoal-project/shoal/proto/api"
	"github.com/shoal-project/shoal/tracker/embedded"
)

// Config is shoal-central's whole configuration file.
type Config struct {
	// DataDir holds the database, the PKI and the package tree.
	DataDir string `yaml:"data_dir"`
	// HTTPAddr serves OCS agents and fragments without TLS.
	HTTPAddr string `yaml:"http_addr"`
	// HTTPSAddr serves info files, the API and everything on HTTP with TLS.
	HTTPSAddr string `yaml:"https_addr"`
	// PublicHost is the name or address agents use to reach central; it goes
	// into the default info and fragment locations. Empty picks the first
	// address of this host.
	PublicHost string `yaml:"public_host"`

	TLS      pki.Config      `yaml:"tls"`
	Database store.Config    `yaml:"database"`
	Packages packages.Config `yaml:"packages"`
	Agents   deploy.Config   `yaml:"agents"`
	HTTP     HTTPConfig      `yaml:"http"`
	UI       ui.Config       `yaml:"ui"`
	AgentAPI agentapi.Config `yaml:"agent_api"`
	// Tracker is the embedded tracker, served at <https>/tracker/v1
	// (enabled by default).
	Tracker embedded.Config `yaml:"tracker"`
	// Groups are the evaluation intervals of groups and assignments.
	Groups groups.Config `yaml:"groups"`
	// Inventory is the software catalog's cache and the retention of the
	// computers' change history.
	Inventory inventory.Config `yaml:"inventory"`
	// Auth configures directory (LDAP / Active Directory) login.
	Auth auth.Config `yaml:"auth"`
	// Wake is Wake-on-LAN: when sleeping computers are woken before their
	// deployment window and when they count as woken.
	Wake wake.Config `yaml:"wake"`

	// AdminPassword sets the admin password (from SHOAL_ADMIN_PASSWORD);
	// empty generates one at first start.
	AdminPassword string `yaml:"-"`
}

// HTTPConfig is the http: section: the limits of the listeners and the web
// edge (web.Config) and those of the OCS endpoint (ocsapi.Config), their
// keys side by side.
type HTTPConfig struct {
	web.Config `yaml:",inline"`
	OCS        ocsapi.Config `yaml:",inline"`
	// Drain is how the replica leaves on SIGTERM (drain_delay,
	// drain_timeout).
	Drain DrainConfig `yaml:",inline"`
}

// WithDefaults returns c with every unset limit at its default.
func (c HTTPConfig) WithDefaults() HTTPConfig {
	c.Config = c.Config.WithDefaults()
	c.OCS = c.ocs().WithDefaults()
	c.Drain = c.Drain.withDefaults()
	return c
}

// Validate checks every part.
func (c HTTPConfig) Validate() error {
	return errors.Join(c.Config.Validate(), c.ocs().Validate(), c.Drain.Validate())
}

// ocs is the OCS edge's configuration, with busy_wait, shared with the
// uploads.
func (c HTTPConfig) ocs() ocsapi.Config {
	o := c.OCS
	o.BusyWait = c.BusyWait
	return o
}

func (c Config) withDefaults() Config {
	if c.DataDir == "" {
		c.DataDir = "/var/lib/shoal-central"
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = ":8080"
	}
	if c.HTTPSAddr == "" {
		c.HTTPSAddr = ":8443"
	}
	return c
}

// Validate checks the configuration and every sub-configuration.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	for _, a := range []string{c.HTTPAddr, c.HTTPSAddr} {
		if _, _, err := net.SplitHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("listen address %q: %w", a, err))
		}
	}
	pc := c.Packages
	pc.Dir = filepath.Join(c.DataDir, "packages")
	errs = append(errs, c.TLS.Validate(), c.Database.Validate(), pc.Validate(), c.Agents.Validate(), c.HTTP.Validate(), c.UI.Validate(), c.AgentAPI.Validate(), c.Tracker.Validate(), c.Groups.Validate(), c.Inventory.Validate(), c.Auth.Validate(), c.Wake.Validate())
	// A jobs long-poll must end well within the write timeout.
	maxWait := c.AgentAPI.MaxWait
	if maxWait == 0 {
		maxWait = time.Minute
	}
	if wt := c.HTTP.WithDefaults().WriteTimeout; wt < maxWait+30*time.Second {
		errs = append(errs, fmt.Errorf("http.write_timeout %s: want at least agent_api.max_wait (%s) + 30s", wt, maxWait))
	}
	return errors.Join(errs...)
}

// Runtime describes a running central; Run writes it to RuntimeFile in the
// data directory so scripts and tests can find the chosen ports.
type Runtime struct {
	PID      int    `json:"pid"`
	HTTPURL  string `json:"http_url"`
	HTTPSURL string `json:"https_url"`
	CAFile   string `json:"ca_file"`
	InfoLoc  string `json:"info_loc"`
	PackLoc  string `json:"pack_loc"`
	// TrackerURL is the embedded tracker's base URL; empty when disabled.
	TrackerURL string `json:"tracker_url,omitempty"`
}

// RuntimeFile is the name of the runtime description in the data directory.
const RuntimeFile = "central.json"

// Server is shoal-central. New builds it: it opens the data directory
// (PKI, database, package tree), binds both listeners, so that the
// default locations name the ports really used, and wires the services
// and the HTTP edges. Run supervises: it serves, runs the background
// loops, and on return shuts everything down and releases what New opened.
type Server struct {
	cfg Config
	log *slog.Logger
	out io.Writer

	// Built by New, released by Run (or close, when New fails).
	st              *store.Store
	httpLn, httpsLn net.Listener

	pk        *pki.PKI
	builder   *packages.Builder
	dep       *deploy.Service
	groups    *groups.Service
	catalog   *inventory.Catalog
	ops       *adminops.Service
	wake      *wake.Service
	trk       *embedded.Tracker
	web       *web.Server
	agents    *agentapi.API
	rt        Runtime
	generated string // the admin password generated at first start
	metrics   *metrics.Central
	ready     *readiness
	inflight  inflight // requests being handled, for drain
	// hub carries changes between replicas; reloadSettings asks runHub
	// to re-read the agent settings.
	hub            *notify.Hub
	reloadSettings chan struct{}
	// deleted carries the IDs of packages other replicas deleted to
	// runHub, which removes this replica's copy.
	deleted chan string
	route   *trackerRoute // which tracker serves each site
}

// buildTimeout bounds what New does with the database (opening,
// migrating, loading the stored settings).
const buildTimeout = 5 * time.Minute

// New checks cfg and builds a Server; out receives the human start-up
// banner (URLs, CA file, first admin password) and may be io.Discard. It
// starts no goroutine. Call Run to serve: the listeners and the database
// New opened are released when Run returns.
func New(cfg Config, logger *slog.Logger, out io.Writer) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("central config: %w", err)
	}
	s := &Server{cfg: cfg.withDefaults(), log: logger, out: out}
	// Every path central prints (the CA file in the OCS agent command
	// above all) must be absolute: agents run elsewhere and change
	// directory.
	abs, err := filepath.Abs(s.cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	s.cfg.DataDir = abs
	if err := s.build(); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// build opens the state, binds the listeners and wires services and edges.
func (s *Server) build() error {
	cfg := s.cfg
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	hostAddrs := hostAddresses()
	pk, err := pki.Load(filepath.Join(cfg.DataDir, "pki"), cfg.TLS, append(hostAddrs, cfg.PublicHost), time.Now())
	if err != nil {
		return err
	}
	s.pk = pk
	admin, generated, err := pki.LoadAdmin(cfg.DataDir, cfg.AdminPassword)
	if err != nil {
		return err
	}
	s.generated = generated
	if s.st, err = store.Open(ctx, cfg.Database, cfg.DataDir, s.log); err != nil {
		return err
	}
	reg := s.newMetrics()
	if err := s.st.ObserveQueries(s.metrics.Query); err != nil {
		return err
	}
	pcfg := cfg.Packages
	pcfg.Dir = filepath.Join(cfg.DataDir, "packages")
	if s.builder, err = packages.NewBuilder(pcfg, pk.SigningKey, s.log); err != nil {
		return err
	}
	if s.httpLn, err = listen(ctx, cfg.HTTPAddr); err != nil {
		return fmt.Errorf("listen http: %w", err)
	}
	if s.httpsLn, err = listen(ctx, cfg.HTTPSAddr); err != nil {
		return fmt.Errorf("listen https: %w", err)
	}
	host := publicHost(cfg.PublicHost, s.httpsLn.Addr(), hostAddrs)
	locs := deploy.Locations{
		InfoLoc: net.JoinHostPort(host, port(s.httpsLn.Addr())) + "/download",
		PackLoc: net.JoinHostPort(host, port(s.httpLn.Addr())) + "/download",
	}

	// Services.
	checkClient := &http.Client{
		Timeout:   5 * time.Minute,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pk.CAPool(), MinVersion: tls.VersionTLS12}, ResponseHeaderTimeout: 30 * time.Second},
	}
	if s.dep, err = deploy.New(cfg.Agents, s.st, s.builder, checkClient, locs, s.log); err != nil {
		return err
	}
	s.dep.SetMetrics(s.metrics)
	s.hub = newHub(cfg.Database, s)
	s.reloadSettings = make(chan struct{}, 1)
	s.deleted = make(chan string, 64)
	s.dep.SetChanges(s.hub)
	if err := s.dep.LoadStoredConfig(ctx); err != nil {
		return err
	}
	inv := inventory.New(s.st, s.log)
	if s.catalog, err = inventory.NewCatalog(cfg.Inventory, s.st, s.log); err != nil {
		return err
	}
	if s.groups, err = groups.New(cfg.Groups, s.st, s.dep, s.log); err != nil {
		return err
	}
	if s.wake, err = wake.New(cfg.Wake, s.st, s.dep, s.log); err != nil {
		return err
	}
	s.wake.SetChanges(s.hub)
	httpsURL := "https://" + net.JoinHostPort(host, port(s.httpsLn.Addr()))
	ops := adminops.New(adminops.Deps{Store: s.st, Deploy: s.dep, Packages: s.builder, PKI: pk, ServerURL: httpsURL, Changes: s.hub}, s.log)
	s.ops = ops
	if s.trk, err = embedded.New(cfg.Tracker, s.st, pk.SigningPublicKey(), s.log); err != nil {
		return err
	}
	if tm := s.trk.Metrics(); tm != nil {
		reg.MustRegister(tm)
	}

	// Edges.
	authn, err := auth.NewAuthenticator(cfg.Auth, s.st, admin, s.log)
	if err != nil {
		return err
	}
	adminUI, err := ui.New(cfg.UI, ui.Deps{Store: s.st, Deploy: s.dep, Packages: s.builder, PKI: pk, Admin: admin, Ops: ops, Groups: s.groups, Catalog: s.catalog, Auth: authn, Wake: s.wake}, s.log)
	if err != nil {
		return err
	}
	s.agents = agentapi.New(cfg.AgentAPI, s.st, s.dep, s.builder, pk, s.log)
	s.agents.SetMetrics(s.metrics)
	s.agents.SetWaker(s.hub, s.hub)
	s.agents.SetWake(s.wake)
	ocsEdge, err := ocsapi.New(cfg.HTTP.ocs(), ocsapi.Deps{Store: s.st, Inventory: inv, Deploy: s.dep, Metrics: s.metrics}, s.log)
	if err != nil {
		return err
	}
	s.ready = &readiness{st: s.st, builder: s.builder, metrics: s.metrics, log: s.log.With("component", "readyz")}
	if s.web, err = web.New(cfg.HTTP.Config, web.Deps{Store: s.st, Deploy: s.dep, Packages: s.builder, PKI: pk, Admin: admin,
		Ops: ops, Auth: authn, Groups: s.groups, Catalog: s.catalog, Wake: s.wake, OCS: ocsEdge, UI: adminUI, Agents: s.agents, Metrics: metrics.Handler(reg, s.log), Ready: s.ready.ready}, s.log); err != nil {
		return err
	}

	s.rt = Runtime{
		PID:      os.Getpid(),
		HTTPURL:  "http://" + net.JoinHostPort(host, port(s.httpLn.Addr())),
		HTTPSURL: httpsURL,
		CAFile:   pk.Path(pki.CACertFile), InfoLoc: locs.InfoLoc, PackLoc: locs.PackLoc,
	}
	s.rt.TrackerURL = s.trk.URL(s.rt.HTTPSURL)
	s.agents.SetTrackerURL(s.rt.TrackerURL)
	s.route = newTrackerRoute(s.rt.TrackerURL, cfg.Tracker.Standalone)
	s.agents.SetTrackerRoute(s.route.For)
	// Replicas without shared package storage pull what they lack from
	// the others they hear (docs/ARCHITECTURE.md §6).
	s.builder.SetPeers(&http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pk.CAPool(), MinVersion: tls.VersionTLS12}, ResponseHeaderTimeout: 30 * time.Second}}, s.route.peers)
	s.dep.SetReplicas(s.route.replicas)
	s.agents.SetUpstreamURL(s.rt.HTTPURL)
	s.agents.SetServerURL(s.rt.HTTPSURL)
	s.subscribe()
	return nil
}

// close releases what build opened; it is safe on a partial build.
func (s *Server) close() {
	for _, ln := range []net.Listener{s.httpLn, s.httpsLn} {
		if ln != nil {
			ln.Close()
		}
	}
	if s.st != nil {
		s.st.Close()
	}
}

// Run serves until ctx is cancelled, then shuts down and releases what New
// opened.
func (s *Server) Run(ctx context.Context) error {
	defer s.close()
	s.tidyPackages(ctx)
	errLog := slog.NewLogLogger(s.log.With("component", "http").Handler(), slog.LevelWarn)
	// Both servers have read, write and idle timeouts (http.*_timeout;
	// uploads and package downloads extend theirs per request) and cap the
	// connections of each client (http.max_conns_per_client).
	plain := s.web.NewHTTPServer(s.inflight.wrap(s.web.HTTPHandler()), errLog)
	secure := s.web.NewHTTPServer(s.inflight.wrap(s.trk.Mount(s.web.HTTPSHandler())), errLog)
	secure.TLSConfig = &tls.Config{Certificates: []tls.Certificate{s.pk.ServerCert}, MinVersion: tls.VersionTLS12}

	s.banner(s.rt, s.generated)
	rtb, _ := json.MarshalIndent(s.rt, "", "  ")
	rtPath := filepath.Join(s.cfg.DataDir, RuntimeFile)
	if err := statefile.WriteBytes(rtPath, rtb, 0o644); err != nil {
		return err
	}
	defer os.Remove(rtPath)

	// Held agent and relay long-polls answer as soon as shutdown begins
	// (drain), so that it does not wait up to agent_api.max_wait for them.
	g, gctx := errgroup.WithContext(ctx)
	// The contact writer outlives the listeners: its context ends once
	// both servers have stopped, and it then writes the last batch, so no
	// PROLOG contact arrives after it.
	depCtx, stopDep := context.WithCancel(context.WithoutCancel(gctx))
	defer stopDep()
	g.Go(func() error { return s.dep.Run(depCtx) })
	g.Go(func() error { return s.trk.Run(gctx) })
	g.Go(func() error { return s.groups.Run(gctx) })
	g.Go(func() error { return s.catalog.Run(gctx) })
	g.Go(func() error { return s.ops.RunStalePurge(gctx, time.Hour, s.log) })
	g.Go(func() error { return s.wake.Run(gctx) })
	g.Go(func() error { return s.runHub(gctx) })
	g.Go(func() error { return serve(plain.Serve(s.web.LimitListener(s.httpLn))) })
	g.Go(func() error { return serve(secure.ServeTLS(s.web.LimitListener(s.httpsLn), "", "")) })
	g.Go(func() error {
		<-gctx.Done()
		defer stopDep()
		return s.drain(plain, secure)
	})
	s.metrics.SetReady(true)
	s.log.Info("central running", "http", s.httpLn.Addr().String(), "https", s.httpsLn.Addr().String(), "data_dir", s.cfg.DataDir)
	err := g.Wait()
	s.log.Info("central stopped")
	return err
}

// tidyPackages re-signs the manifests signed with an older key and removes
// the uploads a previous run left unfinished.
func (s *Server) tidyPackages(ctx context.Context) {
	if _, err := s.builder.ResignManifests(ctx); err != nil {
		s.log.Warn("re-sign manifests", "err", err)
	}
	if n, err := s.builder.CleanTemp(time.Hour); err != nil {
		s.log.Warn("clean unfinished uploads", "err", err)
	} else if n > 0 {
		s.log.Info("removed unfinished uploads", "count", n)
	}
}

func serve(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (s *Server) banner(rt Runtime, generated string) {
	fmt.Fprintf(s.out, "\nShoal central is running.\n")
	fmt.Fprintf(s.out, "  Web UI:                     %s/  (trust the CA below, or accept the certificate warning)\n", rt.HTTPSURL)
	fmt.Fprintf(s.out, "  REST API:                   %s/api/v1  (OpenAPI: %s/api/v1/openapi.json)\n", rt.HTTPSURL, rt.HTTPSURL)
	fmt.Fprintf(s.out, "  OCS agents:                 %s\n", api.OCSAgentCommand(rt.HTTPSURL, rt.CAFile))
	if rt.TrackerURL != "" {
		fmt.Fprintf(s.out, "  Tracker (embedded):         %s\n", rt.TrackerURL)
	}
	fmt.Fprintf(s.out, "  CA certificate:             %s (also at %s/cacert.pem)\n", rt.CAFile, rt.HTTPURL)
	switch {
	case generated != "":
		fmt.Fprintf(s.out, "  Admin login:                user %q, password %s\n", pki.AdminUser, generated)
		fmt.Fprintf(s.out, "                              (shown once; also in %s, mode 0600: delete it after noting it)\n",
			filepath.Join(s.cfg.DataDir, pki.InitialPasswordFile))
	default:
		if _, err := os.Stat(filepath.Join(s.cfg.DataDir, pki.InitialPasswordFile)); err == nil {
			fmt.Fprintf(s.out, "  Admin login:                user %q, password in %s\n", pki.AdminUser, filepath.Join(s.cfg.DataDir, pki.InitialPasswordFile))
		} else {
			fmt.Fprintf(s.out, "  Admin login:                user %q with the password you set\n", pki.AdminUser)
		}
	}
	fmt.Fprintf(s.out, "  Get an API token:           curl --cacert %s -u admin -H 'Content-Type: application/json' \\\n", rt.CAFile)
	fmt.Fprintf(s.out, "                                -d '{\"name\":\"me\"}' %s/api/v1/tokens\n\n", rt.HTTPSURL)
}

// hostAddresses lists the non-loopback unicast addresses of this host.
func hostAddresses() []string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []string
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.IsGlobalUnicast() {
			out = append(out, ipn.IP.String())
		}
	}
	return out
}

func publicHost(configured string, ln net.Addr, hostAddrs []string) string {
	if configured != "" {
		return configured
	}
	if ta, ok := ln.(*net.TCPAddr); ok && !ta.IP.IsUnspecified() {
		return ta.IP.String()
	}
	for _, a := range hostAddrs {
		if ip := net.ParseIP(a); ip != nil && ip.To4() != nil {
			return a
		}
	}
	return "127.0.0.1"
}

func port(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return strconv.Itoa(ta.Port)
	}
	_, p, _ := net.SplitHostPort(a.String())
	return p
}

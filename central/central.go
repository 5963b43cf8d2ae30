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
	"github.com/shoal-project/shoal/central/deploy"
	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/central/pki"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/ui"
	"github.com/shoal-project/shoal/central/web"
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
	HTTP     web.Config      `yaml:"http"`
	UI       ui.Config       `yaml:"ui"`
	AgentAPI agentapi.Config `yaml:"agent_api"`
	// Tracker is the embedded tracker, served at <https>/tracker/v1
	// (enabled by default).
	Tracker embedded.Config `yaml:"tracker"`

	// AdminPassword sets the admin password (from SHOAL_ADMIN_PASSWORD);
	// empty generates one at first start.
	AdminPassword string `yaml:"-"`
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
	errs = append(errs, c.TLS.Validate(), c.Database.Validate(), pc.Validate(), c.Agents.Validate(), c.HTTP.Validate(), c.UI.Validate(), c.AgentAPI.Validate(), c.Tracker.Validate())
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

// Server is shoal-central.
type Server struct {
	cfg Config
	log *slog.Logger
	out io.Writer
}

// New checks cfg and returns a Server. out receives the human start-up
// banner (URLs, CA file, first admin password); it may be io.Discard.
func New(cfg Config, logger *slog.Logger, out io.Writer) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("central config: %w", err)
	}
	return &Server{cfg: cfg.withDefaults(), log: logger, out: out}, nil
}

// Run serves until ctx is cancelled.
func (s *Server) Run(ctx context.Context) error {
	cfg := s.cfg
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	hostAddrs := hostAddresses()
	pk, err := pki.Load(filepath.Join(cfg.DataDir, "pki"), cfg.TLS, append(hostAddrs, cfg.PublicHost), time.Now())
	if err != nil {
		return err
	}
	admin, generated, err := pki.LoadAdmin(cfg.DataDir, cfg.AdminPassword)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.Database, cfg.DataDir, s.log)
	if err != nil {
		return err
	}
	defer st.Close()
	pcfg := cfg.Packages
	pcfg.Dir = filepath.Join(cfg.DataDir, "packages")
	builder, err := packages.NewBuilder(pcfg, pk.SigningKey, s.log)
	if err != nil {
		return err
	}
	if _, err := builder.ResignManifests(ctx); err != nil {
		s.log.Warn("re-sign manifests", "err", err)
	}
	if n, err := builder.CleanTemp(time.Hour); err != nil {
		s.log.Warn("clean unfinished uploads", "err", err)
	} else if n > 0 {
		s.log.Info("removed unfinished uploads", "count", n)
	}

	httpLn, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen http: %w", err)
	}
	defer httpLn.Close()
	httpsLn, err := net.Listen("tcp", cfg.HTTPSAddr)
	if err != nil {
		return fmt.Errorf("listen https: %w", err)
	}
	defer httpsLn.Close()

	host := publicHost(cfg.PublicHost, httpsLn.Addr(), hostAddrs)
	locs := deploy.Locations{
		InfoLoc: net.JoinHostPort(host, port(httpsLn.Addr())) + "/download",
		PackLoc: net.JoinHostPort(host, port(httpLn.Addr())) + "/download",
	}
	checkClient := &http.Client{
		Timeout:   5 * time.Minute,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pk.CAPool(), MinVersion: tls.VersionTLS12}, ResponseHeaderTimeout: 30 * time.Second},
	}
	dep, err := deploy.New(cfg.Agents, st, builder, checkClient, locs, s.log)
	if err != nil {
		return err
	}
	if err := dep.LoadStoredConfig(ctx); err != nil {
		return err
	}
	inv := inventory.New(st, s.log)
	ops := adminops.New(adminops.Deps{Store: st, Deploy: dep, Packages: builder, PKI: pk}, s.log)
	adminUI, err := ui.New(cfg.UI, ui.Deps{Store: st, Deploy: dep, Packages: builder, PKI: pk, Admin: admin, Ops: ops}, s.log)
	if err != nil {
		return err
	}
	agents := agentapi.New(cfg.AgentAPI, st, dep, builder, pk, s.log)
	trk, err := embedded.New(cfg.Tracker, st, pk.SigningPublicKey(), s.log)
	if err != nil {
		return err
	}
	srv, err := web.New(cfg.HTTP, web.Deps{Store: st, Inventory: inv, Deploy: dep, Packages: builder, PKI: pk, Admin: admin,
		Ops: ops, UI: adminUI, Agents: agents}, s.log)
	if err != nil {
		return err
	}
	errLog := slog.NewLogLogger(s.log.With("component", "http").Handler(), slog.LevelWarn)
	// Both servers have read, write and idle timeouts (http.*_timeout;
	// uploads and package downloads extend theirs per request) and cap the
	// connections of each client (http.max_conns_per_client).
	plain := srv.NewHTTPServer(srv.HTTPHandler(), errLog)
	secure := srv.NewHTTPServer(trk.Mount(srv.HTTPSHandler()), errLog)
	secure.TLSConfig = &tls.Config{Certificates: []tls.Certificate{pk.ServerCert}, MinVersion: tls.VersionTLS12}

	rt := Runtime{
		PID:      os.Getpid(),
		HTTPURL:  "http://" + net.JoinHostPort(host, port(httpLn.Addr())),
		HTTPSURL: "https://" + net.JoinHostPort(host, port(httpsLn.Addr())),
		CAFile:   pk.Path(pki.CACertFile), InfoLoc: locs.InfoLoc, PackLoc: locs.PackLoc,
	}
	rt.TrackerURL = trk.URL(rt.HTTPSURL)
	agents.SetTrackerURL(rt.TrackerURL)
	agents.SetUpstreamURL(rt.HTTPURL)
	s.banner(rt, generated)
	rtb, _ := json.MarshalIndent(rt, "", "  ")
	if err := pki.WriteFileAtomic(filepath.Join(cfg.DataDir, RuntimeFile), rtb, 0o644); err != nil {
		return err
	}
	defer os.Remove(filepath.Join(cfg.DataDir, RuntimeFile))

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return dep.Run(gctx) })
	g.Go(func() error { return trk.Run(gctx) })
	g.Go(func() error { return serve(plain.Serve(srv.LimitListener(httpLn))) })
	g.Go(func() error { return serve(secure.ServeTLS(srv.LimitListener(httpsLn), "", "")) })
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return errors.Join(plain.Shutdown(sctx), secure.Shutdown(sctx))
	})
	s.log.Info("central running", "http", httpLn.Addr().String(), "https", httpsLn.Addr().String(), "data_dir", cfg.DataDir)
	err = g.Wait()
	s.log.Info("central stopped")
	return err
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
	fmt.Fprintf(s.out, "  OCS agents:                 --server=%s/ocsinventory --ca=%s\n", rt.HTTPSURL, rt.CAFile)
	fmt.Fprintf(s.out, "                              (or plain HTTP: --server=%s/ocsinventory)\n", rt.HTTPURL)
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

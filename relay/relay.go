package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	"github.com/shoal-project/shoal/internal/fragstore"
	"github.com/shoal-project/shoal/internal/p2p"
	"github.com/shoal-project/shoal/internal/skew"
	"github.com/shoal-project/shoal/internal/statefile"
	"github.com/shoal-project/shoal/internal/trackerclient"
	"github.com/shoal-project/shoal/internal/upstream"
	"github.com/shoal-project/shoal/proto"
)

// Config configures a relay. It is the whole YAML file of shoal-relay. An
// enrolled relay (shoal-relay enroll) takes its upstream, manifest key and
// TLS certificate from its enrollment when these are left empty.
type Config struct {
	// DataDir holds the fragment store, cached manifests,
	// the enrollment, and relay.json (the URLs the relay listens on);
	// default /var/lib/shoal-relay, for shoal-relay enroll as for the relay.
	DataDir string `yaml:"data_dir"`
	// HTTPAddr is the plain-HTTP listen address for agents; empty means
	// the port of the enrolled URL, else ":8090".
	HTTPAddr string `yaml:"http_addr"`
	// HTTPSAddr, when set, also serves the same paths over TLS with
	// TLSCertFile and TLSKeyFile (PEM), or the enrollment's certificate.
	// Empty means the port of the enrolled HTTPS URL, if any.
	HTTPSAddr   string `yaml:"https_addr"`
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// Upstream is the base URL (scheme://host:port) fragments are fetched
	// from: central's plain-HTTP URL or a parent relay. Fragments are
	// verified against their CIDs and info files are built from the signed
	// manifest, so plain HTTP carries nothing the relay trusts.
	Upstream string `yaml:"upstream"`
	// ManifestUpstream is the base URL manifests are fetched from; empty
	// means Upstream. Manifests are signed, so any scheme is safe.
	ManifestUpstream string `yaml:"manifest_upstream"`
	// CentralCAFile is central's CA certificate (PEM), trusted for https
	// upstream URLs.
	CentralCAFile string `yaml:"central_ca_file"`
	// ManifestPublicKey is central's Ed25519 manifest-signing public key in
	// standard base64 (manifest_public_key of GET /api/v1/server).
	ManifestPublicKey string `yaml:"manifest_public_key"`
	// FetchTimeout bounds one upstream request.
	FetchTimeout time.Duration `yaml:"fetch_timeout"`
	// ShutdownGrace bounds a stop: once Run's context is done, open
	// requests and upstream fetches get this long to finish, then they are
	// cancelled; default 10s, at most 1h.
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
	// Parallel is the number of upstream fragment fetches running at once
	// (prefetch and pull-through together) to start with, and the fewest;
	// default 12 (4 before issue 21). The controller needs a few seconds
	// to measure (warm-up and probe windows); starting at 12 fills a
	// 16 Mbit/s uplink at 80 ms and 1 % loss (about 1.6 Mbit/s per Reno
	// stream) from the first second, and a branch's one relay holding a
	// dozen connections costs central nothing on a clean link. The relay adds streams while they raise the measured
	// goodput (internal/upstream), up to MaxParallel, each on its own TCP
	// connection: one TCP stream on a long lossy uplink moves a fraction
	// of its rate.
	Parallel int `yaml:"parallel"`
	// MaxParallel is the most upstream fetches at once; default 24 (or
	// Parallel when larger).
	MaxParallel int `yaml:"max_parallel"`
	// ReportInterval is how often an enrolled relay reports to central;
	// default 30s.
	ReportInterval time.Duration `yaml:"report_interval"`
	// PollWait is the long-poll wait of the relay's job requests; default
	// 25s.
	PollWait time.Duration `yaml:"poll_wait"`
	// Cache bounds the fragment store.
	Cache CacheConfig `yaml:"cache"`
	// WAN caps upstream transfers.
	WAN WANConfig `yaml:"wan"`
	// LAN optionally caps serving agents and child relays.
	LAN LANConfig `yaml:"lan"`
	// P2P is the libp2p listener of an enrolled relay for Shoal agents.
	P2P P2PConfig `yaml:"p2p"`
	// Version is the build version, reported to central (not YAML).
	Version string `yaml:"-"`
	// Clock is the local clock (nil: time.Now); tests set a skewed one.
	Clock func() time.Time `yaml:"-"`
}

// CacheConfig bounds the cache.
type CacheConfig struct {
	// QuotaBytes is the most the fragment store may hold (0: no quota),
	// in bytes or with a unit ("20GiB").
	// Least recently used fragments of inactive packages are evicted
	// first; fragments of active packages never.
	QuotaBytes ByteSize `yaml:"quota_bytes"`
}

// DefaultDataDir is the data directory when the config and -data-dir name none.
const DefaultDataDir = "/var/lib/shoal-relay"

func (c Config) withDefaults() Config {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = ":8090"
	}
	if c.ManifestUpstream == "" {
		c.ManifestUpstream = c.Upstream
	}
	if c.FetchTimeout == 0 {
		c.FetchTimeout = 5 * time.Minute
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = 10 * time.Second
	}
	if c.Parallel == 0 {
		c.Parallel = 12
		if c.MaxParallel > 0 {
			c.Parallel = min(c.Parallel, c.MaxParallel)
		}
	}
	if c.MaxParallel == 0 {
		c.MaxParallel = max(24, c.Parallel)
	}
	if c.ReportInterval == 0 {
		c.ReportInterval = 30 * time.Second
	}
	if c.PollWait == 0 {
		c.PollWait = 25 * time.Second
	}
	return c
}

// Validate reports configuration errors. Upstream and the manifest key may
// be empty here: an enrollment can supply them (New checks).
func (c Config) Validate() error {
	var errs []error
	for _, u := range []struct{ name, v string }{{"upstream", c.Upstream}, {"manifest_upstream", c.ManifestUpstream}} {
		if u.v == "" {
			continue
		}
		p, err := url.Parse(u.v)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("%s %q: want http(s)://host[:port]", u.name, u.v))
		}
	}
	if c.ManifestPublicKey != "" {
		if _, err := c.publicKey(); err != nil {
			errs = append(errs, err)
		}
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("tls_cert_file and tls_key_file go together"))
	}
	if c.FetchTimeout < 0 || c.ReportInterval < 0 || c.PollWait < 0 {
		errs = append(errs, errors.New("fetch_timeout, report_interval and poll_wait must not be negative"))
	}
	if c.ShutdownGrace < 0 || c.ShutdownGrace > time.Hour {
		errs = append(errs, fmt.Errorf("shutdown_grace %s: want 0 (default 10s) to 1h", c.ShutdownGrace))
	}
	if c.Parallel < 0 || c.Parallel > 64 {
		errs = append(errs, fmt.Errorf("parallel %d: want 1 to 64", c.Parallel))
	}
	if c.MaxParallel < 0 || c.MaxParallel > 256 || (c.MaxParallel > 0 && c.MaxParallel < c.Parallel) {
		errs = append(errs, fmt.Errorf("max_parallel %d: want parallel (%d) to 256", c.MaxParallel, c.Parallel))
	}
	if c.Cache.QuotaBytes < 0 {
		errs = append(errs, errors.New("cache.quota_bytes is negative"))
	}
	if c.LAN.RateMbit < 0 {
		errs = append(errs, errors.New("lan.rate_mbit is negative"))
	}
	if err := c.WAN.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.P2P.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("relay config: %w", err)
	}
	return nil
}

func (c Config) publicKey() (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(c.ManifestPublicKey))
	if err != nil {
		return nil, fmt.Errorf("manifest_public_key: %w", err)
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("manifest_public_key: %d bytes, want %d", len(b), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// Relay is a pull-through, verifying cache of central's fragments that
// serves them in the OCS download layout and by CID.
type Relay struct {
	cfg     Config
	log     *slog.Logger
	pub     ed25519.PublicKey
	client  *http.Client // upstream
	central *http.Client // enrolled relays: central's agent API
	clock   *skew.Clock  // offset from central, measured by central's answers
	enr     *enrollment  // nil when not enrolled
	cert    *tls.Certificate
	store   *fragstore.Store
	flight  singleflight.Group
	stats   *stats
	wan     *wan
	lan     *rate.Limiter     // nil: LAN serving uncapped
	fetches *upstream.Streams // semaphore of upstream fragment fetches, sized by goodput
	endgame endgame           // fetches whose ranges idle streams may take
	kick    chan struct{}     // asks the report loop for a report now
	started time.Time
	// life is the relay's lifetime: upstream fetches run under it rather
	// than under the request that started them, so that one finishes for
	// the next asker when its first caller gives up. Run cancels it
	// (stopLife) ShutdownGrace after its context is done, or when it
	// returns.
	life     context.Context
	stopLife context.CancelFunc
	// flights counts upstream fragment fetches, which finish even when
	// every caller gave up (bounded by fetch_timeout and, once Run is
	// stopping, by shutdown_grace), so that a stopped relay wastes no WAN
	// bytes; Run returns after them.
	flights   sync.WaitGroup
	flightsMu sync.Mutex // guards stopped and the Add side of flights
	stopped   bool       // Run has returned: no new upstream fetch

	// libp2p (enrolled relays unless p2p.disabled; nil otherwise).
	node        *p2p.Node
	signer      *trackerclient.Signer
	site        atomic.Pointer[proto.SiteInfo] // from the latest job list
	trackerKick chan struct{}                  // asks the tracker loop to announce now
	p2pServed   atomic.Int64                   // fragment bytes served over libp2p

	mu          sync.Mutex                 // guards the fields below
	manifests   map[string]*proto.Manifest // package ID -> verified manifest
	have        map[string]int64           // CID -> size of verified fragments on disk
	lastUse     map[string]time.Time       // CID -> last time served or stored
	used        int64                      // bytes of fragment files on disk
	reserved    int64                      // bytes of fetches under way
	active      map[string]bool            // packages central marked active
	pinned      map[string]int             // CID -> requests serving it now
	prefetching map[string]bool            // packages with a prefetch under way
	errs        []string                   // recent errors, newest last
	checked     bool                       // the start-up cache check finished
	reportErr   string                     // last report failure, "" after a success
	trackerErr  string                     // last tracker announce failure, "" after a success
}

// RuntimeInfo is written to <data_dir>/relay.json once the relay listens.
type RuntimeInfo struct {
	HTTPURL  string `json:"http_url"`
	HTTPSURL string `json:"https_url,omitempty"`
}

// ErrNotConfigured reports a relay with neither an enrollment nor an
// upstream and manifest key in its configuration.
var ErrNotConfigured = errors.New("relay: no upstream or manifest key; run `shoal-relay enroll` or set upstream and manifest_public_key")

// New builds a relay from cfg and the enrollment in its data directory,
// if any. It opens the fragment store but starts nothing.
func New(cfg Config, log *slog.Logger) (*Relay, error) {
	if cfg.DataDir == "" {
		cfg.DataDir = DefaultDataDir
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	enr, err := loadEnrollment(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("new relay: %w", err)
	}
	cfg = cfg.withEnrollment(enr).withDefaults()
	if cfg.Upstream == "" || cfg.ManifestPublicKey == "" {
		return nil, ErrNotConfigured
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pub, _ := cfg.publicKey()
	roots, err := upstreamRoots(cfg, enr)
	if err != nil {
		return nil, fmt.Errorf("new relay: %w", err)
	}
	var cert *tls.Certificate
	switch {
	case cfg.TLSCertFile != "":
		c, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("new relay: tls: %w", err)
		}
		cert = &c
	case enr != nil && len(enr.CertPEM) > 0:
		c, err := tls.X509KeyPair(enr.CertPEM, enr.KeyPEM)
		if err != nil {
			return nil, fmt.Errorf("new relay: enrolled tls certificate: %w", err)
		}
		cert = &c
	}
	if cfg.HTTPSAddr != "" && cert == nil {
		return nil, errors.New("relay config: https_addr needs tls_cert_file and tls_key_file, or an enrollment")
	}
	st, err := fragstore.Open(filepath.Join(cfg.DataDir, "fragments"))
	if err != nil {
		return nil, fmt.Errorf("new relay: %w", err)
	}
	for _, d := range []string{"manifests"} {
		if err := os.MkdirAll(filepath.Join(cfg.DataDir, d), 0o700); err != nil {
			return nil, fmt.Errorf("new relay: %w", err)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	// HTTP/1.1 only: over HTTP/2 every fetch would share one TCP
	// connection, and a lossy long uplink fills only with several.
	tr.ForceAttemptHTTP2 = false
	tr.Protocols = new(http.Protocols)
	tr.Protocols.SetHTTP1(true)
	tr.MaxIdleConnsPerHost = cfg.MaxParallel
	r := &Relay{
		cfg: cfg, log: log.With("component", "relay"), pub: pub, store: st, enr: enr, cert: cert,
		client: &http.Client{Transport: tr}, stats: newStats(), wan: newWAN(cfg.WAN, time.Now), lan: newLAN(cfg.LAN),
		kick: make(chan struct{}, 1), trackerKick: make(chan struct{}, 1),
		manifests: map[string]*proto.Manifest{}, have: map[string]int64{}, lastUse: map[string]time.Time{},
		active: map[string]bool{}, pinned: map[string]int{}, prefetching: map[string]bool{},
	}
	r.life, r.stopLife = context.WithCancel(context.Background())
	r.fetches = upstream.New(upstream.Config{Min: cfg.Parallel, Max: cfg.MaxParallel,
		Cap: func() float64 { return r.wan.current() / 8 }}, r.log)
	r.clock = skew.New(cfg.Clock, r.log)
	if enr != nil {
		ctr := http.DefaultTransport.(*http.Transport).Clone()
		ctr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
		r.central = &http.Client{Transport: r.clock.Transport(ctr)}
		if !cfg.P2P.Disabled {
			if err := r.newNode(); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

// withEnrollment fills what the configuration leaves empty from e.
func (c Config) withEnrollment(e *enrollment) Config {
	if e == nil {
		return c
	}
	if c.Upstream == "" {
		c.Upstream = e.Upstream
	}
	if c.ManifestPublicKey == "" {
		c.ManifestPublicKey = base64.StdEncoding.EncodeToString(e.ManifestPublicKey)
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = portAddr(e.HTTPURL)
	}
	if c.HTTPSAddr == "" && e.HTTPSURL != "" {
		c.HTTPSAddr = portAddr(e.HTTPSURL)
	}
	return c
}

// portAddr returns ":port" of a URL, or "" without an explicit port.
func portAddr(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Port() == "" {
		return ""
	}
	return ":" + u.Port()
}

func upstreamRoots(cfg Config, enr *enrollment) (*x509.CertPool, error) {
	var pems [][]byte
	if cfg.CentralCAFile != "" {
		b, err := os.ReadFile(cfg.CentralCAFile)
		if err != nil {
			return nil, err
		}
		pems = append(pems, b)
	}
	if enr != nil && len(enr.CACertPEM) > 0 {
		pems = append(pems, enr.CACertPEM)
	}
	if len(pems) == 0 {
		return nil, nil
	}
	pool := x509.NewCertPool()
	for _, b := range pems {
		if !pool.AppendCertsFromPEM(b) {
			return nil, errors.New("central CA holds no PEM certificate")
		}
	}
	return pool, nil
}

// Run serves until ctx is cancelled, then shuts the listeners down. An
// enrolled relay also polls central for jobs and reports to it. Stopping
// takes at most about ShutdownGrace: open requests and upstream fetches
// get that long to finish, then they are cancelled. A relay runs once.
func (r *Relay) Run(ctx context.Context) error {
	r.started = time.Now()
	defer r.stopLife()
	defer r.land()
	if err := r.initUsage(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", r.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("relay listen: %w", err)
	}
	rt := RuntimeInfo{HTTPURL: "http://" + ln.Addr().String()}
	listeners := []net.Listener{ln}
	if r.cfg.HTTPSAddr != "" {
		tln, err := net.Listen("tcp", r.cfg.HTTPSAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("relay listen: %w", err)
		}
		rt.HTTPSURL = "https://" + tln.Addr().String()
		listeners = append(listeners, tls.NewListener(tln, &tls.Config{Certificates: []tls.Certificate{*r.cert}, MinVersion: tls.VersionTLS12}))
	}
	closeAll := func() {
		for _, l := range listeners {
			l.Close()
		}
	}
	b, _ := json.Marshal(rt)
	if err := statefile.WriteBytes(filepath.Join(r.cfg.DataDir, "relay.json"), b, 0o644); err != nil {
		closeAll()
		return fmt.Errorf("relay runtime file: %w", err)
	}
	r.log.Info("relay listening", "http", rt.HTTPURL, "https", rt.HTTPSURL, "upstream", r.cfg.Upstream,
		"enrolled", r.enr != nil, "quota", r.cfg.Cache.QuotaBytes, "wan_mbit", r.cfg.WAN.RateMbit)
	g, ctx := errgroup.WithContext(ctx)
	finished := make(chan struct{}) // closed once everything below stopped
	graceDone := make(chan struct{})
	go func() {
		defer close(graceDone)
		r.graceWatch(ctx, finished)
	}()
	defer func() {
		r.land()
		close(finished)
		<-graceDone
	}()
	g.Go(func() error {
		good, bad, err := r.verifyCache(ctx)
		if err != nil && ctx.Err() == nil {
			r.recordError("cache check failed", err)
		}
		r.mu.Lock()
		r.checked = true
		r.mu.Unlock()
		r.log.Info("cache checked", "good", good, "removed", bad)
		return nil
	})
	if r.enr != nil {
		g.Go(func() error { return r.controlLoop(ctx) })
		g.Go(func() error { return r.reportLoop(ctx) })
	}
	if r.node != nil {
		g.Go(func() error { return r.node.Run(ctx) })
		g.Go(func() error { return r.trackerLoop(ctx) })
		g.Go(func() error {
			select {
			case <-r.node.Ready():
				r.log.Info("serving Shoal agents over libp2p", "peer", r.enr.PeerID, "addrs", r.p2pAddrs())
				r.kickReport() // Central passes the addresses to the site's agents.
			case <-ctx.Done():
			}
			return nil
		})
	}
	for _, l := range listeners {
		// Requests live under the relay's lifetime, so the end of the
		// shutdown grace cancels those still open.
		srv := &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute,
			ErrorLog:    slog.NewLogLogger(r.log.Handler(), slog.LevelWarn),
			BaseContext: func(net.Listener) context.Context { return r.life }}
		g.Go(func() error {
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("relay serve: %w", err)
			}
			return nil
		})
		g.Go(func() error {
			<-ctx.Done()
			// Open requests have until the grace ends (r.life), then their
			// connections are closed.
			err := srv.Shutdown(r.life)
			if err != nil && r.life.Err() != nil {
				err = srv.Close()
			}
			if err != nil {
				return fmt.Errorf("relay shutdown: %w", err)
			}
			return nil
		})
	}
	err = g.Wait()
	r.client.CloseIdleConnections()
	if r.central != nil {
		r.central.CloseIdleConnections()
	}
	return err
}

// land refuses new upstream fetches and waits for those under way; it is
// called as Run returns.
func (r *Relay) land() {
	r.flightsMu.Lock()
	r.stopped = true
	r.flightsMu.Unlock()
	r.flights.Wait()
}

// graceWatch cancels the relay's lifetime ShutdownGrace after ctx is done,
// unless Run finished first (finished closed): open requests and upstream
// fetches then stop at once instead of running for up to fetch_timeout.
func (r *Relay) graceWatch(ctx context.Context, finished <-chan struct{}) {
	select {
	case <-finished:
		return
	case <-ctx.Done():
	}
	t := time.NewTimer(r.cfg.ShutdownGrace)
	defer t.Stop()
	select {
	case <-finished:
	case <-t.C:
		r.log.Warn("shutdown grace passed; cancelling open requests and upstream fetches", "grace", r.cfg.ShutdownGrace)
		r.stopLife()
	}
}

// recordError logs a problem and keeps it for the next report.
func (r *Relay) recordError(msg string, err error) {
	r.log.Warn(msg, "err", err)
	line := time.Now().UTC().Format(time.RFC3339) + " " + msg + ": " + err.Error()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, line)
	if len(r.errs) > maxErrors {
		r.errs = r.errs[len(r.errs)-maxErrors:]
	}
}

// maxErrors bounds the recent errors kept for reports.
const maxErrors = 20

func (r *Relay) manifestPath(id string) string {
	return filepath.Join(r.cfg.DataDir, "manifests", id+".json")
}

// infoPath is where relays before protocol version 2 cached info files;
// purge and the start-up scan still remove them.
func (r *Relay) infoPath(id string) string {
	return filepath.Join(r.cfg.DataDir, "info", id)
}

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
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"

	"github.com/shoal-project/shoal/agent/fragstore"
	"github.com/shoal-project/shoal/proto"
)

// Config configures a relay. It is the whole YAML file of shoal-relay.
type Config struct {
	// DataDir holds the fragment store, cached manifests and info files,
	// and relay.json (the URLs the relay listens on).
	DataDir string `yaml:"data_dir"`
	// HTTPAddr is the plain-HTTP listen address for OCS agents.
	HTTPAddr string `yaml:"http_addr"`
	// HTTPSAddr, when set, also serves the same paths over TLS with
	// TLSCertFile and TLSKeyFile (PEM).
	HTTPSAddr   string `yaml:"https_addr"`
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// Upstream is the base URL (scheme://host:port) of central's download
	// tree, usually central's plain-HTTP URL: fragments and info files are
	// fetched from <Upstream>/download/<ID>/….
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
}

func (c Config) withDefaults() Config {
	if c.HTTPAddr == "" {
		c.HTTPAddr = ":8090"
	}
	if c.ManifestUpstream == "" {
		c.ManifestUpstream = c.Upstream
	}
	if c.FetchTimeout == 0 {
		c.FetchTimeout = 5 * time.Minute
	}
	return c
}

// Validate reports configuration errors.
func (c Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir is empty"))
	}
	for name, u := range map[string]string{"upstream": c.Upstream, "manifest_upstream": c.ManifestUpstream} {
		if u == "" && name == "manifest_upstream" {
			continue
		}
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("%s %q: want http(s)://host[:port]", name, u))
		}
	}
	if _, err := c.publicKey(); err != nil {
		errs = append(errs, err)
	}
	if c.HTTPSAddr != "" && (c.TLSCertFile == "" || c.TLSKeyFile == "") {
		errs = append(errs, errors.New("https_addr needs tls_cert_file and tls_key_file"))
	}
	if c.FetchTimeout < 0 {
		errs = append(errs, errors.New("fetch_timeout is negative"))
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

// Relay is a pull-through, verifying cache of central's download tree.
type Relay struct {
	cfg    Config
	log    *slog.Logger
	pub    ed25519.PublicKey
	client *http.Client
	store  *fragstore.Store
	flight singleflight.Group
	stats  counters

	mu        sync.Mutex                 // guards manifests
	manifests map[string]*proto.Manifest // package ID -> verified manifest
}

// RuntimeInfo is written to <data_dir>/relay.json once the relay listens.
type RuntimeInfo struct {
	HTTPURL  string `json:"http_url"`
	HTTPSURL string `json:"https_url,omitempty"`
}

// New builds a relay from cfg. It opens the fragment store but starts
// nothing.
func New(cfg Config, log *slog.Logger) (*Relay, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pub, _ := cfg.publicKey()
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CentralCAFile != "" {
		pem, err := os.ReadFile(cfg.CentralCAFile)
		if err != nil {
			return nil, fmt.Errorf("new relay: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("new relay: %s holds no PEM certificate", cfg.CentralCAFile)
		}
		tlsCfg.RootCAs = pool
	}
	st, err := fragstore.Open(filepath.Join(cfg.DataDir, "fragments"))
	if err != nil {
		return nil, fmt.Errorf("new relay: %w", err)
	}
	for _, d := range []string{"manifests", "info"} {
		if err := os.MkdirAll(filepath.Join(cfg.DataDir, d), 0o700); err != nil {
			return nil, fmt.Errorf("new relay: %w", err)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	return &Relay{
		cfg: cfg, log: log.With("component", "relay"), pub: pub, store: st,
		client:    &http.Client{Transport: tr},
		manifests: map[string]*proto.Manifest{},
	}, nil
}

// Run serves until ctx is cancelled, then shuts the listeners down.
func (r *Relay) Run(ctx context.Context) error {
	var cert tls.Certificate
	if r.cfg.HTTPSAddr != "" {
		var err error
		if cert, err = tls.LoadX509KeyPair(r.cfg.TLSCertFile, r.cfg.TLSKeyFile); err != nil {
			return fmt.Errorf("relay tls: %w", err)
		}
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
		listeners = append(listeners, tls.NewListener(tln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	}
	closeAll := func() {
		for _, l := range listeners {
			l.Close()
		}
	}
	b, _ := json.Marshal(rt)
	if err := writeFileAtomic(filepath.Join(r.cfg.DataDir, "relay.json"), b); err != nil {
		closeAll()
		return fmt.Errorf("relay runtime file: %w", err)
	}
	r.log.Info("relay listening", "http", rt.HTTPURL, "https", rt.HTTPSURL, "upstream", r.cfg.Upstream)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		good, bad, err := r.verifyCache(ctx)
		if err != nil && ctx.Err() == nil {
			r.log.Warn("cache check failed", "err", err)
		}
		r.log.Info("cache checked", "good", good, "removed", bad)
		return nil
	})
	for _, l := range listeners {
		srv := &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 30 * time.Second,
			ErrorLog: slog.NewLogLogger(r.log.Handler(), slog.LevelWarn)}
		g.Go(func() error {
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("relay serve: %w", err)
			}
			return nil
		})
		g.Go(func() error {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				return fmt.Errorf("relay shutdown: %w", err)
			}
			return nil
		})
	}
	return g.Wait()
}

// writeFileAtomic writes b to a temporary file, fsyncs it and renames it
// to name.
func writeFileAtomic(name string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), filepath.Base(name)+".*.part")
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), name); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

func (r *Relay) manifestPath(id string) string {
	return filepath.Join(r.cfg.DataDir, "manifests", id+".json")
}

// serveFile serves a file of the data directory.
func (r *Relay) serveFile(w http.ResponseWriter, req *http.Request, name, ctype string) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("serve %s: %w", filepath.Base(name), err)
	}
	defer f.Close()
	w.Header().Set("Content-Type", ctype)
	r.serveContent(w, req, f, time.Time{})
	return nil
}

package tracker

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shoal-project/shoal/internal/metrics"
	"github.com/shoal-project/shoal/proto"
)

// StandaloneConfig is shoal-tracker's configuration file.
type StandaloneConfig struct {
	// Listen is the listen address (default :8460).
	Listen string `yaml:"listen"`
	// TLSCert and TLSKey are PEM files; both empty serves plain HTTP, which
	// is safe for the tracker's own authentication but exposes holdings to
	// eavesdroppers.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// ManifestPublicKey is central's manifest (peer record) key: base64 of
	// the 32 raw bytes, or a PEM "PUBLIC KEY" block. ManifestPublicKeyFile
	// names a file holding either (central writes
	// <data_dir>/pki/manifest-signing-pub.pem).
	ManifestPublicKey     string `yaml:"manifest_public_key"`
	ManifestPublicKeyFile string `yaml:"manifest_public_key_file"`
	// CentralURL is central's base URL (https://central:8443): the
	// tracker polls its signed revocation list there, so that revoked or
	// deleted computers lose access before their peer records expire.
	// Empty: no revocations (a warning at start).
	CentralURL string `yaml:"central_url"`
	// CentralCAFile is central's CA certificate (PEM) for an https
	// central_url.
	CentralCAFile string `yaml:"central_ca_file"`
	// RevocationsInterval is how often the list is polled (default 10s).
	RevocationsInterval time.Duration `yaml:"revocations_interval"`

	Tracker Config `yaml:"tracker"`
}

func (c StandaloneConfig) withDefaults() StandaloneConfig {
	if c.Listen == "" {
		c.Listen = ":8460"
	}
	if c.RevocationsInterval == 0 {
		c.RevocationsInterval = 10 * time.Second
	}
	return c
}

// Validate checks the configuration (the key file is read by
// NewStandalone).
func (c StandaloneConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("tracker: listen %q: %w", c.Listen, err))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("tracker: set both tls_cert and tls_key, or neither"))
	}
	if (c.ManifestPublicKey == "") == (c.ManifestPublicKeyFile == "") {
		errs = append(errs, errors.New("tracker: set exactly one of manifest_public_key and manifest_public_key_file"))
	}
	if c.CentralURL != "" {
		if u, err := url.Parse(c.CentralURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("tracker: central_url %q: want http(s)://host[:port]", c.CentralURL))
		}
	}
	if c.RevocationsInterval < time.Second {
		errs = append(errs, fmt.Errorf("tracker: revocations_interval %s: want at least 1s", c.RevocationsInterval))
	}
	return errors.Join(append(errs, c.Tracker.Validate())...)
}

// ParsePublicKey parses central's manifest key given as base64 of its 32
// bytes or as a PEM "PUBLIC KEY" block.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	if block, _ := pem.Decode([]byte(s)); block != nil {
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse public key: %w", err)
		}
		ek, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, errors.New("parse public key: not an Ed25519 key")
		}
		return ek, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("parse public key: %d bytes, want %d", len(b), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// Standalone is shoal-tracker: the tracker on its own listener at
// proto.TrackerPathPrefix, with /healthz and /metrics (Prometheus,
// unauthenticated like /healthz: counts per site, no peer identities).
type Standalone struct {
	cfg  StandaloneConfig
	log  *slog.Logger
	srv  *Server
	feed *RevocationFeed // nil without central_url
}

// NewStandalone checks cfg, reads the key and returns the service.
func NewStandalone(cfg StandaloneConfig, logger *slog.Logger) (*Standalone, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("shoal-tracker config: %w", err)
	}
	cfg = cfg.withDefaults()
	keyText := cfg.ManifestPublicKey
	if cfg.ManifestPublicKeyFile != "" {
		b, err := os.ReadFile(cfg.ManifestPublicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("read manifest public key: %w", err)
		}
		keyText = string(b)
	}
	key, err := ParsePublicKey(keyText)
	if err != nil {
		return nil, err
	}
	st := &Standalone{cfg: cfg, log: logger.With("component", "shoal-tracker")}
	ver := Verifier{Key: key}
	if cfg.CentralURL != "" {
		hc, err := centralClient(cfg.CentralCAFile)
		if err != nil {
			return nil, err
		}
		st.feed = NewRevocationFeed(strings.TrimRight(cfg.CentralURL, "/")+proto.RevokedPeersPath, hc, key, cfg.RevocationsInterval, logger)
		ver.Revoked = st.feed.Revoked
	}
	if st.srv, err = New(cfg.Tracker, logger, ver); err != nil {
		return nil, err
	}
	return st, nil
}

// centralClient returns the HTTP client for central, trusting caFile when
// set (else the system roots).
func centralClient(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("central CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("central CA %s holds no PEM certificate", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr}, nil
}

// PollRevocations fetches central's revocation list now (the service also
// polls it every revocations_interval). Without central_url it does
// nothing.
func (s *Standalone) PollRevocations(ctx context.Context) error {
	if s.feed == nil {
		return nil
	}
	return s.feed.Poll(ctx)
}

// Run listens and serves until ctx ends, then shuts down.
func (s *Standalone) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends, then shuts down and closes ln.
func (s *Standalone) Serve(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle(proto.TrackerPathPrefix+"/", http.StripPrefix(proto.TrackerPathPrefix, s.srv.Handler()))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, s.srv.Stats()) })
	reg := metrics.NewRegistry()
	reg.MustRegister(s.srv.Metrics())
	mux.Handle("GET /metrics", metrics.Handler(reg, s.log))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	scheme := "http"
	if s.cfg.TLSCert != "" {
		scheme = "https"
	}
	s.log.Info("tracker running", "url", scheme+"://"+ln.Addr().String()+proto.TrackerPathPrefix)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.srv.Run(gctx) })
	if s.feed != nil {
		g.Go(func() error { return s.feed.Run(gctx) })
	} else {
		s.log.Warn("no central_url: revoked peers keep tracker access until their peer records expire")
	}
	g.Go(func() error {
		var err error
		if s.cfg.TLSCert != "" {
			err = hs.ServeTLS(ln, s.cfg.TLSCert, s.cfg.TLSKey)
		} else {
			err = hs.Serve(ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serve: %w", err)
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return hs.Shutdown(sctx)
	})
	err := g.Wait()
	s.log.Info("tracker stopped")
	return err
}

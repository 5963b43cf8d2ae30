package relay

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shoal-project/shoal/internal/enroll"
	"github.com/shoal-project/shoal/internal/statefile"
	"github.com/shoal-project/shoal/proto"
)

// Files in the data directory written by enrolling.
const (
	identityFile   = "identity.key"
	enrollmentFile = "enrollment.json"
)

// enrollment is what enrolling left in the data directory (mode 0600: it
// holds the relay's secret and TLS key).
type enrollment struct {
	Server            string                 `json:"server"`
	Name              string                 `json:"name"`
	Site              string                 `json:"site"`
	RelayID           uint                   `json:"relay_id"`
	PeerID            string                 `json:"peer_id"`
	Secret            string                 `json:"secret"`
	ManifestPublicKey []byte                 `json:"manifest_public_key"`
	ManifestKeyID     string                 `json:"manifest_key_id"`
	CACertPEM         []byte                 `json:"ca_cert_pem"`
	CertPEM           []byte                 `json:"cert_pem"`
	KeyPEM            []byte                 `json:"key_pem"`
	Upstream          string                 `json:"upstream"`
	HTTPURL           string                 `json:"http_url"`
	HTTPSURL          string                 `json:"https_url,omitempty"`
	PeerRecord        proto.SignedPeerRecord `json:"peer_record"`
	EnrolledAt        time.Time              `json:"enrolled_at"`
}

// loadEnrollment returns the enrollment in dir, nil when there is none.
func loadEnrollment(dir string) (*enrollment, error) {
	b, err := os.ReadFile(filepath.Join(dir, enrollmentFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load enrollment: %w", err)
	}
	var e enrollment
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("load enrollment: %w", err)
	}
	if len(e.ManifestPublicKey) != ed25519.PublicKeySize || e.Secret == "" || e.Server == "" {
		return nil, fmt.Errorf("load enrollment: %s is incomplete; enroll again", enrollmentFile)
	}
	return &e, nil
}

func (e *enrollment) save(dir string) error {
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return fmt.Errorf("save enrollment: %w", err)
	}
	if err := statefile.WriteBytes(filepath.Join(dir, enrollmentFile), b, 0o600); err != nil {
		return fmt.Errorf("save enrollment: %w", err)
	}
	return nil
}

// EnrollOptions are the arguments of `shoal-relay enroll`.
type EnrollOptions struct {
	// Server is central's https:// URL.
	Server string
	Token  string
	Site   string
	// Name identifies the relay; empty means the host name.
	Name string
	// HTTPURL and HTTPSURL are where the branch reaches the relay; the
	// hosts of these URLs are the only names of its TLS certificate.
	HTTPURL  string
	HTTPSURL string
	// CAFile or CAFingerprint pins central's CA.
	CAFile        string
	CAFingerprint string
}

// EnrollFlags registers the enroll flags on fs. The caller parses fs.
func EnrollFlags(fs *flag.FlagSet) *EnrollOptions {
	o := &EnrollOptions{}
	fs.StringVar(&o.Server, "server", "", "central's https:// URL")
	fs.StringVar(&o.Token, "token", "", "enrollment token")
	fs.StringVar(&o.Site, "site", "", "name of the site the relay serves")
	fs.StringVar(&o.Name, "name", "", "relay name (default: host name)")
	fs.StringVar(&o.HTTPURL, "url", "", "http://host:port where the branch reaches the relay")
	fs.StringVar(&o.HTTPSURL, "https-url", "", "optional https://host:port of the relay")
	fs.StringVar(&o.CAFile, "ca", "", "central's CA certificate file")
	fs.StringVar(&o.CAFingerprint, "ca-fingerprint", "", "SHA-256 of central's CA certificate, instead of -ca")
	return o
}

func (o *EnrollOptions) validate() error {
	var errs []error
	if !strings.HasPrefix(o.Server, "https://") {
		errs = append(errs, errors.New("-server must be central's https:// URL"))
	}
	if o.Token == "" || o.Site == "" || o.HTTPURL == "" {
		errs = append(errs, errors.New("-token, -site and -url are required"))
	}
	if (o.CAFile == "") == (o.CAFingerprint == "") {
		errs = append(errs, errors.New("give central's CA with -ca FILE or -ca-fingerprint SHA256"))
	}
	return errors.Join(errs...)
}

// Enroll registers the relay with central: it creates the identity key on
// first use, pins central's CA, proves the key, and saves central's answer
// (secret, CA, TLS certificate and key, manifest key, upstream, site, id,
// peer record) in the data directory. Enrolling again keeps the identity.
func Enroll(ctx context.Context, cfg Config, o EnrollOptions, log *slog.Logger) error {
	if cfg.DataDir == "" {
		cfg.DataDir = DefaultDataDir
	}
	if o.Name == "" {
		o.Name, _ = os.Hostname()
	}
	if err := o.validate(); err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("enroll: data dir: %w", err)
	}
	httpURL, httpsURL := strings.TrimRight(o.HTTPURL, "/"), strings.TrimRight(o.HTTPSURL, "/")
	caPEM, err := enroll.CA(ctx, o.Server, o.CAFile, o.CAFingerprint)
	if err != nil {
		return fmt.Errorf("enroll: CA: %w", err)
	}
	var e *enrollment
	_, _, err = enroll.Run(ctx, enroll.Steps[*proto.RelayEnrollResponse]{
		CAPEM:        caPEM,
		IdentityFile: filepath.Join(cfg.DataDir, identityFile),
		Post: func(ctx context.Context, roots *x509.CertPool, id enroll.Identity) (*proto.RelayEnrollResponse, error) {
			proof, err := id.Sign(proto.RelayEnrollProof(o.Token, o.Name, id.PeerID))
			if err != nil {
				return nil, err
			}
			req := proto.RelayEnrollRequest{Token: o.Token, Name: o.Name, Site: o.Site, PeerID: id.PeerID, PublicKey: id.PublicKey,
				Proof: proof, HTTPURL: httpURL, HTTPSURL: httpsURL,
				Version: cfg.Version}
			client := enroll.HTTPClient(roots)
			defer client.CloseIdleConnections()
			var resp proto.RelayEnrollResponse
			// The token also goes in the Authorization header: central checks it
			// there before it reads the body.
			if err := callJSON(ctx, client, http.MethodPost, strings.TrimRight(o.Server, "/")+proto.AgentAPIPath+"/relays/enroll", o.Token, req, &resp); err != nil {
				return nil, err
			}
			return &resp, nil
		},
		Answer: func(r *proto.RelayEnrollResponse) enroll.Answer {
			return enroll.Answer{ManifestPublicKey: r.ManifestPublicKey, ManifestKeyID: r.ManifestKeyID, PeerRecord: r.PeerRecord}
		},
		Check: func(roots *x509.CertPool, resp *proto.RelayEnrollResponse) error {
			if resp.Secret == "" {
				return errors.New("central sent no secret")
			}
			if err := checkRelayCert(resp.CertPEM, resp.KeyPEM, roots, httpURL, httpsURL); err != nil {
				return fmt.Errorf("relay certificate: %w", err)
			}
			return nil
		},
		Save: func(id enroll.Identity, mk ed25519.PublicKey, resp *proto.RelayEnrollResponse) error {
			e = &enrollment{Server: strings.TrimRight(o.Server, "/"), Name: o.Name, Site: resp.Site, RelayID: resp.RelayID,
				PeerID: id.PeerID, Secret: resp.Secret, ManifestPublicKey: mk, ManifestKeyID: resp.ManifestKeyID,
				CACertPEM: caPEM, CertPEM: resp.CertPEM, KeyPEM: resp.KeyPEM, Upstream: resp.Upstream,
				HTTPURL: httpURL, HTTPSURL: httpsURL, PeerRecord: resp.PeerRecord, EnrolledAt: time.Now().UTC()}
			if e.Upstream == "" {
				e.Upstream = e.Server
			}
			return e.save(cfg.DataDir)
		},
	})
	if err != nil {
		return err
	}
	log.Info("relay enrolled", "component", "relay", "server", e.Server, "relay", e.Name, "id", e.RelayID,
		"site", e.Site, "peer", e.PeerID, "upstream", e.Upstream)
	return nil
}

// checkRelayCert checks the certificate chain central issued: it matches
// the key, and chains to the pinned root (through the relay CA it carries)
// for the host of each of the relay's URLs.
func checkRelayCert(chainPEM, keyPEM []byte, roots *x509.CertPool, urls ...string) error {
	pair, err := tls.X509KeyPair(chainPEM, keyPEM)
	if err != nil {
		return err
	}
	inter := x509.NewCertPool()
	for _, der := range pair.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return err
		}
		inter.AddCert(c)
	}
	for _, raw := range urls {
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil {
			return err
		}
		if _, err := pair.Leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: u.Hostname()}); err != nil {
			return fmt.Errorf("for %s: %w", u.Hostname(), err)
		}
	}
	return nil
}

// callJSON sends in (if not nil) as JSON and decodes a 2xx answer into out
// (if not nil). secret, when set, goes in the Authorization header.
func callJSON(ctx context.Context, c *http.Client, method, url, secret string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, url, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, url, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, url, err)
	}
	if resp.StatusCode/100 != 2 {
		return &StatusError{Code: resp.StatusCode, Body: string(bytes.TrimSpace(b[:min(len(b), 512)]))}
	}
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode: %w", method, url, err)
		}
	}
	return nil
}

// StatusError is a non-2xx answer from central.
type StatusError struct {
	Code int
	Body string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("central answered %d %s: %s", e.Code, http.StatusText(e.Code), e.Body)
}

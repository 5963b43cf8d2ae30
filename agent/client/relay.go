package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/shoal-project/shoal/agent/fetch"
	"github.com/shoal-project/shoal/proto"
)

// Relay request limits. A dead relay is found by the short dial timeout,
// so it costs seconds before the fetcher falls back to central. A live
// relay may take long to answer a miss: it pulls the fragment through the
// branch's uplink, which every agent shares. Giving up on it early sends
// the agent to central for a second WAN copy (the lab measured 1.35·S per
// branch with a 15 s header timeout and 40 agents behind 20 Mbit/s), so
// the header timeout is as long as a whole fragment request may take.
const (
	RelayDialTimeout   = 2 * time.Second
	RelayHeaderTimeout = 2 * time.Minute
)

// NewRelayHTTPClient returns the HTTP client relay sources share: short
// dial and header timeouts, HTTPS trusting only roots (central's CA, which
// issues relay certificates).
func NewRelayHTTPClient(roots *x509.CertPool) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 nil, // Relays are on the branch LAN.
		DialContext:           (&net.Dialer{Timeout: RelayDialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: RelayHeaderTimeout,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		ReadBufferSize:        64 << 10,
	}}
}

// RelaySource serves fragments from a relay's HTTP listener
// (GET <url>/shoal/v1/fragments/<pkg>/<cid>, unauthenticated; the fetcher
// verifies the bytes).
type RelaySource struct {
	base string
	hc   *http.Client
}

var _ fetch.Source = (*RelaySource)(nil)

// NewRelaySource returns a source for the relay at baseURL (http(s)://host:port).
func NewRelaySource(baseURL string, hc *http.Client) (*RelaySource, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("relay source: URL %q: want http(s)://host[:port]", baseURL)
	}
	return &RelaySource{base: u.String(), hc: hc}, nil
}

// Kind implements fetch.Source.
func (*RelaySource) Kind() string { return fetch.KindRelay }

// String names the relay in logs and reports.
func (s *RelaySource) String() string { return "relay " + s.base }

// URL returns the relay's base URL.
func (s *RelaySource) URL() string { return s.base }

// Fetch implements fetch.Source. The body is bounded to f.Size bytes plus
// one, so an overlong answer is detected without reading it all.
func (s *RelaySource) Fetch(ctx context.Context, pkg string, f proto.Fragment) (io.ReadCloser, error) {
	if !proto.IsPackageID(pkg) {
		return nil, fmt.Errorf("relay fragment: package id %q: %w", pkg, ErrNotFound)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+proto.FragmentPath(pkg, f.CID), nil)
	if err != nil {
		return nil, fmt.Errorf("relay fragment %s: %w", f.CID, err)
	}
	req.Header.Set("User-Agent", "shoal-agent")
	resp, err := s.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("relay fragment %s: %w", f.CID, err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		msg := fmt.Sprintf("relay fragment %s: relay answered %d %q", f.CID, resp.StatusCode, strings.TrimSpace(string(b)))
		if resp.StatusCode == http.StatusNotFound {
			return nil, fmt.Errorf("%s: %w", msg, ErrNotFound)
		}
		return nil, errors.New(msg)
	}
	if resp.ContentLength >= 0 && resp.ContentLength != f.Size {
		resp.Body.Close()
		return nil, fmt.Errorf("relay fragment %s: %d bytes announced, want %d", f.CID, resp.ContentLength, f.Size)
	}
	return readCloser{Reader: io.LimitReader(resp.Body, f.Size+1), Closer: resp.Body}, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

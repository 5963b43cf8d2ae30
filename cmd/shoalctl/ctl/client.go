package ctl

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/shoal-project/shoal/proto/api"
)

// processingTimeout bounds the wait for central's answer once a request
// body is sent: an upload is cut into fragments and hashed before central
// answers.
const processingTimeout = 10 * time.Minute

// maxErrorBody bounds the error bodies read from central.
const maxErrorBody = 1 << 20

// Client calls central's REST API.
type Client struct {
	base    *url.URL
	token   string
	user    string
	pass    string
	hc      *http.Client
	timeout time.Duration
}

// ErrNoServer reports that no server is configured.
var ErrNoServer = errors.New("no server: run 'shoalctl login --server https://HOST:8443 --ca cacert.pem' or pass --server")

// parseServer accepts https://host:port (or host:port) and refuses plain
// HTTP, on which central serves no API.
func parseServer(s string) (*url.URL, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, ErrNoServer
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("server %q: %w", s, err)
	}
	if u.Scheme != "https" {
		return nil, fmt.Errorf("server %q: central serves its API over HTTPS only (https://HOST:8443)", s)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("server %q has no host", s)
	}
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), api.BasePath)
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// NewClient returns a client of the central at server that trusts the
// certificates in caFile (or the system's when empty). timeout bounds each
// request but uploads, which have a deadline on progress instead.
func NewClient(server, caFile, token string, timeout time.Duration) (*Client, error) {
	u, err := parseServer(server)
	if err != nil {
		return nil, err
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
		}
		tlsConf.RootCAs = pool
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsConf,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: processingTimeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
	}
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return &Client{base: u, token: token, hc: &http.Client{Transport: tr}, timeout: timeout}, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Server returns the normalised server URL.
func (c *Client) Server() string { return c.base.String() }

// url returns the URL of an API path with a query.
func (c *Client) url(path string, q url.Values) string {
	u := *c.base
	// path may hold escaped names (groupPath, searchPath): keep them
	// escaped once, not twice.
	raw := strings.TrimSuffix(u.Path, "/") + api.BasePath + path
	u.Path, u.RawPath = raw, ""
	if p, err := url.PathUnescape(raw); err == nil && p != raw {
		u.Path, u.RawPath = p, raw
	}
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

func (c *Client) authorize(req *http.Request) {
	switch {
	case c.user != "":
		req.SetBasicAuth(c.user, c.pass)
	case c.token != "":
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
}

// APIError is an error answer of central.
type APIError struct {
	Status int
	Body   api.Error
	// Hint replaces the hint that follows from Status, when set.
	Hint string
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString(e.Body.Error)
	for _, d := range e.Body.Detail {
		b.WriteString("\n  - " + d)
	}
	if len(e.Body.Detail) == 0 && len(e.Body.Fields) > 0 {
		keys := make([]string, 0, len(e.Body.Fields))
		for k := range e.Body.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			b.WriteString("\n  - " + k + ": " + e.Body.Fields[k])
		}
	}
	fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	switch {
	case e.Hint != "":
		b.WriteString("\nhint: " + e.Hint)
	case e.Status == http.StatusUnauthorized:
		b.WriteString("\nhint: run 'shoalctl login', or pass --token")
	case e.Status == http.StatusForbidden:
		b.WriteString("\nhint: this needs an admin token")
	}
	return b.String()
}

// readError turns a non-2xx answer into an *APIError.
func readError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &APIError{Status: resp.StatusCode}
	if err := json.Unmarshal(b, &e.Body); err != nil || e.Body.Error == "" {
		msg := strings.TrimSpace(string(b))
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		e.Body = api.Error{Error: "central answered " + resp.Status + ": " + msg}
	}
	return e
}

// Do sends a JSON request (in may be nil) and decodes the answer into out
// (which may be nil), within the client's timeout.
func (c *Client) Do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(path, q), body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	c.authorize(req)
	resp, err := c.hc.Do(req)
	if err != nil {
		return c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return readError(resp)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode answer of %s %s: %w", method, path, err)
	}
	return nil
}

// call opens a client, sends it one request like Client.Do and closes it.
func (c *cli) call(ctx context.Context, method, path string, q url.Values, in, out any) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	return cl.Do(ctx, method, path, q, in, out)
}

// show gets path with the query q into out and prints out: as JSON with
// -o json, and otherwise with text.
func (c *cli) show(ctx context.Context, path string, q url.Values, out any, text func() error) error {
	if err := c.call(ctx, "GET", path, q, nil, out); err != nil {
		return err
	}
	if c.json() {
		return c.printJSON(out)
	}
	return text()
}

// act sends method to path, without a body and ignoring the answer, and
// then reports v and the sentence of format and args like report.
func (c *cli) act(ctx context.Context, method, path string, v any, format string, args ...any) error {
	if err := c.call(ctx, method, path, nil, nil, nil); err != nil {
		return err
	}
	return c.report(v, format, args...)
}

// transportError explains a failed round trip.
func (c *Client) transportError(ctx context.Context, err error) error {
	var ua x509.UnknownAuthorityError
	var host x509.HostnameError
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err // the URL adds nothing to the host named below
	}
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("no answer from %s within %v: %w", c.base.Host, c.timeout, err)
	case errors.As(err, &ua):
		return fmt.Errorf("%s presents a certificate this CA does not sign; pass central's cacert.pem with --ca: %w", c.base.Host, err)
	case errors.As(err, &host):
		return fmt.Errorf("the certificate of %s is not valid for that name: %w", c.base.Host, err)
	}
	return fmt.Errorf("reach %s: %w", c.base.Host, err)
}

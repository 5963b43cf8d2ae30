// Package client is the shoal-agent's side of central's agent API
// (proto.AgentAPIPath over HTTPS, trusting only central's CA). Every call
// but Enroll carries the agent's bearer secret. HTTP statuses are turned
// into the sentinel errors below; nothing above this package sees HTTP.
package client

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
	"strconv"
	"strings"
	"time"

	"github.com/shoal-project/shoal/agent/fetch"
	"github.com/shoal-project/shoal/internal/skew"
	"github.com/shoal-project/shoal/proto"
)

// Sentinel errors.
var (
	// ErrRevoked: central refuses this agent (403): its computer was
	// revoked, or an enrollment token was refused.
	ErrRevoked = errors.New("client: refused by central")
	// ErrUnauthorized: central does not know the agent's secret (401).
	ErrUnauthorized = errors.New("client: unknown agent secret")
	// ErrNotFound: no such package, fragment or deployment (404).
	ErrNotFound = errors.New("client: not found")
	// ErrFinished: the deployment is already finished or cancelled (409).
	ErrFinished = errors.New("client: deployment finished")
)

// StatusError is an unexpected HTTP answer.
type StatusError struct {
	Code int
	Msg  string
	// RetryAfter is the answer's Retry-After in seconds (0: none), as
	// central sends with 503 when it is busy.
	RetryAfter time.Duration
}

// RetryAfter returns how long central asked err's caller to wait before
// trying again (its Retry-After), and whether it did.
func RetryAfter(err error) (time.Duration, bool) {
	var se *StatusError
	if errors.As(err, &se) && se.RetryAfter > 0 {
		return se.RetryAfter, true
	}
	return 0, false
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("central answered %d: %s", e.Code, e.Msg)
}

// Client calls central's agent API.
type Client struct {
	base   string // https://host:port/api/agent/v1
	secret string
	hc     *http.Client
}

// New returns a client of the central at server (https://host:port) that
// trusts only roots. secret may be empty for Enroll.
func New(server string, roots *x509.CertPool, secret string) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(server, "/"))
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("client: server %q must be an https:// URL", server)
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   10 * time.Second,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		// HTTP/1.1 on purpose: HTTP/2 is ~0.6x for bulk transfers, and
		// parallel fragment streams want parallel connections.
		ForceAttemptHTTP2: false,
		ReadBufferSize:    64 << 10,
	}
	return &Client{base: u.String() + proto.AgentAPIPath, secret: secret, hc: &http.Client{Transport: tr}}, nil
}

// MeasureClock makes every answer of central feed clk (its Date header):
// the agent signs tracker requests in central's time. Call it before the
// client is used.
func (c *Client) MeasureClock(clk *skew.Clock) {
	c.hc.Transport = clk.Transport(c.hc.Transport)
}

// CloseIdle closes idle connections.
func (c *Client) CloseIdle() { c.hc.CloseIdleConnections() }

func (c *Client) newRequest(ctx context.Context, method, path string, body any) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("request %s: %w", path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.secret != "" {
		req.Header.Set("Authorization", "Bearer "+c.secret)
	}
	req.Header.Set("User-Agent", "shoal-agent")
	return req, nil
}

// do sends req and returns the response when its status is 2xx; otherwise
// it maps the status to an error.
func (c *Client) do(req *http.Request) (*http.Response, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var e struct {
		Error   string `json:"error"`
		Message string `json:"message"` // echo's default error handler
	}
	msg := strings.TrimSpace(string(b))
	if json.Unmarshal(b, &e) == nil && (e.Error != "" || e.Message != "") {
		msg = e.Error + e.Message
	}
	var sentinel error
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		sentinel = ErrUnauthorized
	case http.StatusForbidden:
		sentinel = ErrRevoked
	case http.StatusNotFound:
		sentinel = ErrNotFound
	case http.StatusConflict:
		sentinel = ErrFinished
	default:
		se := &StatusError{Code: resp.StatusCode, Msg: msg}
		if n, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && n > 0 {
			se.RetryAfter = time.Duration(min(n, 3600)) * time.Second
		}
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, se)
	}
	return nil, fmt.Errorf("%s %s: %s: %w", req.Method, req.URL.Path, msg, sentinel)
}

// call sends a JSON request and decodes a JSON answer into out (if not nil).
func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	req, err := c.newRequest(ctx, method, path, in)
	if err != nil {
		return err
	}
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// Info returns central's agent API description (no secret needed).
func (c *Client) Info(ctx context.Context) (*proto.AgentInfo, error) {
	var out proto.AgentInfo
	if err := c.call(ctx, http.MethodGet, "/info", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Enroll enrolls the agent. The token goes in the Authorization header too:
// central checks it there before it reads the body.
func (c *Client) Enroll(ctx context.Context, req *proto.EnrollRequest) (*proto.EnrollResponse, error) {
	hr, err := c.newRequest(ctx, http.MethodPost, "/enroll", req)
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Authorization", "Bearer "+req.Token)
	resp, err := c.do(hr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out proto.EnrollResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&out); err != nil {
		return nil, fmt.Errorf("POST /enroll: decode answer: %w", err)
	}
	return &out, nil
}

// Jobs long-polls for the agent's job list: central answers when the list
// differs from the one tag names, or after wait. The agent honours
// Job.InstallAfter, so it asks for held deployments too.
func (c *Client) Jobs(ctx context.Context, tag string, wait time.Duration) (*proto.JobsResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, wait+30*time.Second)
	defer cancel()
	q := url.Values{"wait": {wait.String()}, "tag": {tag}, proto.JobsHoldParam: {"1"}}
	var out proto.JobsResponse
	if err := c.call(ctx, http.MethodGet, "/jobs?"+q.Encode(), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Manifest returns the signed manifest of a package, unverified.
func (c *Client) Manifest(ctx context.Context, pkg string) ([]byte, error) {
	if !proto.IsPackageID(pkg) {
		return nil, fmt.Errorf("manifest: package id %q: %w", pkg, ErrNotFound)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err := c.newRequest(ctx, http.MethodGet, "/packages/"+pkg+"/manifest", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, proto.MaxManifestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("manifest of %s: %w", pkg, err)
	}
	if len(b) > proto.MaxManifestBytes {
		return nil, fmt.Errorf("manifest of %s: more than %d bytes: %w", pkg, proto.MaxManifestBytes, proto.ErrManifestInvalid)
	}
	return b, nil
}

// Fragment opens fragment f of package pkg. The caller verifies the bytes.
func (c *Client) Fragment(ctx context.Context, pkg string, f proto.Fragment) (io.ReadCloser, error) {
	req, err := c.newRequest(ctx, http.MethodGet, "/fragments/"+pkg+"/"+f.CID, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength >= 0 && resp.ContentLength != f.Size {
		resp.Body.Close()
		return nil, fmt.Errorf("fragment %s: %d bytes announced, want %d", f.CID, resp.ContentLength, f.Size)
	}
	return resp.Body, nil
}

// FragmentRange opens bytes [off, end) of fragment f of package pkg with
// an HTTP Range request. It returns fetch.ErrNoRanges when central answers
// with the whole fragment (a central without ranges). The caller verifies
// the whole fragment.
func (c *Client) FragmentRange(ctx context.Context, pkg string, f proto.Fragment, off, end int64) (io.ReadCloser, error) {
	if off < 0 || end <= off || end > f.Size {
		return nil, fmt.Errorf("fragment %s: bad range [%d, %d) of %d bytes", f.CID, off, end, f.Size)
	}
	req, err := c.newRequest(ctx, http.MethodGet, "/fragments/"+pkg+"/"+f.CID, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, end-1))
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusPartialContent {
		resp.Body.Close()
		return nil, fmt.Errorf("fragment %s: status %d to a Range request: %w", f.CID, resp.StatusCode, fetch.ErrNoRanges)
	}
	if want := fmt.Sprintf("bytes %d-%d/%d", off, end-1, f.Size); resp.Header.Get("Content-Range") != want ||
		(resp.ContentLength >= 0 && resp.ContentLength != end-off) {
		resp.Body.Close()
		return nil, fmt.Errorf("fragment %s: answer %q (%d bytes) to range %s: %w", f.CID, resp.Header.Get("Content-Range"), resp.ContentLength, want, fetch.ErrNoRanges)
	}
	return resp.Body, nil
}

// Progress reports a running deployment. ErrFinished means central
// considers it finished or cancelled: stop working on it.
func (c *Client) Progress(ctx context.Context, pkg string, p proto.Progress) error {
	return c.call(ctx, http.MethodPost, "/deployments/"+pkg+"/progress", p, nil)
}

// Result reports a deployment's outcome.
func (c *Client) Result(ctx context.Context, pkg string, r proto.Result) error {
	return c.call(ctx, http.MethodPost, "/deployments/"+pkg+"/result", r, nil)
}

// Inventory sends an inventory.
func (c *Client) Inventory(ctx context.Context, inv *proto.AgentInventory) error {
	return c.call(ctx, http.MethodPost, "/inventory", inv, nil)
}

// RenewPeerRecord asks for a fresh signed peer record.
func (c *Client) RenewPeerRecord(ctx context.Context) (*proto.SignedPeerRecord, error) {
	var out proto.SignedPeerRecord
	if err := c.call(ctx, http.MethodPost, "/peer-record", struct{}{}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CentralSource serves fragments from central to the fetcher.
type CentralSource struct{ C *Client }

// Kind implements fetch.Source.
func (CentralSource) Kind() string { return fetch.KindCentral }

// Fetch implements fetch.Source.
func (s CentralSource) Fetch(ctx context.Context, pkg string, f proto.Fragment) (io.ReadCloser, error) {
	return s.C.Fragment(ctx, pkg, f)
}

// FetchRange implements fetch.RangeSource.
func (s CentralSource) FetchRange(ctx context.Context, pkg string, f proto.Fragment, off, end int64) (io.ReadCloser, error) {
	return s.C.FragmentRange(ctx, pkg, f, off, end)
}

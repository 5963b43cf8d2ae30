// Package trackerclient is the client side of the tracker protocol
// (tracker/doc.go): Client calls a tracker for one peer, Signer signs its
// requests with the peer's libp2p identity key and central-signed peer
// record, and StatusError maps the tracker's error answers to the
// sentinels the tracker server returns. Agents and relays use it; it sits
// apart from the server so that neither links the tracker's state.
package trackerclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/shoal-project/shoal/proto"
)

// Client timeouts and limits.
const (
	// DefaultTimeout bounds a call whose context has no deadline.
	DefaultTimeout = 15 * time.Second
	maxAnswer      = 8 << 20
)

// Client calls a tracker for one peer. Agents and relays use it; it is
// safe for concurrent use.
type Client struct {
	base   string
	hc     *http.Client
	signer *Signer
}

// NewClient returns a client of the tracker at baseURL (for example
// https://central:8443/tracker/v1). hc carries the TLS trust (central's
// CA); nil uses http.DefaultClient.
func NewClient(baseURL string, hc *http.Client, signer *Signer) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("tracker client: base URL %q: want http(s)://host[:port]/path", baseURL)
	}
	if signer == nil {
		return nil, errors.New("tracker client: nil signer")
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), hc: hc, signer: signer}, nil
}

// BaseURL returns the tracker's base URL.
func (c *Client) BaseURL() string { return c.base }

// Announce replaces the caller's entry with a. The answer says when to
// announce again.
func (c *Client) Announce(ctx context.Context, a proto.TrackerAnnounce) (*proto.TrackerAnnounceResponse, error) {
	var out proto.TrackerAnnounceResponse
	if err := c.do(ctx, http.MethodPost, "/announce", a, &out); err != nil {
		return nil, fmt.Errorf("tracker announce: %w", err)
	}
	return &out, nil
}

// Lookup returns the holders of a package in the caller's site and the
// site's members. ErrUnknownPeer means: announce, then look up again.
func (c *Client) Lookup(ctx context.Context, packageID string) (*proto.TrackerLookup, error) {
	var out proto.TrackerLookup
	if err := c.do(ctx, http.MethodGet, "/lookup?package="+url.QueryEscape(packageID), nil, &out); err != nil {
		return nil, fmt.Errorf("tracker lookup %s: %w", packageID, err)
	}
	return &out, nil
}

// Lease asks for WAN-owner leases. ErrUnknownPeer means: announce, then
// ask again.
func (c *Client) Lease(ctx context.Context, req proto.TrackerLeaseRequest) (*proto.TrackerLeaseResponse, error) {
	var out proto.TrackerLeaseResponse
	if err := c.do(ctx, http.MethodPost, "/lease", req, &out); err != nil {
		return nil, fmt.Errorf("tracker lease %s: %w", req.PackageID, err)
	}
	return &out, nil
}

// Leave drops the caller's entry and leases at once; a peer or relay
// calls it when it stops, so that the site does not wait for the entry to
// expire.
func (c *Client) Leave(ctx context.Context) error {
	var out struct{}
	if err := c.do(ctx, http.MethodPost, "/leave", struct{}{}, &out); err != nil {
		return fmt.Errorf("tracker leave: %w", err)
	}
	return nil
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("encode: %w", err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	auth, err := c.signer.Authorization(method, req.URL.RequestURI(), body, c.signer.Now())
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", auth)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if len(b) > maxAnswer {
		return fmt.Errorf("answer larger than %d bytes", maxAnswer)
	}
	if resp.StatusCode != http.StatusOK {
		var eb struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(b, &eb)
		return &StatusError{Code: resp.StatusCode, Message: eb.Error}
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}

// StatusError is a tracker's error answer. errors.Is matches it against
// the sentinel its status stands for (ErrUnknownPeer for 410, and so on).
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("status %d", e.Code)
	}
	return fmt.Sprintf("status %d: %s", e.Code, e.Message)
}

// Is maps the status to the server's sentinel.
func (e *StatusError) Is(target error) bool {
	switch e.Code {
	case http.StatusUnauthorized:
		return target == ErrUnauthorized
	case http.StatusForbidden:
		// The server refuses revoked peers and peers without a site alike.
		return target == ErrRevoked && !strings.Contains(e.Message, ErrNoSite.Error()) ||
			target == ErrNoSite && strings.Contains(e.Message, ErrNoSite.Error())
	case http.StatusGone:
		return target == ErrUnknownPeer
	case http.StatusConflict:
		return target == ErrReplay
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return target == ErrBadRequest
	case http.StatusServiceUnavailable:
		return target == ErrFull
	}
	return false
}

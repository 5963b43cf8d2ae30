// Package auth owns central's credentials that are not certificates: the
// API tokens of the REST API, the enrollment tokens agents and relays
// enroll with, and the random secrets and hashes behind them. The edges
// call it; it knows nothing about HTTP.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/shoal-project/shoal/central/pki"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/internal/errkind"
	"github.com/shoal-project/shoal/proto"
)

// NewSecret returns prefix followed by 32 random bytes in base64url.
func NewSecret(prefix string) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate secret: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// HashSecret is how central stores a secret or token: SHA-256, hex.
func HashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// APITokenPrefix marks Shoal API tokens so that leaked ones are easy to
// find.
const APITokenPrefix = "shoal_"

// NewAPIToken returns a fresh random API token and the hash central stores.
func NewAPIToken() (token, hash string, err error) {
	if token, err = NewSecret(APITokenPrefix); err != nil {
		return "", "", fmt.Errorf("generate token: %w", err)
	}
	return token, HashSecret(token), nil
}

// relayNameRE is what a relay may be named.
var relayNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// ValidRelayName reports whether name may name a relay: letters, digits,
// '.', '_' and '-', at most 63, starting with a letter or digit.
func ValidRelayName(name string) bool { return relayNameRE.MatchString(name) }

// TokenRequest creates an enrollment token.
type TokenRequest struct {
	Name string `json:"name"`
	// Kind is "agent" (the default: any number of agents, any site) or
	// "relay" (one relay, named RelayName, of Site).
	Kind string `json:"kind,omitempty"`
	// Site and RelayName bind a relay token; agent tokens have neither.
	Site      string `json:"site,omitempty"`
	RelayName string `json:"relay_name,omitempty"`
	// MaxUses bounds enrollments with the token; 0 is no limit for an
	// agent token and one enrollment for a relay token.
	MaxUses int `json:"max_uses"`
	// ExpiresIn is a Go duration such as "168h"; empty is no expiry.
	ExpiresIn string `json:"expires_in"`
}

// TokenInfo describes an enrollment token. Token is set only in the answer
// that creates it.
type TokenInfo struct {
	ID        uint       `json:"id"`
	Name      string     `json:"name"`
	Kind      string     `json:"kind"`
	Site      string     `json:"site,omitempty"`
	RelayName string     `json:"relay_name,omitempty"`
	Token     string     `json:"token,omitempty"`
	MaxUses   int        `json:"max_uses"`
	Uses      int        `json:"uses"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	LastUsed  *time.Time `json:"last_used,omitempty"`
	Revoked   bool       `json:"revoked"`
	// CAFingerprint and EnrollCommand help to enroll an agent or the
	// relay (a relay's command has its own URL to fill in, in <>).
	CAFingerprint string `json:"ca_fingerprint_sha256,omitempty"`
	EnrollCommand string `json:"enroll_command,omitempty"`
	// MsiexecCommand installs and enrolls a Windows agent with the MSI
	// that make dist builds (agent tokens only).
	MsiexecCommand string `json:"msiexec_command,omitempty"`
}

// Info describes t; site is the name of its site, if any.
func Info(t store.EnrollmentToken, site string) TokenInfo {
	return TokenInfo{ID: t.ID, Name: t.Name, Kind: t.KindOrAgent(), Site: site, RelayName: t.RelayName, MaxUses: t.MaxUses, Uses: t.Uses,
		ExpiresAt: t.ExpiresAt, LastUsed: t.LastUsed, Revoked: t.Revoked}
}

// EnrollCommand is the command that enrolls with token tok of info's kind
// against central at serverURL (its HTTPS base URL), pinning central's CA
// by info.CAFingerprint (without serverURL, a placeholder stands for
// it). A relay's command keeps one placeholder, its own
// -url, which only the relay's admin knows.
func EnrollCommand(info TokenInfo, tok, serverURL string) string {
	if serverURL == "" {
		serverURL = "https://<central>:<https-port>"
	}
	if info.Kind == store.TokenKindRelay {
		return "shoal-relay enroll -server " + serverURL + " -token " + tok + " -site " + info.Site + " -name " + info.RelayName +
			" -url http://<relay-host>:<port> -ca-fingerprint " + info.CAFingerprint
	}
	return "shoal-agent enroll -server " + serverURL + " -token " + tok + " -ca-fingerprint " + info.CAFingerprint
}

// MSIFile is the name of the Windows agent's MSI that make dist builds
// (dist/shoal-agent.wxs); MsiexecCommand names it.
const MSIFile = "shoal-agent-amd64.msi"

// MsiexecCommand is the silent msiexec line that installs the Windows
// agent's MSI, enrolls it with token tok against central at serverURL
// (pinning central's CA by info.CAFingerprint) and starts its service. Its
// properties are the MSI's SERVER, CA_FINGERPRINT and TOKEN. A relay token
// has none: relays do not run on Windows.
func MsiexecCommand(info TokenInfo, tok, serverURL string) string {
	if info.Kind == store.TokenKindRelay {
		return ""
	}
	if serverURL == "" {
		serverURL = "https://<central>:<https-port>"
	}
	return "msiexec /i " + MSIFile + " /qn SERVER=" + serverURL + " CA_FINGERPRINT=" + info.CAFingerprint + " TOKEN=" + tok
}

// ErrBadTokenRequest reports an enrollment token request MintToken
// refuses; its message says why.
var ErrBadTokenRequest = errkind.New(errkind.Invalid, "enrollment token: bad request")

// MintToken creates the enrollment token req asks for: an agent token, or
// a relay token bound to an existing site and a relay name (single use
// unless req says otherwise). It returns the token's description with the
// token itself and its enroll command (shown once), and the detail of its
// audit event: kind, site, relay name, uses and expiry. serverURL is
// central's HTTPS base URL, for the enroll command.
func MintToken(ctx context.Context, st *store.Store, pk *pki.PKI, req TokenRequest, serverURL string, now time.Time) (TokenInfo, string, error) {
	if strings.TrimSpace(req.Name) == "" || req.MaxUses < 0 {
		return TokenInfo{}, "", fmt.Errorf("name is required and max_uses must not be negative: %w", ErrBadTokenRequest)
	}
	t := &store.EnrollmentToken{Name: req.Name, Kind: req.Kind, MaxUses: req.MaxUses}
	switch req.Kind {
	case "", store.TokenKindAgent:
		if req.Site != "" || req.RelayName != "" {
			return TokenInfo{}, "", fmt.Errorf("an agent token takes no site or relay_name (agents get their site from their address); use kind relay: %w", ErrBadTokenRequest)
		}
	case store.TokenKindRelay:
		if !ValidRelayName(req.RelayName) {
			return TokenInfo{}, "", fmt.Errorf("a relay token needs relay_name: letters, digits, '.', '_' and '-' (at most 63), got %q: %w", req.RelayName, ErrBadTokenRequest)
		}
		site, err := st.SiteByName(ctx, req.Site)
		if errors.Is(err, store.ErrNotFound) {
			return TokenInfo{}, "", fmt.Errorf("a relay token needs an existing site; site %q does not exist: %w", req.Site, ErrBadTokenRequest)
		}
		if err != nil {
			return TokenInfo{}, "", err
		}
		t.SiteID, t.RelayName = &site.ID, req.RelayName
	default:
		return TokenInfo{}, "", fmt.Errorf("kind must be %q or %q, got %q: %w", store.TokenKindAgent, store.TokenKindRelay, req.Kind, ErrBadTokenRequest)
	}
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 {
			return TokenInfo{}, "", fmt.Errorf("expires_in must be a positive duration like 168h: %w", ErrBadTokenRequest)
		}
		at := now.Add(d)
		t.ExpiresAt = &at
	}
	tok, err := NewSecret(proto.EnrollTokenPrefix)
	if err != nil {
		return TokenInfo{}, "", err
	}
	t.Hash = HashSecret(tok)
	if err := st.CreateEnrollmentToken(ctx, t); err != nil {
		return TokenInfo{}, "", err
	}
	info := Info(*t, req.Site)
	expires := "never"
	if t.ExpiresAt != nil {
		expires = t.ExpiresAt.UTC().Format(time.RFC3339)
	}
	detail := fmt.Sprintf("id=%d kind=%s site=%s relay=%s max_uses=%d expires=%s", t.ID, info.Kind, info.Site, info.RelayName, t.MaxUses, expires)
	info.Token = tok
	info.CAFingerprint = pk.CAFingerprint()
	info.EnrollCommand = EnrollCommand(info, tok, serverURL)
	info.MsiexecCommand = MsiexecCommand(info, tok, serverURL)
	return info, detail, nil
}

package agentapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto"
)

// randomSecret returns prefix followed by 32 random bytes in base64url.
func randomSecret(prefix string) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate secret: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// validDeviceID accepts what OCS agents send: printable ASCII without
// spaces or slashes, at most 128 bytes, and never a relay's prefix (peer
// records of relays are told apart by it).
func validDeviceID(s string) bool {
	if s == "" || len(s) > 128 || strings.HasPrefix(s, proto.RelayDeviceIDPrefix) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' || c == '/' || c == '\\' {
			return false
		}
	}
	return true
}

// checkIdentity verifies that the request's public key gives its peer ID
// and signed the enrollment proof.
func checkIdentity(req *proto.EnrollRequest) error {
	return verifyIdentity(req.PublicKey, req.PeerID, proto.EnrollProof(req.Token, req.DeviceID, req.PeerID), req.Proof)
}

// verifyIdentity checks that a libp2p public key (protobuf encoding) gives
// peerID and signed msg with proof: the caller holds the key of the peer
// ID it enrolls.
func verifyIdentity(publicKey []byte, peerID string, msg, proof []byte) error {
	pub, err := crypto.UnmarshalPublicKey(publicKey)
	if err != nil {
		return fmt.Errorf("public key: %w: %w", errBadRequest, err)
	}
	want, err := peer.Decode(peerID)
	if err != nil {
		return fmt.Errorf("peer id %q: %w: %w", peerID, errBadRequest, err)
	}
	if !want.MatchesPublicKey(pub) {
		return fmt.Errorf("peer id %s does not match the public key: %w", peerID, errBadRequest)
	}
	ok, err := pub.Verify(msg, proof)
	if err != nil || !ok {
		return fmt.Errorf("enrollment proof does not verify with the peer's key: %w", errBadRequest)
	}
	return nil
}

// siteOf picks the site of the connection's address, else of the address
// the inventory reports.
func (a *API) siteOf(ctx context.Context, remote, reported string) *store.Site {
	for _, s := range []string{remote, reported} {
		ip, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			continue
		}
		site, err := a.store.SiteForIP(ctx, ip.Unmap())
		if err == nil {
			return site
		}
		if !errors.Is(err, store.ErrNotFound) {
			a.log.Warn("site lookup", "addr", s, "err", err)
		}
	}
	return nil
}

func (a *API) siteName(ctx context.Context, siteID *uint) string {
	if siteID == nil {
		return ""
	}
	s, err := a.store.Site(ctx, *siteID)
	if err != nil {
		return ""
	}
	return s.Name
}

// signPeerRecord signs and stores a fresh peer record for a computer.
func (a *API) signPeerRecord(ctx context.Context, computerID uint, peerID, deviceID, site string) (proto.SignedPeerRecord, error) {
	rec := proto.PeerRecord{PeerID: peerID, DeviceID: deviceID, Site: site, Expires: a.now().Add(a.cfg.PeerRecordTTL)}
	signed, err := proto.SignPeerRecord(rec, a.pki.SigningKey)
	if err != nil {
		return signed, err
	}
	raw, err := json.Marshal(signed)
	if err != nil {
		return signed, fmt.Errorf("encode peer record: %w", err)
	}
	err = a.store.SavePeerRecord(ctx, &store.AgentPeerRecord{ComputerID: computerID, PeerID: peerID, Site: site,
		Expires: rec.Expires, Signed: raw})
	return signed, err
}

func (a *API) enroll(c echo.Context) error {
	var req proto.EnrollRequest
	if err := a.bindJSON(c, &req); err != nil {
		return err
	}
	if err := sameEnrollToken(c, req.Token); err != nil {
		return err
	}
	switch {
	case !strings.HasPrefix(req.Token, proto.EnrollTokenPrefix):
		return fmt.Errorf("enroll: %w", store.ErrEnrollRefused)
	case !validDeviceID(req.DeviceID):
		return fmt.Errorf("enroll: device id %q: %w", req.DeviceID, errBadRequest)
	case req.Inventory == nil:
		return fmt.Errorf("enroll: an inventory is required: %w", errBadRequest)
	}
	if err := checkIdentity(&req); err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	ctx := c.Request().Context()
	now := a.now()
	if comp, err := a.store.ComputerByDeviceID(ctx, req.DeviceID); err == nil {
		// Enrolling again keeps central's history (see inventory).
		known, err := a.store.History(ctx, comp.ID)
		if err != nil {
			return err
		}
		req.Inventory.History = append(req.Inventory.History, known...)
	}
	snap, err := a.boundedSnapshot(req.Inventory, req.DeviceID, req.AgentVersion, now)
	if err != nil {
		return err
	}
	site := a.siteOf(ctx, c.RealIP(), req.Inventory.IPAddr)
	if site != nil {
		snap.Computer.SiteID = &site.ID
	}
	secret, err := randomSecret(proto.AgentSecretPrefix)
	if err != nil {
		return err
	}
	ident := &store.AgentIdentity{PeerID: req.PeerID, PublicKey: req.PublicKey, SecretHash: hashSecret(secret), Version: req.AgentVersion}
	res, err := a.store.EnrollAgent(ctx, hashSecret(req.Token), snap, ident, now)
	if err != nil {
		a.log.Warn("enrollment refused", "device", req.DeviceID, "peer", req.PeerID, "remote", c.RealIP(), "err", err)
		return fmt.Errorf("enroll: %w", err)
	}
	comp, err := a.store.Computer(ctx, res.ComputerID)
	if err != nil {
		return err
	}
	siteName := a.siteName(ctx, comp.SiteID)
	rec, err := a.signPeerRecord(ctx, comp.ID, req.PeerID, comp.DeviceID, siteName)
	if err != nil {
		return err
	}
	a.log.Info("agent enrolled", "computer", comp.ID, "device", comp.DeviceID, "peer", req.PeerID, "site", siteName,
		"created", res.Created, "remote", c.RealIP())
	pub := a.pki.SigningPublicKey()
	return c.JSON(http.StatusOK, proto.EnrollResponse{
		ComputerID: comp.ID, DeviceID: comp.DeviceID, Site: siteName, Secret: secret,
		ManifestPublicKey: pub, ManifestKeyID: proto.KeyID(pub), PeerRecord: rec,
	})
}

func (a *API) peerRecord(c echo.Context) error {
	cl := callerOf(c)
	ctx := c.Request().Context()
	rec, err := a.signPeerRecord(ctx, cl.computer.ID, cl.identity.PeerID, cl.computer.DeviceID, a.siteName(ctx, cl.computer.SiteID))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, rec)
}

// tokenRequest creates an enrollment token.
type tokenRequest struct {
	Name string `json:"name"`
	// MaxUses bounds enrollments with the token; 0 is no limit.
	MaxUses int `json:"max_uses"`
	// ExpiresIn is a Go duration such as "168h"; empty is no expiry.
	ExpiresIn string `json:"expires_in"`
}

// TokenInfo describes an enrollment token. Token is set only in the answer
// that creates it.
type TokenInfo struct {
	ID        uint       `json:"id"`
	Name      string     `json:"name"`
	Token     string     `json:"token,omitempty"`
	MaxUses   int        `json:"max_uses"`
	Uses      int        `json:"uses"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	LastUsed  *time.Time `json:"last_used,omitempty"`
	Revoked   bool       `json:"revoked"`
	// CAFingerprint and EnrollCommand help to enroll an agent.
	CAFingerprint string `json:"ca_fingerprint_sha256,omitempty"`
	EnrollCommand string `json:"enroll_command,omitempty"`
}

func tokenInfo(t store.EnrollmentToken) TokenInfo {
	return TokenInfo{ID: t.ID, Name: t.Name, MaxUses: t.MaxUses, Uses: t.Uses, ExpiresAt: t.ExpiresAt, LastUsed: t.LastUsed, Revoked: t.Revoked}
}

func (a *API) createToken(c echo.Context) error {
	var req tokenRequest
	if err := a.bindJSON(c, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.Name) == "" || req.MaxUses < 0 {
		return fmt.Errorf("name is required and max_uses must not be negative: %w", errBadRequest)
	}
	tok, err := randomSecret(proto.EnrollTokenPrefix)
	if err != nil {
		return err
	}
	t := &store.EnrollmentToken{Name: req.Name, Hash: hashSecret(tok), MaxUses: req.MaxUses}
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 {
			return fmt.Errorf("expires_in must be a positive duration like 168h: %w", errBadRequest)
		}
		at := a.now().Add(d)
		t.ExpiresAt = &at
	}
	if err := a.store.CreateEnrollmentToken(c.Request().Context(), t); err != nil {
		return err
	}
	a.log.Info("audit", "action", "enrollment-token.create", "target", t.Name, "max_uses", t.MaxUses, "remote", c.RealIP())
	info := tokenInfo(*t)
	info.Token = tok
	info.CAFingerprint = a.pki.CAFingerprint()
	info.EnrollCommand = "shoal-agent enroll --server https://<central>:<https-port> --token " + tok + " --ca-fingerprint " + info.CAFingerprint
	return c.JSON(http.StatusCreated, info)
}

func (a *API) listTokens(c echo.Context) error {
	ts, err := a.store.ListEnrollmentTokens(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]TokenInfo, 0, len(ts))
	for _, t := range ts {
		out = append(out, tokenInfo(t))
	}
	return c.JSON(http.StatusOK, map[string]any{"items": out})
}

func uintParam(c echo.Context, name string) (uint, error) {
	v, err := strconv.ParseUint(c.Param(name), 10, 32)
	if err != nil || v == 0 {
		return 0, fmt.Errorf("%s must be a positive integer, got %q: %w", name, c.Param(name), errBadRequest)
	}
	return uint(v), nil
}

func (a *API) revokeToken(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	if err := a.store.RevokeEnrollmentToken(c.Request().Context(), id); err != nil {
		return err
	}
	a.log.Info("audit", "action", "enrollment-token.revoke", "target", id, "remote", c.RealIP())
	return c.NoContent(http.StatusNoContent)
}

// AgentInfo describes an enrolled agent for admins.
type AgentInfo struct {
	ComputerID uint      `json:"computer_id"`
	DeviceID   string    `json:"device_id"`
	PeerID     string    `json:"peer_id"`
	Version    string    `json:"version"`
	EnrolledAt time.Time `json:"enrolled_at"`
	LastSeen   time.Time `json:"last_seen"`
}

func (a *API) listAgents(c echo.Context) error {
	ids, err := a.store.ListAgents(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]AgentInfo, 0, len(ids))
	for _, id := range ids {
		out = append(out, AgentInfo{ComputerID: id.ComputerID, DeviceID: id.DeviceID, PeerID: id.PeerID, Version: id.Version,
			EnrolledAt: id.EnrolledAt, LastSeen: id.LastSeen})
	}
	return c.JSON(http.StatusOK, map[string]any{"items": out})
}

func (a *API) revokeComputer(revoked bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := uintParam(c, "computer")
		if err != nil {
			return err
		}
		if err := a.store.SetComputerRevoked(c.Request().Context(), id, revoked); err != nil {
			return err
		}
		a.log.Info("audit", "action", "computer.revoke", "target", id, "revoked", revoked, "remote", c.RealIP())
		return c.NoContent(http.StatusNoContent)
	}
}

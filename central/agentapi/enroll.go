package agentapi

import (
	"context"
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

	"github.com/shoal-project/shoal/central/audit"
	"github.com/shoal-project/shoal/central/auth"
	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto"
)

// randomSecret returns prefix followed by 32 random bytes in base64url.
func randomSecret(prefix string) (string, error) { return auth.NewSecret(prefix) }

// validDeviceID accepts what OCS agents send: printable ASCII without
// spaces or slashes, at most 128 bytes, and never a reserved prefix
// (proto.ReservedDeviceID: a relay's label).
func validDeviceID(s string) bool {
	if s == "" || len(s) > 128 || proto.ReservedDeviceID(s) {
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

// siteOf picks the site of the connection's address. The address an agent
// reports in its inventory is never used: it is the agent's word, and the
// site decides which gossip key and peer record it gets. When no site
// matches, the computer keeps the site it has (from an earlier connection
// or an admin's decision), or none.
func (a *API) siteOf(ctx context.Context, remote string) *store.Site {
	ip, err := netip.ParseAddr(strings.TrimSpace(remote))
	if err != nil {
		return nil
	}
	site, err := a.store.SiteForIP(ctx, ip.Unmap())
	if err == nil {
		return site
	}
	if !errors.Is(err, store.ErrNotFound) {
		a.log.Warn("site lookup", "addr", remote, "err", err)
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

// signPeerRecord signs and stores a fresh peer record for a computer with
// a Shoal agent identity. Its role is always proto.RoleAgent: only a relay
// enrollment (relayRecord) yields a relay's record, whatever the device ID.
func (a *API) signPeerRecord(ctx context.Context, computerID uint, peerID, deviceID, site string) (proto.SignedPeerRecord, error) {
	now := a.now()
	rec := proto.PeerRecord{PeerID: peerID, DeviceID: deviceID, Site: site, Role: proto.RoleAgent, Issued: now,
		Expires: now.Add(a.cfg.PeerRecordTTL)}
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
	if err := a.checkAgentToken(c, req.Token, req.DeviceID); err != nil {
		return err
	}
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
	site := a.siteOf(ctx, c.RealIP())
	if site != nil {
		snap.Computer.SiteID = &site.ID
	}
	secret, err := randomSecret(proto.AgentSecretPrefix)
	if err != nil {
		return err
	}
	ident := &store.AgentIdentity{PeerID: req.PeerID, PublicKey: req.PublicKey, SecretHash: hashSecret(secret), Version: req.AgentVersion}
	res, err := inventory.EnrollAgent(ctx, a.store, hashSecret(req.Token), snap, ident, now)
	if err != nil {
		a.log.Warn("enrollment refused", "device", req.DeviceID, "peer", req.PeerID, "remote", c.RealIP(), "err", err)
		if errors.Is(err, store.ErrAlreadyEnrolled) {
			// A takeover attempt with a valid token: worth an admin's look.
			a.auditEnrollment(ctx, "enrollment token", "agent.enroll.refused", req.DeviceID,
				fmt.Sprintf("peer=%s: computer enrolled with another identity key", req.PeerID), c.RealIP())
		}
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
	actor := fmt.Sprintf("enrollment token %d", ident.TokenID)
	if tok, err := a.store.EnrollmentTokenByID(ctx, ident.TokenID); err == nil {
		actor += " " + strconv.Quote(tok.Name)
	}
	a.auditEnrollment(ctx, actor, "agent.enroll", comp.DeviceID, fmt.Sprintf("computer=%d peer=%s site=%s created=%t version=%s",
		comp.ID, req.PeerID, siteName, res.Created, req.AgentVersion), c.RealIP())
	pub := a.pki.SigningPublicKey()
	return c.JSON(http.StatusOK, proto.EnrollResponse{
		ComputerID: comp.ID, DeviceID: comp.DeviceID, Site: siteName, Secret: secret,
		ManifestPublicKey: pub, ManifestKeyID: proto.KeyID(pub), PeerRecord: rec,
	})
}

// auditEnrollment records an enrollment event in the audit log; a failure
// is logged, not returned: the action it describes has happened.
func (a *API) auditEnrollment(ctx context.Context, actor, action, target, detail, remote string) {
	if err := a.store.RecordAudit(ctx, &store.AuditEvent{Actor: actor, Action: action, Target: target, Detail: detail,
		Remote: remote}); err != nil {
		a.log.Warn("audit event not recorded", "action", action, "target", target, "err", err)
	}
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

// checkAgentToken refuses a relay token presented to enroll an agent
// (logged and audited, nothing changed). Unknown or unusable tokens are
// left to inventory.EnrollAgent.
func (a *API) checkAgentToken(c echo.Context, token, deviceID string) error {
	tok, err := a.store.EnrollmentTokenByHash(c.Request().Context(), hashSecret(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if tok.KindOrAgent() == store.TokenKindAgent {
		return nil
	}
	err = fmt.Errorf("enroll: %s enrolls relay %q only; agents enroll with an agent token: %w", tokenLabel(tok), tok.RelayName, store.ErrTokenKind)
	a.log.Warn("enrollment refused", "device", deviceID, "remote", c.RealIP(), "token", tokenLabel(tok), "err", err)
	a.auditRefusal(c, tok, &store.AuditEvent{Actor: tokenLabel(tok), Action: "agent.enroll.refused", Target: deviceID, Detail: "reason=" + err.Error()})
	return err
}

func (a *API) createToken(c echo.Context) error {
	var req auth.TokenRequest
	if err := a.bindJSON(c, &req); err != nil {
		return err
	}
	info, detail, err := auth.MintToken(c.Request().Context(), a.store, a.pki, req, a.serverURLOr(c), a.now())
	if err != nil {
		return err
	}
	c.Set(audit.TargetKey, info.Name)
	c.Set(audit.DetailKey, detail)
	a.log.Info("enrollment token created", "target", info.Name, "detail", detail, "remote", c.RealIP())
	return c.JSON(http.StatusCreated, info)
}

func (a *API) listTokens(c echo.Context) error {
	ctx := c.Request().Context()
	ts, err := a.store.ListEnrollmentTokens(ctx)
	if err != nil {
		return err
	}
	sites, err := a.store.ListSites(ctx)
	if err != nil {
		return err
	}
	names := make(map[uint]string, len(sites))
	for _, s := range sites {
		names[s.ID] = s.Name
	}
	out := make([]auth.TokenInfo, 0, len(ts))
	for _, t := range ts {
		site := ""
		if t.SiteID != nil {
			site = names[*t.SiteID]
		}
		out = append(out, auth.Info(t, site))
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
		if a.revocations != nil {
			a.revocations.RevocationsChanged(c.Request().Context())
		}
		a.log.Info("audit", "action", "computer.revoke", "target", id, "revoked", revoked, "remote", c.RealIP())
		return c.NoContent(http.StatusNoContent)
	}
}

// TokenRequest and TokenInfo are the body and answer of the enrollment
// token routes (see auth.MintToken).
type (
	TokenRequest = auth.TokenRequest
	TokenInfo    = auth.TokenInfo
)

// serverURLOr returns the URL SetServerURL set, or the one the caller
// used to reach central.
func (a *API) serverURLOr(c echo.Context) string {
	if u, _ := a.serverURL.Load().(string); u != "" {
		return u
	}
	return "https://" + c.Request().Host
}

package agentapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/auth"
	"github.com/shoal-project/shoal/central/pki"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto"
)

// relayKey is where authenticateRelay stores the calling relay.
const relayKey = "shoal.relay"

// relayTouchEvery is how often a held relay poll records the relay's
// contact; well below store.RelayStale.
const relayTouchEvery = 30 * time.Second

// relayCertDays is the lifetime of a relay's TLS certificate.
const relayCertDays = 825

// RegisterPublic adds the unauthenticated routes central serves on both
// listeners: Shoal fragments by CID, for relays and agents (the bytes are
// verified against the signed manifest by whoever receives them, like OCS
// fragments), of published packages only (see publicFragment).
func (a *API) RegisterPublic(e *echo.Echo) {
	e.GET(proto.FragmentPathPrefix+":id/:cid", a.publicFragment, a.mapErrors)
	e.HEAD(proto.FragmentPathPrefix+":id/:cid", a.publicFragment, a.mapErrors)
	e.GET(proto.RevokedPeersPath, a.revokedPeers, a.mapErrors)
}

// registerRelays adds the relay routes to the agent API group.
func (a *API) registerRelays(g *echo.Group) {
	g.POST("/relays/enroll", a.enrollRelay, a.enrollGate(a.cfg.MaxRelayEnrollBodyBytes))
	r := g.Group("/relay", a.authenticateRelay)
	r.GET("/jobs", a.relayJobs)
	r.POST("/report", a.relayReport, a.limitBody(a.cfg.MaxSmallBodyBytes))
}

// checkRelayIdentity verifies that the public key gives the peer ID and
// signed the relay's enrollment proof.
func checkRelayIdentity(req *proto.RelayEnrollRequest) error {
	return verifyIdentity(req.PublicKey, req.PeerID, proto.RelayEnrollProof(req.Token, req.Name, req.PeerID), req.Proof)
}

// relayHosts returns the names the relay's certificate covers: the hosts
// of its own URLs, nothing else. req.Hostnames may only repeat them (older
// relays send them); any other name is refused, so that a relay token can
// never yield a certificate for central's names, a wildcard or an
// unrelated domain (pki.IssueRelay refuses central's names and wildcards
// in the URLs themselves).
func relayHosts(req *proto.RelayEnrollRequest) ([]string, error) {
	var hosts []string
	// http_url becomes OCS agents' PACK_LOC, which is plain HTTP; the
	// HTTPS URL is the TLS listener the issued certificate is for.
	for _, u := range []struct{ raw, scheme string }{{req.HTTPURL, "http"}, {req.HTTPSURL, "https"}} {
		if u.raw == "" {
			continue
		}
		p, err := url.Parse(u.raw)
		if err != nil || p.Hostname() == "" || p.Scheme != u.scheme || p.Path != "" && p.Path != "/" || p.RawQuery != "" || p.User != nil {
			return nil, fmt.Errorf("relay URL %q: want %s://host:port: %w", u.raw, u.scheme, errBadRequest)
		}
		if h := strings.ToLower(p.Hostname()); !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	if len(req.Hostnames) > 2 {
		return nil, fmt.Errorf("relay asks for %d host names; its certificate carries only the hosts of http_url and https_url: %w", len(req.Hostnames), errBadRequest)
	}
	for _, h := range req.Hostnames {
		if !slices.Contains(hosts, strings.ToLower(h)) {
			return nil, fmt.Errorf("host name %q is not the host of http_url or https_url; a relay certificate carries only those: %w", h, errBadRequest)
		}
	}
	return hosts, nil
}

// refuseRelay logs a refused relay enrollment and, when the token is known
// (tok not nil: whoever sent it holds a real token), records it in the
// audit log naming the token. It returns err.
func (a *API) refuseRelay(c echo.Context, req *proto.RelayEnrollRequest, tok *store.EnrollmentToken, err error) error {
	a.log.Warn("relay enrollment refused", "relay", req.Name, "site", req.Site, "peer", req.PeerID, "remote", c.RealIP(),
		"token", tokenLabel(tok), "err", err)
	if tok != nil {
		a.auditRefusal(c, tok, &store.AuditEvent{Actor: tokenLabel(tok), Action: "relay.enroll.refused", Target: req.Name,
			Detail: fmt.Sprintf("site=%s url=%s peer=%s reason=%s", req.Site, req.HTTPURL, req.PeerID, err.Error())})
	}
	return err
}

// refusalAuditsPerMinute bounds the audit events of refused enrollments
// per token; past it refusals are only logged.
const refusalAuditsPerMinute = 10

// auditRefusal records a refused enrollment with a known token, at most
// refusalAuditsPerMinute a minute per token.
func (a *API) auditRefusal(c echo.Context, tok *store.EnrollmentToken, e *store.AuditEvent) {
	if !a.refusals.Allow(fmt.Sprint(tok.ID), a.now()) {
		a.log.Warn("audit of a refused enrollment skipped: too many with this token", "token", tokenLabel(tok), "action", e.Action, "target", e.Target)
		return
	}
	a.recordAudit(c, e)
}

// tokenLabel names an enrollment token for logs and the audit log.
func tokenLabel(tok *store.EnrollmentToken) string {
	if tok == nil {
		return "unknown enrollment token"
	}
	return fmt.Sprintf("%s enrollment token %q (#%d)", tok.KindOrAgent(), tok.Name, tok.ID)
}

// auditTimeout bounds the write of one audit event.
const auditTimeout = 5 * time.Second

// recordAudit writes e (from the request's client) to the audit log; a
// failure is logged, not returned: what it records has already happened.
func (a *API) recordAudit(c echo.Context, e *store.AuditEvent) {
	e.Remote = c.RealIP()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), auditTimeout)
	defer cancel()
	if err := a.store.RecordAudit(ctx, e); err != nil {
		a.log.Warn("audit event not recorded", "action", e.Action, "target", e.Target, "err", err)
	}
}

// enrollRelay enrolls a relay with a relay token bound to its site and
// name (see store.EnrollRelay). Every refusal is logged, audited when the
// token is known, and changes nothing.
func (a *API) enrollRelay(c echo.Context) error {
	var req proto.RelayEnrollRequest
	if err := a.bindJSON(c, &req); err != nil {
		return err
	}
	if err := sameEnrollToken(c, req.Token); err != nil {
		return err
	}
	switch {
	case !strings.HasPrefix(req.Token, proto.EnrollTokenPrefix):
		return fmt.Errorf("enroll relay: %w", store.ErrEnrollRefused)
	case !auth.ValidRelayName(req.Name):
		return fmt.Errorf("enroll relay: name %q: letters, digits, '.', '_' and '-' (at most 63): %w", req.Name, errBadRequest)
	case req.HTTPURL == "":
		return fmt.Errorf("enroll relay: http_url is required: %w", errBadRequest)
	}
	ctx := c.Request().Context()
	tok, err := a.store.EnrollmentTokenByHash(ctx, hashSecret(req.Token))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return a.refuseRelay(c, &req, nil, fmt.Errorf("enroll relay: %w", store.ErrEnrollRefused))
	case err != nil:
		return err
	}
	if err := checkRelayIdentity(&req); err != nil {
		return a.refuseRelay(c, &req, tok, fmt.Errorf("enroll relay: %w", err))
	}
	// The store checks the token again inside its transaction; checking
	// here first refuses before a certificate is made, with a clear reason.
	if tok.KindOrAgent() != store.TokenKindRelay {
		return a.refuseRelay(c, &req, tok, fmt.Errorf("enroll relay: %s is not a relay token; an admin mints one for this relay (POST /api/v1/agents/enrollment-tokens with kind relay, site and relay_name): %w",
			tokenLabel(tok), store.ErrTokenKind))
	}
	if !tok.Usable(a.now()) {
		return a.refuseRelay(c, &req, tok, fmt.Errorf("enroll relay: %s is revoked, expired or used up: %w", tokenLabel(tok), store.ErrEnrollRefused))
	}
	hosts, err := relayHosts(&req)
	if err != nil {
		return a.refuseRelay(c, &req, tok, fmt.Errorf("enroll relay: %w", err))
	}
	site, err := a.store.SiteByName(ctx, req.Site)
	if errors.Is(err, store.ErrNotFound) {
		return a.refuseRelay(c, &req, tok, fmt.Errorf("enroll relay: site %q does not exist; create it first (Sites page or POST /api/v1/sites): %w", req.Site, errBadRequest))
	}
	if err != nil {
		return err
	}
	if tok.SiteID == nil || *tok.SiteID != site.ID || tok.RelayName != req.Name {
		return a.refuseRelay(c, &req, tok, fmt.Errorf("enroll relay: %s enrolls relay %q of another site, not relay %q of site %s: %w",
			tokenLabel(tok), tok.RelayName, req.Name, site.Name, store.ErrTokenTarget))
	}
	now := a.now()
	_, certPEM, keyPEM, err := a.pki.IssueRelay(hosts, relayCertDays, now)
	if errors.Is(err, pki.ErrNameRefused) {
		return a.refuseRelay(c, &req, tok, fmt.Errorf("enroll relay: %w: %w", errBadRequest, err))
	}
	if err != nil {
		return err
	}
	secret, err := randomSecret(proto.RelaySecretPrefix)
	if err != nil {
		return err
	}
	rec, err := a.relayRecord(req.PeerID, req.Name, site.Name)
	if err != nil {
		return err
	}
	r := &store.Relay{Name: req.Name, SiteID: site.ID, PeerID: req.PeerID, PublicKey: req.PublicKey, SecretHash: hashSecret(secret),
		HTTPURL: strings.TrimRight(req.HTTPURL, "/"), HTTPSURL: strings.TrimRight(req.HTTPSURL, "/"), Version: req.Version,
		RecordExpires: now.Add(a.cfg.PeerRecordTTL)}
	if err := a.store.EnrollRelay(ctx, hashSecret(req.Token), r, now); err != nil {
		if errors.Is(err, store.ErrRelayExists) {
			err = fmt.Errorf("%w (an admin removes it on the Relays page, with DELETE /api/v1/relays/ID or shoalctl relays delete ID)", err)
		}
		return a.refuseRelay(c, &req, tok, err)
	}
	a.log.Info("relay enrolled", "relay", req.Name, "site", site.Name, "url", r.HTTPURL, "peer", req.PeerID, "token", tokenLabel(tok), "remote", c.RealIP())
	// The enrollment is an admin-visible change of where a site's agents
	// fetch from: it goes to the audit log, naming the token used.
	a.recordAudit(c, &store.AuditEvent{Actor: tokenLabel(tok), Action: "relay.enroll", Target: req.Name,
		Detail: fmt.Sprintf("token_id=%d token=%q site=%s url=%s https_url=%s hosts=%s peer=%s version=%s",
			tok.ID, tok.Name, site.Name, r.HTTPURL, r.HTTPSURL, strings.Join(hosts, ","), req.PeerID, req.Version)})
	pub := a.pki.SigningPublicKey()
	return c.JSON(http.StatusOK, proto.RelayEnrollResponse{
		RelayID: r.ID, Site: site.Name, Secret: secret, ManifestPublicKey: pub, ManifestKeyID: proto.KeyID(pub),
		CACertPEM: a.pki.CAPEM, CertPEM: certPEM, KeyPEM: keyPEM,
		Upstream: loadString(&a.upstreamURL), PeerRecord: rec,
	})
}

// relayRecord signs a relay's peer record: the only place central signs
// proto.RoleRelay, the role the tracker reads to grant WAN ownership. The
// device ID "relay:<name>" is only a readable label.
func (a *API) relayRecord(peerID, name, site string) (proto.SignedPeerRecord, error) {
	now := a.now()
	return proto.SignPeerRecord(proto.PeerRecord{PeerID: peerID, DeviceID: proto.RelayDeviceIDPrefix + name, Site: site,
		Role: proto.RoleRelay, Issued: now, Expires: now.Add(a.cfg.PeerRecordTTL)}, a.pki.SigningKey)
}

// authenticateRelay accepts the secret of an enrolled relay.
func (a *API) authenticateRelay(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		secret, ok := strings.CutPrefix(c.Request().Header.Get("Authorization"), "Bearer ")
		secret = strings.TrimSpace(secret)
		if !ok || !strings.HasPrefix(secret, proto.RelaySecretPrefix) {
			return errUnauthorized
		}
		r, err := a.store.RelayBySecretHash(c.Request().Context(), hashSecret(secret))
		if errors.Is(err, store.ErrNotFound) {
			return errUnauthorized
		}
		if err != nil {
			return err
		}
		c.Set(relayKey, r)
		return next(c)
	}
}

// relayJobList builds a relay's job list.
func (a *API) relayJobList(ctx context.Context, r *store.Relay) (proto.RelayJobs, error) {
	var out proto.RelayJobs
	pkgs, err := a.store.RelayPackages(ctx, r.SiteID)
	if err != nil {
		return out, err
	}
	out.Packages = make([]proto.RelayPackage, 0, len(pkgs))
	for _, p := range pkgs {
		out.Packages = append(out.Packages, proto.RelayPackage{PackageID: p.ID, Name: p.Name, Size: p.Size, Active: true})
	}
	if out.Purge, err = a.store.Purges(ctx, purgesSince(r, a.now())); err != nil {
		return out, err
	}
	out.Tag = proto.RelayJobsTag(out.Packages, out.Purge)
	return out, nil
}

// purgeWindow is how long a purge is sent to relays that poll regularly.
const purgeWindow = 24 * time.Hour

// purgesSince is the oldest purge request a relay's job list carries: the
// last day's, and all since the relay was last seen (an hour of margin)
// when it was away longer, so that a relay offline for days still drops
// what was purged meanwhile. r is the relay as read before this poll
// touched it.
func purgesSince(r *store.Relay, now time.Time) time.Time {
	since := now.Add(-purgeWindow)
	if r.LastSeen != nil {
		if seen := r.LastSeen.Add(-time.Hour); seen.Before(since) {
			since = seen
		}
	}
	return since
}

// relayJobs answers a relay's job list as soon as it differs from the one
// the tag names, or when wait has passed, like the agents' jobs.
func (a *API) relayJobs(c echo.Context) error {
	r := c.Get(relayKey).(*store.Relay)
	ctx := c.Request().Context()
	var wait time.Duration
	if v := c.QueryParam("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return fmt.Errorf("wait must be a duration like 25s: %w", errBadRequest)
		}
		wait = min(d, a.cfg.MaxWait)
	}
	tag := c.QueryParam("tag")
	// A relay whose record no longer verifies (one signed in an older
	// format, or by a key since replaced) asks for a new one at once.
	renew := c.QueryParam("renew") == "1"
	deadline := a.now().Add(wait)
	var touched time.Time
	// Watch before the first read, so that no change falls between a read
	// and the wait (central/notify: every job list change and purge, on
	// every replica); the poll is then only a safety net.
	var changed <-chan struct{}
	if a.waker != nil {
		ch, stop := a.waker.WatchRelays()
		defer stop()
		changed = ch
	}
	for {
		// The relay is seen while it holds the poll; one write every
		// relayTouchEvery keeps it live without a write per re-read.
		if now := a.now(); now.Sub(touched) >= relayTouchEvery {
			if err := a.store.TouchRelay(ctx, r.ID, "", time.Time{}, now); err != nil {
				return err
			}
			touched = now
		}
		jobs, err := a.relayJobList(ctx, r)
		if err != nil {
			return err
		}
		site := r.SiteID
		if jobs.Wake, err = a.claimWakes(ctx, &site, 0, "relay "+r.Name); err != nil {
			return err
		}
		if len(jobs.Wake) > 0 || jobs.Tag != tag || renew || !a.now().Before(deadline) {
			siteID := r.SiteID
			if jobs.Site, err = a.siteInfo(ctx, &siteID); err != nil {
				return err
			}
			// Renew the peer record past two thirds of its life, or when
			// the relay asks.
			if left := r.RecordExpires.Sub(a.now()); renew || left < a.cfg.PeerRecordTTL/3 {
				rec, err := a.relayRecord(r.PeerID, r.Name, jobs.Site.Name)
				if err != nil {
					return err
				}
				if err := a.store.TouchRelay(ctx, r.ID, "", a.now().Add(a.cfg.PeerRecordTTL), a.now()); err != nil {
					return err
				}
				jobs.PeerRecord = &rec
			}
			return c.JSON(http.StatusOK, jobs)
		}
		t := time.NewTimer(min(a.pollInterval(), max(deadline.Sub(a.now()), 0)))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-a.draining:
			t.Stop()
			return errDraining
		case <-changed:
			t.Stop()
		case <-t.C:
		}
	}
}

// relayReport stores a relay's counters and health.
func (a *API) relayReport(c echo.Context) error {
	r := c.Get(relayKey).(*store.Relay)
	var rep proto.RelayReport
	if err := a.bindJSON(c, &rep); err != nil {
		return err
	}
	if len(rep.Packages) > 10000 || len(rep.Errors) > 100 {
		return fmt.Errorf("relay report: too many packages or errors: %w", errBadRequest)
	}
	if err := validRelayAddrs(rep.P2PAddrs); err != nil {
		return err
	}
	b, err := json.Marshal(rep)
	if err != nil {
		return fmt.Errorf("relay report: %w", err)
	}
	if err := a.store.TouchRelay(c.Request().Context(), r.ID, string(b), time.Time{}, a.now()); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// maxRelayAddrLen bounds one libp2p address of a relay report.
const maxRelayAddrLen = 256

// validRelayAddrs checks the libp2p addresses of a relay report: they are
// passed to the site's agents, which parse them again.
func validRelayAddrs(addrs []string) error {
	if len(addrs) > proto.MaxRelayAddrs {
		return fmt.Errorf("relay report: %d p2p addresses, at most %d: %w", len(addrs), proto.MaxRelayAddrs, errBadRequest)
	}
	for _, a := range addrs {
		if len(a) > maxRelayAddrLen || !strings.HasPrefix(a, "/") || strings.ContainsAny(a, " \t\r\n") {
			return fmt.Errorf("relay report: p2p address %.40q is not a multiaddr: %w", a, errBadRequest)
		}
	}
	return nil
}

package ocsapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/deploy"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/proto/ocs"
)

// knownAgents are the User-Agent name parts (before the last "_v") accepted
// on the OCS endpoint, as the reference server's filter plus the agents that
// speak the same protocol.
var knownAgents = []string{
	"OCS-NG_unified_unix_agent", "OCS-NG_WINDOWS_AGENT", "OCS-NG_windows_client",
	"OCS-NG_windows_mobile_agent", "OCS-NG_iOS_agent", "OCS-NG_Android_agent",
	"FusionInventory-Agent", "GLPI-Agent", "shoal-agent",
}

func (s *Server) checkUserAgent(ua string) error {
	if s.cfg.AcceptAnyUserAgent {
		return nil
	}
	if ua == "" || len(ua) > 256 {
		return fmt.Errorf("missing or oversized User-Agent: %w", errBadRequest)
	}
	name := ua
	if i := strings.LastIndex(ua, "_v"); i > 0 {
		name = ua[:i]
	}
	for _, k := range knownAgents {
		if strings.EqualFold(name, k) {
			return nil
		}
	}
	return fmt.Errorf("user agent %q is not an OCS-compatible agent: %w", ua, errBadRequest)
}

// checkOCSDevice refuses an anonymous OCS request whose DEVICEID (or the
// inventory's OLD_DEVICEID) carries a prefix only central assigns
// (proto.ReservedDeviceID: 400), or names a computer with a Shoal agent
// identity (403, logged and audited): PROLOG, INVENTORY, DOWNLOAD results
// and NOTIFY may touch only computers no Shoal agent manages. The store
// checks the inventory again inside its transaction.
func (s *Server) checkOCSDevice(ctx context.Context, deviceID string, inv *ocs.Inventory, ua, remote string) error {
	ids := []string{deviceID}
	if inv != nil && strings.TrimSpace(inv.OldDeviceID) != "" {
		ids = append(ids, strings.TrimSpace(inv.OldDeviceID))
	}
	for _, id := range ids {
		if proto.ReservedDeviceID(id) {
			s.log.Warn("ocs request refused: reserved device id", "device", id, "remote", remote, "user_agent", ua)
			return fmt.Errorf("device id %q uses a reserved prefix: %w", id, errBadRequest)
		}
	}
	for _, id := range ids {
		managed, err := s.deps.Store.ShoalManaged(ctx, id)
		if err != nil {
			return err
		}
		if !managed {
			continue
		}
		s.log.Warn("ocs request refused: computer has a shoal agent identity", "device", id, "remote", remote, "user_agent", ua)
		if err := s.deps.Store.RecordAudit(ctx, &store.AuditEvent{Actor: "anonymous ocs client", Action: "ocs.refused", Target: id,
			Detail: "OCS request naming a computer managed by a Shoal agent", Remote: remote}); err != nil {
			s.log.Warn("audit event not recorded", "action", "ocs.refused", "device", id, "err", err)
		}
		return fmt.Errorf("device %s: %w", id, store.ErrShoalManaged)
	}
	return nil
}

// checkOCSRows refuses an inventory with more rows in a section than the
// configured caps.
func (s *Server) checkOCSRows(inv *ocs.Inventory) error {
	if n := len(inv.Softwares); n > s.cfg.MaxOCSSoftwares {
		return fmt.Errorf("inventory has %d SOFTWARES rows, more than %d: %w", n, s.cfg.MaxOCSSoftwares, errTooLarge)
	}
	for _, sec := range []struct {
		name string
		n    int
	}{
		{"CPUS", len(inv.CPUs)}, {"MEMORIES", len(inv.Memories)}, {"STORAGES", len(inv.Storages)},
		{"DRIVES", len(inv.Drives)}, {"NETWORKS", len(inv.Networks)}, {"CONTROLLERS", len(inv.Controllers)},
		{"ACCOUNTINFO", len(inv.AccountInfo)}, {"DOWNLOAD/HISTORY", len(inv.History)},
		{"MONITORS", len(inv.Monitors)}, {"PRINTERS", len(inv.Printers)}, {"VIDEOS", len(inv.Videos)},
		{"LOCAL_USERS", len(inv.LocalUsers)}, {"USERS", len(inv.Users)},
	} {
		if sec.n > s.cfg.MaxOCSRows {
			return fmt.Errorf("inventory has %d %s rows, more than %d: %w", sec.n, sec.name, s.cfg.MaxOCSRows, errTooLarge)
		}
	}
	return nil
}

// decode inflates and parses a request body, holding a parsing slot (the
// body is read before: a slow client holds no slot).
func (s *Server) decode(ctx context.Context, body []byte) (ocs.Encoding, *ocs.Request, *ocs.Inventory, error) {
	select {
	case s.parsing <- struct{}{}:
	case <-ctx.Done():
		return 0, nil, nil, fmt.Errorf("wait to parse: %w", ctx.Err())
	}
	defer func() { <-s.parsing }()
	doc, enc, err := ocs.Decode(body, s.cfg.MaxOCSXMLBytes)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("decode body: %w", err)
	}
	// One pass over the document: the envelope, and the inventory when
	// QUERY=INVENTORY (a 300 KB inventory costs a few ms to parse).
	env, inv, err := ocs.ParseLimited(doc, ocs.Limits{MaxDepth: s.cfg.MaxOCSDepth, MaxElements: s.cfg.MaxOCSElements})
	if err != nil {
		return 0, nil, nil, fmt.Errorf("parse request: %w", err)
	}
	return enc, env, inv, nil
}

// handleOCS is the OCS communication endpoint. It reads the whole (bounded)
// body, sniffs its encoding, dispatches on QUERY and answers in the encoding
// the agent used.
func (s *Server) handleOCS(c echo.Context) error {
	req := c.Request()
	ua := req.UserAgent()
	if err := s.checkUserAgent(ua); err != nil {
		return err
	}
	// limitBody bounded the body; the gate bounds how many are read,
	// inflated and parsed at once.
	release, err := s.gate.Enter(req.Context())
	if err != nil {
		return err
	}
	defer release()
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	enc, env, inv, err := s.decode(req.Context(), body)
	if err != nil {
		return err
	}
	ctx := req.Context()
	remote, _ := netip.ParseAddr(c.RealIP())
	if err := s.checkOCSDevice(ctx, env.DeviceID, inv, ua, c.RealIP()); err != nil {
		return err
	}
	if inv != nil {
		if err := s.checkOCSRows(inv); err != nil {
			s.log.Warn("ocs inventory refused", "device", env.DeviceID, "remote", c.RealIP(), "err", err)
			return err
		}
	}
	if kind := strings.ToLower(env.Query); ocsKinds[kind] {
		c.Set(kindKey, kind)
	} else {
		c.Set(kindKey, "other")
	}
	var reply []byte
	switch strings.ToUpper(env.Query) {
	case "PROLOG":
		r, err := s.deps.Deploy.Prolog(ctx, deploy.PrologRequest{DeviceID: env.DeviceID, UserAgent: ua, Remote: remote})
		if err != nil {
			return err
		}
		if reply, err = r.Marshal(); err != nil {
			return fmt.Errorf("marshal prolog reply: %w", err)
		}
	case "INVENTORY":
		if inv == nil {
			return fmt.Errorf("inventory without CONTENT: %w", errBadRequest)
		}
		start := time.Now()
		r, err := s.deps.Inventory.Ingest(ctx, inv, ua, remote)
		if err != nil {
			return err
		}
		s.deps.Metrics.Ingest("ocs", time.Since(start))
		if reply, err = r.Marshal(); err != nil {
			return fmt.Errorf("marshal inventory reply: %w", err)
		}
	case "DOWNLOAD":
		if err := s.deps.Deploy.Result(ctx, env.DeviceID, env.ID, env.Err); err != nil {
			return err
		}
		return c.NoContent(http.StatusOK)
	case "NOTIFY":
		// IP change notices from Windows agents: acknowledged; the next
		// inventory carries the new addresses.
		return c.NoContent(http.StatusOK)
	default:
		return fmt.Errorf("unknown QUERY %q: %w", env.Query, errBadRequest)
	}
	out, err := ocs.Encode(enc, reply)
	if err != nil {
		return fmt.Errorf("encode reply: %w", err)
	}
	c.Response().Header().Set("Cache-Control", "no-cache")
	return c.Blob(http.StatusOK, ocs.ReplyContentType(req.Header.Get("Content-Type"), enc), out)
}

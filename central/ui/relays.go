package ui

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/agentapi"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto/api"
)

// This file serves the Relays page (health and counters of every branch
// relay, removal) and the package page's "Purge from relays" action.

// relaysView is the data of the Relays page.
type relaysView struct {
	Relays []relayRow
	// Stale is how long a silent relay stays in use.
	Stale string
}

// relayRow is one relay with its counters formatted for the page.
type relayRow struct {
	api.Relay
	WANCap   string
	HitRatio string
	// Saving is bytes served over bytes fetched upstream: how many times
	// each WAN byte was reused in the branch.
	Saving   string
	DiskPct  int64
	Packages []relayPackageRow
}

// relayPackageRow is one package's counters at a relay.
type relayPackageRow struct {
	api.RelayPackageStats
	HitRatio, Saving string
}

func (u *UI) registerRelays(g *echo.Group) {
	g.GET("/relays", u.handleRelays)
	g.POST("/relays/:id/delete", u.handleDeleteRelay)
	g.POST("/packages/:id/purge", u.handlePurgePackage)
}

func hitRatio(s api.RelayPackageStats) string {
	if s.Hits+s.Misses == 0 {
		return "–"
	}
	return strconv.FormatInt(pct(s.Hits, s.Hits+s.Misses), 10) + " %"
}

func saving(s api.RelayPackageStats) string {
	if s.BytesUpstream == 0 {
		return "–"
	}
	return strconv.FormatFloat(float64(s.BytesServed)/float64(s.BytesUpstream), 'f', 1, 64) + "×"
}

// bitRate formats a rate in bits per second; 0 means no cap.
func bitRate(bits int64) string {
	switch {
	case bits <= 0:
		return "none"
	case bits >= 1e9:
		return strconv.FormatFloat(float64(bits)/1e9, 'f', -1, 64) + " Gbit/s"
	case bits >= 1e6:
		return strconv.FormatFloat(float64(bits)/1e6, 'f', -1, 64) + " Mbit/s"
	default:
		return strconv.FormatFloat(float64(bits)/1e3, 'f', -1, 64) + " kbit/s"
	}
}

func (u *UI) handleRelays(c echo.Context) error {
	relays, err := agentapi.RelayStatuses(c.Request().Context(), u.deps.Store, u.now())
	if err != nil {
		return err
	}
	v := relaysView{Stale: store.RelayStale.String()}
	for _, r := range relays {
		row := relayRow{Relay: r, WANCap: bitRate(r.WANRateBits), HitRatio: hitRatio(r.Totals), Saving: saving(r.Totals)}
		if r.DiskQuota > 0 {
			row.DiskPct = pct(r.DiskUsed, r.DiskQuota)
		}
		for _, p := range r.Packages {
			row.Packages = append(row.Packages, relayPackageRow{RelayPackageStats: p, HitRatio: hitRatio(p), Saving: saving(p)})
		}
		v.Relays = append(v.Relays, row)
	}
	return u.render(c, http.StatusOK, "relays", "Relays", "relays", v)
}

func (u *UI) handleDeleteRelay(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	r, err := u.deps.Store.Relay(ctx, id)
	if err != nil {
		return err
	}
	if err := u.deps.Store.DeleteRelay(ctx, id, u.now()); err != nil {
		return err
	}
	u.audit(c, "relay.delete", r.Name, fmt.Sprintf("peer=%s url=%s", r.PeerID, r.HTTPURL))
	return seeOther(c, uiPrefix+"/relays?done=deleted")
}

func (u *UI) handlePurgePackage(c echo.Context) error {
	id, err := packageParam(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if _, err := u.deps.Store.Package(ctx, id); err != nil {
		return err
	}
	if err := u.deps.Store.RequestPurge(ctx, id, u.now()); err != nil {
		return err
	}
	relays, err := u.deps.Store.Relays(ctx)
	if err != nil {
		return err
	}
	kept, err := u.deps.Store.RelaysKeeping(ctx, id)
	if err != nil {
		return err
	}
	u.audit(c, "package.purge", id, fmt.Sprintf("from %d relay(s), %d keep it for unfinished deployments", len(relays), kept))
	if kept > 0 {
		return seeOther(c, uiPrefix+"/packages/"+id+"?done=purged-kept")
	}
	return seeOther(c, uiPrefix+"/packages/"+id+"?done=purged")
}

package ui

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/auth"
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
	// Sites, Form and Errors fill the relay token form; Created is the
	// token just minted (shown once).
	Sites   []store.Site
	Form    map[string]string
	Errors  map[string]string
	Created *auth.TokenInfo
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
	g.POST("/relays/token", u.handleRelayToken)
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
	v, err := u.relaysView(c)
	if err != nil {
		return err
	}
	return u.render(c, http.StatusOK, "relays", "Relays", "relays", v)
}

// relaysView reads the relays and sites for the Relays page.
func (u *UI) relaysView(c echo.Context) (*relaysView, error) {
	ctx := c.Request().Context()
	relays, err := u.deps.Ops.Relays(ctx)
	if err != nil {
		return nil, err
	}
	sites, err := u.deps.Store.ListSites(ctx)
	if err != nil {
		return nil, err
	}
	v := &relaysView{Stale: store.RelayStale.String(), Sites: sites, Form: map[string]string{"expires_hours": "24"}, Errors: map[string]string{}}
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
	return v, nil
}

// handleRelayToken mints the single-use token that enrolls one relay,
// bound to its site and name, and shows it once with its command.
func (u *UI) handleRelayToken(c echo.Context) error {
	site, name := c.FormValue("site"), strings.TrimSpace(c.FormValue("name"))
	hours := strings.TrimSpace(c.FormValue("expires_hours"))
	v, err := u.relaysView(c)
	if err != nil {
		return err
	}
	v.Form = map[string]string{"site": site, "name": name, "expires_hours": hours}
	n, err := strconv.Atoi(hours)
	if err != nil || n < 1 || n > 24*30 {
		v.Errors["expires_hours"] = "Enter a number of hours from 1 to 720."
		return u.render(c, http.StatusBadRequest, "relays", "Relays", "relays", v)
	}
	info, err := u.deps.Ops.MintEnrollmentToken(c.Request().Context(), u.actor(c),
		auth.TokenRequest{Name: "relay " + name, Kind: store.TokenKindRelay, Site: site, RelayName: name, ExpiresIn: fmt.Sprintf("%dh", n)})
	if errors.Is(err, auth.ErrBadTokenRequest) {
		v.Errors["name"] = err.Error()
		return u.render(c, http.StatusBadRequest, "relays", "Relays", "relays", v)
	}
	if err != nil {
		return err
	}
	v.Form = map[string]string{"expires_hours": "24"}
	v.Created = &info
	return u.render(c, http.StatusCreated, "relays", "Relays", "relays", v)
}

func (u *UI) handleDeleteRelay(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if err := u.deps.Ops.DeleteRelay(c.Request().Context(), u.actor(c), id); err != nil {
		return err
	}
	return seeOther(c, uiPrefix+"/relays?done=deleted")
}

func (u *UI) handlePurgePackage(c echo.Context) error {
	id, err := packageParam(c)
	if err != nil {
		return err
	}
	res, err := u.deps.Ops.PurgePackage(c.Request().Context(), u.actor(c), id)
	if err != nil {
		return err
	}
	if res.Kept > 0 {
		return seeOther(c, uiPrefix+"/packages/"+id+"?done=purged-kept")
	}
	return seeOther(c, uiPrefix+"/packages/"+id+"?done=purged")
}

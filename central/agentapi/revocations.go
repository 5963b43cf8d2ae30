package agentapi

import (
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/proto"
)

// revocationCacheTTL bounds how often the unauthenticated revocation list
// route reads the database and signs, however many trackers poll it.
const revocationCacheTTL = 2 * time.Second

// revocationCache holds the last signed revocation list.
type revocationCache struct {
	mu     sync.Mutex
	signed *proto.SignedRevocationList
	at     time.Time
}

// revokedPeers serves central's signed revocation list (proto.RevokedPeersPath)
// for trackers run apart from central. It is signed, so it needs no
// authentication; it names only peer IDs.
func (a *API) revokedPeers(c echo.Context) error {
	now := a.now()
	a.revCache.mu.Lock()
	defer a.revCache.mu.Unlock()
	if a.revCache.signed == nil || now.Sub(a.revCache.at) >= revocationCacheTTL || now.Before(a.revCache.at) {
		ids, err := a.store.RevokedPeerIDs(c.Request().Context(), now)
		if err != nil {
			return err
		}
		s, err := proto.SignRevocationList(proto.RevocationList{Issued: now, Peers: ids}, a.pki.SigningKey)
		if err != nil {
			return err
		}
		a.revCache.signed, a.revCache.at = &s, now
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, a.revCache.signed)
}

package tracker

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/shoal-project/shoal/proto"
)

// maxRevocationList bounds a revocation list answer (8 MiB: some 150,000
// peer IDs).
const maxRevocationList = 8 << 20

// pollTimeout bounds one fetch of the revocation list.
const pollTimeout = 15 * time.Second

// RevocationFeed keeps central's signed revocation list for a tracker run
// apart from central (central's embedded tracker reads its database). It
// polls proto.RevokedPeersPath, verifies the list with central's manifest
// key and never goes back to an older list, so that neither a forged nor
// a replayed answer gives a revoked peer access again. Until the first
// list arrives nobody is revoked; when central cannot be reached the last
// list stays in force and the failure is logged.
type RevocationFeed struct {
	url      string
	hc       *http.Client
	key      ed25519.PublicKey
	interval time.Duration
	log      *slog.Logger

	list atomic.Pointer[revocations]
}

type revocations struct {
	issued time.Time
	peers  map[string]bool
}

// NewRevocationFeed returns a feed of the list at url (central's base URL
// plus proto.RevokedPeersPath), fetched with hc every interval.
func NewRevocationFeed(url string, hc *http.Client, key ed25519.PublicKey, interval time.Duration, logger *slog.Logger) *RevocationFeed {
	return &RevocationFeed{url: url, hc: hc, key: key, interval: interval, log: logger.With("component", "revocations")}
}

// Revoked reports whether peerID is on the latest list; it is the
// tracker's Verifier.Revoked.
func (f *RevocationFeed) Revoked(peerID string) bool {
	l := f.list.Load()
	return l != nil && l.peers[peerID]
}

// Issued returns the issue time of the list in force (zero: none yet).
func (f *RevocationFeed) Issued() time.Time {
	if l := f.list.Load(); l != nil {
		return l.issued
	}
	return time.Time{}
}

// Run polls until ctx ends.
func (f *RevocationFeed) Run(ctx context.Context) error {
	fails := 0
	for {
		if err := f.Poll(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			fails++
			if fails == 1 || fails%30 == 0 {
				f.log.Warn("revocation list not updated; the last one stays in force", "url", f.url, "failures", fails,
					"issued", f.Issued(), "err", err)
			}
		} else {
			if fails > 0 {
				f.log.Info("revocation list updated again", "after_failures", fails)
			}
			fails = 0
		}
		t := time.NewTimer(f.interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// Poll fetches, verifies and adopts the list once.
func (f *RevocationFeed) Poll(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, pollTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return fmt.Errorf("revocation list: %w", err)
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		return fmt.Errorf("revocation list: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("revocation list: status %d", resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxRevocationList+1))
	if err != nil {
		return fmt.Errorf("revocation list: read: %w", err)
	}
	if len(b) > maxRevocationList {
		return fmt.Errorf("revocation list: larger than %d bytes", maxRevocationList)
	}
	var s proto.SignedRevocationList
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("revocation list: %w: %w", proto.ErrBadRevocationList, err)
	}
	l, err := proto.VerifyRevocationList(s, f.key)
	if err != nil {
		return err
	}
	cur := f.list.Load()
	if cur != nil && l.Issued.Before(cur.issued) {
		return fmt.Errorf("revocation list issued %s is older than the one in force (%s): %w",
			l.Issued.Format(time.RFC3339), cur.issued.Format(time.RFC3339), errOlderList)
	}
	peers := make(map[string]bool, len(l.Peers))
	for _, p := range l.Peers {
		peers[p] = true
	}
	f.list.Store(&revocations{issued: l.Issued, peers: peers})
	if cur == nil || len(cur.peers) != len(peers) {
		f.log.Info("revocation list", "peers", len(peers), "issued", l.Issued)
	}
	return nil
}

// errOlderList reports a replayed or reordered revocation list.
var errOlderList = errors.New("older revocation list refused")

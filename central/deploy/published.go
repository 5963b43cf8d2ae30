package deploy

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/shoal-project/shoal/central/store"
)

// checking counts the availability checks under way per package; it is
// guarded by its own mutex.
type checking struct {
	mu sync.Mutex // guards n
	n  map[string]int
}

// begin marks package id as being checked until the returned function runs.
func (c *checking) begin(id string) (end func()) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[id]++
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		if c.n[id]--; c.n[id] <= 0 {
			delete(c.n, id)
		}
		c.mu.Unlock()
	}
}

func (c *checking) has(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[id] > 0
}

// Published reports whether package id may be served to anonymous clients
// (OCS agents, relays pulling through): it is active, or Activate is
// checking its availability right now, whose requests reach central's
// download routes directly or through a relay. Package IDs are guessable
// timestamps, so an inactive package is otherwise not served. A package
// that is not in the catalog is not published.
//
// With several replicas of central, the check's requests may reach another
// replica (through the load balancer): the check is also marked in the
// database (a setting naming the package, with an expiry), which the
// other replicas read for inactive packages.
func (s *Service) Published(ctx context.Context, id string) (bool, error) {
	if s.checks.has(id) {
		return true, nil
	}
	p, err := s.store.Package(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("published %s: %w", id, err)
	}
	if p.Active {
		return true, nil
	}
	var m checkMark
	found, err := s.store.GetSetting(ctx, checkSettingPrefix+id, &m)
	if err != nil {
		return false, fmt.Errorf("published %s: %w", id, err)
	}
	return found && s.now().Before(m.Until), nil
}

// checkSettingPrefix names the setting that marks a package's availability
// check under way, for the other replicas; checkMarkTTL bounds it, should
// the replica die during the check.
const (
	checkSettingPrefix = "deploy.checking."
	checkMarkTTL       = 10 * time.Minute
)

// checkMark is the setting's value.
type checkMark struct {
	Until time.Time `json:"until"`
}

// markChecking marks package id as under check for every replica until
// the returned function runs.
func (s *Service) markChecking(ctx context.Context, id string) (end func()) {
	key := checkSettingPrefix + id
	if err := s.store.PutSetting(ctx, key, checkMark{Until: s.now().Add(checkMarkTTL).UTC()}); err != nil {
		s.log.Warn("mark availability check for other replicas", "package", id, "err", err)
	}
	return func() {
		if err := s.store.PutSetting(context.WithoutCancel(ctx), key, checkMark{}); err != nil {
			s.log.Warn("unmark availability check", "package", id, "err", err)
		}
	}
}

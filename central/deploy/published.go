package deploy

import (
	"context"
	"errors"
	"fmt"
	"sync"

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
	return p.Active, nil
}

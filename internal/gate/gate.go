// Package gate bounds how many expensive requests run at once. A Gate is a
// counting semaphore whose Enter waits only a short, fixed time for a free
// slot: a server under a flood answers "busy, retry later" instead of
// queueing without bound, so its peak memory follows its configuration and
// not the number of clients.
package gate

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrBusy reports that every slot stayed taken for the whole wait.
var ErrBusy = errors.New("server busy, retry later")

// Gate is a counting semaphore with a bounded wait. The channel owns the
// state: a token in it is a taken slot.
type Gate struct {
	name  string
	slots chan struct{}
	wait  time.Duration
}

// New returns a gate of n slots (at least 1) whose Enter waits at most wait
// for one. name appears in ErrBusy errors.
func New(name string, n int, wait time.Duration) *Gate {
	return &Gate{name: name, slots: make(chan struct{}, max(n, 1)), wait: wait}
}

// Enter takes a slot and returns the function that gives it back. It
// returns an error wrapping ErrBusy when no slot freed up within the wait,
// and ctx's error when ctx ended first.
func (g *Gate) Enter(ctx context.Context) (release func(), err error) {
	select {
	case g.slots <- struct{}{}:
		return g.release, nil
	default:
	}
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return g.release, nil
	case <-t.C:
		return nil, fmt.Errorf("%s: all %d slots taken for %s: %w", g.name, cap(g.slots), g.wait, ErrBusy)
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: %w", g.name, ctx.Err())
	}
}

func (g *Gate) release() { <-g.slots }

// RetryAfter is the number of seconds a busy client should wait, for the
// Retry-After header.
func (g *Gate) RetryAfter() int { return max(int(g.wait/time.Second), 1) }

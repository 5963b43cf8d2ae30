package deploy

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/shoal-project/shoal/central/store"
)

// contactLog collects PROLOG contacts and writes them behind, once per
// interval, in one transaction: the last-contact time is informational, and
// one commit per PROLOG capped central at a few thousand PROLOGs a second.
type contactLog struct {
	store *store.Store
	log   *slog.Logger
	mu    sync.Mutex // guards pending
	// pending holds the latest contact per device since the last flush.
	pending map[string]store.Contact
}

func newContactLog(st *store.Store, log *slog.Logger) *contactLog {
	return &contactLog{store: st, log: log, pending: map[string]store.Contact{}}
}

func (c *contactLog) record(deviceID, userAgent string, at time.Time) {
	c.mu.Lock()
	c.pending[deviceID] = store.Contact{DeviceID: deviceID, UserAgent: userAgent, At: at}
	c.mu.Unlock()
}

func (c *contactLog) flush(ctx context.Context) {
	c.mu.Lock()
	if len(c.pending) == 0 {
		c.mu.Unlock()
		return
	}
	batch := make([]store.Contact, 0, len(c.pending))
	for _, v := range c.pending {
		batch = append(batch, v)
	}
	c.pending = map[string]store.Contact{}
	c.mu.Unlock()
	if err := c.store.TouchContacts(ctx, batch); err != nil {
		c.log.Warn("record agent contacts", "count", len(batch), "err", err)
	}
}

// run flushes every interval until ctx ends, then flushes what is left.
func (c *contactLog) run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			c.flush(fctx)
			cancel()
			return nil
		case <-t.C:
			c.flush(ctx)
		}
	}
}

// Run writes agent contact times behind until ctx ends. Central runs it
// beside its listeners.
func (s *Service) Run(ctx context.Context) error {
	return s.contacts.run(ctx, time.Second)
}

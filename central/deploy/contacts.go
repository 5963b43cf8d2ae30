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

// record notes a contact of deviceID at at. An empty userAgent (a download
// result, which does not say it) keeps the one a pending PROLOG noted.
func (c *contactLog) record(deviceID, userAgent string, at time.Time) {
	c.mu.Lock()
	if prev, ok := c.pending[deviceID]; ok && userAgent == "" {
		userAgent = prev.UserAgent
	}
	c.pending[deviceID] = store.Contact{DeviceID: deviceID, UserAgent: userAgent, At: at}
	c.mu.Unlock()
}

// flushTimeout bounds one write of the contact batch. The write never uses
// the run context: shutdown cancels that, and a batch taken out of pending
// would be lost half-written ("touch 2335 contacts: context canceled").
const flushTimeout = 10 * time.Second

// flush writes the pending contacts with a bounded context of its own. A
// failed batch goes back into pending (behind any newer contact of the same
// device), so the next flush, the last one at shutdown included, retries it.
func (c *contactLog) flush() {
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
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	if err := c.store.TouchContacts(ctx, batch); err != nil {
		c.log.Warn("record agent contacts", "count", len(batch), "err", err)
		c.mu.Lock()
		for _, v := range batch {
			if _, newer := c.pending[v.DeviceID]; !newer {
				c.pending[v.DeviceID] = v
			}
		}
		c.mu.Unlock()
	}
}

// run flushes every interval until ctx ends, then flushes what is left.
// Central ends ctx only after its HTTP servers have stopped, so that no
// PROLOG arrives after the last flush.
func (c *contactLog) run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			c.flush()
			return nil
		case <-t.C:
			c.flush()
		}
	}
}

// Run writes agent contact times behind until ctx ends, then writes the last
// batch. Central runs it beside its listeners and ends it after them.
func (s *Service) Run(ctx context.Context) error {
	return s.contacts.run(ctx, time.Second)
}

package jobs

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/shoal-project/shoal/agent/client"
	"github.com/shoal-project/shoal/internal/wol"
	"github.com/shoal-project/shoal/proto"
)

// poll long-polls central for the job list and hands every answer to the
// loop, which replies with the tag to wait on next. Failures back off
// exponentially (1 s to 30 s, or 5 min while central refuses the agent),
// with jitter.
func (m *Manager) poll(ctx context.Context, out chan<- pollResult) error {
	tag := ""
	backoff := time.Second
	for ctx.Err() == nil {
		sent := m.now()
		resp, err := m.deps.Central.Jobs(ctx, tag, m.cfg.LongPoll)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			maxBackoff := 30 * time.Second
			if errors.Is(err, client.ErrRevoked) || errors.Is(err, client.ErrUnauthorized) {
				m.log.Error("central refuses this agent; is the computer revoked?", "err", err)
				maxBackoff = 5 * time.Minute
			} else {
				m.log.Warn("poll jobs", "err", err, "retry_in", backoff)
			}
			d := backoff/2 + rand.N(backoff/2+1)
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			backoff = min(backoff*2, maxBackoff)
			continue
		}
		backoff = time.Second
		if m.deps.OnSite != nil {
			m.deps.OnSite(resp.Site)
		}
		m.sendWakes(ctx, resp.Wake)
		reply := make(chan string, 1)
		select {
		case out <- pollResult{jobs: resp.Jobs, sentAt: sent, reply: reply}:
		case <-ctx.Done():
			return nil
		}
		select {
		case tag = <-reply:
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

// sendWakes sends the Wake-on-LAN magic packet of each order central gave
// this agent for a sleeping computer of its site (internal/wol).
func (m *Manager) sendWakes(ctx context.Context, orders []proto.WakeOrder) {
	for _, o := range orders {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := wol.Send(sctx, o.MAC, o.Broadcast)
		cancel()
		if err != nil {
			m.log.Warn("wake-on-lan packet", "mac", o.MAC, "err", err)
			continue
		}
		m.log.Info("wake-on-lan packet sent", "mac", o.MAC, "broadcast", o.Broadcast, "wake", o.ID)
	}
}

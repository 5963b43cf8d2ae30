// Package audit records who changed what in central: every admin
// operation writes one event, whichever edge (admin UI or REST API) it
// came through, and logs it.
package audit

import (
	"context"
	"log/slog"
	"time"

	"github.com/shoal-project/shoal/central/store"
)

// Timeout bounds the write of one event; the write outlives the request
// that caused it (a client that hangs up does not erase its trace).
const Timeout = 5 * time.Second

// Keys under which an admin handler of one edge leaves the target and
// detail of its audit event for the edge's middleware that records it
// (the REST API's audit of the agent API's admin routes).
const (
	TargetKey = "shoal.audit.target"
	DetailKey = "shoal.audit.detail"
)

// Actor is who made a change, and through which edge.
type Actor struct {
	// Name is the user, "token:<name>" or "anonymous".
	Name string
	// Remote is the client's address.
	Remote string
	// Via names the edge when it is not the REST API ("web ui"); it
	// prefixes the event's detail.
	Via string
}

// Log records audit events in the store.
type Log struct {
	store *store.Store
	log   *slog.Logger
}

// New returns a Log writing to st.
func New(st *store.Store, logger *slog.Logger) *Log {
	return &Log{store: st, log: logger.With("component", "audit")}
}

// Record logs and stores one event; a failed write is logged, not
// returned: the change it describes is already made.
func (l *Log) Record(ctx context.Context, who Actor, action, target, detail string) {
	if who.Name == "" {
		who.Name = "unknown"
	}
	l.log.Info("audit", "action", action, "target", target, "by", who.Name, "remote", who.Remote, "detail", detail)
	if who.Via != "" {
		detail = who.Via + ": " + detail
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), Timeout)
	defer cancel()
	err := l.store.RecordAudit(ctx, &store.AuditEvent{Actor: who.Name, Action: action, Target: target, Detail: detail, Remote: who.Remote})
	if err != nil {
		l.log.Warn("audit event not recorded", "action", action, "target", target, "err", err)
	}
}

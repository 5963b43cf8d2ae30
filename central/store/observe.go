package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// queryStartKey is where the observing callbacks keep a statement's start.
const queryStartKey = "shoal:query_start"

// ObserveQueries calls obs after every statement of both pools with its
// operation (create, query, update, delete, row, raw) and duration, through
// gorm callbacks around each processor. Call it once, before the store is
// used concurrently; obs must be cheap and safe for concurrent use.
func (s *Store) ObserveQueries(obs func(op string, d time.Duration)) error {
	dbs := []*gorm.DB{s.w}
	if s.r != s.w {
		dbs = append(dbs, s.r)
	}
	for _, db := range dbs {
		cb := db.Callback()
		for _, p := range []struct {
			op     string
			before func(string, func(*gorm.DB)) error
			after  func(string, func(*gorm.DB)) error
		}{
			{"create", cb.Create().Before("gorm:create").Register, cb.Create().After("gorm:create").Register},
			{"query", cb.Query().Before("gorm:query").Register, cb.Query().After("gorm:query").Register},
			{"update", cb.Update().Before("gorm:update").Register, cb.Update().After("gorm:update").Register},
			{"delete", cb.Delete().Before("gorm:delete").Register, cb.Delete().After("gorm:delete").Register},
			{"row", cb.Row().Before("gorm:row").Register, cb.Row().After("gorm:row").Register},
			{"raw", cb.Raw().Before("gorm:raw").Register, cb.Raw().After("gorm:raw").Register},
		} {
			op := p.op
			start := func(db *gorm.DB) { db.InstanceSet(queryStartKey, time.Now()) }
			end := func(db *gorm.DB) {
				if v, ok := db.InstanceGet(queryStartKey); ok {
					if t, ok := v.(time.Time); ok {
						obs(op, time.Since(t))
					}
				}
			}
			if err := p.before("shoal:observe_start_"+op, start); err != nil {
				return fmt.Errorf("observe queries: %w", err)
			}
			if err := p.after("shoal:observe_end_"+op, end); err != nil {
				return fmt.Errorf("observe queries: %w", err)
			}
		}
	}
	return nil
}

// DeploymentBytes sums the bytes agents reported fetching over all
// deployments, by source: "peer", "relay" and "central".
func (s *Store) DeploymentBytes(ctx context.Context) (map[string]int64, error) {
	var r struct{ Peer, Relay, Central int64 }
	err := s.read(ctx).Model(&Deployment{}).
		Select("COALESCE(SUM(bytes_peer), 0) AS peer, COALESCE(SUM(bytes_relay), 0) AS relay, COALESCE(SUM(bytes_central), 0) AS central").
		Scan(&r).Error
	if err != nil {
		return nil, fmt.Errorf("deployment bytes: %w", translate(err))
	}
	return map[string]int64{"peer": r.Peer, "relay": r.Relay, "central": r.Central}, nil
}

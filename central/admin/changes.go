package admin

import "context"

// changes is told what an operation changed, so that every replica of
// central learns of it (central/notify.Hub): job lists, sites (each
// replica caches the site index), revoked peers and relays' job lists
// (purges).
type changes interface {
	JobsChanged(ctx context.Context, ids []uint)
	SitesChanged(ctx context.Context)
	RevocationsChanged(ctx context.Context)
	RelaysChanged(ctx context.Context)
	// PackageDeleted: the other replicas remove their copy of package id
	// (when their package storage is their own).
	PackageDeleted(ctx context.Context, id string)
}

// nopChanges tells nobody (tests, a single process without a hub).
type nopChanges struct{}

func (nopChanges) JobsChanged(context.Context, []uint)    {}
func (nopChanges) SitesChanged(context.Context)           {}
func (nopChanges) RevocationsChanged(context.Context)     {}
func (nopChanges) RelaysChanged(context.Context)          {}
func (nopChanges) PackageDeleted(context.Context, string) {}

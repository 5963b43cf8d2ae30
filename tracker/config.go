package tracker

import (
	"errors"
	"fmt"
	"time"
)

// Config tunes the tracker. The zero value is usable: withDefaults fills
// every field.
type Config struct {
	// TTL is how long an entry lives without an announce (default 90s).
	TTL time.Duration `yaml:"ttl"`
	// AnnounceInterval is the announce period the tracker asks peers for
	// (default 30s); it must be well below TTL.
	AnnounceInterval time.Duration `yaml:"announce_interval"`
	// LeaseTTL is how long a WAN-owner lease lasts without being renewed
	// (default 60s). A dead owner's leases move earlier, when its entry
	// expires; a live owner behind a busy uplink needs time to finish,
	// or its fragments cross the WAN twice.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// SweepInterval is how often Run drops expired entries and leases
	// (default 5s). Expired state is never served even between sweeps.
	SweepInterval time.Duration `yaml:"sweep_interval"`
	// MaxSkew bounds the difference between a request's signed time and the
	// tracker's clock (default 5m).
	MaxSkew time.Duration `yaml:"max_skew"`
	// MaxPeers bounds the holders in one lookup answer (default 50).
	MaxPeers int `yaml:"max_peers"`
	// MaxMembers bounds the site members in one lookup answer (default 8:
	// they only seed memberlist, and every lookup carries them).
	MaxMembers int `yaml:"max_members"`
	// MaxPackages bounds the packages in one announce (default 1024).
	MaxPackages int `yaml:"max_packages"`
	// MaxFragments bounds a package's fragment count (default 1<<20, that
	// is 1 TiB of 1 MiB fragments).
	MaxFragments int `yaml:"max_fragments"`
	// MaxLeaseGrant bounds the fragments granted by one lease request
	// (default 64).
	MaxLeaseGrant int `yaml:"max_lease_grant"`
	// MaxExtraCopies bounds the extra WAN copies of one fragment per site
	// (default 2): leases granted for a fragment that live holders
	// announce, because the requester excluded every one of them (it
	// cannot get the fragment from them: they sent bad data or deliver
	// too slowly). Each such lease also needs an excluded holder not
	// excluded before for that fragment, so that agents lying about
	// their peers cannot send a fragment over the WAN more than
	// 1+MaxExtraCopies times. A negative value allows none.
	MaxExtraCopies int `yaml:"max_extra_copies"`
	// LeaseCredit bounds the fragments of a package a peer may have
	// leased or hold alone (default 2): the tracker grants it new leases
	// only while its unexpired leases (while another peer of its site
	// announces the package without all of it, or another live peer is in
	// its site during the package's first 15 s there) plus the fragments
	// it announces that no other entry of the site holds yet (while
	// another peer announces the package without them) are fewer. A peer whose fragments its site
	// copies within seconds keeps getting leases; one that cannot upload
	// (a slow laptop) stalls at LeaseCredit fragments, which are all its
	// site must fetch again over the WAN. Renewals and extra copies
	// (MaxExtraCopies) are not bounded. A negative value disables the
	// bound.
	LeaseCredit int `yaml:"lease_credit"`
	// MaxSiteOwners bounds the peers of a site that fetch a package over
	// the WAN at once as its WAN owners (default 12; a negative value
	// disables the bound): a peer holding no lease of the package gets
	// new ones only while fewer peers hold some. (Extra copies are not
	// bounded.) With every agent of a 20-agent branch an owner, each
	// fetched one fragment at a twentieth of the uplink: the site's
	// fragments completed in rounds of 20 at the same moment, and the
	// LAN copied 20 MiB at once while the uplink waited (docs/LAB.md).
	// Fewer owners fetch faster each and their fragments reach the LAN in
	// smaller rounds. Twelve fetch on 24 streams (two ranges each): eight
	// (16 streams) left a lossy 16 Mbit/s uplink at +40 ms 87 % used; an
	// uplink that is much faster and lossy needs more.
	MaxSiteOwners int `yaml:"max_site_owners"`
	// MaxEntries bounds the live entries of all sites together (default
	// 200000); announces of new peers beyond it are refused.
	MaxEntries int `yaml:"max_entries"`
	// MaxBodyBytes bounds a request body (default 1 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	defInt := func(n *int, v int) {
		if *n == 0 {
			*n = v
		}
	}
	def(&c.TTL, 90*time.Second)
	def(&c.AnnounceInterval, 30*time.Second)
	def(&c.LeaseTTL, 60*time.Second)
	def(&c.SweepInterval, 5*time.Second)
	def(&c.MaxSkew, 5*time.Minute)
	defInt(&c.MaxPeers, 50)
	defInt(&c.MaxMembers, 8)
	defInt(&c.MaxPackages, 1024)
	defInt(&c.MaxFragments, 1<<20)
	defInt(&c.MaxLeaseGrant, 64)
	defInt(&c.MaxEntries, 200000)
	defInt(&c.MaxExtraCopies, 2)
	defInt(&c.LeaseCredit, 2)
	defInt(&c.MaxSiteOwners, 12)
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 20
	}
	return c
}

// Validate checks the configuration after defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.TTL < 2*time.Second {
		errs = append(errs, fmt.Errorf("tracker: ttl %s: want at least 2s", c.TTL))
	}
	if c.AnnounceInterval < time.Second || c.AnnounceInterval > c.TTL/2 {
		errs = append(errs, fmt.Errorf("tracker: announce_interval %s: want 1s..ttl/2", c.AnnounceInterval))
	}
	if c.LeaseTTL < time.Second {
		errs = append(errs, fmt.Errorf("tracker: lease_ttl %s: want at least 1s", c.LeaseTTL))
	}
	if c.SweepInterval < 10*time.Millisecond || c.SweepInterval > c.TTL {
		errs = append(errs, fmt.Errorf("tracker: sweep_interval %s: want 10ms..ttl", c.SweepInterval))
	}
	if c.MaxSkew < time.Second {
		errs = append(errs, fmt.Errorf("tracker: max_skew %s: want at least 1s", c.MaxSkew))
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"max_peers", c.MaxPeers}, {"max_members", c.MaxMembers}, {"max_packages", c.MaxPackages},
		{"max_fragments", c.MaxFragments}, {"max_lease_grant", c.MaxLeaseGrant}, {"max_entries", c.MaxEntries}} {
		if n.v < 1 {
			errs = append(errs, fmt.Errorf("tracker: %s %d: want at least 1", n.name, n.v))
		}
	}
	if c.MaxBodyBytes < 4<<10 {
		errs = append(errs, fmt.Errorf("tracker: max_body_bytes %d: want at least 4 KiB", c.MaxBodyBytes))
	}
	return errors.Join(errs...)
}

package swarm

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config tunes the swarm scheduler. Zero values take the defaults; a
// negative EndgameFragments or HedgeFactor disables that mechanism.
type Config struct {
	// Disabled turns peer sharing off: the agent neither joins its site's
	// tracker and LAN cluster nor serves peers, and fetches from relays
	// and central only.
	Disabled bool `yaml:"disabled"`
	// PeerStreams bounds the requests in flight to one peer (default 2).
	PeerStreams int `yaml:"peer_streams"`
	// MaxPeerRequests bounds the peer requests in flight (default 8).
	MaxPeerRequests int `yaml:"max_peer_requests"`
	// UpstreamStreams bounds the upstream (relay, central) requests in
	// flight (default 4).
	UpstreamStreams int `yaml:"upstream_streams"`
	// UpstreamRanges: a WAN owner fetches a leased fragment from central
	// in up to this many byte ranges at once, on its free upstream
	// streams (default 2; 1: whole fragments). On a lossy long uplink one
	// TCP stream moves a fraction of the link, and the site's last
	// fragments would crawl on one stream each. With 4 (all of
	// UpstreamStreams) an owner fetched its two leased fragments one after
	// the other, and the second, started late, made the site's tail.
	UpstreamRanges int `yaml:"upstream_ranges"`
	// OwnerFragments bounds the leased fragments a WAN owner fetches from
	// central at once (default 1; each takes UpstreamRanges streams). At
	// 2, every owner of a 20-agent branch fetched its two leases side by
	// side: the site's fragments all completed together near the end of
	// the WAN transfer, the LAN copied them in a burst that starved the
	// agents' CPU and the uplink, and the last 25 MiB crossed the LAN after
	// the last WAN byte (docs/LAB.md). One at a time, fragments complete
	// all along and the LAN copies each while the next crosses the WAN.
	OwnerFragments int `yaml:"owner_fragments"`
	// EndgameFragments: once no more than this many fragments are
	// missing and all are requested, each is also asked of other peers
	// (default 4).
	EndgameFragments int `yaml:"endgame_fragments"`
	// EndgameCopies bounds the requests in flight for one fragment in
	// endgame and hedging (default 2).
	EndgameCopies int `yaml:"endgame_copies"`
	// HedgeFactor: a peer request slower than HedgeFactor × the median
	// fragment time (and HedgeMin) is also made to another peer
	// (default 3).
	HedgeFactor float64 `yaml:"hedge_factor"`
	// HedgeMin is the least time before a request is hedged (default 1s).
	HedgeMin time.Duration `yaml:"hedge_min"`
	// AnnounceEvery: announce again after this many new fragments
	// (default 8).
	AnnounceEvery int `yaml:"announce_every"`
	// AnnounceInterval is the announce period until the tracker names one
	// (default 30s).
	AnnounceInterval time.Duration `yaml:"announce_interval"`
	// LeaseMax is the most fragments asked in one lease (default 8).
	LeaseMax int `yaml:"lease_max"`
	// LookupMin and LookupMax bound the re-lookup backoff while waiting
	// for peers (defaults 1s and 10s; a download with nothing to ask of
	// its peers waits at most 2 × LookupMin, the pace of its site's WAN
	// owners); a download that has enough to ask of its peers looks up
	// every LookupMax only. A lease answer that HeldBack is asked again
	// after LookupMin.
	LookupMin time.Duration `yaml:"lookup_min"`
	LookupMax time.Duration `yaml:"lookup_max"`
	// StallTimeout: after this long without a new fragment, look up and
	// ask for leases again at once (default 10s).
	StallTimeout time.Duration `yaml:"stall_timeout"`
	// ProgressFactor and ProgressMin bound how long a peer may take to
	// deliver one fragment: ProgressFactor × the fragment's size at the
	// median rate measured from this download's peers, at least
	// ProgressMin (defaults 8 and 5s); ProgressMin while fewer than three
	// fragments came from peers. A
	// peer that is late (and whose progress does not promise to finish
	// within half a bound more) is cancelled and left alone for
	// PeerCooloff (as is a peer answering only "busy" for three bounds),
	// and the fragment goes to another holder, the relay, or (excluding
	// the late peer from lease requests) a WAN-owner lease. A negative
	// ProgressFactor disables the bound.
	ProgressFactor float64       `yaml:"progress_factor"`
	ProgressMin    time.Duration `yaml:"progress_min"`
	// PeerFailures is the number of consecutive failures after which a
	// peer is left alone for PeerCooloff (defaults 3 and 30s).
	PeerFailures int           `yaml:"peer_failures"`
	PeerCooloff  time.Duration `yaml:"peer_cooloff"`
	// HavePeers bounds the have sessions a download opens to the peers
	// its lookups list (default 32; -1: none). Peers that open one to us
	// come on top; each side pushes the fragments it stores to the other.
	HavePeers int `yaml:"have_peers"`
	// TrackerFailures is the number of consecutive failed tracker calls
	// after which a download goes on without peers (default 3).
	TrackerFailures int `yaml:"tracker_failures"`
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.PeerStreams, 2)
	def(&c.MaxPeerRequests, 8)
	def(&c.UpstreamStreams, 4)
	def(&c.UpstreamRanges, 2)
	def(&c.OwnerFragments, 1)
	def(&c.EndgameFragments, 4)
	def(&c.EndgameCopies, 2)
	def(&c.AnnounceEvery, 8)
	def(&c.LeaseMax, 8)
	def(&c.PeerFailures, 3)
	def(&c.TrackerFailures, 3)
	def(&c.HavePeers, 32)
	if c.HedgeFactor == 0 {
		c.HedgeFactor = 3
	}
	if c.ProgressFactor == 0 {
		c.ProgressFactor = 8
	}
	defDur(&c.ProgressMin, 5*time.Second)
	defDur(&c.HedgeMin, time.Second)
	defDur(&c.AnnounceInterval, 30*time.Second)
	defDur(&c.LookupMin, time.Second)
	defDur(&c.LookupMax, 10*time.Second)
	defDur(&c.StallTimeout, 10*time.Second)
	defDur(&c.PeerCooloff, 30*time.Second)
	return c
}

// ParseConfig decodes a swarm configuration from YAML as under "swarm:"
// in the agent's config file, strictly (unknown keys are errors), and
// validates it. The lab's -agent-swarm and the simulator's -sim.swarm
// take it.
func ParseConfig(y string) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(y))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("swarm config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate checks the configuration.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	for _, v := range []struct {
		name string
		v    int
	}{{"peer_streams", c.PeerStreams}, {"max_peer_requests", c.MaxPeerRequests}, {"upstream_streams", c.UpstreamStreams}, {"upstream_ranges", c.UpstreamRanges}, {"owner_fragments", c.OwnerFragments},
		{"endgame_copies", c.EndgameCopies}, {"announce_every", c.AnnounceEvery}, {"lease_max", c.LeaseMax},
		{"peer_failures", c.PeerFailures}, {"tracker_failures", c.TrackerFailures}} {
		if v.v < 1 {
			errs = append(errs, fmt.Errorf("%s %d: want at least 1", v.name, v.v))
		}
	}
	for _, v := range []struct {
		name string
		v    time.Duration
	}{{"hedge_min", c.HedgeMin}, {"announce_interval", c.AnnounceInterval}, {"lookup_min", c.LookupMin},
		{"lookup_max", c.LookupMax}, {"stall_timeout", c.StallTimeout}, {"peer_cooloff", c.PeerCooloff},
		{"progress_min", c.ProgressMin}} {
		if v.v < 10*time.Millisecond {
			errs = append(errs, fmt.Errorf("%s %s: want at least 10ms", v.name, v.v))
		}
	}
	if c.LookupMax < c.LookupMin {
		errs = append(errs, fmt.Errorf("lookup_max %s is below lookup_min %s", c.LookupMax, c.LookupMin))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("swarm: %w", err)
	}
	return nil
}

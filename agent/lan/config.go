package lan

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/shoal-project/shoal/proto"
)

// DefaultPort is memberlist's usual port, the default of Config.Bind.
const DefaultPort = 7946

// Config tunes the LAN cluster. The defaults are the "moderate" profile of
// dependencies.md §2c: memberlist's LAN defaults detect a dead node in 9 to
// 12 s, too slow for the 10 s the issue asks, while the aggressive profile
// (250 ms probes) was unstable on loaded CPUs.
type Config struct {
	// Bind is the UDP and TCP address memberlist listens on (default
	// 0.0.0.0:7946). Port 0 picks a free port; LocalAddr reads it back.
	Bind string `yaml:"bind"`
	// Advertise is the host or host:port other agents reach this one at
	// (default: the bound address, or a private IP when bound to 0.0.0.0).
	Advertise string `yaml:"advertise"`

	// ProbeInterval is how often each node probes one random member
	// (default 500ms); ProbeTimeout how long it waits for the direct ack
	// before asking others (default 300ms).
	ProbeInterval time.Duration `yaml:"probe_interval"`
	ProbeTimeout  time.Duration `yaml:"probe_timeout"`
	// SuspicionMult scales the time a suspected node has to refute before
	// it is declared dead: SuspicionMult·log10(N)·ProbeInterval, longer
	// while no other member confirms the suspicion (default 3).
	SuspicionMult int `yaml:"suspicion_mult"`
	// GossipInterval and GossipNodes: every GossipInterval, pending
	// updates go to GossipNodes random members (default 200ms, 3).
	GossipInterval time.Duration `yaml:"gossip_interval"`
	GossipNodes    int           `yaml:"gossip_nodes"`
	// PushPullInterval is the full-state anti-entropy period (default 15s).
	PushPullInterval time.Duration `yaml:"push_pull_interval"`
	// TCPTimeout bounds every memberlist TCP exchange: joins, push-pull,
	// record requests (default 3s).
	TCPTimeout time.Duration `yaml:"tcp_timeout"`
	// LeaveTimeout bounds the leave broadcast at shutdown (default 2s).
	LeaveTimeout time.Duration `yaml:"leave_timeout"`
	// JoinSeeds is how many seeds Join contacts successfully before it
	// stops (default 3): one is enough to join, a few survive a stale one.
	JoinSeeds int `yaml:"join_seeds"`
}

func (c Config) withDefaults() Config {
	if c.Bind == "" {
		c.Bind = net.JoinHostPort("0.0.0.0", strconv.Itoa(DefaultPort))
	}
	if c.ProbeInterval == 0 {
		c.ProbeInterval = 500 * time.Millisecond
	}
	if c.ProbeTimeout == 0 {
		c.ProbeTimeout = 300 * time.Millisecond
	}
	if c.SuspicionMult == 0 {
		c.SuspicionMult = 3
	}
	if c.GossipInterval == 0 {
		c.GossipInterval = 200 * time.Millisecond
	}
	if c.GossipNodes == 0 {
		c.GossipNodes = 3
	}
	if c.PushPullInterval == 0 {
		c.PushPullInterval = 15 * time.Second
	}
	if c.TCPTimeout == 0 {
		c.TCPTimeout = 3 * time.Second
	}
	if c.LeaveTimeout == 0 {
		c.LeaveTimeout = 2 * time.Second
	}
	if c.JoinSeeds == 0 {
		c.JoinSeeds = 3
	}
	return c
}

// Validate checks the configuration.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if _, _, err := splitBind(c.Bind); err != nil {
		errs = append(errs, err)
	}
	if c.Advertise != "" {
		if _, _, err := splitAdvertise(c.Advertise); err != nil {
			errs = append(errs, err)
		}
	}
	if c.ProbeInterval < 50*time.Millisecond {
		errs = append(errs, fmt.Errorf("probe_interval %s: want at least 50ms", c.ProbeInterval))
	}
	if c.ProbeTimeout <= 0 || c.ProbeTimeout >= c.ProbeInterval {
		errs = append(errs, fmt.Errorf("probe_timeout %s: want more than 0 and less than probe_interval", c.ProbeTimeout))
	}
	if c.SuspicionMult < 2 || c.SuspicionMult > 20 {
		errs = append(errs, fmt.Errorf("suspicion_mult %d: want 2..20", c.SuspicionMult))
	}
	if c.GossipInterval < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("gossip_interval %s: want at least 10ms", c.GossipInterval))
	}
	if c.GossipNodes < 1 || c.GossipNodes > 32 {
		errs = append(errs, fmt.Errorf("gossip_nodes %d: want 1..32", c.GossipNodes))
	}
	if c.PushPullInterval < time.Second {
		errs = append(errs, fmt.Errorf("push_pull_interval %s: want at least 1s", c.PushPullInterval))
	}
	if c.TCPTimeout < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("tcp_timeout %s: want at least 100ms", c.TCPTimeout))
	}
	if c.LeaveTimeout < 0 {
		errs = append(errs, fmt.Errorf("leave_timeout %s is negative", c.LeaveTimeout))
	}
	if c.JoinSeeds < 1 {
		errs = append(errs, fmt.Errorf("join_seeds %d: want at least 1", c.JoinSeeds))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("lan config: %w", err)
	}
	return nil
}

func splitBind(s string) (string, int, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, fmt.Errorf("bind %q: %w", s, err)
	}
	if net.ParseIP(host) == nil {
		return "", 0, fmt.Errorf("bind %q: host must be an IP address", s)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return "", 0, fmt.Errorf("bind %q: bad port", s)
	}
	return host, p, nil
}

// splitAdvertise accepts "ip" or "ip:port" (port 0: the bound port).
func splitAdvertise(s string) (string, int, error) {
	if net.ParseIP(s) != nil {
		return s, 0, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, fmt.Errorf("advertise %q: %w", s, err)
	}
	if net.ParseIP(host) == nil {
		return "", 0, fmt.Errorf("advertise %q: host must be an IP address", s)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return "", 0, fmt.Errorf("advertise %q: bad port", s)
	}
	return host, p, nil
}

// Identity is who this node is in its site's cluster; the agent fills it
// from its enrollment and from the site information of its job list.
type Identity struct {
	// PeerID is the agent's libp2p peer ID; it is the memberlist node name.
	PeerID string
	// Site is the agent's site; there is one cluster per site.
	Site string
	// Version is the agent's build version, published in the metadata.
	Version string
	// Record is the agent's central-signed peer record (see SetRecord for
	// renewals). It must name PeerID and Site.
	Record proto.SignedPeerRecord
	// RecordKey is central's Ed25519 key that signs peer records.
	RecordKey ed25519.PublicKey
	// GossipKey is the site's 32-byte memberlist key (AES-256-GCM), the
	// one this node sends with.
	GossipKey []byte
	// GossipKeys are the site's other keys this node accepts during a
	// rotation (SiteInfo.GossipKeys).
	GossipKeys [][]byte
}

// validate checks id, including that its own record names PeerID and Site
// (its signature is central's business: the agent got it over TLS, and
// the other members verify it anyway).
func (id Identity) validate() error {
	var errs []error
	if id.PeerID == "" {
		errs = append(errs, errors.New("peer ID is empty"))
	}
	if id.Site == "" || len(id.Site) > maxSiteLen {
		errs = append(errs, fmt.Errorf("site: want 1..%d bytes", maxSiteLen))
	}
	if len(id.RecordKey) != ed25519.PublicKeySize {
		errs = append(errs, fmt.Errorf("record key has %d bytes, want %d", len(id.RecordKey), ed25519.PublicKeySize))
	}
	if len(id.GossipKey) != gossipKeySize {
		errs = append(errs, fmt.Errorf("gossip key has %d bytes, want %d", len(id.GossipKey), gossipKeySize))
	}
	for _, k := range id.GossipKeys {
		if len(k) != gossipKeySize {
			errs = append(errs, fmt.Errorf("other gossip key has %d bytes, want %d", len(k), gossipKeySize))
		}
	}
	if _, err := (meta{PeerID: id.PeerID, Site: id.Site, Version: id.Version}).encode(); err != nil {
		errs = append(errs, err)
	}
	if err := checkOwnRecord(id.Record, id.PeerID, id.Site); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("lan identity: %w", err)
	}
	return nil
}

// checkOwnRecord parses (without verifying) this node's own record and
// checks that it names peerID and site.
func checkOwnRecord(s proto.SignedPeerRecord, peerID, site string) error {
	r, err := parseRecord(s)
	if err != nil {
		return err
	}
	if r.PeerID != peerID || r.Site != site {
		return fmt.Errorf("own peer record names peer %q of site %q: %w", r.PeerID, r.Site, proto.ErrBadPeerRecord)
	}
	return nil
}

const (
	gossipKeySize = 32
	// maxSiteLen keeps the memberlist label ("shoal/" + site) within
	// memberlist's 255 bytes.
	maxSiteLen = 200
)

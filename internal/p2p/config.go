package p2p

import (
	"fmt"
	"time"

	"github.com/multiformats/go-multiaddr"
)

// MaxFragmentSize bounds the size of one fragment on the wire (16 MiB). A
// request for more is refused before any byte moves.
const MaxFragmentSize = 16 << 20

// MaxHeaderSize bounds an encoded message header (16 KiB); a longer length
// prefix resets the stream.
const MaxHeaderSize = 16 << 10

// Config tunes a Node. The zero value is usable: withDefaults fills every
// field.
type Config struct {
	// Listen are the libp2p listen multiaddrs (default /ip4/0.0.0.0/tcp/0).
	Listen []string `yaml:"listen"`
	// MaxInboundConns bounds inbound libp2p connections (default 256).
	MaxInboundConns int `yaml:"max_inbound_conns"`
	// MaxInboundStreams bounds open inbound fragment streams (default 64);
	// streams beyond it are reset before their header is read.
	MaxInboundStreams int `yaml:"max_inbound_streams"`
	// MaxUploads bounds the fragments sent at the same time (default 8);
	// a request beyond it is answered "busy".
	MaxUploads int `yaml:"max_uploads"`
	// UploadRate caps the bytes per second sent to all peers together;
	// 0 is no cap.
	UploadRate int64 `yaml:"upload_rate"`
	// StreamTimeout bounds every read and write on a fragment stream
	// (default 30s): a peer that stalls longer is reset. Writes of
	// fragment bytes get StreamTimeout plus their size at MinPeerRate.
	StreamTimeout time.Duration `yaml:"stream_timeout"`
	// MinPeerRate is the slowest rate, in bytes per second, at which a
	// peer's link is still served rather than cut (default 32 KiB/s, that
	// is 256 kbit/s): write deadlines, and how long the connection's
	// muxer waits for a write to the socket (its kernel send buffer of up
	// to sendBufferMax bytes drains at this rate), are derived from it.
	// The downloader, not the connection, decides whether a slow peer is
	// worth waiting for (agent/swarm's progress bound).
	MinPeerRate int64 `yaml:"min_peer_rate"`
	// DialTimeout bounds the TCP connect to a peer (default 2s).
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// HandshakeTimeout bounds an outgoing connection's dial plus its TLS
	// and muxer handshakes (default 5s). Inbound handshakes are bounded by
	// libp2p's own accept timeout (15s).
	HandshakeTimeout time.Duration `yaml:"handshake_timeout"`
	// PullTimeout bounds how long a node that pulls missing fragments
	// from upstream (a relay, Deps.Pull) waits for one before answering
	// "busy" (default 2m). The pull goes on for the next request.
	PullTimeout time.Duration `yaml:"pull_timeout"`
	// RelayWait bounds how long a fetch from a relay (RelaySource) waits
	// for the answer while the relay pulls the fragment from upstream
	// (default 2m30s, above a relay's PullTimeout).
	RelayWait time.Duration `yaml:"relay_wait"`
	// MaxHaveStreams bounds the inbound have streams (HaveProtocol), one
	// per peer and package (default 256); more are reset unread.
	MaxHaveStreams int `yaml:"max_have_streams"`
	// HaveRate bounds the have messages a peer may send on one stream, per
	// second (default 50, with a burst of twice that); a peer that sends
	// more is cut off (its stream reset) for that package. An honest peer
	// sends one message per batch of fragments it stored.
	HaveRate int `yaml:"have_rate"`
	// SeedCopies makes the node super-seed (seed.go): a fragment is sent
	// to at most this many swarm requesters at a time within SeedWindow
	// of its first upload; the others are answered busy-seeding and take
	// it from those peers (default DefaultSeedCopies; negative: off, every
	// request is served).
	SeedCopies int `yaml:"seed_copies"`
	// SeedWindow is how long after its first upload a fragment is
	// super-seeded (default 2s); then every request is served.
	SeedWindow time.Duration `yaml:"seed_window"`
}

func (c Config) withDefaults() Config {
	if len(c.Listen) == 0 {
		c.Listen = []string{"/ip4/0.0.0.0/tcp/0"}
	}
	if c.MaxInboundConns == 0 {
		c.MaxInboundConns = 256
	}
	if c.MaxInboundStreams == 0 {
		c.MaxInboundStreams = 64
	}
	if c.MaxUploads == 0 {
		c.MaxUploads = 8
	}
	if c.StreamTimeout == 0 {
		c.StreamTimeout = 30 * time.Second
	}
	if c.MinPeerRate == 0 {
		c.MinPeerRate = 32 << 10
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 2 * time.Second
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = 5 * time.Second
	}
	if c.PullTimeout == 0 {
		c.PullTimeout = 2 * time.Minute
	}
	if c.RelayWait == 0 {
		c.RelayWait = 150 * time.Second
	}
	if c.MaxHaveStreams == 0 {
		c.MaxHaveStreams = 256
	}
	if c.HaveRate == 0 {
		c.HaveRate = 50
	}
	if c.SeedCopies == 0 {
		c.SeedCopies = DefaultSeedCopies
	}
	if c.SeedWindow == 0 {
		c.SeedWindow = DefaultSeedWindow
	}
	return c
}

// DefaultSeedCopies is the default of Config.SeedCopies, for relays and
// agents alike. An agent that just stored a fragment (a WAN owner's from
// central, or a copy) hands it to three peers at a time, which then serve
// it from their own ports: at the end of a lab download, when every agent
// of a branch wanted the last fragments at once, each owner sent 8 copies
// side by side (MaxUploads) through its one 100 Mbit/s port, 0.5-1.2 s
// each, and the last agent had a fragment 1.8-2.4 s after its owner
// stored it; three at a time, 0.2-0.6 s each, 1.3-1.5 s (docs/LAB.md,
// eighth session).
const DefaultSeedCopies = 3

// DefaultSeedWindow is the default of Config.SeedWindow.
const DefaultSeedWindow = 2 * time.Second

// Validate checks the configuration (after defaults).
func (c Config) Validate() error {
	c = c.withDefaults()
	for _, a := range c.Listen {
		if _, err := multiaddr.NewMultiaddr(a); err != nil {
			return fmt.Errorf("p2p: listen address %q: %w", a, err)
		}
	}
	switch {
	case c.MaxInboundConns < 1:
		return fmt.Errorf("p2p: max_inbound_conns %d: want at least 1", c.MaxInboundConns)
	case c.MaxInboundStreams < 1:
		return fmt.Errorf("p2p: max_inbound_streams %d: want at least 1", c.MaxInboundStreams)
	case c.MaxUploads < 1 || c.MaxUploads > c.MaxInboundStreams:
		return fmt.Errorf("p2p: max_uploads %d: want 1..max_inbound_streams (%d)", c.MaxUploads, c.MaxInboundStreams)
	case c.UploadRate < 0:
		return fmt.Errorf("p2p: upload_rate %d is negative", c.UploadRate)
	case c.UploadRate > 0 && c.UploadRate < chunkSize:
		return fmt.Errorf("p2p: upload_rate %d: want 0 or at least %d bytes/s", c.UploadRate, chunkSize)
	case c.StreamTimeout < 100*time.Millisecond:
		return fmt.Errorf("p2p: stream_timeout %s: want at least 100ms", c.StreamTimeout)
	case c.MinPeerRate < 1<<10:
		return fmt.Errorf("p2p: min_peer_rate %d: want at least 1024 bytes/s", c.MinPeerRate)
	case c.DialTimeout < 10*time.Millisecond:
		return fmt.Errorf("p2p: dial_timeout %s: want at least 10ms", c.DialTimeout)
	case c.HandshakeTimeout < c.DialTimeout:
		return fmt.Errorf("p2p: handshake_timeout %s: want at least dial_timeout (%s)", c.HandshakeTimeout, c.DialTimeout)
	case c.PullTimeout < 100*time.Millisecond:
		return fmt.Errorf("p2p: pull_timeout %s: want at least 100ms", c.PullTimeout)
	case c.MaxHaveStreams < 1:
		return fmt.Errorf("p2p: max_have_streams %d: want at least 1", c.MaxHaveStreams)
	case c.HaveRate < 1:
		return fmt.Errorf("p2p: have_rate %d: want at least 1", c.HaveRate)
	case c.SeedWindow < 0:
		return fmt.Errorf("p2p: seed_window %s is negative", c.SeedWindow)
	case c.RelayWait < c.StreamTimeout:
		return fmt.Errorf("p2p: relay_wait %s: want at least stream_timeout (%s)", c.RelayWait, c.StreamTimeout)
	}
	return nil
}

// sendBufferMax is the most a kernel buffers on one TCP connection before
// a write blocks (Linux's default tcp_wmem maximum is 4 MiB).
const sendBufferMax = 4 << 20

// writeTimeout bounds a write of size bytes: StreamTimeout plus the time
// the bytes take at MinPeerRate. cfg must have its defaults.
func (c Config) writeTimeout(size int64) time.Duration {
	return c.StreamTimeout + time.Duration(float64(size)/float64(c.MinPeerRate)*float64(time.Second))
}

// connWriteTimeout bounds how long the muxer waits for one write to the
// connection, and for a keep-alive answer queued behind a full send
// buffer, before it closes the connection: yamux's 10s default resets
// every stream of a peer behind a 512 kbit/s link, whose send buffer
// takes over a minute to drain.
func (c Config) connWriteTimeout() time.Duration { return c.writeTimeout(sendBufferMax) }

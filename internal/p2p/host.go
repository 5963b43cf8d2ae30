package p2p

import (
	"crypto/x509"
	"fmt"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/shoal-project/shoal/proto"
)

// newHost returns a libp2p host with the identity key, listening on
// cfg.Listen with TCP + TLS + yamux only (TLS measured 1.24× faster than
// Noise on loopback, dependencies.md §2b), no relay, no metrics, and a
// resource manager that caps inbound connections and fragment streams.
// tmpl is the TLS identity certificate's template (certTemplate), whose
// wide validity lets peers with skewed clocks connect.
func newHost(cfg Config, key crypto.PrivKey, tmpl *x509.Certificate) (host.Host, error) {
	scaled := rcmgr.DefaultLimits.AutoScale()
	partial := rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{
			ConnsInbound: rcmgr.LimitVal(cfg.MaxInboundConns),
			// Room for the outbound connections of our own fetches.
			Conns: rcmgr.LimitVal(cfg.MaxInboundConns + 128),
		},
		Protocol: map[protocol.ID]rcmgr.ResourceLimits{
			proto.FragmentProtocol: {StreamsInbound: rcmgr.LimitVal(cfg.MaxInboundStreams)},
			proto.HaveProtocol:     {StreamsInbound: rcmgr.LimitVal(cfg.MaxHaveStreams)},
		},
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(partial.Build(scaled)))
	if err != nil {
		return nil, fmt.Errorf("p2p: resource manager: %w", err)
	}
	h, err := libp2p.New(
		libp2p.Identity(key),
		libp2p.ListenAddrStrings(cfg.Listen...),
		libp2p.Transport(tcp.NewTCPTransport, tcp.WithConnectionTimeout(cfg.DialTimeout)),
		libp2p.Security(libp2ptls.ID, newTLSTransport(tmpl)),
		libp2p.Muxer(yamux.ID, muxer(cfg)),
		libp2p.ResourceManager(rm),
		libp2p.WithDialTimeout(cfg.HandshakeTimeout),
		libp2p.UserAgent("shoal-agent"),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
	)
	if err != nil {
		rm.Close()
		return nil, fmt.Errorf("p2p: new host: %w", err)
	}
	return h, nil
}

package p2p

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/core/sec"
	tptu "github.com/libp2p/go-libp2p/p2p/net/upgrader"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
)

// Certificate validity of the libp2p TLS identity. libp2p's own transport
// makes the certificate valid from one hour before the local clock, so a
// peer whose clock runs more than an hour ahead presents a certificate
// that correct peers refuse as "not yet valid" for an hour after each
// start. Ours is valid from a day before (and for a century after), so
// peers tolerate a day of skew either way; the certificate proves nothing
// by its dates (it is self-signed and bound to the peer ID by libp2p's
// signed key extension).
const (
	certBackdate = 24 * time.Hour
	certValidity = 100 * 365 * 24 * time.Hour
)

// certTemplate is the identity certificate template at local time now,
// valid from now-backdate to now+certValidity.
func certTemplate(now time.Time, backdate time.Duration) (*x509.Certificate, error) {
	limit := big.NewInt(1 << 62)
	sn, err := rand.Int(rand.Reader, limit)
	if err != nil {
		return nil, fmt.Errorf("p2p: certificate serial: %w", err)
	}
	subject, err := rand.Int(rand.Reader, limit)
	if err != nil {
		return nil, fmt.Errorf("p2p: certificate subject: %w", err)
	}
	return &x509.Certificate{
		SerialNumber: sn,
		NotBefore:    now.Add(-backdate),
		NotAfter:     now.Add(certValidity),
		Subject:      pkix.Name{SerialNumber: subject.String()},
	}, nil
}

// tlsTransport is libp2p's TLS 1.3 security transport (same protocol ID,
// same handshake, same early muxer negotiation, so it interoperates with
// libp2ptls) with an identity certificate made from our template:
// libp2ptls.New offers no way to pass one.
type tlsTransport struct {
	id     *libp2ptls.Identity
	local  peer.ID
	muxers []string
}

var _ sec.SecureTransport = (*tlsTransport)(nil)

// newTLSTransport returns the constructor libp2p.Security calls (its
// first parameter is the protocol ID libp2p supplies, as for
// libp2ptls.New).
func newTLSTransport(tmpl *x509.Certificate) func(_ protocol.ID, key crypto.PrivKey, muxers []tptu.StreamMuxer) (*tlsTransport, error) {
	return func(_ protocol.ID, key crypto.PrivKey, muxers []tptu.StreamMuxer) (*tlsTransport, error) {
		local, err := peer.IDFromPrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("p2p: tls: %w", err)
		}
		id, err := libp2ptls.NewIdentity(key, libp2ptls.WithCertTemplate(tmpl))
		if err != nil {
			return nil, fmt.Errorf("p2p: tls identity: %w", err)
		}
		t := &tlsTransport{id: id, local: local}
		for _, m := range muxers {
			t.muxers = append(t.muxers, string(m.ID))
		}
		return t, nil
	}
}

// ID implements sec.SecureTransport.
func (t *tlsTransport) ID() protocol.ID { return libp2ptls.ID }

// SecureInbound implements sec.SecureTransport. As in libp2ptls, the
// client's muxer preference wins the ALPN selection.
func (t *tlsTransport) SecureInbound(ctx context.Context, insecure net.Conn, p peer.ID) (sec.SecureConn, error) {
	config, keyCh := t.id.ConfigForPeer(p)
	muxers := t.muxers
	config.GetConfigForClient = func(info *tls.ClientHelloInfo) (*tls.Config, error) {
		for _, proto := range info.SupportedProtos {
			for _, m := range muxers {
				if m == proto {
					config.NextProtos = []string{proto}
					return config, nil
				}
			}
		}
		return config, nil
	}
	config.NextProtos = append(append([]string(nil), muxers...), config.NextProtos...)
	sc, err := t.handshake(ctx, tls.Server(insecure, config), keyCh)
	if err != nil {
		insecure.Close()
	}
	return sc, err
}

// SecureOutbound implements sec.SecureTransport.
func (t *tlsTransport) SecureOutbound(ctx context.Context, insecure net.Conn, p peer.ID) (sec.SecureConn, error) {
	config, keyCh := t.id.ConfigForPeer(p)
	config.NextProtos = append(append([]string(nil), t.muxers...), config.NextProtos...)
	sc, err := t.handshake(ctx, tls.Client(insecure, config), keyCh)
	if err != nil {
		insecure.Close()
	}
	return sc, err
}

func (t *tlsTransport) handshake(ctx context.Context, c *tls.Conn, keyCh <-chan crypto.PubKey) (sec.SecureConn, error) {
	if err := c.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("p2p: tls handshake: %w", err)
	}
	var remoteKey crypto.PubKey
	select {
	case remoteKey = <-keyCh:
	default:
	}
	if remoteKey == nil {
		return nil, errors.New("p2p: tls handshake: no remote key")
	}
	remote, err := peer.IDFromPublicKey(remoteKey)
	if err != nil {
		return nil, fmt.Errorf("p2p: tls remote peer: %w", err)
	}
	next := c.ConnectionState().NegotiatedProtocol
	if next == "libp2p" {
		// A peer without early muxer negotiation.
		next = ""
	}
	return &tlsConn{Conn: c, local: t.local, remote: remote, remoteKey: remoteKey,
		state: network.ConnectionState{StreamMultiplexer: protocol.ID(next), UsedEarlyMuxerNegotiation: next != ""}}, nil
}

// tlsConn is a secured connection.
type tlsConn struct {
	*tls.Conn
	local, remote peer.ID
	remoteKey     crypto.PubKey
	state         network.ConnectionState
}

var _ sec.SecureConn = (*tlsConn)(nil)

func (c *tlsConn) LocalPeer() peer.ID                 { return c.local }
func (c *tlsConn) RemotePeer() peer.ID                { return c.remote }
func (c *tlsConn) RemotePublicKey() crypto.PubKey     { return c.remoteKey }
func (c *tlsConn) ConnState() network.ConnectionState { return c.state }

package p2p

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
)

// skewedHost is a bare host whose identity certificate was made as if the
// local clock were skew off, valid from backdate before that time.
func skewedHost(t *testing.T, skew, backdate time.Duration) host.Host {
	t.Helper()
	key, _ := newKey(t)
	tmpl, err := certTemplate(time.Now().Add(skew), backdate)
	if err != nil {
		t.Fatal(err)
	}
	h, err := newHost(Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}}.withDefaults(), key, tmpl)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// TestSkewedCertificate connects a host with a correct clock to one whose
// certificate was made with its clock two hours off. With libp2p's own
// validity window (from one hour before) the correct host refuses the
// certificate of a host two hours ahead ("not yet valid"); with ours (a
// day before) both directions connect.
func TestSkewedCertificate(t *testing.T) {
	tests := []struct {
		name     string
		skew     time.Duration
		backdate time.Duration
		wantOK   bool
	}{
		{name: "ahead_2h_libp2p_window", skew: 2 * time.Hour, backdate: time.Hour, wantOK: false},
		{name: "ahead_2h", skew: 2 * time.Hour, backdate: certBackdate, wantOK: true},
		{name: "behind_2h", skew: -2 * time.Hour, backdate: certBackdate, wantOK: true},
		{name: "ahead_23h", skew: 23 * time.Hour, backdate: certBackdate, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			good := skewedHost(t, 0, tt.backdate)
			skewed := skewedHost(t, tt.skew, tt.backdate)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// The correct host dials: it verifies the skewed host's
			// certificate during its own handshake.
			err := good.Connect(ctx, peer.AddrInfo{ID: skewed.ID(), Addrs: skewed.Addrs()})
			if tt.wantOK && err != nil {
				t.Fatalf("connect to a host %s off: %v", tt.skew, err)
			}
			if !tt.wantOK {
				if err == nil {
					t.Fatalf("connect to a host %s off with a %s window succeeded, want refused", tt.skew, tt.backdate)
				}
				if !strings.Contains(err.Error(), "not yet valid") {
					t.Fatalf("connect: %v, want a certificate refused as not yet valid", err)
				}
			}
		})
	}
}

// TestSkewedNodeExchangesFragments runs a real node whose clock is two
// hours ahead next to a correct one: fragments flow both ways.
func TestSkewedNodeExchangesFragments(t *testing.T) {
	c := newCentral(t)
	good := startNode(t, c, Config{})
	skewed := startNodeDeps(t, c, Config{}, Deps{Now: func() time.Time { return time.Now().Add(2 * time.Hour) }})

	data := randomBytes(256<<10, 7)
	f := skewed.put(t, data)
	got, err := fetchBytes(context.Background(), good.source(t, skewed), f)
	if err != nil {
		t.Fatalf("fetch from the skewed node: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("fetched bytes differ from the stored ones")
	}

	data2 := randomBytes(256<<10, 8)
	f2 := good.put(t, data2)
	got, err = fetchBytes(context.Background(), skewed.source(t, good), f2)
	if err != nil {
		t.Fatalf("fetch by the skewed node: %v", err)
	}
	if !bytes.Equal(got, data2) {
		t.Fatal("fetched bytes differ from the stored ones")
	}
}

// TestTLSInteroperatesWithLibp2p connects our TLS transport with
// libp2p's stock one in both directions: same protocol, same handshake.
func TestTLSInteroperatesWithLibp2p(t *testing.T) {
	ours := skewedHost(t, 0, certBackdate)
	key, _ := newKey(t)
	stock, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Security(libp2ptls.ID, libp2ptls.New), libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stock.Close() })
	tests := []struct {
		name     string
		from, to host.Host
	}{
		{name: "ours_dials_stock", from: ours, to: stock},
		{name: "stock_dials_ours", from: stock, to: ours},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := tt.from.Connect(ctx, peer.AddrInfo{ID: tt.to.ID(), Addrs: tt.to.Addrs()}); err != nil {
				t.Fatalf("connect: %v", err)
			}
			for _, c := range tt.from.Network().ConnsToPeer(tt.to.ID()) {
				if st := c.ConnState(); st.Security != libp2ptls.ID || st.StreamMultiplexer != yamux.ID {
					t.Errorf("connection state %+v, want TLS and yamux", st)
				}
				c.Close()
			}
		})
	}
}

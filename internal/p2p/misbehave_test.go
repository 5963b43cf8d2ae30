package p2p

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoal-project/shoal/internal/testwait"
	"github.com/shoal-project/shoal/proto"
)

// TestMisbehavingServer plays a server with hand-written handlers that
// stall or cut a fragment short; the client must give up within its
// stream deadline and never return a short body as complete.
func TestMisbehavingServer(t *testing.T) {
	c := newCentral(t)
	data := randomBytes(1<<20, 6)
	f := proto.Fragment{Size: int64(len(data)), CID: proto.FragmentCID(data).String()}

	tests := []struct {
		name string
		// serve answers the request; release is closed at the end of
		// the test, so a stalling handler returns then.
		serve   func(s network.Stream, rec proto.SignedPeerRecord, release <-chan struct{})
		wantErr error
		timeout bool
	}{
		{
			name: "stall-before-header",
			serve: func(s network.Stream, _ proto.SignedPeerRecord, release <-chan struct{}) {
				<-release
			},
			wantErr: ErrPeer, timeout: true,
		},
		{
			name: "stall-mid-body",
			serve: func(s network.Stream, rec proto.SignedPeerRecord, release <-chan struct{}) {
				writeHeader(s, response{Status: statusOK, Size: f.Size, Record: &rec})
				s.Write(data[:len(data)/2])
				<-release
			},
			timeout: true,
		},
		{
			name: "short-body",
			serve: func(s network.Stream, rec proto.SignedPeerRecord, _ <-chan struct{}) {
				writeHeader(s, response{Status: statusOK, Size: f.Size, Record: &rec})
				s.Write(data[:len(data)/2])
				s.Close()
			},
			wantErr: io.ErrUnexpectedEOF,
		},
		{
			name: "wrong-size",
			serve: func(s network.Stream, rec proto.SignedPeerRecord, _ <-chan struct{}) {
				writeHeader(s, response{Status: statusOK, Size: f.Size + 1, Record: &rec})
				s.Write(data)
				s.Write([]byte{0})
				s.Close()
			},
			wantErr: ErrPeer,
		},
		{
			name: "no-record",
			serve: func(s network.Stream, _ proto.SignedPeerRecord, _ <-chan struct{}) {
				writeHeader(s, response{Status: statusOK, Size: f.Size})
				s.Write(data)
				s.Close()
			},
			wantErr: ErrUntrusted,
		},
		{
			name: "oversized-header",
			serve: func(s network.Stream, _ proto.SignedPeerRecord, _ <-chan struct{}) {
				var lb [4]byte
				binary.BigEndian.PutUint32(lb[:], MaxHeaderSize+1)
				s.Write(lb[:])
				s.Write(make([]byte, MaxHeaderSize+1))
				s.Close()
			},
			wantErr: errHeader,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := startNode(t, c, Config{StreamTimeout: 300 * time.Millisecond})
			h, _ := rawHost(t)
			rec := c.record(t, h.ID(), testSite, time.Hour)
			release := make(chan struct{})
			t.Cleanup(func() { close(release) })
			h.SetStreamHandler(proto.FragmentProtocol, func(s network.Stream) {
				defer s.Reset()
				var req request
				if err := readHeader(s, &req); err != nil {
					return
				}
				tt.serve(s, rec, release)
			})
			src, err := client.Source(h.ID().String(), addrStrings(h))
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			got, err := fetchBytes(context.Background(), src, f)
			if err == nil {
				t.Fatalf("fetch returned %d bytes and no error", len(got))
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("fetch error = %v, want %v", err, tt.wantErr)
			}
			var ne net.Error
			if tt.timeout && (!errors.As(err, &ne) || !ne.Timeout()) {
				t.Errorf("fetch error = %v, want a timeout", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("fetch gave up after %v, want about the 300ms stream timeout", d)
			}
		})
	}
}

func addrStrings(h host.Host) []string {
	var out []string
	for _, a := range h.Addrs() {
		out = append(out, a.String())
	}
	return out
}

// TestMisbehavingClient plays a client with a raw stream: the server
// resets streams that send an oversized or garbled header, or stall,
// without answering.
func TestMisbehavingClient(t *testing.T) {
	c := newCentral(t)
	tests := []struct {
		name string
		send func(s network.Stream)
	}{
		{
			name: "oversized-header",
			send: func(s network.Stream) {
				var lb [4]byte
				binary.BigEndian.PutUint32(lb[:], 1<<20)
				s.Write(lb[:])
				s.Write(make([]byte, 64<<10))
			},
		},
		{
			name: "zero-length-header",
			send: func(s network.Stream) { s.Write([]byte{0, 0, 0, 0}) },
		},
		{
			name: "garbled-header",
			send: func(s network.Stream) { s.Write([]byte{0, 0, 0, 3, '{', 'x', '}'}) },
		},
		{
			name: "stall",
			send: func(s network.Stream) { s.Write([]byte{0, 0}) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := startNode(t, c, Config{StreamTimeout: 300 * time.Millisecond})
			h, _ := rawHost(t)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := h.Connect(ctx, peerInfo(t, server)); err != nil {
				t.Fatal(err)
			}
			s, err := h.NewStream(ctx, server.PeerID(), proto.FragmentProtocol)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Reset()
			tt.send(s)
			s.SetReadDeadline(time.Now().Add(10 * time.Second))
			var resp response
			if err := readHeader(s, &resp); err == nil {
				t.Fatalf("server answered %+v, want a reset", resp)
			}
			testwait.For(t, 5*time.Second, "error counted", func() error {
				if st := server.Stats(); st.Errors != 1 || st.Served != 0 {
					return fmt.Errorf("server stats errors=%d served=%d, want 1 and 0", st.Errors, st.Served)
				}
				return nil
			})
		})
	}
}

func peerInfo(t testing.TB, n *testNode) peer.AddrInfo {
	t.Helper()
	mas, err := parseAddrs(n.PeerID(), n.Addrs())
	if err != nil {
		t.Fatal(err)
	}
	return peer.AddrInfo{ID: n.PeerID(), Addrs: mas}
}

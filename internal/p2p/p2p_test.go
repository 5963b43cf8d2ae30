package p2p

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/agent/fetch"
	"github.com/shoal-project/shoal/internal/testwait"
	"github.com/shoal-project/shoal/proto"
)

func TestFetchVerified(t *testing.T) {
	c := newCentral(t)
	a, b := startNode(t, c, Config{}), startNode(t, c, Config{})
	data := randomBytes(3<<20+17, 1)
	f := a.put(t, data)

	got, err := fetchBytes(context.Background(), b.source(t, a), f)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("fetched %d bytes that differ from the %d stored", len(got), len(data))
	}
	want, _ := proto.ParseCID(f.CID)
	if err := proto.VerifyFragment(want, got); err != nil {
		t.Fatal(err)
	}
	// The server counts after closing the stream: poll.
	testwait.For(t, 5*time.Second, "server stats", func() error {
		got := a.Stats().Peers[b.PeerID().String()]
		want := PeerStats{Requests: 1, Served: 1, BytesServed: f.Size}
		if d := cmp.Diff(want, got); d != "" {
			return fmt.Errorf("server peer stats (-want +got):\n%s", d)
		}
		return nil
	})
	if d := cmp.Diff(PeerStats{Fetched: 1, BytesFetched: f.Size}, b.Stats().Peers[a.PeerID().String()]); d != "" {
		t.Errorf("client peer stats (-want +got):\n%s", d)
	}
}

func TestFetchThroughFetcher(t *testing.T) {
	c := newCentral(t)
	a, b := startNode(t, c, Config{}), startNode(t, c, Config{})
	data := randomBytes(5<<20, 2)
	m := &proto.Manifest{PackageID: "pkg-1"}
	for i, off := 0, 0; off < len(data); i, off = i+1, off+1<<20 {
		f := a.put(t, data[off:off+1<<20])
		f.Index, f.Offset = i, int64(off)
		m.Fragments = append(m.Fragments, f)
	}
	fe, err := fetch.New(fetch.Config{MaxAttempts: 1}, b.store, []fetch.Source{b.source(t, a)}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	var st fetch.Stats
	if err := fe.Fetch(context.Background(), m, &st); err != nil {
		t.Fatalf("fetch package: %v", err)
	}
	if got := st.BytesPeer.Load(); got != int64(len(data)) {
		t.Errorf("BytesPeer = %d, want %d", got, len(data))
	}
	missing, err := fe.Missing(m)
	if err != nil || len(missing) != 0 {
		t.Errorf("Missing after fetch = %d fragments, %v; want none", len(missing), err)
	}
}

func TestFetchRefusals(t *testing.T) {
	c := newCentral(t)
	other := newCentral(t)
	server := startNode(t, c, Config{})
	stored := server.put(t, randomBytes(1<<20, 3))
	absent := proto.Fragment{Size: 10, CID: proto.FragmentCID([]byte("not stored")).String()}

	tests := []struct {
		name string
		// prepare breaks something on the client or the server.
		prepare func(t *testing.T, client, server *testNode)
		frag    proto.Fragment
		wantErr error
	}{
		{name: "ok", frag: stored},
		{name: "not-found", frag: absent, wantErr: ErrNotFound},
		{name: "wrong-size", frag: proto.Fragment{Size: stored.Size - 1, CID: stored.CID}, wantErr: ErrNotFound},
		{
			name: "client-other-site",
			prepare: func(t *testing.T, client, _ *testNode) {
				client.forceRecord(c.record(t, client.PeerID(), "branch-2", time.Hour))
			},
			frag: stored, wantErr: ErrForbidden,
		},
		{
			name: "client-expired",
			prepare: func(t *testing.T, client, _ *testNode) {
				client.forceRecord(c.record(t, client.PeerID(), testSite, -time.Minute))
			},
			frag: stored, wantErr: ErrForbidden,
		},
		{
			name: "client-forged",
			prepare: func(t *testing.T, client, _ *testNode) {
				client.forceRecord(other.record(t, client.PeerID(), testSite, time.Hour))
			},
			frag: stored, wantErr: ErrForbidden,
		},
		{
			name: "client-tampered",
			prepare: func(t *testing.T, client, _ *testNode) {
				rec := c.record(t, client.PeerID(), "branch-2", time.Hour)
				rec.Record = bytes.Replace(rec.Record, []byte("branch-2"), []byte(testSite), 1)
				client.forceRecord(rec)
			},
			frag: stored, wantErr: ErrForbidden,
		},
		{
			name: "client-revoked",
			prepare: func(t *testing.T, client, server *testNode) {
				server.SetSite(testSite, []string{"someone-else", client.PeerID().String()})
				t.Cleanup(func() { server.SetSite(testSite, nil) })
			},
			frag: stored, wantErr: ErrForbidden,
		},
		{
			name: "client-record-of-another-peer",
			prepare: func(t *testing.T, client, server *testNode) {
				// A valid record, but of the server's peer ID: the
				// connection authenticates the client, not the server.
				client.forceRecord(c.record(t, server.PeerID(), testSite, time.Hour))
			},
			frag: stored, wantErr: ErrForbidden,
		},
		{
			name: "server-revoked",
			prepare: func(t *testing.T, client, server *testNode) {
				client.SetSite(testSite, []string{server.PeerID().String()})
			},
			frag: stored, wantErr: ErrUntrusted,
		},
		{
			name: "server-other-site",
			prepare: func(t *testing.T, client, server *testNode) {
				server.forceRecord(c.record(t, server.PeerID(), "branch-2", time.Hour))
				t.Cleanup(func() { server.forceRecord(c.record(t, server.PeerID(), testSite, time.Hour)) })
			},
			frag: stored, wantErr: ErrUntrusted,
		},
		{
			name: "server-forged",
			prepare: func(t *testing.T, client, server *testNode) {
				server.forceRecord(other.record(t, server.PeerID(), testSite, time.Hour))
				t.Cleanup(func() { server.forceRecord(c.record(t, server.PeerID(), testSite, time.Hour)) })
			},
			frag: stored, wantErr: ErrUntrusted,
		},
		{
			name: "server-record-of-another-peer",
			prepare: func(t *testing.T, client, server *testNode) {
				server.forceRecord(c.record(t, client.PeerID(), testSite, time.Hour))
				t.Cleanup(func() { server.forceRecord(c.record(t, server.PeerID(), testSite, time.Hour)) })
			},
			frag: stored, wantErr: ErrUntrusted,
		},
		{
			name: "client-without-site",
			prepare: func(t *testing.T, client, _ *testNode) {
				client.SetSite("", nil)
			},
			frag: stored, wantErr: ErrNoPeerRecord,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := startNode(t, c, Config{})
			if tt.prepare != nil {
				tt.prepare(t, client, server)
			}
			got, err := fetchBytes(context.Background(), client.source(t, server), tt.frag)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("fetch error = %v, want %v", err, tt.wantErr)
			}
			if err == nil && int64(len(got)) != tt.frag.Size {
				t.Errorf("fetched %d bytes, want %d", len(got), tt.frag.Size)
			}
			if err != nil && got != nil {
				t.Errorf("got %d bytes with an error", len(got))
			}
		})
	}
}

func TestBusy(t *testing.T) {
	c := newCentral(t)
	server := startNode(t, c, Config{MaxUploads: 1})
	client := startNode(t, c, Config{})
	f := server.put(t, randomBytes(8<<20, 4))
	src := client.source(t, server)

	// The first body is not read: the server fills the stream's window and
	// blocks in Write, holding its only upload slot.
	first, err := src.Fetch(context.Background(), "pkg-1", f)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fetchBytes(context.Background(), src, f); !errors.Is(err, ErrBusy) {
		t.Fatalf("second fetch error = %v, want ErrBusy", err)
	}
	// Abandoning the first (Close before the end resets it) frees the slot.
	if err := first.Close(); err != nil {
		t.Fatalf("close partial body: %v", err)
	}
	testwait.For(t, 10*time.Second, "upload slot freed", func() error {
		_, err := fetchBytes(context.Background(), src, f)
		return err
	})
	// The server counts after closing the stream: poll.
	testwait.For(t, 5*time.Second, "server stats", func() error {
		if st := server.Stats(); st.Busy < 1 || st.Served < 1 {
			return fmt.Errorf("server stats busy=%d served=%d, want both ≥ 1", st.Busy, st.Served)
		}
		return nil
	})
}

func TestCorruptServer(t *testing.T) {
	c := newCentral(t)
	bad, good := startNode(t, c, Config{}), startNode(t, c, Config{})
	bad.mangle = func(p []byte, off int64) {
		if off == 0 {
			p[0] ^= 0xff
		}
	}
	client := startNode(t, c, Config{})
	data := randomBytes(1<<20, 5)
	f := bad.put(t, data)
	good.put(t, data)

	got, err := fetchBytes(context.Background(), client.source(t, bad), f)
	if err != nil {
		t.Fatalf("fetch from corrupt node: %v", err)
	}
	want, _ := proto.ParseCID(f.CID)
	if err := proto.VerifyFragment(want, got); !errors.Is(err, proto.ErrDigestMismatch) {
		t.Fatalf("VerifyFragment of corrupt bytes = %v, want ErrDigestMismatch", err)
	}

	// Through the fetcher: the corrupt bytes are never stored, the fragment
	// comes from the honest peer on the retry.
	fe, err := fetch.New(fetch.Config{MaxAttempts: 2}, client.store,
		[]fetch.Source{client.source(t, bad), client.source(t, good)}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	f.Index = 0
	var st fetch.Stats
	if err := fe.Fetch(context.Background(), &proto.Manifest{PackageID: "pkg-1", Fragments: []proto.Fragment{f}}, &st); err != nil {
		t.Fatalf("fetch package: %v", err)
	}
	if st.BadFragments.Load() != 1 {
		t.Errorf("BadFragments = %d, want 1", st.BadFragments.Load())
	}
	if ok, err := client.store.Check(f.CID, f.Size); !ok || err != nil {
		t.Errorf("stored fragment check = %t, %v; want verified", ok, err)
	}
}

func TestFetchBeforeRun(t *testing.T) {
	c := newCentral(t)
	server := startNode(t, c, Config{})
	key, id := newKey(t)
	n, err := New(Config{}, key, testLogger(t), Deps{Store: server.store, CentralKey: c.pub})
	if err != nil {
		t.Fatal(err)
	}
	n.SetSite(testSite, nil)
	if err := n.SetPeerRecord(c.record(t, id, testSite, time.Hour)); err != nil {
		t.Fatal(err)
	}
	src, err := n.Source(server.PeerID().String(), server.Addrs())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Fetch(context.Background(), "pkg-1", proto.Fragment{Size: 1, CID: proto.FragmentCID([]byte("x")).String()}); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("fetch before Run = %v, want ErrNotRunning", err)
	}
}

func TestSetPeerRecord(t *testing.T) {
	c, other := newCentral(t), newCentral(t)
	key, id := newKey(t)
	_, otherID := newKey(t)
	n, err := New(Config{}, key, testLogger(t), Deps{Store: emptyStore(t), CentralKey: c.pub})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		rec     proto.SignedPeerRecord
		wantErr error
	}{
		{name: "valid", rec: c.record(t, id, testSite, time.Hour)},
		{name: "expired", rec: c.record(t, id, testSite, -time.Second), wantErr: proto.ErrPeerRecordExpired},
		{name: "other-key", rec: other.record(t, id, testSite, time.Hour), wantErr: proto.ErrBadPeerRecord},
		{name: "other-peer", rec: c.record(t, otherID, testSite, time.Hour), wantErr: proto.ErrBadPeerRecord},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := n.SetPeerRecord(tt.rec)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("SetPeerRecord = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{name: "defaults", cfg: Config{}, ok: true},
		{name: "bad-listen", cfg: Config{Listen: []string{"tcp://x"}}},
		{name: "uploads-above-streams", cfg: Config{MaxUploads: 10, MaxInboundStreams: 5}},
		{name: "negative-rate", cfg: Config{UploadRate: -1}},
		{name: "tiny-rate", cfg: Config{UploadRate: 1000}},
		{name: "rate", cfg: Config{UploadRate: 10 << 20}, ok: true},
		{name: "handshake-below-dial", cfg: Config{DialTimeout: 3 * time.Second, HandshakeTimeout: time.Second}},
		{name: "tiny-stream-timeout", cfg: Config{StreamTimeout: time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate = %v, want ok=%t", err, tt.ok)
			}
		})
	}
}

// TestRevocationAfterCache checks that a record verified (and cached) once
// is refused on the next stream after its peer is revoked, and that a
// site change applies at once too.
func TestRevocationAfterCache(t *testing.T) {
	c := newCentral(t)
	server, client := startNode(t, c, Config{}), startNode(t, c, Config{})
	f := server.put(t, randomBytes(64<<10, 7))
	src := client.source(t, server)
	if _, err := fetchBytes(context.Background(), src, f); err != nil {
		t.Fatalf("first fetch: %v", err)
	}
	server.SetSite(testSite, []string{client.PeerID().String()})
	if _, err := fetchBytes(context.Background(), src, f); !errors.Is(err, ErrForbidden) {
		t.Fatalf("fetch after revocation = %v, want ErrForbidden", err)
	}
	server.SetSite("branch-2", nil)
	if _, err := fetchBytes(context.Background(), src, f); !errors.Is(err, ErrForbidden) {
		t.Fatalf("fetch after the server moved site = %v, want ErrForbidden", err)
	}
	server.SetSite(testSite, nil)
	if _, err := fetchBytes(context.Background(), src, f); err != nil {
		t.Fatalf("fetch after un-revoking: %v", err)
	}
}

// TestFetchCancel checks that cancelling the context ends a body read
// that is in progress and frees the server's upload slot.
func TestFetchCancel(t *testing.T) {
	c := newCentral(t)
	server := startNode(t, c, Config{MaxUploads: 1})
	client := startNode(t, c, Config{})
	f := server.put(t, randomBytes(8<<20, 8))
	src := client.source(t, server)
	ctx, cancel := context.WithCancel(context.Background())
	rc, err := src.Fetch(ctx, "pkg-1", f)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	buf := make([]byte, 4096)
	if _, err := io.ReadFull(rc, buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := io.Copy(io.Discard, rc); err == nil {
		t.Fatal("read after cancel: no error")
	}
	testwait.For(t, 10*time.Second, "upload slot freed", func() error {
		_, err := fetchBytes(context.Background(), src, f)
		return err
	})
}

// TestUploadRate checks that UploadRate caps the bytes served: 2 MiB at
// 1 MiB/s with a 256 KiB burst cannot take less than 1.75 s.
func TestUploadRate(t *testing.T) {
	c := newCentral(t)
	server := startNode(t, c, Config{UploadRate: 1 << 20})
	client := startNode(t, c, Config{})
	f := server.put(t, randomBytes(2<<20, 10))
	start := time.Now()
	if _, err := fetchBytes(context.Background(), client.source(t, server), f); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 1700*time.Millisecond {
		t.Errorf("2 MiB at 1 MiB/s took %v, want at least 1.75s", d)
	}
}

func TestRefusalReason(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{name: "expired", err: fmt.Errorf("x: %w", proto.ErrPeerRecordExpired), want: "peer record expired"},
		{name: "other-site", err: fmt.Errorf("site secret-branch: %w", errOtherSite), want: "peer record is for another site"},
		{name: "revoked", err: errRevoked, want: "peer revoked"},
		{name: "wrong-peer", err: errWrongPeer, want: "peer record names another peer"},
		{name: "forged", err: fmt.Errorf("%w: %w", errRecordForged, proto.ErrBadPeerRecord), want: "peer record does not verify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := refusalReason(tt.err); got != tt.want {
				t.Errorf("refusalReason = %q, want %q", got, tt.want)
			}
		})
	}
}

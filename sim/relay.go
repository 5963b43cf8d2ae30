package sim

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-project/shoal/agent/fetch"
	"github.com/shoal-project/shoal/internal/fragstore"
	"github.com/shoal-project/shoal/internal/p2p"
	"github.com/shoal-project/shoal/internal/trackerclient"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/relay"
)

// Relay defaults of a relay's libp2p node (relay/p2p.go P2PConfig): 32
// uploads at once, super-seeding as every node does (p2p.DefaultSeedCopies
// copies within p2p.DefaultSeedWindow).
const (
	relayMaxUploads = 32
	// relayMinGap spaces the relay's announces that new fragments
	// trigger (relay trackerMinGap).
	relayMinGap = time.Second
	// relayPoll is how often the simulated tracker loop looks for new
	// fragments in the relay's store (the shipped loop is kicked by each
	// one; it then still waits for relayMinGap since its last announce).
	relayPoll = 100 * time.Millisecond
)

// relayHost is the branch's relay as a host with its own LAN port. Its
// upstream side is the shipped relay (relay.New, driven through its
// in-process entry points): it prefetches the package from central over
// the uplink as soon as the deployment is known (relay FetchAll: every
// fragment, as many at once as its goodput-driven stream controller
// allows), pulls a fragment an agent asks for before the prefetch stored
// it through from upstream (single-flight with the prefetch), and splits
// its last fragments in byte ranges for idle streams (relay/endgame.go);
// its upstream HTTP requests go through centralRT. The simulator serves
// the agents from the relay's fragment store as the relay's listeners do:
// over libp2p (at most 32 uploads, "busy" beyond, the shipped
// super-seeding policy p2p.Seeder for swarm requests) and over HTTP (no
// upload bound, no seeding). It announces what the relay holds to the
// site's tracker as a relay (kind relay), at once and after new
// fragments (spaced by relayMinGap), so the tracker tells the agents that
// the relay owns the WAN.
type relayHost struct {
	b      *branch
	h      *host // name, id, addrs and LAN links
	rl     *relay.Relay
	store  *fragstore.Store // rl's
	seeder *p2p.Seeder
	tc     *trackerclient.Client

	uploads atomic.Int32
	served  atomic.Int64 // bytes sent to agents
}

// newRelay builds the shipped relay of branch b, not enrolled, with its
// upstream on the far side of the uplink.
func newRelay(b *branch, h *host, dir string, log *slog.Logger) (*relay.Relay, error) {
	rl, err := relay.New(relay.Config{DataDir: dir, Upstream: "http://central", ManifestPublicKey: base64.StdEncoding.EncodeToString(make([]byte, 32))}, log)
	if err != nil {
		return nil, fmt.Errorf("sim relay: %w", err)
	}
	rl.SetUpstreamTransport(centralRT{b: b, to: h})
	return rl, nil
}

// centralRT is central's fragment route as the relay's HTTP client sees
// it: a request costs a WAN round trip, a Range request is answered 206
// with exactly its bytes, and the bytes cross the uplink (at most one Reno
// stream's rate each response) and the relay's LAN port. A response the
// relay closes early (the endgame cut it) costs nothing more.
type centralRT struct {
	b  *branch
	to *host
}

func (rt centralRT) RoundTrip(req *http.Request) (*http.Response, error) {
	b, ctx := rt.b, req.Context()
	rest, ok := strings.CutPrefix(req.URL.Path, proto.FragmentPathPrefix+b.m.PackageID+"/")
	idx, known := b.byCID[rest]
	if !ok || !known {
		return &http.Response{StatusCode: http.StatusNotFound, Status: "404 Not Found", Body: http.NoBody, Request: req, Header: http.Header{}}, nil
	}
	f := b.m.Fragments[idx]
	off, end := int64(0), f.Size
	status := http.StatusOK
	hdr := http.Header{}
	if rg := req.Header.Get("Range"); rg != "" {
		lo, hi, err := parseRange(rg, f.Size)
		if err != nil {
			return nil, fmt.Errorf("central: %w", err)
		}
		off, end, status = lo, hi+1, http.StatusPartialContent
		b.rangeReqs.Add(1)
		hdr.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", lo, hi, f.Size))
	}
	b.centralReqs.Add(1)
	if err := sleep(ctx, b.rtt); err != nil {
		return nil, err
	}
	data := b.data[f.Offset+off : f.Offset+end]
	body := &flow{ctx: ctx, data: data, links: []*link{b.wanDown, rt.to.down}, cap: newCap(b.perStream)}
	return &http.Response{StatusCode: status, Status: strconv.Itoa(status) + " " + http.StatusText(status), Header: hdr,
		Body: body, ContentLength: end - off, Request: req, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}, nil
}

// parseRange parses "bytes=first-last" within size.
func parseRange(s string, size int64) (first, last int64, err error) {
	spec, ok := strings.CutPrefix(s, "bytes=")
	a, z, ok2 := strings.Cut(spec, "-")
	if !ok || !ok2 {
		return 0, 0, fmt.Errorf("bad range %q", s)
	}
	if first, err = strconv.ParseInt(a, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("bad range %q", s)
	}
	if last, err = strconv.ParseInt(z, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("bad range %q", s)
	}
	if first < 0 || last < first || last >= size {
		return 0, 0, fmt.Errorf("range %q outside %d bytes", s, size)
	}
	return first, last, nil
}

// prefetch fetches every fragment of the package, as relay prefetch does
// once it has the verified manifest.
func (r *relayHost) prefetch(ctx context.Context) error {
	return r.rl.FetchAll(ctx, r.b.m.PackageID, r.b.m.Fragments)
}

// held returns the bitfield of the fragments the relay holds verified, and
// how many.
func (r *relayHost) held() (proto.Bitfield, int) {
	m := r.b.m
	bits := proto.NewBitfield(len(m.Fragments))
	n := 0
	for _, f := range m.Fragments {
		if ok, err := r.store.Check(f.CID, f.Size); err == nil && ok {
			bits.Set(f.Index)
			n++
		}
	}
	return bits, n
}

// announcement is the relay's tracker entry (relay announcement).
func (r *relayHost) announcement(bits proto.Bitfield, n int) proto.TrackerAnnounce {
	m := r.b.m
	a := proto.TrackerAnnounce{Kind: proto.HolderRelay, RelayURL: "http://10.98.1.1:8090", Addrs: r.h.addrs, Packages: []proto.PackageHave{}}
	if n > 0 {
		a.Packages = append(a.Packages, proto.PackageHave{PackageID: m.PackageID, Total: len(m.Fragments), Have: bits})
	}
	return a
}

// trackerLoop keeps the relay's tracker entry, as relay trackerLoop does:
// on the tracker's interval, and after new fragments, spaced by
// relayMinGap.
func (r *relayHost) trackerLoop(ctx context.Context, log *slog.Logger) {
	interval := 30 * time.Second
	var last time.Time
	announced := -1
	next := time.Now()
	for {
		if bits, n := r.held(); !time.Now().Before(next) || (n != announced && time.Since(last) >= relayMinGap) {
			actx, cancel := context.WithTimeout(ctx, trackerclient.DefaultTimeout)
			resp, err := r.tc.Announce(actx, r.announcement(bits, n))
			cancel()
			last = time.Now()
			if ctx.Err() != nil {
				return
			}
			next = last.Add(interval)
			if err != nil {
				log.Warn("relay announce", "err", err)
				next = last.Add(time.Second)
			} else {
				announced = n
				if resp.Interval > 0 {
					interval = max(time.Duration(resp.Interval)*time.Second, 5*time.Second)
					next = last.Add(interval)
				}
			}
		}
		if sleep(ctx, relayPoll) != nil {
			return
		}
	}
}

// relaySource is the relay as one agent's fragment source: its libp2p
// listener (p2p set; the agent's swarm RelaySource and the first of the
// fetcher's relays) or its HTTP listener.
type relaySource struct {
	r    *relayHost
	from *host
	p2p  bool
}

func (s relaySource) Kind() string { return fetch.KindRelay }

func (s relaySource) String() string {
	if s.p2p {
		return "relay (libp2p)"
	}
	return "relay (http)"
}

// PeerID names the relay for the swarm's relayGone.
func (s relaySource) PeerID() string { return s.r.h.id }

// Fetch serves fragment f as the relay's node (internal/p2p admit) or
// HTTP listener does: pulled through when missing, then, over libp2p, a
// swarm request is refused while the fragment seeds, and a request beyond
// the uploads bound is answered busy.
func (s relaySource) Fetch(ctx context.Context, pkg string, f proto.Fragment) (io.ReadCloser, error) {
	r := s.r
	if err := sleep(ctx, r.b.lanRTT); err != nil {
		return nil, err
	}
	if f.Index < 0 || f.Index >= len(r.b.m.Fragments) || r.b.m.Fragments[f.Index].CID != f.CID {
		return nil, p2p.ErrNotFound
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	err := r.rl.Pull(pctx, pkg, f)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("relay pull: %w", errors.Join(p2p.ErrPeer, err))
	}
	seeded := func(bool) {}
	if s.p2p {
		if p2p.IsSwarmRequest(ctx) && r.seeder != nil {
			ok, done := r.seeder.Admit(f.CID, time.Now())
			if !ok {
				return nil, p2p.ErrSeeding
			}
			seeded = done
		}
		if r.uploads.Add(1) > relayMaxUploads {
			r.uploads.Add(-1)
			seeded(false)
			return nil, p2p.ErrBusy
		}
	} else {
		r.uploads.Add(1)
	}
	fh, err := r.store.Open(f.CID)
	if err != nil {
		r.uploads.Add(-1)
		seeded(false)
		return nil, p2p.ErrNotFound
	}
	data, err := io.ReadAll(fh)
	fh.Close()
	if err != nil {
		r.uploads.Add(-1)
		seeded(false)
		return nil, fmt.Errorf("read fragment: %w", p2p.ErrPeer)
	}
	r.served.Add(int64(len(data)))
	fl := &flow{ctx: ctx, data: data, links: []*link{r.h.up, s.from.down}}
	var once sync.Once
	fl.onClose = func() {
		once.Do(func() {
			r.uploads.Add(-1)
			seeded(fl.off == len(fl.data))
		})
	}
	return fl, nil
}

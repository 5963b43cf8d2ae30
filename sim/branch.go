package sim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-project/shoal/agent/fetch"
	"github.com/shoal-project/shoal/agent/swarm"
	"github.com/shoal-project/shoal/internal/fragstore"
	"github.com/shoal-project/shoal/internal/p2p"
	"github.com/shoal-project/shoal/internal/trackerclient"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/tracker"
	"github.com/shoal-project/shoal/tracker/trackertest"
)

// Scenario is one simulated branch deployment. Zero values take the
// lab's parameters (docs/LAB.md, issue 21 §2): 12 agents, 48 MiB, a
// 16 Mbit/s uplink with 40 ms each way and 1 % loss, a 100 Mbit/s LAN
// and a 1000 Mbit/s relay port.
type Scenario struct {
	Name         string  `json:"name"`
	Agents       int     `json:"agents"`
	Size         int64   `json:"size"`
	FragmentSize int64   `json:"fragment_size"`
	UplinkMbit   float64 `json:"uplink_mbit"`
	LANMbit      float64 `json:"lan_mbit"`
	// RelayLANMbit is the rate of the relay host's LAN port (default
	// DefaultRelayLANMbit, the lab's gigabit relay port, lab -relay-lan-mbit).
	RelayLANMbit float64       `json:"relay_lan_mbit"`
	Delay        time.Duration `json:"delay"`
	// Loss is the uplink's packet loss in percent; NoLoss forces 0.
	Loss   float64 `json:"loss"`
	NoLoss bool    `json:"-"`
	// Asleep is the share of agents asleep at the affectation; each wakes
	// at a uniformly random time within WakeWithin (default 60 s).
	Asleep     float64       `json:"asleep,omitempty"`
	WakeWithin time.Duration `json:"wake_within,omitempty"`
	// Slow is the share of agents whose LAN upload is SlowRate bytes/s
	// (default 64 KiB/s).
	Slow     float64 `json:"slow,omitempty"`
	SlowRate float64 `json:"slow_rate,omitempty"`
	// Corrupt is the share of agents that serve corrupt bytes.
	Corrupt float64 `json:"corrupt,omitempty"`
	// Churn is the share of agents that leave (stop) at a random time
	// between 20 % and 80 % of the floor; they do not count in the
	// completion statistics.
	Churn float64 `json:"churn,omitempty"`
	// Relay puts the branch's relay on the LAN (relayHost: a host with its
	// own LAN port, prefetching from central and serving the agents);
	// NoSwarm runs the agents without the swarm (swarm disabled: the
	// relay's HTTP listener, then central), the lab's shoal-relay.
	Relay   bool   `json:"relay,omitempty"`
	NoSwarm bool   `json:"no_swarm,omitempty"`
	Seed    uint64 `json:"seed"`
	// Swarm is every agent's scheduler configuration (zero: the shipped
	// defaults), for A/B runs of a tuning.
	Swarm swarm.Config `json:"swarm"`
	// Log receives the shipped components' logs, each agent's with its
	// name ("agent"), stamped in virtual time; nil discards them.
	Log *slog.Logger `json:"-"`
}

func (s Scenario) withDefaults() Scenario {
	if s.Agents == 0 {
		s.Agents = 12
	}
	if s.Size == 0 {
		s.Size = 48 << 20
	}
	if s.FragmentSize == 0 {
		s.FragmentSize = 1 << 20
	}
	if s.UplinkMbit == 0 {
		s.UplinkMbit = 16
	}
	if s.LANMbit == 0 {
		s.LANMbit = 100
	}
	if s.RelayLANMbit == 0 {
		s.RelayLANMbit = DefaultRelayLANMbit
	}
	if s.Delay == 0 {
		s.Delay = 40 * time.Millisecond
	}
	if s.Loss == 0 && !s.NoLoss {
		s.Loss = 1
	}
	if s.NoLoss {
		s.Loss = 0
	}
	if s.WakeWithin == 0 {
		s.WakeWithin = time.Minute
	}
	if s.SlowRate == 0 {
		s.SlowRate = 64 << 10
	}
	if s.Seed == 0 {
		s.Seed = 1
	}
	if s.Name == "" {
		s.Name = fmt.Sprintf("n%d", s.Agents)
	}
	return s
}

// churned is the number of agents that leave.
func (s Scenario) churned() int {
	if s.Churn <= 0 {
		return 0
	}
	return max(1, int(math.Round(s.Churn*float64(s.Agents))))
}

// floor is S·8/U, the time one copy needs on the uplink.
func (s Scenario) floor() time.Duration {
	return time.Duration(float64(s.Size) * 8 / (s.UplinkMbit * 1e6) * float64(time.Second))
}

// host is one simulated agent.
type host struct {
	name    string
	id      string
	addrs   []string
	up      *link // LAN port, upload
	down    *link // LAN port, download
	store   *fragstore.Store
	sched   *swarm.Scheduler
	stats   fetch.Stats
	alive   atomic.Bool
	uploads atomic.Int32
	// seeder is the shipped super-seeding policy of the agent's libp2p
	// node (p2p.DefaultSeedCopies, as internal/p2p defaults it).
	seeder  *p2p.Seeder
	served  atomic.Int64
	corrupt bool
	// corruptSent counts the corrupt fragments this host sent whole.
	corruptSent atomic.Int64
	slow        bool
	start       time.Duration // after the affectation
	leave       time.Duration // 0: stays
	cancel      context.CancelFunc
	done        time.Duration // completion, after the affectation
	err         error
}

// branch is the simulated branch office and its view of central.
type branch struct {
	sc        Scenario
	data      []byte
	m         *proto.Manifest
	rtt       time.Duration // WAN round trip
	lanRTT    time.Duration
	perStream float64 // bytes/s of one TCP stream across the uplink
	wanDown   *link
	hosts     []*host
	byID      map[string]*host
	byCID     map[string]int // fragment CID -> index
	relay     *relayHost     // nil: no relay
	alive     atomic.Pointer[map[string]bool]
	aliveMu   sync.Mutex // serializes alive updates

	finished chan struct{} // an agent that stays finished or failed
	resMu    sync.Mutex    // guards the hosts' done and err

	centralReqs atomic.Int64
	rangeReqs   atomic.Int64 // the relay's Range requests (its endgame)
	havePushes  atomic.Int64
	trackerMu   sync.Mutex // guards trackerReqs
	trackerReqs map[string]int
	trackerB    atomic.Int64
}

// payloadShare is the TCP payload of a link's IP bytes (1448 of 1500 per
// full-size segment): the lab's rates (tbf) count IP bytes. A lossy
// uplink also carries the lost segments again.
const payloadShare = float64(mss) / 1500

// memberlistDetect is how long the site's peers take to see an agent
// that left as dead (memberlist's probe and suspicion, LAN defaults).
const memberlistDetect = 3 * time.Second

func (b *branch) setAlive(h *host, v bool) {
	b.aliveMu.Lock()
	defer b.aliveMu.Unlock()
	old := *b.alive.Load()
	m := make(map[string]bool, len(old)+1)
	for k, x := range old {
		m[k] = x
	}
	if v {
		m[h.id] = true
	} else {
		delete(m, h.id)
	}
	b.alive.Store(&m)
}

// trackerRT carries tracker calls across the simulated uplink to the
// tracker's real handler.
type trackerRT struct {
	b *branch
	h http.Handler
}

// headerBytes approximates an HTTP/1.1 request's or answer's headers
// (the signed Authorization header is most of a request's).
const headerBytes = 600

func (rt trackerRT) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
	}
	if err := sleep(ctx, rt.b.rtt/2); err != nil {
		return nil, err
	}
	in := req.Clone(ctx)
	in.Body = io.NopCloser(bytes.NewReader(body))
	in.RequestURI = req.URL.RequestURI()
	rec := httptest.NewRecorder()
	rt.h.ServeHTTP(rec, in)
	if err := sleep(ctx, rt.b.rtt/2); err != nil {
		return nil, err
	}
	rt.b.trackerMu.Lock()
	rt.b.trackerReqs[req.URL.Path]++
	rt.b.trackerMu.Unlock()
	rt.b.trackerB.Add(int64(2*headerBytes + len(body) + rec.Body.Len()))
	return rec.Result(), nil
}

// payload returns n pseudo-random bytes (nothing compresses).
func payload(n int64, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 20))
	b := make([]byte, n)
	for i := 0; i+8 <= len(b); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

func manifestOf(pkg string, data []byte, fragSize int64) *proto.Manifest {
	m := &proto.Manifest{PackageID: pkg, Size: int64(len(data)), FragmentSize: fragSize}
	for i, off := 0, int64(0); off < int64(len(data)); i++ {
		end := min(off+fragSize, int64(len(data)))
		m.Fragments = append(m.Fragments, proto.Fragment{Index: i, Offset: off, Size: end - off, CID: proto.FragmentCID(data[off:end]).String()})
		off = end
	}
	return m
}

// pick returns round(share·n) distinct indexes of 0..n-1 from r.
func pick(r *rand.Rand, n int, share float64) map[int]bool {
	k := int(math.Round(share * float64(n)))
	if share > 0 && k == 0 {
		k = 1
	}
	out := map[int]bool{}
	for _, i := range r.Perm(n)[:min(k, n)] {
		out[i] = true
	}
	return out
}

// Run simulates sc. It must run inside a testing/synctest bubble (time is
// virtual); tb gives temporary directories and identities.
func Run(tb testing.TB, sc Scenario) (*Result, error) {
	sc = sc.withDefaults()
	if sc.Agents < 1 || sc.Size < 1 || sc.FragmentSize < 1 {
		return nil, fmt.Errorf("sim: scenario %s: agents, size and fragment size must be positive", sc.Name)
	}
	log := sc.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rng := rand.New(rand.NewPCG(sc.Seed, 1))
	b := &branch{sc: sc, data: payload(sc.Size, sc.Seed), rtt: 2*sc.Delay + time.Millisecond, lanRTT: 500 * time.Microsecond,
		wanDown: newLink(sc.UplinkMbit * payloadShare * (1 - sc.Loss/100)), byID: map[string]*host{}, finished: make(chan struct{}), trackerReqs: map[string]int{}}
	b.perStream = mathis(b.rtt, sc.Loss/100)
	b.m = manifestOf("sim-"+sc.Name, b.data, sc.FragmentSize)
	b.byCID = make(map[string]int, len(b.m.Fragments))
	for _, f := range b.m.Fragments {
		b.byCID[f.CID] = f.Index
	}
	empty := map[string]bool{}
	b.alive.Store(&empty)

	central := trackertest.NewCentral(tb)
	srv, err := tracker.New(tracker.Config{}, log, tracker.Verifier{Key: central.Public()})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(tb.Context())
	defer cancel()
	var bg sync.WaitGroup
	defer bg.Wait()
	defer cancel()
	bg.Go(func() { _ = srv.Run(ctx) })
	hc := &http.Client{Transport: trackerRT{b: b, h: srv.Handler()}}
	hub := &haveHub{b: b, sessions: map[sessKey]*haveSess{}, byHost: map[*host]map[*haveSess]struct{}{}, failed: map[sessKey]time.Time{}}

	slow, corrupt, churn, asleep := pick(rng, sc.Agents, sc.Slow), pick(rng, sc.Agents, sc.Corrupt), pick(rng, sc.Agents, sc.Churn), pick(rng, sc.Agents, sc.Asleep)
	if sc.Slow == 0 {
		slow = nil
	}
	if sc.Corrupt == 0 {
		corrupt = nil
	}
	if sc.Churn == 0 {
		churn = nil
	}
	if sc.Asleep == 0 {
		asleep = nil
	}
	if sc.Relay {
		if err := b.startRelay(ctx, tb, central, hc, log, &bg); err != nil {
			return nil, err
		}
	}
	floor := sc.floor()
	for i := range sc.Agents {
		id := central.NewIdentity(tb, "branch", 24*time.Hour)
		st, err := fragstore.Open(tb.TempDir())
		if err != nil {
			return nil, err
		}
		h := &host{name: fmt.Sprintf("a%d", i), id: id.PeerID.String(), store: st, up: newLink(sc.LANMbit * payloadShare), down: newLink(sc.LANMbit * payloadShare),
			addrs: []string{fmt.Sprintf("/ip4/10.98.%d.%d/tcp/4001", 1+i/250, 2+i%250)}, corrupt: corrupt[i], slow: slow[i],
			seeder: p2p.NewSeeder(p2p.DefaultSeedCopies, p2p.DefaultSeedWindow)}
		if h.slow {
			h.up = &link{lim: newCap(sc.SlowRate)}
		}
		// The job list reaches the agents with the affectation's long-poll
		// answer: half a WAN round trip, give or take the agents' own pace.
		h.start = b.rtt/2 + time.Duration(rng.Int64N(int64(200*time.Millisecond)))
		if asleep[i] {
			h.start += time.Duration(rng.Int64N(int64(sc.WakeWithin)))
		}
		if churn[i] {
			h.leave = h.start + time.Duration((0.2+0.6*rng.Float64())*float64(floor))
		}
		alog := log.With("agent", h.name)
		up, err := fetch.New(fetch.Config{}, st, []fetch.Source{centralSource{b: b, to: h}}, alog)
		if err != nil {
			return nil, err
		}
		var relaySrc swarm.PeerSourceFunc
		if r := b.relay; r != nil {
			// The agent's relays (agent/site.go relaySources): the
			// relay's libp2p listener, then its HTTP one; HTTP only
			// without the swarm.
			srcs := []fetch.Source{relaySource{r: r, from: h, p2p: true}, relaySource{r: r, from: h}}
			if sc.NoSwarm {
				srcs = srcs[1:]
			}
			up.SetRelays(srcs)
			relaySrc = func(peerID string, addrs []string) (fetch.Source, error) {
				if peerID != r.h.id {
					return nil, fmt.Errorf("unknown relay %s", peerID)
				}
				return relaySource{r: r, from: h, p2p: true}, nil
			}
		}
		self := swarm.Self{PeerID: h.id, Addrs: h.addrs}
		h.sched, err = swarm.New(sc.Swarm, swarm.Deps{Upstream: up, Store: st, RelaySource: relaySrc,
			PeerSource: func(peerID string, addrs []string) (fetch.Source, error) {
				to := b.byID[peerID]
				if to == nil {
					return nil, fmt.Errorf("unknown peer %s", peerID)
				}
				return peerSource{b: b, from: h, to: to}, nil
			},
			Alive: func() (map[string]bool, bool) { return *b.alive.Load(), true },
			Self:  func() swarm.Self { return self },
			Haves: haveNet{hub: hub, h: h}}, alog)
		if err != nil {
			return nil, err
		}
		tc, err := trackerclient.NewClient("http://tracker", hc, trackerclient.NewSigner(id.Key, id.Record))
		if err != nil {
			return nil, err
		}
		if !sc.NoSwarm {
			h.sched.SetTracker(tc)
		}
		b.hosts = append(b.hosts, h)
		b.byID[h.id] = h
	}

	// Every agent gets its deployment; the bound is generous so that a
	// stuck scenario ends with its failures counted.
	limit := 20*floor + 5*time.Minute + sc.WakeWithin
	t0 := time.Now()
	var dl sync.WaitGroup
	for _, h := range b.hosts {
		hctx, hcancel := context.WithCancel(ctx)
		h.cancel = hcancel
		dl.Go(func() {
			defer hcancel()
			if sleep(hctx, h.start) != nil {
				return
			}
			h.alive.Store(true)
			b.setAlive(h, true)
			var run sync.WaitGroup
			run.Go(func() { _ = h.sched.Run(hctx) })
			fctx, fcancel := context.WithTimeout(hctx, limit)
			if h.leave > 0 {
				go func() {
					if sleep(fctx, h.leave-h.start) == nil {
						h.alive.Store(false)
						hcancel()
						time.AfterFunc(memberlistDetect, func() { b.setAlive(h, false) })
					}
				}()
			}
			err := h.sched.Fetch(fctx, b.m, &h.stats)
			fcancel()
			b.resMu.Lock()
			if err != nil {
				h.err = err
			} else {
				// The result crosses the uplink to central.
				h.done = time.Since(t0) + sc.Delay
			}
			b.resMu.Unlock()
			if h.leave == 0 {
				select {
				case b.finished <- struct{}{}:
				case <-ctx.Done():
				}
			}
			// A finished agent seeds until the end of the scenario.
			if h.leave == 0 {
				<-ctx.Done()
			}
			hcancel()
			run.Wait()
		})
	}
	// Wait for every agent that stays to finish or fail, then stop all.
	stay := 0
	for _, h := range b.hosts {
		if h.leave == 0 {
			stay++
		}
	}
	bound := time.NewTimer(limit + time.Minute)
	defer bound.Stop()
wait:
	for range stay {
		select {
		case <-b.finished:
		case <-bound.C:
			break wait
		}
	}
	end := time.Since(t0)
	cancel()
	dl.Wait()
	return b.result(t0, end), nil
}

// startRelay starts the branch's relay: its tracker entry is live from the
// start (the relay ran before the deployment), and it learns of the
// deployment with its jobs long-poll (half a WAN round trip), then fetches
// the manifest (one round trip) and prefetches.
func (b *branch) startRelay(ctx context.Context, tb testing.TB, central *trackertest.Central, hc *http.Client, log *slog.Logger, bg *sync.WaitGroup) error {
	id := central.NewRelayIdentity(tb, "branch", 24*time.Hour)
	h := &host{name: "relay", id: id.PeerID.String(), up: newLink(b.sc.RelayLANMbit * payloadShare), down: newLink(b.sc.RelayLANMbit * payloadShare),
		addrs: []string{"/ip4/10.98.1.1/tcp/4001"}}
	h.alive.Store(true)
	rlog := log.With("agent", "relay")
	rl, err := newRelay(b, h, tb.TempDir(), rlog)
	if err != nil {
		return err
	}
	r := &relayHost{b: b, h: h, rl: rl, store: rl.FragmentStore(), seeder: p2p.NewSeeder(p2p.DefaultSeedCopies, p2p.DefaultSeedWindow)}
	if r.tc, err = trackerclient.NewClient("http://tracker", hc, trackerclient.NewSigner(id.Key, id.Record)); err != nil {
		return err
	}
	b.relay = r
	bg.Go(func() { r.trackerLoop(ctx, rlog) })
	bg.Go(func() {
		// Stopped with the scenario: its upstream fetches end, then the
		// relay's lifetime (Run would do this ShutdownGrace later).
		defer rl.Stop()
		if sleep(ctx, b.rtt/2+b.rtt) == nil {
			if err := r.prefetch(ctx); err != nil && ctx.Err() == nil {
				rlog.Warn("relay prefetch", "err", err)
			}
		}
		<-ctx.Done()
	})
	return nil
}

// sortedDurations returns ds in seconds, sorted.
func sortedSeconds(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = d.Seconds()
	}
	sort.Float64s(out)
	return out
}

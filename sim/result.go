package sim

import (
	"math"
	"time"
)

// Result is what one scenario measured. Times are seconds from the
// affectation, in virtual time.
type Result struct {
	Scenario Scenario `json:"scenario"`
	// Floor is S·8/U in seconds.
	Floor float64 `json:"floor_s"`
	// WAN is the payload central sent to the branch ÷ S.
	WAN float64 `json:"wan_per_s"`
	// Done, Failed and Left count agents: finished, failed or timed out,
	// and left mid-way (churn, not in the completion statistics).
	Done   int `json:"done"`
	Failed int `json:"failed"`
	Left   int `json:"left"`
	// Completion holds every finished agent's completion, sorted.
	Completion []float64 `json:"completion_s"`
	P50        float64   `json:"p50_s"`
	P95        float64   `json:"p95_s"`
	Max        float64   `json:"max_s"`
	// P95Start and MaxStart are measured from each agent's own start
	// (its wake-up, for the agents asleep at the affectation).
	P95Start float64 `json:"p95_from_start_s"`
	MaxStart float64 `json:"max_from_start_s"`
	// LastWAN is the last byte across the uplink; Tail the last agent
	// done after it.
	LastWAN float64 `json:"last_wan_s"`
	Tail    float64 `json:"tail_s"`
	// Tracker calls and bytes (both ways, headers estimated) over the
	// scenario, and per second per 1,000 agents over the time to the last
	// agent done.
	TrackerCalls      map[string]int `json:"tracker_calls"`
	TrackerBytes      int64          `json:"tracker_bytes"`
	TrackerReqPerKs   float64        `json:"tracker_req_per_s_per_1000_agents"`
	TrackerBytesPerKs float64        `json:"tracker_bytes_per_s_per_1000_agents"`
	CentralRequests   int64          `json:"central_requests"`
	CentralReqPerSec  float64        `json:"central_req_per_s"`
	HavePushes        int64          `json:"have_pushes"`
	BytesCentral      int64          `json:"bytes_central"`
	BytesPeer         int64          `json:"bytes_peer"`
	// BytesRelay is what the agents received from the branch's relay.
	BytesRelay int64 `json:"bytes_relay,omitempty"`
	// RelayRanges counts the relay's byte-range requests to central (its
	// endgame: exact ranges of a fragment over free streams, halves of
	// slow ranges for idle ones).
	RelayRanges int64 `json:"relay_range_requests,omitempty"`
	BadPeers    int64 `json:"bad_peer_drops"`
	// CorruptSent counts the corrupt fragments that corrupt peers sent
	// whole (each one an agent must reject).
	CorruptSent     int64   `json:"corrupt_sent,omitempty"`
	HashedPerAgent  float64 `json:"hashed_bytes_per_agent"`
	HashCPUPerAgent float64 `json:"hash_cpu_s_per_agent"`
	WallSeconds     float64 `json:"wall_s"`
	// CPUSeconds is the simulator's CPU time (user + system) for the
	// scenario.
	CPUSeconds         float64 `json:"cpu_s"`
	SlowestFinishedSec float64 `json:"-"`
}

// result gathers the measures once every agent stopped.
func (b *branch) result(t0 time.Time, end time.Duration) *Result {
	sc := b.sc
	r := &Result{Scenario: sc, Floor: sc.floor().Seconds(), TrackerCalls: map[string]int{}}
	var done, own []time.Duration
	var hashed int64
	started := 0
	for _, h := range b.hosts {
		switch {
		case h.leave > 0:
			r.Left++
		case h.err == nil && h.done > 0:
			done = append(done, h.done)
			own = append(own, h.done-h.start)
		default:
			r.Failed++
		}
		r.BytesCentral += h.stats.BytesCentral.Load()
		r.BytesPeer += h.stats.BytesPeer.Load()
		r.BytesRelay += h.stats.BytesRelay.Load()
		r.BadPeers += h.stats.BadPeers.Load()
		r.CorruptSent += h.corruptSent.Load()
		if h.alive.Load() || h.leave > 0 || h.done > 0 {
			started++
			hashed += h.stats.BytesCentral.Load() + h.stats.BytesPeer.Load() + h.stats.BytesRelay.Load()
		}
	}
	r.Done = len(done)
	r.Completion = sortedSeconds(done)
	if n := len(r.Completion); n > 0 {
		r.P50 = quantile(r.Completion, 0.5)
		r.P95 = quantile(r.Completion, 0.95)
		r.Max = r.Completion[n-1]
	}
	if o := sortedSeconds(own); len(o) > 0 {
		r.P95Start, r.MaxStart = quantile(o, 0.95), o[len(o)-1]
	}
	r.WAN = float64(b.wanDown.bytes.Load()) / float64(sc.Size)
	if last := b.wanDown.last.Load(); last > 0 {
		r.LastWAN = time.Unix(0, last).Sub(t0).Seconds()
		r.Tail = r.Max - r.LastWAN
	}
	b.trackerMu.Lock()
	calls := 0
	for k, v := range b.trackerReqs {
		r.TrackerCalls[k] = v
		calls += v
	}
	b.trackerMu.Unlock()
	r.TrackerBytes = b.trackerB.Load()
	r.RelayRanges = b.rangeReqs.Load()
	span := r.Max
	if span <= 0 {
		span = end.Seconds()
	}
	if span > 0 {
		per := 1000 / float64(sc.Agents) / span
		r.TrackerReqPerKs = float64(calls) * per
		r.TrackerBytesPerKs = float64(r.TrackerBytes) * per
		r.CentralReqPerSec = float64(b.centralReqs.Load()) / span
	}
	r.CentralRequests = b.centralReqs.Load()
	r.HavePushes = b.havePushes.Load()
	if started > 0 {
		r.HashedPerAgent = float64(hashed) / float64(started)
	}
	return r
}

// quantile is the nearest-rank q-quantile of sorted xs, as the lab
// computes its p50 and p95.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(xs)))) - 1
	return xs[min(max(i, 0), len(xs)-1)]
}

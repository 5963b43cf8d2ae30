package swarm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/proto"
)

// TestAvailMatchesScan checks the bitfield walk of avail and the cached
// membership of usable against the plain scans they replace (every usable
// peer × every needed fragment, the membership map asked each time), over
// random downloads: peers listed or pushed, dropped, busy, cooling off,
// relays, bitfields short or long, membership snapshots changing between
// passes and fragments stored between them. The scheduler's decisions
// read only these counts, so equal counts mean equal decisions.
func TestAvailMatchesScan(t *testing.T) {
	r := rand.New(rand.NewPCG(20, 2))
	now := time.Unix(1_000_000, 0)
	for round := range 200 {
		n := 1 + r.IntN(70)
		m := &proto.Manifest{PackageID: "p"}
		for i := range n {
			m.Fragments = append(m.Fragments, proto.Fragment{Index: i})
		}
		var missing []proto.Fragment
		for _, f := range m.Fragments {
			if r.IntN(4) > 0 {
				missing = append(missing, f)
			}
		}
		d := &download{m: m, need: map[int]bool{}, peers: map[string]*peerState{}}
		d.needBits = proto.NewBitfield(n)
		for _, f := range missing {
			d.need[f.Index] = true
			d.needBits.Set(f.Index)
		}
		ids := make([]string, 1+r.IntN(40))
		for k := range ids {
			ids[k] = fmt.Sprintf("peer-%d", k)
			p := &peerState{id: ids[k], listed: r.IntN(3) > 0, pushed: r.IntN(3) == 0, dropped: r.IntN(10) == 0, relay: r.IntN(15) == 0}
			if r.IntN(8) > 0 {
				p.src = fakeSource{}
			}
			if r.IntN(6) == 0 {
				p.downUntil = now.Add(time.Second)
			}
			if r.IntN(6) == 0 {
				p.coolUntil = now.Add(-time.Second)
			}
			size := (n + 7) / 8
			if r.IntN(10) == 0 {
				size = r.IntN(size + 2) // short (pushed claims) or a byte too long
			}
			p.have = make(proto.Bitfield, size)
			for b := range p.have {
				p.have[b] = byte(r.Uint32())
			}
			d.peers[ids[k]] = p
		}
		for pass := range 6 {
			if pass%2 == 0 {
				// A new membership snapshot, as maintain takes.
				d.alive, d.aliveKnown = map[string]bool{}, r.IntN(5) > 0
				for _, id := range ids {
					if r.IntN(3) > 0 {
						d.alive[id] = true
					}
				}
				d.aliveGen++
			}
			if pass == 3 {
				for i := range d.need {
					if r.IntN(3) == 0 {
						delete(d.need, i)
						d.needBits[i/8] &^= 0x80 >> (i % 8)
					}
				}
			}
			want := make([]int, n)
			for _, p := range d.peers {
				usable := (p.listed || p.pushed) && !p.dropped && p.src != nil && !now.Before(p.downUntil) && !now.Before(p.coolUntil) &&
					(p.relay || !d.aliveKnown || d.alive[p.id])
				if got := d.usable(p, now); got != usable {
					t.Fatalf("round %d pass %d: usable(%s) = %v, the scan says %v", round, pass, p.id, got, usable)
				}
				if !usable {
					continue
				}
				for i := range d.need {
					if p.have.Has(i) {
						want[i]++
					}
				}
			}
			if diff := cmp.Diff(want, d.avail(now)); diff != "" {
				t.Fatalf("round %d pass %d: avail differs from the scan (-scan +avail):\n%s", round, pass, diff)
			}
		}
	}
}

// fakeSource stands for a peer's source; avail never fetches.
type fakeSource struct{}

func (fakeSource) Kind() string { return "peer" }

func (fakeSource) Fetch(context.Context, string, proto.Fragment) (io.ReadCloser, error) {
	return nil, errors.New("fake source")
}

package p2p

import (
	"context"
	"sync"
	"time"
)

// Super-seeding: a relay holds every fragment of a package before the
// site's agents do, and its one LAN port serves the whole branch. When it
// stores a fragment, every agent that lacks it asks for it at about the
// same time (the relay's last fragments land together), and sending it
// N times takes N times as long as sending it to a few agents that then
// serve the others from their own ports. So a node with
// Config.SeedCopies > 0 hands a fresh fragment to at most SeedCopies
// requesters at a time, within SeedWindow of its first upload, and answers
// the other requests "busy" with the seeding mark, which the requester
// maps to ErrSeeding: take it from the peers that have it. Only requests
// that carry the swarm mark (SwarmRequest) are refused this way: a plain
// fetcher, which has no peers to turn to, is served as before. Past
// SeedWindow the fragment is served to every requester.

// swarmKey marks a context whose fragment requests come from a swarm
// download.
type swarmKey struct{}

// SwarmRequest returns ctx marked so that PeerSource.Fetch tells the
// serving node that the requester can get the fragment from other peers
// of its site: a node that super-seeds (Config.SeedCopies) may answer
// ErrSeeding.
func SwarmRequest(ctx context.Context) context.Context {
	return context.WithValue(ctx, swarmKey{}, true)
}

// IsSwarmRequest reports whether ctx was marked by SwarmRequest.
func IsSwarmRequest(ctx context.Context) bool {
	v, _ := ctx.Value(swarmKey{}).(bool)
	return v
}

// seeder decides which swarm requests of a fresh fragment are served. Its
// mutex owns the map.
type seeder struct {
	copies int
	window time.Duration

	mu    sync.Mutex
	frags map[string]*seedState // by CID
}

// seedState is one fragment's seeding: when its first upload started,
// and its uploads to swarm requesters running and completed.
type seedState struct {
	first        time.Time
	active, done int
}

// maxSeedStates bounds the fragments tracked; past it the expired ones
// are forgotten.
const maxSeedStates = 4096

func newSeeder(copies int, window time.Duration) *seeder {
	if copies <= 0 {
		return nil
	}
	return &seeder{copies: copies, window: window, frags: map[string]*seedState{}}
}

// admit reports whether a swarm request for fragment cid is served at
// now. When it is, done must be called once the upload ends, with
// whether it delivered the whole fragment.
func (s *seeder) admit(cid string, now time.Time) (ok bool, done func(sent bool)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.frags[cid]
	if st == nil {
		if len(s.frags) >= maxSeedStates {
			s.expire(now)
		}
		st = &seedState{first: now}
		s.frags[cid] = st
	}
	if now.Sub(st.first) >= s.window {
		return true, func(bool) {} // Seeded: everyone is served.
	}
	if st.active+st.done >= s.copies {
		return false, nil
	}
	st.active++
	return true, func(sent bool) {
		s.mu.Lock()
		defer s.mu.Unlock()
		st.active--
		if sent {
			st.done++
		}
	}
}

// expire forgets the fragments seeded before now − window with no upload
// running. s.mu must be held.
func (s *seeder) expire(now time.Time) {
	for cid, st := range s.frags {
		if st.active == 0 && now.Sub(st.first) >= s.window {
			delete(s.frags, cid)
		}
	}
}

package store_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

var testKeyPolicy = store.GossipKeyPolicy{Rotation: 24 * time.Hour, Overlap: 10 * time.Minute}

func TestGossipKey(t *testing.T) {
	s := storetest.Open(t)
	ctx := t.Context()
	now := time.Now()
	a, others, err := s.GossipKeys(ctx, 1, now, testKeyPolicy)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != store.GossipKeySize || len(others) != 0 {
		t.Fatalf("key of %d bytes and %d others, want %d and none", len(a), len(others), store.GossipKeySize)
	}
	again, _, err := s.GossipKeys(ctx, 1, now.Add(time.Hour), testKeyPolicy)
	if err != nil || !bytes.Equal(a, again) {
		t.Errorf("second call gave another key (%v)", err)
	}
	other, _, err := s.GossipKeys(ctx, 2, now, testKeyPolicy)
	if err != nil || bytes.Equal(a, other) {
		t.Errorf("two sites share a key (%v)", err)
	}
}

// ring names the keys of a GossipKeys answer by the order they appeared.
type ring struct {
	Primary string
	Others  []string
}

type keyNames map[string]string

func (n keyNames) name(k []byte) string {
	if v, ok := n[string(k)]; ok {
		return v
	}
	v := string(rune('A' + len(n)))
	n[string(k)] = v
	return v
}

func (n keyNames) ring(t *testing.T, s *store.Store, site uint, at time.Time) ring {
	t.Helper()
	p, others, err := s.GossipKeys(t.Context(), site, at, testKeyPolicy)
	if err != nil {
		t.Fatal(err)
	}
	r := ring{Primary: n.name(p)}
	for _, o := range others {
		r.Others = append(r.Others, n.name(o))
	}
	return r
}

// TestGossipKeyRotation follows a site's key ring through a rotation: the
// new key is handed out one overlap window before it is used, the old one
// is accepted for two windows, then dropped; the schedule rotates too.
func TestGossipKeyRotation(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		w := testKeyPolicy.Overlap
		t0 := time.Now().UTC().Truncate(time.Second)
		n := keyNames{}
		if d := cmp.Diff(ring{Primary: "A"}, n.ring(t, s, 1, t0)); d != "" {
			t.Fatalf("first ring (-want +got):\n%s", d)
		}
		rot := t0.Add(time.Hour)
		if err := s.RotateGossipKey(ctx, 1, rot); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name string
			at   time.Time
			want ring
		}{
			{name: "new_key_handed_out_first", at: rot.Add(time.Second), want: ring{Primary: "A", Others: []string{"B"}}},
			{name: "new_key_used_after_one_window", at: rot.Add(w), want: ring{Primary: "B", Others: []string{"A"}}},
			{name: "old_key_dropped_after_two_windows", at: rot.Add(2 * w), want: ring{Primary: "B"}},
			{name: "scheduled_rotation", at: rot.Add(testKeyPolicy.Rotation + time.Second), want: ring{Primary: "B", Others: []string{"C"}}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if d := cmp.Diff(tt.want, n.ring(t, s, 1, tt.at)); d != "" {
					t.Errorf("ring (-want +got):\n%s", d)
				}
			})
		}
	})
}

// TestDeleteRelayRotatesGossipKey: removing a relay hands its site a new
// gossip key and leaves other sites' keys alone.
func TestDeleteRelayRotatesGossipKey(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		now := time.Now()
		a, b := &store.Site{Name: "a"}, &store.Site{Name: "b"}
		for _, st := range []*store.Site{a, b} {
			if err := s.CreateSite(ctx, st); err != nil {
				t.Fatal(err)
			}
		}
		r := enrollRelay(t, s, "ra", "peer-a", a.ID, now)
		n := keyNames{}
		n.ring(t, s, a.ID, now)
		n.ring(t, s, b.ID, now)
		if err := s.DeleteRelay(ctx, r.ID, now); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(ring{Primary: "A", Others: []string{"C"}}, n.ring(t, s, a.ID, now.Add(time.Second))); d != "" {
			t.Errorf("ring of the relay's site (-want +got):\n%s", d)
		}
		if d := cmp.Diff(ring{Primary: "B"}, n.ring(t, s, b.ID, now.Add(time.Second))); d != "" {
			t.Errorf("ring of another site (-want +got):\n%s", d)
		}
	})
}

// TestComputerChangesRotateGossipKey: revoking, moving or deleting a
// computer whose Shoal agent holds its site's gossip key rotates the key;
// changes that take no key away leave it alone.
func TestComputerChangesRotateGossipKey(t *testing.T) {
	tests := []struct {
		name   string
		agent  bool // the computer has a Shoal agent (a peer record)
		change func(s *store.Store, id, other uint) error
		rotate bool
	}{
		{name: "revoke_agent", agent: true, rotate: true,
			change: func(s *store.Store, id, _ uint) error { return s.SetComputerRevoked(t.Context(), id, true) }},
		{name: "unrevoke_agent", agent: true, rotate: false,
			change: func(s *store.Store, id, _ uint) error { return s.SetComputerRevoked(t.Context(), id, false) }},
		{name: "revoke_without_peer_record", agent: false, rotate: false,
			change: func(s *store.Store, id, _ uint) error { return s.SetComputerRevoked(t.Context(), id, true) }},
		{name: "move_agent", agent: true, rotate: true,
			change: func(s *store.Store, id, other uint) error { return s.SetComputerSite(t.Context(), id, &other) }},
		{name: "unassign_agent", agent: true, rotate: true,
			change: func(s *store.Store, id, _ uint) error { return s.SetComputerSite(t.Context(), id, nil) }},
		{name: "delete_agent", agent: true, rotate: true,
			change: func(s *store.Store, id, _ uint) error { return s.DeleteComputer(t.Context(), id) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := storetest.Open(t)
			ctx := t.Context()
			now := time.Now()
			site, other := &store.Site{Name: "a"}, &store.Site{Name: "b"}
			for _, st := range []*store.Site{site, other} {
				if err := s.CreateSite(ctx, st); err != nil {
					t.Fatal(err)
				}
			}
			tok := &store.EnrollmentToken{Name: "t", Hash: hexHash("t")}
			if err := s.CreateEnrollmentToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
			res, err := inventory.EnrollAgent(ctx, s, tok.Hash, storetest.Snapshot("pc-2026-01-01-00-00-00", 1),
				&store.AgentIdentity{PeerID: "peer-pc", SecretHash: hexHash("s")}, now)
			if err != nil {
				t.Fatal(err)
			}
			id := res.ComputerID
			if err := s.SetComputerSite(ctx, id, &site.ID); err != nil {
				t.Fatal(err)
			}
			if tt.agent {
				if err := s.SavePeerRecord(ctx, &store.AgentPeerRecord{ComputerID: id, PeerID: "peer-pc", Site: "a",
					Expires: now.Add(time.Hour), Signed: []byte("{}")}); err != nil {
					t.Fatal(err)
				}
			}
			n := keyNames{}
			n.ring(t, s, site.ID, now)
			if err := tt.change(s, id, other.ID); err != nil {
				t.Fatal(err)
			}
			want := ring{Primary: "A"}
			if tt.rotate {
				want.Others = []string{"B"}
			}
			if d := cmp.Diff(want, n.ring(t, s, site.ID, now.Add(time.Second))); d != "" {
				t.Errorf("ring of the computer's site (-want +got):\n%s", d)
			}
		})
	}
}

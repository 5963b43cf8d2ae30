package p2p

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/source"
)

func TestSeederPolicy(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	s := newSeeder(2, 2*time.Second)
	admit := func(cid string, at time.Duration) (bool, func(bool)) {
		t.Helper()
		return s.admit(cid, t0.Add(at))
	}
	okA, doneA := admit("a", 0)
	okB, doneB := admit("a", 10*time.Millisecond)
	if !okA || !okB {
		t.Fatalf("first two copies admitted = %v, %v; want both", okA, okB)
	}
	if ok, _ := admit("a", 20*time.Millisecond); ok {
		t.Fatal("third copy within the window admitted; want refused")
	}
	if ok, done := admit("b", 20*time.Millisecond); !ok {
		t.Fatal("another fragment refused; want its own copies")
	} else {
		done(true)
	}
	doneA(true) // Delivered: still one of the two copies.
	if ok, _ := admit("a", 500*time.Millisecond); ok {
		t.Fatal("copy admitted after one delivered and one running; want refused")
	}
	doneB(false) // Failed: its place is free again.
	okC, doneC := admit("a", time.Second)
	if !okC {
		t.Fatal("copy refused after a failed one; want admitted")
	}
	doneC(true)
	if ok, _ := admit("a", 1900*time.Millisecond); ok {
		t.Fatal("copy admitted with two delivered within the window; want refused")
	}
	if ok, _ := admit("a", 2*time.Second); !ok {
		t.Fatal("copy refused past the window; want everyone served")
	}
	if s := newSeeder(0, time.Second); s != nil {
		t.Fatal("newSeeder(0) is not nil; want no seeding")
	}
}

func TestSeederBounded(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	s := newSeeder(1, time.Second)
	for i := range maxSeedStates {
		if ok, done := s.admit(fmt.Sprint(i), t0); ok {
			done(true)
		}
	}
	s.admit("late", t0.Add(time.Second))
	if n := len(s.frags); n != 1 {
		t.Fatalf("%d fragments tracked after the window; want the expired ones forgotten (1 left)", n)
	}
}

// TestSuperSeeding: a node with seed_copies 2 serves a fresh fragment to
// two swarm requesters, tells a third to take it from them (ErrSeeding,
// busy for the fetcher, not a peer failure), and still serves a plain
// request, which has no peers to turn to.
func TestSuperSeeding(t *testing.T) {
	c := newCentral(t)
	relay := startNode(t, c, Config{SeedCopies: 2, SeedWindow: time.Hour})
	data := randomBytes(1<<20, 7)
	f := relay.put(t, data)
	swarm := SwarmRequest(context.Background())
	for i := range 2 {
		got, err := fetchBytes(swarm, startNode(t, c, Config{}).source(t, relay), f)
		if err != nil {
			t.Fatalf("swarm copy %d: %v", i+1, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("swarm copy %d: wrong bytes", i+1)
		}
	}
	third := startNode(t, c, Config{}).source(t, relay)
	_, err := fetchBytes(swarm, third, f)
	if !errors.Is(err, ErrSeeding) || !errors.Is(err, source.ErrBusy) || !errors.Is(err, source.ErrSeeding) || errors.Is(err, ErrBusy) {
		t.Fatalf("third swarm request: err = %v; want ErrSeeding (source.ErrSeeding, source.ErrBusy), not ErrBusy", err)
	}
	got, err := fetchBytes(context.Background(), third, f)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("plain request: err = %v, %d bytes; want the fragment", err, len(got))
	}
	// A node that does not seed (seed_copies -1) serves every swarm
	// request; one with the defaults seeds.
	if got := (Config{}).withDefaults().SeedCopies; got != DefaultSeedCopies {
		t.Errorf("default seed_copies %d, want %d", got, DefaultSeedCopies)
	}
	plain := startNode(t, c, Config{SeedCopies: -1})
	g := plain.put(t, data)
	for i := range 3 {
		if _, err := fetchBytes(swarm, startNode(t, c, Config{}).source(t, plain), g); err != nil {
			t.Fatalf("swarm request %d to a node without seeding: %v", i+1, err)
		}
	}
}

package notify

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shoal-project/shoal/internal/testwait"
)

// runHub runs h until the test ends.
func runHub(t *testing.T, h *Hub) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hub run: %v", err)
		}
	})
}

func received(ch <-chan struct{}, within time.Duration) bool {
	t := time.NewTimer(within)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}

func TestInProcess(t *testing.T) {
	h := New("", slog.New(slog.DiscardHandler))
	if !h.Live() {
		t.Fatal("an in-process hub is always live")
	}
	runHub(t, h)
	w1, stop1 := h.WatchComputer(1)
	defer stop1()
	w2, stop2 := h.WatchComputer(2)
	defer stop2()
	var mu sync.Mutex
	var got []string
	h.Subscribe(TopicSettings, func(ev Event) { mu.Lock(); got = append(got, ev.Topic); mu.Unlock() })

	h.JobsChanged(context.Background(), []uint{1})
	if !received(w1, time.Second) {
		t.Fatal("computer 1 was not woken")
	}
	if received(w2, 50*time.Millisecond) {
		t.Fatal("computer 2 was woken by computer 1's change")
	}
	h.JobsChanged(context.Background(), nil)
	if !received(w1, time.Second) || !received(w2, time.Second) {
		t.Fatal("a change of every job list did not wake both")
	}
	h.Changed(context.Background(), TopicSettings)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0] != TopicSettings {
		t.Fatalf("settings subscriber got %v", got)
	}
}

func TestManyIDsWakeAll(t *testing.T) {
	h := New("", slog.New(slog.DiscardHandler))
	w, stop := h.WatchComputer(7)
	defer stop()
	ids := make([]uint, maxIDs+1)
	for i := range ids {
		ids[i] = uint(1000 + i)
	}
	h.JobsChanged(context.Background(), ids)
	if !received(w, time.Second) {
		t.Fatal("an event too large for one notification must wake every computer")
	}
}

// TestPostgres runs two hubs on one database, as two replicas: a change
// published on one wakes a waiter of the other.
func TestPostgres(t *testing.T) {
	dsn := os.Getenv("SHOAL_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("SHOAL_TEST_POSTGRES_DSN not set (run under scripts/with-postgres.sh)")
	}
	log := slog.New(slog.DiscardHandler)
	a, b := New(dsn, log), New(dsn, log)
	runHub(t, a)
	runHub(t, b)
	testwait.For(t, 10*time.Second, "both hubs listening", func() error {
		if !a.Live() || !b.Live() {
			return errors.New("not live yet")
		}
		return nil
	})
	w, stop := b.WatchComputer(42)
	defer stop()
	sites := make(chan Event, 4)
	b.Subscribe(TopicSites, func(ev Event) { sites <- ev })

	began := time.Now()
	a.JobsChanged(context.Background(), []uint{42})
	if !received(w, 2*time.Second) {
		t.Fatal("replica b's waiter was not woken within 2s")
	}
	t.Logf("cross-replica wake-up in %s", time.Since(began))
	a.Changed(context.Background(), TopicSites)
	select {
	case ev := <-sites:
		if ev.From != a.ID() {
			t.Fatalf("event from %q, want %q", ev.From, a.ID())
		}
	case <-time.After(2 * time.Second):
		t.Fatal("replica b did not get the sites change")
	}
}

// TestUnreachable: without a database the hub is not live (consumers
// poll) and Run still stops with its context.
func TestUnreachable(t *testing.T) {
	h := New("host=127.0.0.1 port=1 user=x dbname=x sslmode=disable connect_timeout=1", slog.New(slog.DiscardHandler))
	runHub(t, h)
	w, stop := h.WatchComputer(1)
	defer stop()
	if h.Live() {
		t.Fatal("live without a database")
	}
	// Local events still reach local waiters.
	h.JobsChanged(context.Background(), []uint{1})
	if !received(w, time.Second) {
		t.Fatal("a local change did not wake a local waiter")
	}
}

// TestPostgresReconnect: when the listening connection dies, waiters are
// woken (they poll until it is back), the hub reconnects, and events flow
// again.
func TestPostgresReconnect(t *testing.T) {
	dsn := os.Getenv("SHOAL_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("SHOAL_TEST_POSTGRES_DSN not set (run under scripts/with-postgres.sh)")
	}
	log := slog.New(slog.DiscardHandler)
	a, b := New(dsn, log), New(dsn, log)
	runHub(t, a)
	runHub(t, b)
	live := func() error {
		if !a.Live() || !b.Live() {
			return errors.New("not live yet")
		}
		return nil
	}
	testwait.For(t, 10*time.Second, "both hubs listening", live)
	w, stop := b.WatchComputer(9)
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// Every listening connection dies (both hubs').
	if _, err := conn.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'LISTEN "+Channel+"'"); err != nil {
		t.Fatal(err)
	}
	if !received(w, 5*time.Second) {
		t.Fatal("a lost connection did not wake the waiters")
	}
	testwait.For(t, 20*time.Second, "both hubs listening again", live)
	for received(w, 0) {
	}
	a.JobsChanged(context.Background(), []uint{9})
	if !received(w, 2*time.Second) {
		t.Fatal("no event after the reconnection")
	}
}

// TestWatchRelays: a relay waiter wakes on every job list change,
// whatever computers it names, on a purge and on resync; a computer's
// waiter does not wake on a purge.
func TestWatchRelays(t *testing.T) {
	h := New("", slog.New(slog.DiscardHandler))
	runHub(t, h)
	r, stopR := h.WatchRelays()
	defer stopR()
	c, stopC := h.WatchComputer(3)
	defer stopC()
	h.JobsChanged(context.Background(), []uint{99})
	if !received(r, time.Second) {
		t.Fatal("a relay waiter did not wake on computer 99's change")
	}
	h.RelaysChanged(context.Background())
	if !received(r, time.Second) {
		t.Fatal("a relay waiter did not wake on a purge")
	}
	if received(c, 50*time.Millisecond) {
		t.Fatal("computer 3's waiter woke on computer 99's change or a purge")
	}
	h.dispatch(Event{Topic: TopicResync})
	if !received(r, time.Second) {
		t.Fatal("a relay waiter did not wake on resync")
	}
}

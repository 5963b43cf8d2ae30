package gate

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

func TestGateRefusesWhenFullAfterTheWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := New("ingest", 2, time.Second)
		ctx := context.Background()
		r1, err := g.Enter(ctx)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := g.Enter(ctx)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := g.Enter(ctx); !errors.Is(err, ErrBusy) {
			t.Fatalf("third Enter: %v, want ErrBusy", err)
		}
		if d := time.Since(start); d != time.Second {
			t.Fatalf("waited %s, want 1s", d)
		}
		// A slot freed during the wait is taken.
		go func() {
			time.Sleep(500 * time.Millisecond)
			r1()
		}()
		r3, err := g.Enter(ctx)
		if err != nil {
			t.Fatalf("Enter after release: %v", err)
		}
		r2()
		r3()
	})
}

func TestGateStopsWaitingWhenTheContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := New("upload", 1, time.Minute)
		r, err := g.Enter(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer r()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := g.Enter(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Enter: %v, want deadline exceeded", err)
		}
	})
}

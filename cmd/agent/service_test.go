package main

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestServiceLoop covers the service logic with a fake manager (channels);
// the real service control manager is Windows-only (wine has none that
// this test could rely on).
func TestServiceLoop(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	tests := []struct {
		name     string
		events   []svcEvent
		runErr   error // returned by run on its own (nil: run waits for ctx)
		want     []svcState
		wantCode uint32
	}{
		{name: "stop", events: []svcEvent{svcInterrogate, svcStop},
			want: []svcState{stateStartPending, stateRunning, stateRunning, stateStopPending, stateStopped}, wantCode: 0},
		{name: "agent-fails", runErr: errors.New("bad config"),
			want: []svcState{stateStartPending, stateRunning, stateStopped}, wantCode: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events := make(chan svcEvent, len(tt.events))
			for _, e := range tt.events {
				events <- e
			}
			var got []svcState
			started := make(chan struct{})
			run := func(ctx context.Context) error {
				close(started)
				if tt.runErr != nil {
					return tt.runErr
				}
				<-ctx.Done()
				return ctx.Err()
			}
			code := serviceLoop(events, func(s svcState) { got = append(got, s) }, run, log)
			<-started
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d", code, tt.wantCode)
			}
			if tt.runErr != nil {
				// Interrogations may interleave only when events were sent.
				got = compact(got)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("reported states -want +got:\n%s", d)
			}
		})
	}
}

func compact(s []svcState) []svcState {
	var out []svcState
	for _, x := range s {
		if len(out) == 0 || out[len(out)-1] != x {
			out = append(out, x)
		}
	}
	return out
}

package main

import (
	"context"
	"errors"
	"log/slog"
)

// svcEvent is what the service control manager asks, reduced to what the
// agent distinguishes; service_windows.go translates svc.ChangeRequest.
type svcEvent int

const (
	svcInterrogate svcEvent = iota
	svcStop                 // Stop or Shutdown
)

// svcState is a state reported to the service control manager.
type svcState int

const (
	stateStartPending svcState = iota
	stateRunning
	stateStopPending
	stateStopped
)

// serviceLoop runs the agent as a service: it reports start, runs run
// until the manager asks for a stop (then cancels it and waits for it to
// return) or until run returns by itself, and gives the exit code for the
// manager: 0 after a requested stop, 1 when the agent failed.
func serviceLoop(events <-chan svcEvent, report func(svcState), run func(context.Context) error, log *slog.Logger) uint32 {
	report(stateStartPending)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	report(stateRunning)
	log.Info("service started")
	for {
		select {
		case err := <-done:
			report(stateStopped)
			if err != nil && !errors.Is(err, context.Canceled) {
				log.Error("service failed", "err", err)
				return 1
			}
			log.Info("service stopped")
			return 0
		case ev := <-events:
			switch ev {
			case svcInterrogate:
				report(stateRunning)
			case svcStop:
				report(stateStopPending)
				cancel()
				err := <-done
				report(stateStopped)
				if err != nil && !errors.Is(err, context.Canceled) {
					log.Error("service stopped with an error", "err", err)
					return 1
				}
				log.Info("service stopped")
				return 0
			}
		}
	}
}

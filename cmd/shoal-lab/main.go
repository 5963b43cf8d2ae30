// Command shoal-lab runs the branch lab of issue 8 (see docs/LAB.md): real
// central and agents in network namespaces behind shaped branch uplinks,
// and a report of WAN bytes, completion times and central's cost.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/shoal-project/shoal/cmd/internal/run"
	"github.com/shoal-project/shoal/lab"
)

func main() {
	f, err := lab.ParseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "shoal-lab: %v\n", err)
		os.Exit(2)
	}
	log, err := run.Logger(os.Stderr, f.LogLevel, false)
	if err != nil {
		fmt.Fprintf(os.Stderr, "shoal-lab: %v\n", err)
		os.Exit(2)
	}
	// A closed stdout (shoal-lab | head) must not kill the lab before it
	// tears its namespaces down.
	signal.Ignore(syscall.SIGPIPE)
	ctx, cancel := run.Context()
	defer cancel()
	l, err := lab.New(f.Config, log, os.Stdout)
	if err == nil {
		var rep *lab.Report
		// A failed scenario or a missed goal is a failed run.
		if rep, err = l.Run(ctx); err == nil {
			err = rep.Verdict()
		}
	}
	if err != nil {
		cancel()
		fmt.Fprintf(os.Stderr, "shoal-lab: %v\n", err)
		os.Exit(1)
	}
}

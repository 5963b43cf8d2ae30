//go:build integration

package itest

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestShutdownAnswersLongPolls stops central while a real shoal-agent holds
// a jobs long-poll (20 s): central answers the poll at once and exits 0
// within a few seconds. Before, shutdown waited for the poll until its 10 s
// deadline and exited with "context deadline exceeded".
func TestShutdownAnswersLongPolls(t *testing.T) {
	c := startCentral(t, "")
	a := startAgentAPI(t, c)
	ag := newAgent(t, a, "shoal-shutdown", a.URL, "")
	ag.Start()
	// The first jobs request is answered at once (the agent has no tag
	// yet); the next one is held: central logs "jobs poll held" when a
	// poll starts waiting and "request … path=/api/agent/v1/jobs" when it
	// is answered.
	const answered = "path=/api/agent/v1/jobs"
	var polls int
	waitFor(t, 60*time.Second, "a held jobs poll", func() error {
		log := c.log.String()
		polls = strings.Count(log, answered)
		if held := strings.LastIndex(log, `msg="jobs poll held"`); held < 0 || held < strings.LastIndex(log, answered) {
			return fmt.Errorf("no poll held after the last of %d answered", polls)
		}
		return nil
	})
	start := time.Now()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-c.done:
		c.done <- err
		if err != nil {
			t.Fatalf("central exited with %v after SIGTERM\n%s", err, c.tail())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("central still running 30s after SIGTERM\n%s", c.tail())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("central took %v to stop with a held long-poll, want under 5s", d)
	}
	if n := strings.Count(c.log.String(), answered); n <= polls {
		t.Errorf("the held jobs poll was not answered at shutdown (%d jobs requests logged before, %d after)\n%s", polls, n, c.tail())
	}
}

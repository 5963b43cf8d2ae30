package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ocsAgent is one real Debian ocsinventory-agent with its own state
// directory, run inside its host's namespace under the host's name.
type ocsAgent struct {
	host   Host
	base   string // --basevardir
	server string // https://10.99.0.1:8443/ocsinventory
	ca     string
	runs   int
	// cpu and maxRSSKB are the resources of the last foreground run and
	// the descendants it waited for (not the forked download worker).
	cpu      float64
	maxRSSKB int64
}

// logFile is where the agent and its forked download worker log.
func (a *ocsAgent) logFile() string { return filepath.Join(a.base, "agent.log") }

// varDir is the agent's state for this server.
func (a *ocsAgent) varDir() string {
	return filepath.Join(a.base, strings.ReplaceAll(a.server, "/", "_"))
}

// run runs the agent once in the foreground, bounded by timeout. The agent
// forks a download worker that outlives it and inherits its stdout and
// stderr; they go to a file, not a pipe, so that waiting for the agent
// does not wait for the worker.
func (a *ocsAgent) run(ctx context.Context, timeout time.Duration, extra ...string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	a.runs++
	out, err := os.Create(filepath.Join(a.base, fmt.Sprintf("run-%d.out", a.runs)))
	if err != nil {
		return fmt.Errorf("agent %s: %w", a.host.Name, err)
	}
	defer out.Close()
	// The agent reads its host name from the kernel: a UTS namespace per
	// run gives every lab agent its own name and so its own DEVICEID.
	// --nosoftware keeps the inventory (sent before every download) from
	// listing the host's packages N times at once on the lab's few cores,
	// which real computers, each with its own CPU, would not suffer.
	args := []string{"netns", "exec", a.host.NS, "sh", "-c", `echo "$0" > /proc/sys/kernel/hostname && exec "$@"`, a.host.Name,
		"ocsinventory-agent", "--nolocal", "--server=" + a.server, "--ca=" + a.ca, "--basevardir=" + a.base,
		"--nosoftware", "--debug", "--logfile=" + a.logFile()}
	cmd := exec.CommandContext(ctx, "ip", append(args, extra...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUTS}
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Run()
	if ps := cmd.ProcessState; ps != nil {
		a.cpu = (ps.UserTime() + ps.SystemTime()).Seconds()
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			a.maxRSSKB = ru.Maxrss
		}
	}
	if err != nil {
		return fmt.Errorf("agent %s (see %s): %w", a.host.Name, out.Name(), err)
	}
	return nil
}

// workerPID returns the PID of the agent's running download worker, or 0.
func (a *ocsAgent) workerPID() int {
	b, err := os.ReadFile(filepath.Join(a.varDir(), "download", "lock"))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 || syscall.Kill(pid, 0) != nil {
		return 0
	}
	return pid
}

// ocsLogLine matches "[Wed Nov 26 18:49:10 2025][debug] [download] Downloading 123-1".
var ocsLogLine = regexp.MustCompile(`^\[([A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]{2} [0-9:]{8} [0-9]{4})\]\[[a-z]+\] \[download\] Downloading ([0-9]+)-([0-9]+)`)

// errNoFragment reports an agent log without a fragment download.
var errNoFragment = errors.New("no fragment download in the agent log")

// firstFragment returns when the agent started to download its first
// fragment of package pkg, from its log (one-second resolution, local time).
func firstFragment(log []byte, pkg string) (time.Time, error) {
	for _, line := range strings.Split(string(log), "\n") {
		m := ocsLogLine.FindStringSubmatch(line)
		if m == nil || m[2] != pkg {
			continue
		}
		t, err := time.ParseInLocation("Mon Jan _2 15:04:05 2006", m[1], time.Local)
		if err != nil {
			return time.Time{}, fmt.Errorf("agent log time %q: %w", m[1], err)
		}
		return t, nil
	}
	return time.Time{}, errNoFragment
}

package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// lanHost puts host h on branch br's LAN bridge through port, shaped
// both ways to mbit (0: unshaped).
func (t *Topology) lanHost(ctx context.Context, br *Branch, h Host, port, gw string, mbit float64) error {
	if err := t.addNS(ctx, h.NS, false); err != nil {
		return err
	}
	if err := do(ctx,
		[]string{"-n", br.Router, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", h.NS},
		[]string{"-n", br.Router, "link", "set", port, "master", "lan0"},
		[]string{"-n", br.Router, "link", "set", port, "up"},
		[]string{"-n", h.NS, "addr", "add", h.Addr.String() + "/24", "dev", "eth0"},
		[]string{"-n", h.NS, "link", "set", "eth0", "up"},
		[]string{"-n", h.NS, "route", "add", labCoreNet, "via", gw},
	); err != nil {
		return err
	}
	if mbit > 0 {
		for _, dev := range [][2]string{{br.Router, port}, {h.NS, "eth0"}} {
			if _, err := command(ctx, "tc", tbfArgs(dev[0], dev[1], mbit, time.Millisecond)...); err != nil {
				return err
			}
		}
	}
	return nil
}

// Namespaces lists the network namespaces whose name starts with prefix.
func Namespaces(ctx context.Context, prefix string) ([]string, error) {
	out, err := command(ctx, "ip", "netns", "list")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if name != "" && strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
	}
	return names, nil
}

// nsPIDs lists the processes inside namespace ns.
func nsPIDs(ctx context.Context, ns string) ([]int, error) {
	out, err := command(ctx, "ip", "netns", "pids", ns)
	if err != nil {
		return nil, err
	}
	var pids []int
	self := os.Getpid()
	for _, f := range strings.Fields(string(out)) {
		// The lab's own process is never a victim, even if a thread of it
		// is inside ns for a moment (a dial or a TUN open).
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != self {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// killNS kills every process inside namespace ns (all of them were started
// by the lab) and waits up to 10 s for them to be gone.
func killNS(ctx context.Context, ns string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids, err := nsPIDs(ctx, ns)
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v in %s survived SIGKILL", pids, ns)
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// deleteNS kills what runs in ns and deletes it.
func deleteNS(ctx context.Context, ns string) error {
	return errors.Join(killNS(ctx, ns), ip(ctx, "netns", "del", ns))
}

// RemoveLeftovers deletes the lab namespaces of runs whose process is gone
// (a crash or a kill -9), with whatever still runs in them.
func RemoveLeftovers(ctx context.Context, log *slog.Logger) error {
	names, err := Namespaces(ctx, NamePrefix)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		m := leftoverRE.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if pid == 0 || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue // that run is still alive (or is us)
		}
		log.Info("removing leftover lab namespace", "netns", name)
		errs = append(errs, deleteNS(ctx, name))
	}
	return errors.Join(errs...)
}

// Close stops the delay lines, kills every process in the lab's namespaces
// and deletes them. It runs even when ctx is cancelled and may be called
// more than once.
func (t *Topology) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t.mu.Lock()
	spaces, tuns := t.spaces, t.tuns
	t.spaces, t.tuns = nil, nil
	t.mu.Unlock()
	var errs []error
	for _, ns := range slices.Backward(spaces) {
		errs = append(errs, killNS(ctx, ns))
	}
	t.cancel()
	for _, f := range tuns {
		_ = f.Close()
	}
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("delay lines did not stop: %w", ctx.Err()))
	}
	for _, ns := range slices.Backward(spaces) {
		errs = append(errs, ip(ctx, "netns", "del", ns))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tear down lab: %w", err)
	}
	return nil
}

package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// cmdTimeout bounds every ip, tc and sysctl command.
const cmdTimeout = 20 * time.Second

// ErrUnavailable reports that this machine cannot run the lab: not root, no
// `ip netns`, no TUN device or no tbf qdisc.
var ErrUnavailable = errors.New("lab unavailable")

// command runs name with args, bounded by cmdTimeout, and returns its
// standard output. The error carries the command line and its stderr.
func command(ctx context.Context, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err,
			strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// ip runs `ip args...`.
func ip(ctx context.Context, args ...string) error {
	_, err := command(ctx, "ip", args...)
	return err
}

// sysctl sets key=value inside namespace ns.
func sysctl(ctx context.Context, ns, key, value string) error {
	return ip(ctx, "netns", "exec", ns, "sysctl", "-q", "-w", key+"="+value)
}

// Available reports whether this process can run the lab, wrapping
// ErrUnavailable with the reason when it cannot.
func Available(ctx context.Context) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root to create network namespaces: %w", ErrUnavailable)
	}
	for _, bin := range []string{"ip", "tc", "sysctl"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s is not installed: %w", bin, errors.Join(ErrUnavailable, err))
		}
	}
	if _, err := command(ctx, "ip", "netns", "list"); err != nil {
		return fmt.Errorf("ip netns does not work: %w", errors.Join(ErrUnavailable, err))
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return fmt.Errorf("no TUN device for the WAN delay line: %w", errors.Join(ErrUnavailable, err))
	}
	return nil
}

// netnsDir is where `ip netns add` mounts named namespaces.
const netnsDir = "/run/netns"

// inNetns runs fn on an OS thread that has entered network namespace ns,
// then moves the thread back. Sockets and TUN devices that fn opens belong
// to ns and keep working from any thread afterwards. If the thread cannot
// return to its namespace it stays locked, so the Go runtime retires it
// instead of reusing it in the wrong namespace; threads the runtime starts
// meanwhile come from its template thread, not from this one.
func inNetns(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open own netns: %w", err)
			return
		}
		defer orig.Close()
		f, err := os.Open(filepath.Join(netnsDir, ns))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open netns %s: %w", ns, err)
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		err = fn()
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// serverCommand returns the command that runs bin with args inside
// namespace ns (none: here) at nice value nice (0: unchanged), through
// nice(1) so that every thread of the server has it (a nice value is a
// thread's, and Go starts threads of its own).
func serverCommand(ns string, nice int, bin string, args ...string) *exec.Cmd {
	argv := append([]string{bin}, args...)
	if nice != 0 {
		argv = append([]string{"nice", "-n", strconv.Itoa(nice)}, argv...)
	}
	if ns != "" {
		argv = append([]string{"ip", "netns", "exec", ns}, argv...)
	}
	return exec.Command(argv[0], argv[1:]...)
}

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// This file holds the parts of installing and removing the Windows agent
// that are plain logic (tested on every OS): the netsh command lines of
// its firewall rules and the state dir purge of an uninstall.
// service_windows.go runs them.

// firewallRules are the names of the inbound Windows Firewall rules the
// agent's installer adds, one per protocol: memberlist gossips over UDP and
// TCP (7946 by default), libp2p carries fragments over TCP on a port it
// picks at start. The rules are scoped to the agent's program rather than
// to ports for that reason, and to the private and domain profiles only:
// a laptop on a public network accepts no peer.
var firewallRules = []struct{ name, protocol string }{
	{"ShoalAgent-TCP", "TCP"},
	{"ShoalAgent-UDP", "UDP"},
}

// firewallCommands returns the netsh command lines that add (add true) or
// remove the agent's firewall rules for program exe. Adding first removes
// rules of the same name, so that a reinstall does not stack duplicates.
// The lines are whole Windows command lines: netsh parses its own
// arguments, and program= must be quoted as a whole value.
func firewallCommands(exe string, add bool) []string {
	var out []string
	for _, r := range firewallRules {
		out = append(out, "netsh.exe advfirewall firewall delete rule name="+r.name)
		if add {
			out = append(out, "netsh.exe advfirewall firewall add rule name="+r.name+
				` dir=in action=allow enable=yes profile=private,domain protocol=`+r.protocol+
				` program="`+exe+`" description="Shoal agent: LAN peers (memberlist and libp2p)"`)
		}
	}
	return out
}

// purgeStateDir removes everything in the agent's state dir except its
// logs directory: identity, enrollment, jobs and fragments go, logs stay
// for whoever investigates the computer later. A missing dir is not an
// error.
func purgeStateDir(dir string) error {
	if strings.TrimSpace(dir) == "" || filepath.Clean(dir) == filepath.Dir(filepath.Clean(dir)) {
		return fmt.Errorf("purge state dir: refusing %q", dir)
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("purge state dir: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if e.IsDir() && strings.EqualFold(e.Name(), "logs") {
			continue
		}
		if err := removeTree(filepath.Join(dir, e.Name())); err != nil {
			errs = append(errs, fmt.Errorf("purge state dir: %w", err))
		}
	}
	return errors.Join(errs...)
}

// removeTree removes path and, for a directory, everything below it,
// children first, with plain deletes: os.RemoveAll's POSIX-semantics
// delete fails under wine ("Invalid function"), where the uninstall is
// tested. Symlinks and junctions are removed, never followed.
func removeTree(path string) error {
	var paths []string
	err := filepath.WalkDir(path, func(p string, _ os.DirEntry, err error) error {
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		return err
	}
	var errs []error
	for i := len(paths) - 1; i >= 0; i-- {
		if err := os.Remove(paths[i]); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Package ctl is shoalctl, the command-line client of shoal-central's REST
// API (proto/api). It logs in once and keeps the server, CA file and an API
// token in ~/.config/shoal/shoalctl.json (mode 0600); every other command
// reads that file, or the --server, --ca and --token flags (SHOAL_SERVER,
// SHOAL_CA, SHOAL_TOKEN).
//
// Output is a human table by default and JSON with -o json. Every request
// has a deadline (--timeout); an upload instead has a deadline on progress,
// so a large file may take as long as it needs while a stalled one fails.
// Errors show the API's own message and details.
//
// The package imports neither central nor gorm nor echo: only proto/api and
// the standard library (plus x/sys for the password prompt).
package ctl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// IO is what a run of shoalctl reads and writes.
type IO struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment (os.Getenv in the binary).
	Getenv func(string) string
}

// Environment variables.
const (
	EnvServer   = "SHOAL_SERVER"
	EnvCA       = "SHOAL_CA"
	EnvToken    = "SHOAL_TOKEN"
	EnvPassword = "SHOAL_PASSWORD"
	EnvConfig   = "SHOALCTL_CONFIG"
)

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// globals are the options every command accepts, before or after its name.
type globals struct {
	config  string
	server  string
	ca      string
	token   string
	output  string
	timeout time.Duration
}

// cli is one run of shoalctl.
type cli struct {
	io IO
	g  globals
}

// command is one shoalctl command, such as "package create".
type command struct {
	name     string
	synopsis string
	help     string
	run      func(ctx context.Context, c *cli, args []string) error
}

func commands() []command {
	return []command{
		{"login", "--server URL [--ca FILE] [--user admin] [--token T | --password-stdin]",
			"Mint an API token with the admin password (SHOAL_PASSWORD or a prompt) and save it.", runLogin},
		{"logout", "", "Forget the saved server and token.", runLogout},
		{"package create", "FILE (--command C | --path P | --launch L) [--action EXECUTE|STORE|LAUNCH] [--name N] [--priority 0-10] [--fragments N]",
			"Upload a file as a new package, with a progress bar on stderr.", runPackageCreate},
		{"package list", "[--limit N] [--offset N]", "List packages, newest first.", runPackageList},
		{"package show", "ID", "Show a package: digests, signature, fragments, deployments, downloads.", runPackageShow},
		{"package delete", "ID", "Delete a package, its files and its deployments.", runPackageDelete},
		{"package activate", "ID [--info-loc L] [--pack-loc L] [--proto HTTP|HTTPS] [--skip-check]",
			"Check that agents can fetch the package there, then activate it.", runPackageActivate},
		{"package deactivate", "ID", "Stop advertising a package.", runPackageDeactivate},
		{"package affect", "ID (--computer N... | --name/--os/--software/--ip/--tag/--site/--contact-since ...) [--all] [--dry-run] [--force]",
			"Assign a package to computers by ID or by inventory search; --dry-run only counts them.", runPackageAffect},
		{"deploy status", "PKG [--state S] [--site NAME|ID|none] [--watch] [--interval 2s] [--limit N]",
			"Deployment counts and per-computer rows of a package; --watch refreshes until all are final.", runDeployStatus},
		{"codes", "[CODE]", "Explain a deployment result code (ERR_DOWNLOAD_INFO, EXIT_CODE_3, …), or list every OCS and Shoal code.", runCodes},
		{"deploy redeploy", "DEPLOYMENT_ID", "Deploy again (even where the package is installed).", runDeployRedeploy},
		{"deploy cancel", "DEPLOYMENT_ID", "Cancel an unfinished deployment.", runDeployCancel},
		{"computers", "[--name/--os/--software/--software-version/--no-software/--ip/--tag/--site/--contact-since/--contact-before] [--limit N]",
			"Search computers.", runComputers},
		{"computers show", "ID", "Show a computer's inventory summary and deployment history.", runComputerShow},
		{"computers tag", "ID TAG", "Set a computer's OCS TAG; an OCS agent adopts it at its next inventory.", runComputerTag},
		{"computers wake", "ID", "Wake a computer: a relay or an awake Shoal agent of its site sends the Wake-on-LAN magic packet.", runComputerWake},
		{"computers wakes", "ID", "List a computer's wake requests: sent by, woken or not.", runComputerWakes},
		{"sites list", "", "List sites.", runSitesList},
		{"sites create", "NAME --cidr CIDR... [--fragment-location host:port/path] [--description D] [--window \"mon-fri 22:00-06:00\"]", "Create a site.", runSitesCreate},
		{"sites update", "NAME|ID [--name N] [--cidr CIDR...] [--fragment-location L] [--description D] [--window W|always]", "Change a site.", runSitesUpdate},
		{"sites import", "FILE|-", "Create or update sites from CSV lines: name, CIDRs (space or ; separated), time zone.", runSitesImport},
		{"sites delete", "NAME|ID", "Delete a site.", runSitesDelete},
		{"relays", "", "List relays: site, URL, online, disk, bytes from upstream and served, hit ratio.", runRelaysList},
		{"relays token", "--site SITE --name NAME [--expires 24h]",
			"Mint the single-use token that enrolls relay NAME for SITE, and print its shoal-relay enroll command.", runRelaysToken},
		{"relays delete", "ID", "Remove a relay (its site falls back to central).", runRelaysDelete},
		{"package purge", "ID", "Drop a package from every relay's cache.", runPackagePurge},
		{"groups list", "", "List groups: kind, members, saved search.", runGroupsList},
		{"groups create", "NAME [--computer N...] [--name/--os/--software/--ip/--tag/--site/--contact-since ...] [--description D] [--window W] [--prolog-freq H] [--ocs-timings short|default] [--cycle-latency S] [--frag-latency S] [--period-latency S]",
			"Create a static group (--computer) or a dynamic one (search flags, re-evaluated at every inventory).", runGroupsCreate},
		{"groups show", "NAME|ID", "Show a group's members and assignments.", runGroupsShow},
		{"groups update", "NAME|ID [--name N] [--description D] [--window W|always] [--prolog-freq H] [--ocs-timings short|default|auto] [--cycle-latency S] [--frag-latency S] [--period-latency S]",
			"Change some fields of a group; the others keep their values.", runGroupsUpdate},
		{"groups add", "NAME|ID --computer N...", "Add computers to a static group.", runGroupsMembers(false)},
		{"groups remove", "NAME|ID --computer N...", "Remove computers from a static group.", runGroupsMembers(true)},
		{"groups delete", "NAME|ID", "Delete a group no assignment targets.", runGroupsDelete},
		{"groups window", "NAME|ID WINDOW|always", "Set the deployment window of a group's assignments (\"mon-fri 22:00-06:00\"; always: the members' site windows).", runGroupsWindow},
		{"assign", "PKG (--group NAME|ID | --site NAME|ID | --name/--os/--software/...) [--after PKG] [--baseline] [--stage N | --stage-percent P] [--max-failures P] [--reboot]",
			"Assign a package to a group, a site (--site alone) or a saved search: computers that join later get it too.", runAssign},
		{"assignments", "[--package PKG]", "List assignments with members, done, pending, failed, held.", runAssignments},
		{"resume", "ASSIGNMENT_ID", "Resume a paused staged rollout (the failures so far are accepted).", runResume},
		{"unassign", "ASSIGNMENT_ID", "Remove an assignment (installs stay, pending deployments are cancelled).", runUnassign},
	}
}

// usageError is a mistake on the command line: exit status 2 and the
// command's synopsis.
type usageError struct {
	cmd string
	msg string
}

func (e *usageError) Error() string { return e.msg }

// Main runs shoalctl with args (without the program name) and returns the
// process exit status.
func Main(ctx context.Context, args []string, stdio IO) int {
	c := &cli{io: stdio}
	if c.io.Getenv == nil {
		c.io.Getenv = func(string) string { return "" }
	}
	if c.io.Stdin == nil {
		c.io.Stdin = strings.NewReader("")
	}
	// Global flags may come first: shoalctl -o json package list.
	fs := c.flags("shoalctl")
	fs.Usage = func() {} // -h prints the commands below instead
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.usage(c.io.Stdout)
			return exitOK
		}
		return exitUsage
	}
	args = fs.Args()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		c.usage(c.io.Stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, rest, ok := lookup(args)
	if !ok {
		fmt.Fprintf(c.io.Stderr, "shoalctl: unknown command %q; run 'shoalctl help'\n", strings.Join(args[:min(2, len(args))], " "))
		return exitUsage
	}
	err := cmd.run(ctx, c, rest)
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(c.io.Stderr, "shoalctl %s: %s\nusage: shoalctl %s %s\n", cmd.name, ue.msg, cmd.name, cmd.synopsis)
		return exitUsage
	case errors.Is(err, errReported):
		return exitError
	}
	fmt.Fprintf(c.io.Stderr, "shoalctl %s: %s\n", cmd.name, err.Error())
	return exitError
}

// errReported is returned by commands that already printed why they failed.
var errReported = errors.New("reported")

// lookup finds the longest command name that prefixes args.
func lookup(args []string) (command, []string, bool) {
	var best command
	var rest []string
	found := false
	for _, cmd := range commands() {
		words := strings.Fields(cmd.name)
		if len(words) > len(args) {
			continue
		}
		match := true
		for i, w := range words {
			if args[i] != w {
				match = false
				break
			}
		}
		if match && (!found || len(words) > len(strings.Fields(best.name))) {
			best, rest, found = cmd, args[len(words):], true
		}
	}
	return best, rest, found
}

func (c *cli) usage(w io.Writer) {
	fmt.Fprintf(w, "shoalctl: command-line client of shoal-central's REST API.\n\nCommands:\n")
	cmds := commands()
	sort.SliceStable(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	for _, cmd := range cmds {
		fmt.Fprintf(w, "  %-19s %s\n", cmd.name, cmd.help)
	}
	fmt.Fprintf(w, `
Options for every command (before or after it):
  --server URL     central's HTTPS address, e.g. https://central:8443 ($%s)
  --ca FILE        CA certificate to trust, central's cacert.pem ($%s)
  --token TOKEN    API token ($%s)
  --config FILE    where login keeps its settings ($%s, default ~/.config/shoal/shoalctl.json)
  -o table|json    output format (default table)
  --timeout D      deadline of each request (default 30s)
`, EnvServer, EnvCA, EnvToken, EnvConfig)
}

// flags returns a FlagSet for a command with the global options bound.
func (c *cli) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.io.Stderr)
	fs.StringVar(&c.g.config, "config", c.g.config, "config file")
	fs.StringVar(&c.g.server, "server", c.g.server, "central's HTTPS URL")
	fs.StringVar(&c.g.ca, "ca", c.g.ca, "CA certificate file")
	fs.StringVar(&c.g.token, "token", c.g.token, "API token")
	if c.g.output == "" {
		c.g.output = "table"
	}
	fs.StringVar(&c.g.output, "o", c.g.output, "output: table or json")
	fs.StringVar(&c.g.output, "output", c.g.output, "output: table or json")
	if c.g.timeout == 0 {
		c.g.timeout = 30 * time.Second
	}
	fs.DurationVar(&c.g.timeout, "timeout", c.g.timeout, "deadline of each request")
	return fs
}

// parse parses args with flags and positional arguments in any order and
// checks the number of positional arguments.
func (c *cli) parse(fs *flag.FlagSet, args []string, minPos, maxPos int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{msg: err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	switch {
	case len(pos) < minPos:
		return nil, &usageError{msg: "missing argument"}
	case maxPos >= 0 && len(pos) > maxPos:
		return nil, &usageError{msg: fmt.Sprintf("unexpected argument %q", pos[maxPos])}
	}
	if c.g.output != "table" && c.g.output != "json" {
		return nil, &usageError{msg: fmt.Sprintf("-o must be table or json, not %q", c.g.output)}
	}
	return pos, nil
}

// parseID parses a command line whose one argument is the ID of a what,
// such as a site, and returns that ID.
func (c *cli) parseID(fs *flag.FlagSet, args []string, what string) (uint, error) {
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return 0, err
	}
	return idArg(pos[0], what)
}

// parsePackage parses a command line whose one argument is a package ID
// and returns that ID.
func (c *cli) parsePackage(fs *flag.FlagSet, args []string) (string, error) {
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return "", err
	}
	return pkgArg(pos[0])
}

// idArg checks the ID of a what, a positive integer.
func idArg(s, what string) (uint, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 {
		return 0, &usageError{msg: fmt.Sprintf("%s id must be a positive integer, not %q", what, s)}
	}
	return uint(n), nil
}

// pkgArg checks a package ID, which is all digits.
func pkgArg(s string) (string, error) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return "", &usageError{msg: fmt.Sprintf("package id must be digits, not %q", s)}
	}
	return s, nil
}

func (c *cli) json() bool { return c.g.output == "json" }

// stderrTTY reports whether stderr is a terminal.
func (c *cli) stderrTTY() bool {
	f, ok := c.io.Stderr.(*os.File)
	return ok && isTerminal(f)
}

func (c *cli) stdoutTTY() bool {
	f, ok := c.io.Stdout.(*os.File)
	return ok && isTerminal(f)
}

// uintList is a repeatable flag of positive integers, also comma-separated.
type uintList []uint

func (l *uintList) String() string { return fmt.Sprint(*l) }

func (l *uintList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		var n uint
		if _, err := fmt.Sscan(strings.TrimSpace(s), &n); err != nil || n == 0 {
			return fmt.Errorf("%q is not a positive integer", s)
		}
		*l = append(*l, n)
	}
	return nil
}

// stringList is a repeatable flag of strings, also comma-separated.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

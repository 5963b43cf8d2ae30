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
	"slices"
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
	// Version is shoalctl's version, printed by shoalctl version.
	Version string
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
	config    string
	server    string
	ca        string
	token     string
	output    string
	noHeaders bool
	timeout   time.Duration
}

// cli is one run of shoalctl.
type cli struct {
	io IO
	g  globals
	// cmd is the command being run, whose help --help prints.
	cmd command
	// drawn is set once --watch drew a frame on the terminal.
	drawn bool
	// streaming makes printJSON write one document of a stream (--watch).
	streaming bool
	// collect, when set, receives the option names of the command's
	// flags instead of its help (shell completion).
	collect *[]string
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
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.usage(c.io.Stdout)
			return exitOK
		}
		fmt.Fprintf(c.io.Stderr, "shoalctl: %s; run 'shoalctl help'\n", err.Error())
		return exitUsage
	}
	args = fs.Args()
	switch {
	case len(args) == 0:
		c.usage(c.io.Stdout)
		return exitUsage
	case args[0] == "__complete":
		// shoalctl __complete WORDS… -- CUR: the shell completion scripts.
		words, cur := args[1:], ""
		if i := slices.Index(words, "--"); i >= 0 {
			words, cur = words[:i], strings.Join(words[i+1:], "")
		}
		for _, s := range c.complete(words, cur) {
			fmt.Fprintln(c.io.Stdout, s)
		}
		return exitOK
	case args[0] == "help" || args[0] == "-h" || args[0] == "--help":
		if len(args) == 1 || args[1] == "-h" || args[1] == "--help" {
			c.usage(c.io.Stdout)
			return exitOK
		}
		if !c.helpTopic(ctx, args[1:]) {
			fmt.Fprintf(c.io.Stderr, "shoalctl: no command %q; run 'shoalctl help'\n", strings.Join(args[1:], " "))
			return exitUsage
		}
		return exitOK
	}
	cmd, rest, ok := lookup(args)
	if !ok || cmd.run == nil {
		if cmds := nounCommands(args[0]); len(cmds) > 0 {
			// A noun alone, or with a verb it lacks: list its verbs.
			if len(args) > 1 && !strings.HasPrefix(args[1], "-") {
				fmt.Fprintf(c.io.Stderr, "shoalctl: unknown command %q\n\n", strings.Join(args[:2], " "))
			}
			c.nounHelp(c.io.Stdout, args[0], cmds)
			if len(args) == 2 && (args[1] == "-h" || args[1] == "--help") {
				return exitOK
			}
			return exitUsage
		}
		fmt.Fprintf(c.io.Stderr, "shoalctl: unknown command %q; run 'shoalctl help'\n", strings.Join(args[:min(2, len(args))], " "))
		return exitUsage
	}
	c.cmd = cmd
	err := cmd.run(ctx, c, rest)
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(c.io.Stderr, "shoalctl %s: %s\nusage: shoalctl %s %s\nRun 'shoalctl help %s' for more.\n", cmd.name, ue.msg, cmd.name, cmd.synopsis, cmd.name)
		return exitUsage
	case errors.Is(err, errReported):
		return exitError
	}
	fmt.Fprintf(c.io.Stderr, "shoalctl %s: %s\n", cmd.name, err.Error())
	return exitError
}

// errReported is returned by commands that already printed why they failed.
var errReported = errors.New("reported")

// flags returns a FlagSet for a command with the global options bound.
func (c *cli) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// Errors are reported by Main with the command's usage line, and
	// --help prints the command's help (parse): nothing from the flag
	// package itself.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&c.g.config, "config", c.g.config, "config file")
	fs.StringVar(&c.g.server, "server", c.g.server, "central's HTTPS URL")
	fs.StringVar(&c.g.ca, "ca", c.g.ca, "CA certificate file")
	fs.StringVar(&c.g.token, "token", c.g.token, "API token")
	if c.g.output == "" {
		c.g.output = "table"
	}
	fs.StringVar(&c.g.output, "o", c.g.output, "output: table, wide, json or yaml")
	fs.StringVar(&c.g.output, "output", c.g.output, "output: table, wide, json or yaml")
	fs.BoolVar(&c.g.noHeaders, "no-headers", c.g.noHeaders, "print tables without their header line")
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
				if c.collect != nil {
					fs.VisitAll(func(f *flag.Flag) { *c.collect = append(*c.collect, f.Name) })
					return nil, err
				}
				c.commandHelp(c.io.Stdout, c.cmd, fs)
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
	switch c.g.output {
	case "table", "wide", "json", "yaml":
	default:
		return nil, &usageError{msg: fmt.Sprintf("-o must be table, wide, json or yaml, not %q", c.g.output)}
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

// json reports whether the output is data (JSON or YAML) rather than text.
func (c *cli) json() bool { return c.g.output == "json" || c.g.output == "yaml" }

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

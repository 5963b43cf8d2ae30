// Package run holds what every Shoal binary does before and after its
// component runs: flag parsing for the config path, listen overrides and log
// level, strict YAML decoding, slog setup, and a context that SIGINT and
// SIGTERM cancel.
package run

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"go.yaml.in/yaml/v3"
)

// Version is set at build time with -ldflags "-X .../run.Version=…".
var Version = "dev"

// Flags are the command-line options common to every binary.
type Flags struct {
	Config   string
	DataDir  string
	LogLevel string
	LogJSON  bool
	Version  bool
	// Listen holds named listen-address overrides (for example "http" or "https").
	Listen map[string]*string
}

// Command describes a binary for its usage text (-h) and its subcommands.
type Command struct {
	// Name is the binary's name, such as "shoal-relay".
	Name string
	// Summary says in one line what the binary does.
	Summary string
	// DirFlag names the flag that overrides the data directory; empty
	// means "data-dir". It matches the config key (state_dir: -state-dir).
	DirFlag string
	// Listen names the listen-address overrides ("http" registers -http-addr).
	Listen []string
	// Subcommands run instead of the binary's main loop when named first.
	Subcommands []Subcommand
}

// Subcommand is one subcommand of a binary, such as "shoal-relay enroll".
type Subcommand struct {
	Name string
	// Summary is its one line in the binary's -h.
	Summary string
	// Run gets the arguments after the subcommand's name.
	Run func(args []string) error
}

// Usage writes the binary's usage: its summary, one line per subcommand,
// then the flags of fs.
func (c Command) Usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "%s: %s\n\nUsage:\n  %s [flags]\n", c.Name, c.Summary, c.Name)
	if len(c.Subcommands) > 0 {
		fmt.Fprintf(w, "  %s <command> [flags]\n\nCommands:\n", c.Name)
		for _, s := range c.Subcommands {
			fmt.Fprintf(w, "  %-10s %s\n", s.Name, s.Summary)
		}
		fmt.Fprintf(w, "\nRun '%s <command> -h' for a command's flags.\n", c.Name)
	}
	fmt.Fprintf(w, "\nFlags:\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// Parse parses args with the common flags plus one override flag per name in
// listen (for example "http" registers -http-addr).
func Parse(name string, args []string, listen ...string) (*Flags, error) {
	return Command{Name: name, Listen: listen}.Parse(args, io.Discard)
}

// Parse parses args with the common flags plus c's listen overrides; -h
// writes c's usage to w.
func (c Command) Parse(args []string, w io.Writer) (*Flags, error) {
	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	fs.SetOutput(w)
	f := &Flags{Listen: map[string]*string{}}
	dir := c.DirFlag
	if dir == "" {
		dir = "data-dir"
	}
	fs.StringVar(&f.Config, "config", "", "path of the YAML config file")
	fs.StringVar(&f.DataDir, dir, "", "override the config's "+strings.ReplaceAll(dir, "-", "_"))
	fs.StringVar(&f.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.BoolVar(&f.LogJSON, "log-json", false, "log as JSON instead of text")
	fs.BoolVar(&f.Version, "version", false, "print the version and exit")
	for _, l := range c.Listen {
		f.Listen[l] = fs.String(l+"-addr", "", "override the "+l+" listen address")
	}
	fs.Usage = func() { c.Usage(fs.Output(), fs) }
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q (run '%s -h' for the commands)", fs.Args(), c.Name)
	}
	return f, nil
}

// LoadConfig decodes the YAML file at path strictly (unknown keys are errors)
// into cfg. An empty path leaves cfg unchanged.
func LoadConfig(path string, cfg any) error {
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	return DecodeConfig(b, cfg)
}

// DecodeConfig decodes YAML bytes strictly into cfg.
func DecodeConfig(b []byte, cfg any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("parse config: %w", err)
	}
	return nil
}

// Logger builds the process logger.
func Logger(w io.Writer, level string, json bool) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(strings.ToLower(level))); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	if json {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// Context returns a context cancelled by SIGINT or SIGTERM.
func Context() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// Main is the shared body of every cmd main: it runs the subcommand named
// by the first argument, if any; otherwise it parses flags, decodes the
// config, builds the logger and calls start, then exits non-zero on error.
// start receives the flags so it can apply listen overrides.
func (c Command) Main(cfg any, start func(ctx context.Context, f *Flags, log *slog.Logger) error) {
	if len(os.Args) > 1 {
		for _, s := range c.Subcommands {
			if os.Args[1] != s.Name {
				continue
			}
			if err := s.Run(os.Args[2:]); err != nil && !errors.Is(err, flag.ErrHelp) {
				fmt.Fprintf(os.Stderr, "%s %s: %v\n", c.Name, s.Name, err)
				os.Exit(1)
			}
			return
		}
	}
	f, err := c.Parse(os.Args[1:], os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "%s: %v\n", c.Name, err)
		os.Exit(2)
	}
	if f.Version {
		fmt.Println(c.Name, Version)
		return
	}
	log, err := Logger(os.Stderr, f.LogLevel, f.LogJSON)
	if err == nil {
		err = LoadConfig(f.Config, cfg)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", c.Name, err)
		os.Exit(2)
	}
	ctx, cancel := Context()
	err = start(ctx, f, log)
	cancel()
	if err != nil {
		log.Error("exit", "err", err)
		os.Exit(1)
	}
}

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

// Parse parses args with the common flags plus one override flag per name in
// listen (for example "http" registers -http-addr).
func Parse(name string, args []string, listen ...string) (*Flags, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	f := &Flags{Listen: map[string]*string{}}
	fs.StringVar(&f.Config, "config", "", "path of the YAML config file")
	fs.StringVar(&f.DataDir, "data-dir", "", "override the data directory")
	fs.StringVar(&f.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.BoolVar(&f.LogJSON, "log-json", false, "log as JSON instead of text")
	fs.BoolVar(&f.Version, "version", false, "print the version and exit")
	for _, l := range listen {
		f.Listen[l] = fs.String(l+"-addr", "", "override the "+l+" listen address")
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
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

// Main is the shared body of every cmd main: it parses flags, decodes the
// config, builds the logger and calls start, then exits non-zero on error.
// start receives the flags so it can apply listen overrides.
func Main(name string, cfg any, listen []string, start func(ctx context.Context, f *Flags, log *slog.Logger) error) {
	f, err := Parse(name, os.Args[1:], listen...)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(2)
	}
	if f.Version {
		fmt.Println(name, Version)
		return
	}
	log, err := Logger(os.Stderr, f.LogLevel, f.LogJSON)
	if err == nil {
		err = LoadConfig(f.Config, cfg)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
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

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/shoal-project/shoal/central"
	"github.com/shoal-project/shoal/central/backup"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/cmd/internal/run"
)

// subcommands are shoal-central's maintenance commands. They read the same
// config file as the server and work on its data directory and database.
func subcommands(cfg *central.Config) []run.Subcommand {
	return []run.Subcommand{
		{Name: "migrate", Summary: "show (status) or apply (up) the database schema migrations",
			Run: func(args []string) error { return migrate(cfg, args, os.Stdout) }},
		{Name: "backup", Summary: "write the database, PKI, signing keys and packages to one archive (0600)",
			Run: func(args []string) error { return backupCmd(cfg, args, os.Stdout) }},
		{Name: "restore", Summary: "restore a backup archive into the data directory (central stopped)",
			Run: func(args []string) error { return restoreCmd(cfg, args, os.Stdout) }},
	}
}

// maintFlags parses the flags every maintenance command has, plus extra,
// and loads the config. It returns the positional arguments.
func maintFlags(cfg *central.Config, name string, args []string, extra func(fs *flag.FlagSet)) ([]string, *slog.Logger, error) {
	fs := flag.NewFlagSet("shoal-central "+name, flag.ContinueOnError)
	conf := fs.String("config", "", "path of central's YAML config file")
	dataDir := fs.String("data-dir", "", "override the config's data_dir")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	log, err := run.Logger(os.Stderr, *level, false)
	if err == nil {
		err = run.LoadConfig(*conf, cfg)
	}
	if err != nil {
		return nil, nil, err
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	*cfg = cfg.WithDefaults()
	abs, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, nil, err
	}
	cfg.DataDir = abs
	return fs.Args(), log, nil
}

func migrate(cfg *central.Config, args []string, out io.Writer) error {
	// The word comes first (migrate up -config …) or after the flags.
	var word []string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		word, args = args[:1], args[1:]
	}
	rest, log, err := maintFlags(cfg, "migrate status|up", args, nil)
	if err != nil {
		return err
	}
	rest = append(word, rest...)
	if len(rest) != 1 || (rest[0] != "status" && rest[0] != "up") {
		return fmt.Errorf("usage: shoal-central migrate status|up -config central.yaml (got %q)", rest)
	}
	ctx, cancel := run.Context()
	defer cancel()
	st, err := store.OpenUnmigrated(ctx, cfg.Database, cfg.DataDir, log)
	if err != nil {
		return err
	}
	defer st.Close()
	if rest[0] == "up" {
		done, err := st.MigrateUp(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "applied %d migration(s)\n", len(done))
	}
	return printStatus(ctx, st, out)
}

func printStatus(ctx context.Context, st *store.Store, out io.Writer) error {
	s, err := st.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "database: %s, schema version %d, this central knows up to %d\n", st.Driver(), s.Current, s.Latest)
	for _, m := range s.Migrations {
		state := "pending"
		if m.Applied {
			state = "applied " + m.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
		}
		fmt.Fprintf(out, "  %05d  %-32s %s\n", m.Version, m.Name, state)
	}
	switch {
	case s.Pending() > 0:
		fmt.Fprintf(out, "%d pending: run 'shoal-central migrate up'\n", s.Pending())
	case s.Current > s.Latest:
		fmt.Fprintf(out, "the schema is newer than this central (a newer release migrated it)\n")
	default:
		fmt.Fprintf(out, "up to date\n")
	}
	return nil
}

func backupCmd(cfg *central.Config, args []string, out io.Writer) error {
	var file string
	var skipPackages bool
	rest, log, err := maintFlags(cfg, "backup", args, func(fs *flag.FlagSet) {
		fs.StringVar(&file, "out", "", "archive to write (must not exist); required")
		fs.BoolVar(&skipPackages, "skip-packages", false, "leave the package tree out (it is backed up with its shared storage)")
	})
	if err != nil {
		return err
	}
	if len(rest) > 0 || file == "" {
		return errors.New("usage: shoal-central backup -config central.yaml -out FILE [-skip-packages]")
	}
	ctx, cancel := run.Context()
	defer cancel()
	m, err := backup.WriteFile(ctx, file, backup.Options{DataDir: cfg.DataDir, Database: cfg.Database, SkipPackages: skipPackages, Version: run.Version}, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "backup written to %s: %d files, %s schema version %d\n", file, len(m.Files), m.Driver, m.SchemaVersion)
	if m.Driver != store.DriverSQLite {
		fmt.Fprintf(out, "the %s database is not in the archive: back it up with pg_dump or pg_basebackup (docs/OPERATIONS.md)\n", m.Driver)
	}
	return nil
}

func restoreCmd(cfg *central.Config, args []string, out io.Writer) error {
	var file string
	var force bool
	rest, log, err := maintFlags(cfg, "restore", args, func(fs *flag.FlagSet) {
		fs.StringVar(&file, "in", "", "archive to restore; required")
		fs.BoolVar(&force, "force", false, "replace the database and PKI the data directory already has")
	})
	if err != nil {
		return err
	}
	if len(rest) > 0 || file == "" {
		return errors.New("usage: shoal-central restore -config central.yaml -in FILE [-force]")
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	ctx, cancel := run.Context()
	defer cancel()
	m, err := backup.Restore(ctx, f, backup.RestoreOptions{DataDir: cfg.DataDir, Database: cfg.Database, Force: force}, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "restored %d files into %s from the backup of %s (schema version %d)\n",
		len(m.Files), cfg.DataDir, m.CreatedAt.Format("2006-01-02 15:04:05Z"), m.SchemaVersion)
	if cfg.Database.WithDefaults().Driver != store.DriverSQLite {
		fmt.Fprintf(out, "restore the %s database with pg_restore, or its pg_basebackup copy (docs/OPERATIONS.md)\n", cfg.Database.WithDefaults().Driver)
	}
	return nil
}

// Package install runs the action of a downloaded, verified package:
// EXECUTE (unpack into a work directory and run the command), STORE (unpack
// into the target path) and LAUNCH (unpack and run the named program).
//
// Archives (zip or tar.gz) are unpacked by Unpack into a private staging
// directory with every entry checked, so no entry can escape it; STORE
// moves the staged tree into its target only after the whole archive
// unpacked cleanly. Commands run in their own process group with a timeout;
// the exit code and the tail of their output are kept for the report.
//
// Result codes follow OCS: SUCCESS, ERR_UNZIP (bad or unsafe archive),
// ERR_OUT_OF_SPACE, ERR_BAD_PARAM (unusable action parameters),
// ERR_EXECUTE (the command could not run or was killed),
// ERR_EXECUTE_TIMEOUT, and EXIT_CODE_<n> for a command that exited with
// status n != 0 (the Windows agent's code, which the console counts as an
// error), with the exit code also reported on its own.
package install

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/proto/ocs"
)

// Config tunes installs.
type Config struct {
	// Timeout bounds a command (default 30m).
	Timeout time.Duration `yaml:"timeout"`
	// OutputTail is how many bytes of a command's output are kept for the
	// report (default 4 KiB).
	OutputTail int `yaml:"output_tail"`
	// MaxUnpackedBytes bounds what one archive may unpack (default 16 GiB).
	MaxUnpackedBytes int64 `yaml:"max_unpacked_bytes"`
	// MaxEntries bounds the entries of one archive (default 200000).
	MaxEntries int `yaml:"max_entries"`
	// Shell runs EXECUTE commands and LAUNCH programs (default /bin/sh;
	// on Windows %ComSpec%, else C:\Windows\System32\cmd.exe).
	Shell string `yaml:"shell"`
}

func (c Config) withDefaults() Config {
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Minute
	}
	if c.OutputTail == 0 {
		c.OutputTail = 4 << 10
	}
	if c.MaxUnpackedBytes == 0 {
		c.MaxUnpackedBytes = 16 << 30
	}
	if c.MaxEntries == 0 {
		c.MaxEntries = 200000
	}
	if c.Shell == "" {
		c.Shell = defaultShell()
	}
	return c
}

// Validate checks the configuration.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Timeout < time.Second:
		return fmt.Errorf("install: timeout %s: want at least 1s", c.Timeout)
	case c.OutputTail < 0 || c.OutputTail > proto.MaxResultDetail:
		return fmt.Errorf("install: output_tail %d: want 0..%d", c.OutputTail, proto.MaxResultDetail)
	case c.MaxUnpackedBytes < 0 || c.MaxEntries < 0:
		return fmt.Errorf("install: limits must not be negative")
	case !filepath.IsAbs(c.Shell):
		return fmt.Errorf("install: shell %q must be an absolute path", c.Shell)
	}
	return nil
}

// Outcome is the result of an install.
type Outcome struct {
	Code     string
	ExitCode *int
	Detail   string
}

// Result converts the outcome to its wire form.
func (o Outcome) Result() proto.Result {
	return proto.Result{Code: o.Code, ExitCode: o.ExitCode, Detail: o.Detail}
}

// Installer runs package actions.
type Installer struct {
	cfg Config
	log *slog.Logger
}

// New returns an Installer.
func New(cfg Config, logger *slog.Logger) (*Installer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Installer{cfg: cfg.withDefaults(), log: logger.With("component", "install")}, nil
}

func failed(code string, err error) Outcome {
	if isNoSpace(err) {
		code = ocs.ResultErrOutOfSpace
	}
	return Outcome{Code: code, Detail: err.Error()}
}

// Install unpacks payload (m.Size bytes, already verified) under workDir,
// which it empties first, and runs m's action. The error is non-nil only
// when ctx ended before an outcome was known; the caller then retries
// later instead of reporting.
func (in *Installer) Install(ctx context.Context, m *proto.Manifest, payload io.ReaderAt, workDir string) (Outcome, error) {
	if o, err := in.Unpack(ctx, m, payload, workDir); o != nil || err != nil {
		if o == nil {
			return Outcome{}, err
		}
		return *o, err
	}
	return in.Act(ctx, m, workDir)
}

// Unpack empties workDir and unpacks payload (m.Size bytes) into its
// "files" directory, the first half of Install. It returns the outcome of
// a failure (a bad or unsafe archive: ERR_UNZIP; a work directory that
// cannot be made), nil when the package is unpacked, or ctx's error when
// ctx ended first. payload may block until its bytes are verified (the
// agent unpacks a package while it downloads); ctx must end such reads.
func (in *Installer) Unpack(ctx context.Context, m *proto.Manifest, payload io.ReaderAt, workDir string) (*Outcome, error) {
	fail := func(code string, err error) (*Outcome, error) {
		o := failed(code, err)
		return &o, nil
	}
	if err := removeAll(workDir); err != nil {
		return fail(ocs.ResultErrExecute, fmt.Errorf("clean work dir: %w", err))
	}
	files := filepath.Join(workDir, "files")
	if err := os.MkdirAll(files, 0o755); err != nil {
		return fail(ocs.ResultErrExecute, fmt.Errorf("create work dir: %w", err))
	}
	if m.Size > 0 {
		lim := Limits{MaxBytes: in.cfg.MaxUnpackedBytes, MaxEntries: in.cfg.MaxEntries}
		start := time.Now()
		if err := Unpack(payload, m.Size, files, lim); err != nil {
			removeAll(files)
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			return fail(ocs.ResultErrUnzip, err)
		}
		in.log.Debug("package unpacked", "package", m.PackageID, "bytes", m.Size, "dur", time.Since(start).Round(time.Millisecond))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return nil, nil
}

// Act runs m's action on the package Unpack put in workDir, the second
// half of Install. The error is non-nil only when ctx ended before an
// outcome was known.
func (in *Installer) Act(ctx context.Context, m *proto.Manifest, workDir string) (Outcome, error) {
	files := filepath.Join(workDir, "files")
	switch m.Action {
	case proto.ActionExecute:
		return in.run(ctx, m, executeCommand(goos, m.Command), files)
	case proto.ActionLaunch:
		fields := strings.Fields(m.LaunchName)
		if len(fields) == 0 {
			return Outcome{Code: ocs.ResultErrBadParam, Detail: "LAUNCH without a program name"}, nil
		}
		rel, err := cleanName(fields[0])
		if err != nil || rel == "" {
			return Outcome{Code: ocs.ResultErrBadParam, Detail: fmt.Sprintf("LAUNCH program %q is not a path inside the package", fields[0])}, nil
		}
		p := filepath.Join(files, filepath.FromSlash(rel))
		fi, err := os.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() {
			return Outcome{Code: ocs.ResultErrBadParam, Detail: fmt.Sprintf("LAUNCH program %q is not a file of the package", fields[0])}, nil
		}
		if err := makeExecutable(p, fi); err != nil {
			return failed(ocs.ResultErrExecute, fmt.Errorf("make %s executable: %w", rel, err)), nil
		}
		rest := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(m.LaunchName), fields[0]))
		cmd := launchCommand(goos, rel, rest)
		return in.run(ctx, m, cmd, files)
	case proto.ActionStore:
		dst := storePath(goos, m.Path, os.Getenv)
		if !filepath.IsAbs(dst) {
			return Outcome{Code: ocs.ResultErrBadParam, Detail: fmt.Sprintf("STORE path %q is not absolute", m.Path)}, nil
		}
		if err := storeInto(files, filepath.Clean(dst)); err != nil {
			return failed(ocs.ResultErrExecute, fmt.Errorf("store into %s: %w", dst, err)), nil
		}
		in.log.Info("package stored", "package", m.PackageID, "path", dst)
		return Outcome{Code: ocs.ResultSuccess, Detail: "stored into " + dst}, nil
	}
	return Outcome{Code: ocs.ResultErrBadParam, Detail: fmt.Sprintf("unknown action %q", m.Action)}, nil
}

// run runs command with the shell in dir and maps its end to an outcome.
func (in *Installer) run(ctx context.Context, m *proto.Manifest, command, dir string) (Outcome, error) {
	cctx, cancel := context.WithTimeout(ctx, in.cfg.Timeout)
	defer cancel()
	cmd := shellCommand(cctx, in.cfg.Shell, command)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SHOAL_PACKAGE_ID="+m.PackageID, "SHOAL_PACKAGE_DIR="+dir)
	cmd.WaitDelay = 5 * time.Second
	tail := &tailWriter{max: in.cfg.OutputTail}
	cmd.Stdout, cmd.Stderr = tail, tail
	start := time.Now()
	err := runTree(cmd)
	dur := time.Since(start).Round(time.Millisecond)
	out := tail.String()
	detail := func(head string) string {
		if out == "" {
			return head
		}
		return head + "\n--- output (last " + strconv.Itoa(in.cfg.OutputTail) + " bytes) ---\n" + out
	}
	switch {
	case ctx.Err() != nil:
		return Outcome{}, ctx.Err()
	case errors.Is(cctx.Err(), context.DeadlineExceeded):
		return Outcome{Code: ocs.ResultErrExecuteTimeout, Detail: detail(fmt.Sprintf("killed after the %s timeout", in.cfg.Timeout))}, nil
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		zero := 0
		in.log.Info("command succeeded", "package", m.PackageID, "dur", dur)
		return Outcome{Code: ocs.ResultSuccess, ExitCode: &zero, Detail: detail("exit code 0 after " + dur.String())}, nil
	case errors.As(err, &ee) && ee.ExitCode() > 0:
		code := ee.ExitCode()
		o := exitOutcome(goos, code)
		if !strings.HasPrefix(o.Code, ocs.ResultSuccess) {
			in.log.Warn("command failed", "package", m.PackageID, "exit_code", code, "dur", dur)
		} else {
			in.log.Info("command succeeded", "package", m.PackageID, "exit_code", code, "code", o.Code, "dur", dur)
		}
		o.Detail = detail(fmt.Sprintf("exit code %d after %s%s", code, dur, o.Detail))
		return o, nil
	case errors.As(err, &ee):
		return Outcome{Code: ocs.ResultErrExecute, Detail: detail(fmt.Sprintf("command ended abnormally: %s", ee.String()))}, nil
	}
	return Outcome{Code: ocs.ResultErrExecute, Detail: detail("cannot run the command: " + err.Error())}, nil
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	max int

	mu      sync.Mutex // guards buf and dropped
	buf     []byte
	dropped bool
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if len(w.buf) > 2*w.max+1024 {
		w.buf = append(w.buf[:0], w.buf[len(w.buf)-w.max:]...)
		w.dropped = true
	}
	return len(p), nil
}

func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.buf
	if len(b) > w.max {
		b = b[len(b)-w.max:]
	}
	return strings.ToValidUTF8(string(b), "?")
}

// storeInto moves the staged tree src into dst, creating dst. It refuses to
// write through a symlink or over a directory inside dst.
func storeInto(src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	if free, err := freeBytes(dst); err == nil {
		if size, err := treeSize(src); err == nil && size > free && !sameDevice(src, dst) {
			return fmt.Errorf("%d bytes to store, %d free: %w", size, free, errNoSpace)
		}
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil || rel == "." {
			return err
		}
		to := filepath.Join(dst, rel)
		fi, lerr := os.Lstat(to)
		exists := lerr == nil
		switch {
		case d.IsDir():
			if !exists {
				return os.Mkdir(to, 0o755)
			}
			if !fi.IsDir() {
				return fmt.Errorf("%s exists and is not a directory", to)
			}
			return nil
		case exists && fi.IsDir():
			return fmt.Errorf("%s is a directory, the package has a file there", to)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if exists {
				if err := os.Remove(to); err != nil {
					return err
				}
			}
			return os.Symlink(target, to)
		}
		if err := os.Rename(p, to); err == nil || !isCrossDevice(err) {
			return err
		}
		return copyFile(p, to)
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	tmp := dst + ".shoal-tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|noFollow, fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}

func treeSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	return n, err
}

//go:build !windows

package install

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"syscall"
)

const (
	goos     = runtime.GOOS
	noFollow = syscall.O_NOFOLLOW
)

// errNoSpace is the error a full disk returns.
var errNoSpace error = syscall.ENOSPC

func defaultShell() string { return "/bin/sh" }

func isNoSpace(err error) bool { return errors.Is(err, syscall.ENOSPC) }

func isCrossDevice(err error) bool { return errors.Is(err, syscall.EXDEV) }

// isReparse reports whether fi is something other than a plain file or
// directory that a path could be redirected through: a symlink.
func isReparse(fi fs.FileInfo) bool { return fi.Mode()&fs.ModeSymlink != 0 }

// symlinksAllowed: archives may carry symlinks; each is checked to stay
// inside the unpack root.
const symlinksAllowed = true

// shellCommand runs command with shell -c.
func shellCommand(ctx context.Context, shell, command string) *exec.Cmd {
	return exec.CommandContext(ctx, shell, "-c", command)
}

// runTree runs cmd in its own process group, which the context's end
// kills as a whole.
func runTree(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	return cmd.Run()
}

func removeAll(dir string) error { return os.RemoveAll(dir) }

func makeExecutable(p string, fi fs.FileInfo) error { return os.Chmod(p, fi.Mode().Perm()|0o111) }

func freeBytes(path string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

func sameDevice(a, b string) bool {
	var sa, sb syscall.Stat_t
	if syscall.Stat(a, &sa) != nil || syscall.Stat(b, &sb) != nil {
		return false
	}
	return sa.Dev == sb.Dev
}

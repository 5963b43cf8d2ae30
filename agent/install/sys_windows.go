package install

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

const (
	goos = runtime.GOOS
	// noFollow: Windows has no O_NOFOLLOW; files are created with O_EXCL
	// after parents were checked for reparse points, and CreateFile with
	// CREATE_NEW does not follow an existing link.
	noFollow = 0
)

// errNoSpace is the error a full disk returns.
var errNoSpace error = windows.ERROR_DISK_FULL

func defaultShell() string {
	if s := os.Getenv("ComSpec"); filepath.IsAbs(s) {
		return s
	}
	return `C:\Windows\System32\cmd.exe`
}

func isNoSpace(err error) bool {
	return errors.Is(err, windows.ERROR_DISK_FULL) || errors.Is(err, windows.ERROR_HANDLE_DISK_FULL) || errors.Is(err, syscall.ENOSPC)
}

func isCrossDevice(err error) bool { return errors.Is(err, windows.ERROR_NOT_SAME_DEVICE) }

// isReparse reports whether fi is a reparse point: a symlink, a junction
// (mount point) or anything else Windows could redirect a path through.
func isReparse(fi fs.FileInfo) bool {
	if fi.Mode()&(fs.ModeSymlink|fs.ModeIrregular) != 0 {
		return true
	}
	if d, ok := fi.Sys().(*syscall.Win32FileAttributeData); ok {
		return d.FileAttributes&windows.FILE_ATTRIBUTE_REPARSE_POINT != 0
	}
	return false
}

// symlinksAllowed: archives with symlinks are refused; OCS packages for
// Windows never carry them and creating one needs a privilege.
const symlinksAllowed = false

// shellCommand runs command with cmd.exe /d /s /c "command": the command
// line is passed as written (cmd.exe parses quotes itself, Go's argument
// quoting would break them), /s strips only the outer quotes and /d skips
// AutoRun commands from the registry.
func shellCommand(ctx context.Context, shell, command string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, shell)
	cmd.SysProcAttr = &syscall.SysProcAttr{CmdLine: syscall.EscapeArg(shell) + ` /d /s /c "` + command + `"`}
	return cmd
}

// runTree runs cmd inside a job object, so that the context's end
// terminates the command and every process it started, and closing the
// job kills what is left.
func runTree(cmd *exec.Cmd) error {
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return cmd.Run()
	}
	defer windows.CloseHandle(job)
	info := windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION{}
	info.BasicLimitInformation.LimitFlags = windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
	if _, err := windows.SetInformationJobObject(job, windows.JobObjectExtendedLimitInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil {
		return cmd.Run()
	}
	cmd.Cancel = func() error {
		if windows.TerminateJobObject(job, 1) == nil {
			return nil
		}
		return cmd.Process.Kill()
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	if h, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, uint32(cmd.Process.Pid)); err == nil {
		windows.AssignProcessToJobObject(job, h)
		windows.CloseHandle(h)
	}
	return cmd.Wait()
}

// removeAll is os.RemoveAll, falling back to removing one entry at a time
// when the file system or system lacks the POSIX delete Go 1.26 uses
// (FAT volumes, old Windows, wine 8: ERROR_INVALID_FUNCTION).
func removeAll(dir string) error {
	err := os.RemoveAll(dir)
	if err == nil || !errors.Is(err, windows.ERROR_INVALID_FUNCTION) {
		return err
	}
	var dirs []string
	werr := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir():
			dirs = append(dirs, p)
			return nil
		}
		return os.Remove(p)
	})
	for i := len(dirs) - 1; i >= 0 && werr == nil; i-- {
		werr = os.Remove(dirs[i])
	}
	if werr != nil {
		return fmt.Errorf("remove %s: %w", dir, werr)
	}
	return nil
}

// makeExecutable: Windows runs files by their extension.
func makeExecutable(string, fs.FileInfo) error { return nil }

func freeBytes(path string) (int64, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return 0, err
	}
	var free, total, totalFree uint64
	if err := windows.GetDiskFreeSpaceEx(p, &free, &total, &totalFree); err != nil {
		return 0, fmt.Errorf("free space of %s: %w", path, err)
	}
	return int64(free), nil
}

// sameDevice compares the volumes of a and b by their drive or UNC share.
func sameDevice(a, b string) bool {
	va, vb := filepath.VolumeName(a), filepath.VolumeName(b)
	return va != "" && strings.EqualFold(va, vb)
}

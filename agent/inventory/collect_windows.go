package inventory

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"

	"github.com/shoal-project/shoal/proto"
)

func (c *Collector) collect(_ context.Context, inv *proto.AgentInventory) {
	inv.Hostname, _ = os.Hostname()
	if c.hostname != "" {
		inv.Hostname = c.hostname
	}
	c.windowsFacts(inv, liveRegistry{}, liveSystem{})
	c.networks(inv)
}

// diskSpace returns the size of the volume at mp and the bytes available
// to the calling user on it.
func diskSpace(mp string) (total, free int64, err error) {
	p, err := windows.UTF16PtrFromString(mp)
	if err != nil {
		return 0, 0, err
	}
	var avail, size, totalFree uint64
	if err := windows.GetDiskFreeSpaceEx(p, &avail, &size, &totalFree); err != nil {
		return 0, 0, err
	}
	return int64(size), int64(avail), nil
}

// liveRegistry reads this computer's registry, always the 64-bit view.
type liveRegistry struct{}

func openKey(key string) (registry.Key, func(), error) {
	root, rest, _ := strings.Cut(key, `\`)
	var k registry.Key
	switch root {
	case "HKLM":
		k = registry.LOCAL_MACHINE
	case "HKU":
		k = registry.USERS
	default:
		return 0, nil, fmt.Errorf("registry root %q: not HKLM or HKU", root)
	}
	if rest == "" {
		return k, func() {}, nil
	}
	sub, err := registry.OpenKey(k, rest, registry.QUERY_VALUE|registry.ENUMERATE_SUB_KEYS|registry.WOW64_64KEY)
	if err != nil {
		return 0, nil, err
	}
	return sub, func() { sub.Close() }, nil
}

func (liveRegistry) Values(key string) (map[string]any, error) {
	k, done, err := openKey(key)
	if err != nil {
		return nil, err
	}
	defer done()
	names, err := k.ReadValueNames(-1)
	if err != nil {
		return nil, err
	}
	out := make(map[string]any, len(names))
	for _, n := range names {
		if s, _, err := k.GetStringValue(n); err == nil {
			out[n] = s
		} else if i, _, err := k.GetIntegerValue(n); err == nil {
			out[n] = i
		} else if ss, _, err := k.GetStringsValue(n); err == nil {
			out[n] = strings.Join(ss, "\n")
		}
	}
	return out, nil
}

func (liveRegistry) SubKeys(key string) ([]string, error) {
	k, done, err := openKey(key)
	if err != nil {
		return nil, err
	}
	defer done()
	return k.ReadSubKeyNames(-1)
}

// liveSystem asks Windows for memory, volumes and the console user.
type liveSystem struct{}

var procGlobalMemoryStatusEx = windows.NewLazySystemDLL("kernel32.dll").NewProc("GlobalMemoryStatusEx")

// memoryStatusEx is MEMORYSTATUSEX.
type memoryStatusEx struct {
	Length, MemoryLoad                     uint32
	TotalPhys, AvailPhys                   uint64
	TotalPageFile, AvailPageFile           uint64
	TotalVirtual, AvailVirtual, AvailExtra uint64
}

func (liveSystem) Memory() (memMB, pageMB int, err error) {
	st := memoryStatusEx{}
	st.Length = uint32(unsafe.Sizeof(st))
	if r, _, err := procGlobalMemoryStatusEx.Call(uintptr(unsafe.Pointer(&st))); r == 0 {
		return 0, 0, fmt.Errorf("GlobalMemoryStatusEx: %w", err)
	}
	page := int64(st.TotalPageFile) - int64(st.TotalPhys) // the commit limit counts RAM too
	return int(st.TotalPhys >> 20), int(max(page, 0) >> 20), nil
}

func (liveSystem) Volumes() ([]proto.InvDrive, error) {
	buf := make([]uint16, 512)
	n, err := windows.GetLogicalDriveStrings(uint32(len(buf)), &buf[0])
	if err != nil {
		return nil, fmt.Errorf("GetLogicalDriveStrings: %w", err)
	}
	var out []proto.InvDrive
	for _, root := range strings.Split(windows.UTF16ToString(buf[:n:n]), "\x00") {
		if root == "" {
			continue
		}
		p, _ := windows.UTF16PtrFromString(root)
		switch windows.GetDriveType(p) {
		case windows.DRIVE_FIXED, windows.DRIVE_REMOTE:
		default:
			continue // CD drives and card readers without media
		}
		d := proto.InvDrive{MountPoint: root, Device: strings.TrimSuffix(root, `\`)}
		fsName := make([]uint16, 64)
		if windows.GetVolumeInformation(p, nil, 0, nil, nil, nil, &fsName[0], uint32(len(fsName))) == nil {
			d.FileSystem = windows.UTF16ToString(fsName)
		}
		if total, free, err := diskSpace(root); err == nil {
			d.TotalMB, d.FreeMB = total>>20, free>>20
		}
		out = append(out, d)
	}
	return out, nil
}

func (liveSystem) User() (string, error) {
	session := windows.WTSGetActiveConsoleSessionId()
	if session == 0xFFFFFFFF {
		return "", errors.New("no console session")
	}
	var tok windows.Token
	if err := windows.WTSQueryUserToken(session, &tok); err != nil {
		return "", fmt.Errorf("WTSQueryUserToken: %w", err) // not SYSTEM, or nobody logged on
	}
	defer tok.Close()
	u, err := tok.GetTokenUser()
	if err != nil {
		return "", fmt.Errorf("token user: %w", err)
	}
	name, domain, _, err := u.User.Sid.LookupAccount("")
	if err != nil {
		return "", fmt.Errorf("lookup account: %w", err)
	}
	return domain + `\` + name, nil
}

//go:build !windows

package inventory

import (
	"context"
	"syscall"

	"github.com/shoal-project/shoal/proto"
)

func (c *Collector) collect(ctx context.Context, inv *proto.AgentInventory) {
	c.linux(ctx, inv)
	if winPeerOS != "" {
		inv.OSName = winPeerOS
	}
}

// winPeerOS replaces the OS name in the shoalwinpeer test build only
// (winpeer.go); release builds report the os-release name.
var winPeerOS string

// diskSpace returns the size and the bytes available to an unprivileged
// process of the file system mounted at mp.
func diskSpace(mp string) (total, free int64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(mp, &st); err != nil {
		return 0, 0, err
	}
	return int64(st.Blocks) * int64(st.Bsize), int64(st.Bavail) * int64(st.Bsize), nil
}

package central

import (
	"fmt"

	"golang.org/x/sys/unix"
)

func setNotSentLowat(fd uintptr, n int) error {
	if err := unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT, n); err != nil {
		return fmt.Errorf("set TCP_NOTSENT_LOWAT: %w", err)
	}
	return nil
}

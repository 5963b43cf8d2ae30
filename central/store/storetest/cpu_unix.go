//go:build unix

package storetest

import (
	"syscall"
	"time"
)

// ProcessCPU returns the user+system CPU time of the process (0 if it
// cannot be read), a steadier measure than wall time on a shared machine.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

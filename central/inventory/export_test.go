package inventory

import "time"

// SetSlowStatsRead sets slowStatsRead until the returned function restores
// it.
func SetSlowStatsRead(d time.Duration) (restore func()) {
	old := slowStatsRead
	slowStatsRead = d
	return func() { slowStatsRead = old }
}

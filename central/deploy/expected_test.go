package deploy

import (
	"testing"
	"time"
)

// TestOCSExpected: with the default timings (cycle 60 s, fragment 10 s,
// period 10 cycles) a priority 5 package gets one fragment every 5 cycles,
// about every 5 minutes, which is why an OCS deployment of 4 fragments
// looks stuck for 25 minutes.
func TestOCSExpected(t *testing.T) {
	def := Config{}.withDefaults().Download
	fast := DownloadConfig{CycleLatency: 1, FragLatency: 1, PeriodLatency: 1, PeriodLength: 10}
	tests := []struct {
		name      string
		d         DownloadConfig
		priority  int
		fragments int
		want      time.Duration
	}{
		// Steps in cycles 5 and 10 of periods 1 and 2 (310 s each), then
		// cycle 5 of period 3: 4·310 + 4·60 s.
		{"defaults_priority5_4frags", def, 5, 4, 1480 * time.Second},
		{"defaults_priority1_1frag", def, 1, 1, 70 * time.Second},
		{"priority0_no_cycle_latency", def, 0, 3, 30 * time.Second},
		{"fast_priority1_3frags", fast, 1, 3, 6 * time.Second},
		{"disabled", DownloadConfig{Disabled: true, PeriodLength: 10}, 1, 3, 0},
		{"priority_beyond_period", def, 11, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := OCSExpected(tt.d, tt.priority, tt.fragments); got != tt.want {
				t.Errorf("OCSExpected(%+v, %d, %d) = %v, want %v", tt.d, tt.priority, tt.fragments, got, tt.want)
			}
		})
	}
}

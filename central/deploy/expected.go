package deploy

import "time"

// OCSExpected estimates how long the Unix OCS agent's download worker takes
// to fetch fragments fragments of a package of the given priority and run
// it, once it has the info file, with the timings d (the DOWNLOAD CONF that
// central sends). It follows the agent's period loop (Download.pm, period):
// a period has PERIOD_LENGTH cycles; in cycle i a package of priority p > 0
// gets one download step when i % p == 0, followed by FRAG_LATENCY, and each
// cycle ends with CYCLE_LATENCY; a period ends with PERIOD_LATENCY. A
// priority 0 package gets a step (and FRAG_LATENCY) every cycle with no
// CYCLE_LATENCY. The worker needs one step per fragment and one more to
// build and run the package. The estimate ignores the transfer time itself
// and other packages sharing the cycles. It returns 0 for download off.
func OCSExpected(d DownloadConfig, priority, fragments int) time.Duration {
	if d.Disabled || fragments < 0 || priority < 0 || d.PeriodLength < 1 {
		return 0
	}
	steps := fragments + 1
	var secs int
	for steps > 0 {
		for i := 1; i <= d.PeriodLength && steps > 0; i++ {
			if priority == 0 {
				steps--
				if steps > 0 {
					secs += d.FragLatency
				}
				continue
			}
			if i%priority == 0 {
				steps--
				if steps == 0 {
					break
				}
				secs += d.FragLatency
			}
			secs += d.CycleLatency
		}
		if steps > 0 {
			secs += d.PeriodLatency
			// A priority above the period length never gets a step.
			if priority > d.PeriodLength {
				return 0
			}
		}
	}
	return time.Duration(secs) * time.Second
}

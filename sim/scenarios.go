package sim

import "time"

// DefaultRelayLANMbit is the default rate of the relay host's LAN port: the
// branch lab's default (lab.DefaultRelayLANMbit, a server's gigabit port;
// the agents keep 100 Mbit/s). sim does not import lab (a tool with its
// own process and network code); TestRelayLANMbitIsLab checks they agree.
const DefaultRelayLANMbit = 1000

// LabScenario is the branch lab's lossy run (docs/LAB.md, issue 21 §2):
// one branch of 12 agents, S = 48 MiB in 1 MiB fragments, a 16 Mbit/s
// uplink with 40 ms each way and 1 % loss, a 100 Mbit/s LAN, no relay (its
// port would be the lab's default, DefaultRelayLANMbit).
func LabScenario() Scenario {
	return Scenario{Name: "lab-p2p", Agents: 12, Size: 48 << 20, FragmentSize: 1 << 20, UplinkMbit: 16, Delay: 40 * time.Millisecond, Loss: 1, LANMbit: 100,
		RelayLANMbit: DefaultRelayLANMbit}
}

// LabRelayScenario is the lab's shoal-relay on LabScenario's branch: the
// relay prefetches from central, the agents run without the swarm and
// fetch from the relay's HTTP listener (then central).
func LabRelayScenario() Scenario {
	sc := LabScenario()
	sc.Name, sc.Relay, sc.NoSwarm = "lab-relay", true, true
	return sc
}

// LabBothScenario is the lab's shoal-both: relay and peers.
func LabBothScenario() Scenario {
	sc := LabScenario()
	sc.Name, sc.Relay = "lab-both", true
	return sc
}

// LabRelay100Scenario is LabRelayScenario with the relay on a 100 Mbit/s
// LAN port (lab -relay-lan-mbit 100), the port of the lab's idle relay
// runs before the gigabit default.
func LabRelay100Scenario() Scenario {
	sc := LabRelayScenario()
	sc.Name, sc.RelayLANMbit = "lab-relay100", 100
	return sc
}

// LabBoth100Scenario is LabBothScenario with the relay on a 100 Mbit/s
// LAN port.
func LabBoth100Scenario() Scenario {
	sc := LabBothScenario()
	sc.Name, sc.RelayLANMbit = "lab-both100", 100
	return sc
}

// scaleBase is the branch of the scale scenarios: S = 8 MiB in 256 KiB
// fragments over a 4 Mbit/s uplink with 40 ms each way and 1 % loss
// (floor 16.8 s), so that 500 agents' fragment stores (4 GiB) fit a
// tmpfs; the LAN is 100 Mbit/s, the relay's port 1000 Mbit/s (as in the lab).
func scaleBase(name string, n int) Scenario {
	return Scenario{Name: name, Agents: n, Size: 8 << 20, FragmentSize: 256 << 10, UplinkMbit: 4, Delay: 40 * time.Millisecond, Loss: 1, LANMbit: 100,
		RelayLANMbit: DefaultRelayLANMbit}
}

// Scenarios returns the scenarios of issue 20 that `make sim` runs: the
// lab's own parameters first (to compare with the lab: shoal-p2p,
// shoal-relay and shoal-both with the lab's gigabit relay port, then
// shoal-relay and shoal-both with a 100 Mbit/s relay port), then N = 20, 100 and 500 agents per
// branch, at N = 100 20 % asleep, 5 % slow peers (64 KiB/s upload), 1 %
// corrupt peers and 10 % churn, and N = 100 and 500 with the branch's
// relay and peers.
func Scenarios() []Scenario {
	asleep := scaleBase("n100-asleep20", 100)
	asleep.Asleep = 0.2
	slow := scaleBase("n100-slow5", 100)
	slow.Slow = 0.05
	corrupt := scaleBase("n100-corrupt1", 100)
	corrupt.Corrupt = 0.01
	churn := scaleBase("n100-churn10", 100)
	churn.Churn = 0.1
	both100, both500 := scaleBase("n100-relay", 100), scaleBase("n500-relay", 500)
	both100.Relay, both500.Relay = true, true
	return []Scenario{LabScenario(), LabRelayScenario(), LabBothScenario(), LabRelay100Scenario(), LabBoth100Scenario(), scaleBase("n20", 20), scaleBase("n100", 100), scaleBase("n500", 500),
		asleep, slow, corrupt, churn, both100, both500}
}

//go:build race

package sim

// raceEnabled: under the race detector (make test), the simulator's tests
// run one small branch only; a branch of 12 agents takes 100 s there.
const raceEnabled = true

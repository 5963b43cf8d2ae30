//go:build race

package lan

// raceEnabled: the race detector slows 20 in-process nodes so much that
// their timings say nothing about memberlist.
const raceEnabled = true

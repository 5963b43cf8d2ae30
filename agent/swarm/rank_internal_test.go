package swarm

import (
	"slices"
	"testing"
)

// TestRankOrder: a download's fragment order is a permutation close to
// package order (each fragment within the window of its index, so the
// package unpacks while it downloads), and differs between downloads (so
// agents have fragments to trade).
func TestRankOrder(t *testing.T) {
	const n, window = 200, 16
	a, b := rankOrder(n, window), rankOrder(n, window)
	for _, r := range [][]int{a, b} {
		seen := make([]bool, n)
		for i, k := range r {
			if k < 0 || k >= n || seen[k] {
				t.Fatalf("rank %v is not a permutation", r)
			}
			seen[k] = true
			if k < i-window || k > i+window {
				t.Errorf("fragment %d ranked %d: more than %d away", i, k, window)
			}
		}
	}
	if slices.Equal(a, b) {
		t.Error("two downloads ranked the fragments alike")
	}
	if slices.Equal(a, rankOrder(n, 0)) {
		t.Error("rank is package order: not shuffled")
	}
}

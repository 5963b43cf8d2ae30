//go:build !shoalcorrupt

package p2p

import "testing"

// TestProductionNeverCorrupts checks that without the shoalcorrupt tag no
// setting installs the corruption hook.
func TestProductionNeverCorrupts(t *testing.T) {
	t.Setenv("SHOAL_P2P_CORRUPT", "flip")
	c := newCentral(t)
	key, _ := newKey(t)
	n, err := New(Config{}, key, testLogger(t), Deps{Store: emptyStore(t), CentralKey: c.pub})
	if err != nil {
		t.Fatal(err)
	}
	if n.mangle != nil {
		t.Fatal("a production build installed a corruption hook")
	}
}

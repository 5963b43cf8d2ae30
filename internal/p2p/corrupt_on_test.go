//go:build shoalcorrupt

package p2p

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/shoal-project/shoal/proto"
)

// TestCorruptBuild checks that a shoalcorrupt build's New installs the
// damage SHOAL_P2P_CORRUPT selects, and that a receiver detects it.
func TestCorruptBuild(t *testing.T) {
	tests := []struct {
		name    string
		mode    string
		corrupt bool
	}{
		{name: "default-flips", mode: "", corrupt: true},
		{name: "flip", mode: "flip", corrupt: true},
		{name: "forge", mode: "forge", corrupt: true},
		{name: "off", mode: "off", corrupt: false},
	}
	c := newCentral(t)
	client := startNode(t, c, Config{})
	data := randomBytes(1<<20, 9)
	want := proto.FragmentCID(data)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(CorruptEnv, tt.mode)
			server := startNode(t, c, Config{})
			server.mangle = corruptHook(testLogger(t)) // What New installs.
			f := server.put(t, data)
			got, err := fetchBytes(context.Background(), client.source(t, server), f)
			if err != nil {
				t.Fatal(err)
			}
			verr := proto.VerifyFragment(want, got)
			if tt.corrupt != errors.Is(verr, proto.ErrDigestMismatch) || (!tt.corrupt && verr != nil) {
				t.Errorf("VerifyFragment = %v, want corrupt=%t", verr, tt.corrupt)
			}
			if tt.corrupt && len(got) != len(data) {
				t.Errorf("corrupt answer has %d bytes, want the fragment's %d", len(got), len(data))
			}
			if !tt.corrupt && !bytes.Equal(got, data) {
				t.Error("honest answer differs from the stored bytes")
			}
		})
	}
	key, _ := newKey(t)
	n, err := New(Config{}, key, testLogger(t), Deps{Store: emptyStore(t), CentralKey: c.pub})
	if err != nil {
		t.Fatal(err)
	}
	if n.mangle == nil {
		t.Error("New in a shoalcorrupt build installed no corruption hook")
	}
}

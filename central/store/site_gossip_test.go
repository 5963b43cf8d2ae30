package store_test

import (
	"bytes"
	"testing"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

func TestGossipKey(t *testing.T) {
	s := storetest.Open(t)
	ctx := t.Context()
	a, err := s.GossipKey(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != store.GossipKeySize {
		t.Fatalf("key of %d bytes, want %d", len(a), store.GossipKeySize)
	}
	again, err := s.GossipKey(ctx, 1)
	if err != nil || !bytes.Equal(a, again) {
		t.Errorf("second call gave another key (%v)", err)
	}
	other, err := s.GossipKey(ctx, 2)
	if err != nil || bytes.Equal(a, other) {
		t.Errorf("two sites share a key (%v)", err)
	}
}

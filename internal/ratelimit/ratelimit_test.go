package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

func TestPrunes(t *testing.T) {
	l := New(2)
	now := time.Now()
	for i := range MaxKeys {
		l.Allow(fmt.Sprint(i), now)
	}
	if !l.Allow("late", now.Add(2*time.Minute)) {
		t.Fatal("a fresh key was limited")
	}
	if n := len(l.buckets); n != 1 {
		t.Errorf("after pruning %d keys remain, want 1", n)
	}
}

// TestFloodKeepsRestrictedKeys fills the limiter with fresh keys: the one
// key that is out of tokens must stay restricted.
func TestFloodKeepsRestrictedKeys(t *testing.T) {
	l := New(2)
	now := time.Now()
	l.Allow("victim", now)
	l.Allow("victim", now)
	if l.Allow("victim", now) {
		t.Fatal("third attempt allowed")
	}
	for i := range 2 * MaxKeys {
		l.Allow(fmt.Sprint(i), now)
	}
	if n := len(l.buckets); n > MaxKeys {
		t.Errorf("%d keys remembered, bound %d", n, MaxKeys)
	}
	if l.Allow("victim", now) {
		t.Error("a flood of new keys reset a restricted one")
	}
}

func TestLimits(t *testing.T) {
	l := New(3)
	now := time.Now()
	for i := range 3 {
		if !l.Allow("a", now) {
			t.Fatalf("attempt %d refused within the burst", i+1)
		}
	}
	if l.Allow("a", now) {
		t.Error("fourth attempt in the same instant allowed")
	}
	if !l.Allow("b", now) {
		t.Error("another key was limited")
	}
	if !l.Allow("a", now.Add(20*time.Second)) {
		t.Error("a token did not come back after 20s")
	}
}

func TestTakeReportsFirstRefusal(t *testing.T) {
	l := NewBurst(1, 2)
	now := time.Now()
	tests := []struct {
		name      string
		at        time.Duration
		ok, first bool
	}{
		{"burst-1", 0, true, false},
		{"burst-2", 0, true, false},
		{"first-refusal", 0, false, true},
		{"still-refused", time.Second, false, false},
		{"one-token-back", time.Minute, true, false},
		{"same-episode", time.Minute, false, false},
		{"full-again", 4 * time.Minute, true, false},
		{"burst-again", 4 * time.Minute, true, false},
		{"new-episode", 4 * time.Minute, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, first := l.Take("k", now.Add(tt.at))
			if ok != tt.ok || first != tt.first {
				t.Errorf("Take = %t, %t; want %t, %t", ok, first, tt.ok, tt.first)
			}
		})
	}
}

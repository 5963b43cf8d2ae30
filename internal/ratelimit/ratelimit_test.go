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

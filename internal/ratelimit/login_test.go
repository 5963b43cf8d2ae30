package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

var testLogin = LoginConfig{PerClient: 20, PerClientUser: 6, PerUser: 12, PerUserBurst: 60}

// TestOneClientCannotLockOutAUser guesses from one address as fast as it is
// allowed for ten minutes: the address is refused, another address is not.
func TestOneClientCannotLockOutAUser(t *testing.T) {
	g := NewLogins(testLogin)
	now := time.Now()
	refused := 0
	for s := 0; s < 600; s++ {
		at := now.Add(time.Duration(s) * time.Second)
		if d := g.Check("203.0.113.1", "admin", false, at); d.Verdict != Allowed {
			refused++
			if d.Verdict != ClientLimited {
				t.Fatalf("second %d: verdict %d, want ClientLimited", s, d.Verdict)
			}
		}
	}
	if refused == 0 {
		t.Fatal("the attacker was never refused")
	}
	if d := g.Check("198.51.100.7", "ADMIN", false, now.Add(10*time.Minute)); d.Verdict != Allowed {
		t.Errorf("another client after the attack: verdict %d, want Allowed", d.Verdict)
	}
}

// TestManyClientsSetOffTheBackoff guesses from a fresh address each time:
// the per-user back-off stops them after its burst, a known-good client
// still gets through.
func TestManyClientsSetOffTheBackoff(t *testing.T) {
	g := NewLogins(testLogin)
	now := time.Now()
	for i := range testLogin.PerUserBurst {
		if d := g.Check(fmt.Sprintf("10.0.%d.%d", i/256, i%256), "admin", false, now); d.Verdict != Allowed {
			t.Fatalf("attempt %d: verdict %d, want Allowed", i+1, d.Verdict)
		}
	}
	tests := []struct {
		name      string
		client    string
		knownGood bool
		want      Decision
	}{
		{"first-refusal", "10.9.0.1", false, Decision{UserBackoff, true}},
		{"again", "10.9.0.2", false, Decision{UserBackoff, false}},
		{"known-good", "10.9.0.3", true, Decision{Verdict: Allowed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := g.Check(tt.client, "admin", tt.knownGood, now); d != tt.want {
				t.Errorf("Check = %+v, want %+v", d, tt.want)
			}
		})
	}
}

func TestLoginConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  LoginConfig
		ok   bool
	}{
		{"default", testLogin, true},
		{"zero", LoginConfig{}, false},
		{"backoff-below-client", LoginConfig{PerClient: 20, PerClientUser: 6, PerUser: 3, PerUserBurst: 60}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%t", err, tt.ok)
			}
		})
	}
}

func TestSampler(t *testing.T) {
	s := NewSampler(2)
	now := time.Now()
	for i := range 2 {
		if ok, _ := s.Take(now); !ok {
			t.Fatalf("event %d left out", i+1)
		}
	}
	for range 5 {
		if ok, _ := s.Take(now); ok {
			t.Fatal("event over the budget recorded")
		}
	}
	ok, dropped := s.Take(now.Add(30 * time.Second))
	if !ok || dropped != 5 {
		t.Errorf("after refill: Take = %t, %d; want true, 5", ok, dropped)
	}
}

func TestKnown(t *testing.T) {
	k := NewKnown(time.Hour)
	now := time.Now()
	k.Add("admin\x00192.0.2.1", now)
	for i := range MaxKeys {
		k.Add(fmt.Sprint(i), now.Add(time.Minute))
	}
	if len(k.seen) > MaxKeys {
		t.Errorf("%d keys, bound %d", len(k.seen), MaxKeys)
	}
	if !k.Has("9999", now.Add(time.Minute)) {
		t.Error("the newest key was forgotten")
	}
	if k.Has("admin\x00192.0.2.1", now.Add(time.Minute)) {
		t.Error("the oldest key survived past the bound")
	}
	if k.Has("9999", now.Add(2*time.Hour)) {
		t.Error("a key outlived its ttl")
	}
}

package testwait

import (
	"errors"
	"testing"
	"time"
)

func TestUntil(t *testing.T) {
	n := 0
	if err := Until(time.Second, func() error {
		if n++; n < 3 {
			return errors.New("not yet")
		}
		return nil
	}); err != nil || n != 3 {
		t.Fatalf("Until = %v after %d calls, want nil after 3", err, n)
	}
	want := errors.New("never")
	if err := Until(3*Interval, func() error { return want }); !errors.Is(err, want) {
		t.Fatalf("Until = %v, want the last error", err)
	}
}

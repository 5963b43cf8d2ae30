package errkind_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/shoal-project/shoal/internal/errkind"
)

func TestKinds(t *testing.T) {
	errMissing := errkind.New(errkind.NotFound, "thing not found")
	errDup := fmt.Errorf("store: duplicate: %w", errkind.New(errkind.Conflict, "conflict"))
	plain := errors.New("disk on fire")
	tests := []struct {
		name string
		err  error
		want *errkind.Kind
		msg  string
	}{
		{"sentinel", errMissing, errkind.NotFound, "thing not found"},
		{"wrapped", fmt.Errorf("load 7: %w", errMissing), errkind.NotFound, "load 7: thing not found"},
		{"chain", errDup, errkind.Conflict, "store: duplicate: conflict"},
		{"marked", errkind.Mark(errkind.Invalid, plain), errkind.Invalid, "disk on fire"},
		{"joined", errors.Join(plain, errkind.New(errkind.TooLarge, "big")), errkind.TooLarge, "disk on fire\nbig"},
		{"plain", plain, nil, "disk on fire"},
		{"nil", nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errkind.Of(tt.err); got != tt.want {
				t.Errorf("Of = %v, want %v", got, tt.want)
			}
			if tt.err != nil && tt.err.Error() != tt.msg {
				t.Errorf("message %q, want %q", tt.err.Error(), tt.msg)
			}
		})
	}
	if !errors.Is(fmt.Errorf("x: %w", errMissing), errMissing) {
		t.Error("a sentinel lost its identity")
	}
	if errors.Is(errMissing, errkind.New(errkind.NotFound, "thing not found")) {
		t.Error("two sentinels of one kind are equal")
	}
	if !errors.Is(errkind.Mark(errkind.Invalid, plain), plain) {
		t.Error("Mark hides the marked error")
	}
	if errkind.Mark(errkind.Invalid, nil) != nil {
		t.Error("Mark(nil) is not nil")
	}
}

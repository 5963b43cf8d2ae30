package lan

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestLogRouting(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	l := newLogLogger(logger.With("component", "lan"))
	l.Printf("[DEBUG] memberlist: Stream connection from=%s", "127.0.0.1:1")
	l.Printf("[WARN] memberlist: ignoring alive message for 'x': refused")
	l.Printf("[WARN] memberlist: Refuting a suspect message (from: %s)", "y")
	l.Printf("[ERR] memberlist: Push/Pull with z failed")
	l.Printf("[INFO] memberlist: Suspect z has failed")
	out := buf.String()
	for _, want := range []string{
		`level=WARN msg="Refuting a suspect message (from: y)" component=lan`,
		`level=ERROR msg="Push/Pull with z failed"`,
		`level=INFO msg="Suspect z has failed"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	for _, not := range []string{"Stream connection", "ignoring alive"} {
		if strings.Contains(out, not) {
			t.Errorf("log has debug line %q:\n%s", not, out)
		}
	}
}

package lan

import (
	"context"
	"log"
	"log/slog"
	"strings"
)

// newLogLogger returns the *log.Logger memberlist writes to. It goes
// through slog.NewLogLogger, like nomad's setupSerf, and a handler that
// turns memberlist's "[WARN] memberlist: " prefixes into slog levels.
func newLogLogger(logger *slog.Logger) *log.Logger {
	return slog.NewLogLogger(levelHandler{h: logger.Handler()}, slog.LevelDebug)
}

// levelHandler re-levels records by their memberlist prefix.
type levelHandler struct{ h slog.Handler }

// Enabled is true: the level is only known once the message is seen.
func (l levelHandler) Enabled(context.Context, slog.Level) bool { return true }

func (l levelHandler) Handle(ctx context.Context, r slog.Record) error {
	level, msg := memberlistLevel(r.Message)
	if !l.h.Enabled(ctx, level) {
		return nil
	}
	out := slog.NewRecord(r.Time, level, msg, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(a)
		return true
	})
	return l.h.Handle(ctx, out)
}

func (l levelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return levelHandler{h: l.h.WithAttrs(attrs)}
}

func (l levelHandler) WithGroup(name string) slog.Handler {
	return levelHandler{h: l.h.WithGroup(name)}
}

// memberlistLevel maps "[LEVEL] memberlist: text" to a level and "text".
// Refused alive messages are logged once per peer by the cluster itself,
// so memberlist's line for each repetition drops to debug.
func memberlistLevel(msg string) (slog.Level, string) {
	level := slog.LevelInfo
	for _, p := range []struct {
		prefix string
		level  slog.Level
	}{
		{"[DEBUG]", slog.LevelDebug},
		{"[INFO]", slog.LevelInfo},
		{"[WARN]", slog.LevelWarn},
		{"[ERR]", slog.LevelError},
		{"[ERROR]", slog.LevelError},
	} {
		if rest, ok := strings.CutPrefix(msg, p.prefix); ok {
			level, msg = p.level, strings.TrimSpace(rest)
			break
		}
	}
	msg = strings.TrimPrefix(msg, "memberlist: ")
	if strings.HasPrefix(msg, "ignoring alive message for") {
		level = slog.LevelDebug
	}
	return level, msg
}

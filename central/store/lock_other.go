//go:build !unix

package store

import (
	"context"
	"log/slog"
)

// lockFile is a no-op where flock does not exist: central runs on Unix, and
// one process migrates a SQLite file at a time there.
func lockFile(context.Context, string, *slog.Logger) (func(), error) { return func() {}, nil }

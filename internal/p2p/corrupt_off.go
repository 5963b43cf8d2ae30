//go:build !shoalcorrupt

package p2p

import "log/slog"

// corruptHook returns nil: production builds serve fragments as stored.
func corruptHook(*slog.Logger) func(p []byte, off int64) { return nil }

//go:build shoalcorrupt

package p2p

import (
	"log/slog"
	"math/rand/v2"
	"os"
)

// CorruptEnv selects how a shoalcorrupt build damages the fragments it
// serves: "flip" (default) inverts the first byte of every fragment,
// "forge" replaces every byte with random ones, "off" serves honestly.
// Only binaries built with `go build -tags shoalcorrupt` read it.
const CorruptEnv = "SHOAL_P2P_CORRUPT"

// corruptHook returns the damage this test build applies to served bytes.
func corruptHook(log *slog.Logger) func(p []byte, off int64) {
	mode := os.Getenv(CorruptEnv)
	if mode == "" {
		mode = "flip"
	}
	if mode == "off" {
		return nil
	}
	log.Warn("TEST BUILD: this node serves corrupt fragments", "mode", mode)
	switch mode {
	case "forge":
		return func(p []byte, _ int64) {
			for i := range p {
				p[i] = byte(rand.Uint32())
			}
		}
	default:
		return func(p []byte, off int64) {
			if off == 0 && len(p) > 0 {
				p[0] ^= 0xff
			}
		}
	}
}

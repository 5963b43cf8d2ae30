package agentapi_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/shoal-project/shoal/agent/client"
	"github.com/shoal-project/shoal/agent/fetch"
	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/internal/fragstore"
	"github.com/shoal-project/shoal/proto"
)

// BenchmarkFetchInProcess measures the agent's fetcher against the agent API
// in one process (both ends share the CPU): 64 MiB over HTTPS, 4 streams,
// each fragment verified, fsynced and stored. itest's BenchmarkAgentFetch1GiB
// measures the real processes.
func BenchmarkFetchInProcess(b *testing.B) {
	e := newEnv(b)
	const size = 64 << 20
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	src := filepath.Join(b.TempDir(), "payload")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		b.Fatal(err)
	}
	built, err := e.builder.Build(context.Background(), packages.Spec{ID: "77", Name: "bench", Platform: proto.PlatformLinux,
		Action: proto.ActionExecute, Command: "true", Priority: 5, OCSFragments: 8}, src)
	if err != nil {
		b.Fatal(err)
	}
	m, err := proto.VerifyManifest(built.ManifestBytes, e.pki.SigningKey.Public().(ed25519.PublicKey), "77")
	if err != nil {
		b.Fatal(err)
	}
	cl := e.agentClient("bench")
	b.SetBytes(size)
	b.ResetTimer()
	for i := range b.N {
		st, err := fragstore.Open(filepath.Join(b.TempDir(), fmt.Sprint(i)))
		if err != nil {
			b.Fatal(err)
		}
		f, err := fetch.New(fetch.Config{}, st, []fetch.Source{client.CentralSource{C: cl}}, slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		if err := f.Fetch(context.Background(), m, &fetch.Stats{}); err != nil {
			b.Fatal(err)
		}
	}
}

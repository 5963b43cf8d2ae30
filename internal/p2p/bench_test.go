package p2p

import (
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shoal-project/shoal/proto"
)

// BenchmarkLoopback256MiB moves 256 MiB per iteration from one node to
// another over one connection with 4 parallel streams, as 1 MiB fragments
// (the manifest's fetch unit) read from the server's fragment store. The
// verify variant hashes every fragment on the receiver, as the fetcher
// does.
func BenchmarkLoopback256MiB(b *testing.B) {
	const (
		fragSize = 1 << 20
		total    = 256 << 20
		distinct = 64 // fragments on disk, each requested total/fragSize/distinct times
		streams  = 4
	)
	c := newCentral(b)
	server := startNode(b, c, Config{})
	client := startNode(b, c, Config{})
	frags := make([]proto.Fragment, distinct)
	for i := range frags {
		frags[i] = server.put(b, randomBytes(fragSize, uint64(i)+100))
	}
	src := client.source(b, server)

	for _, verify := range []bool{false, true} {
		name := "read"
		if verify {
			name = "read+verify"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			fetchOne := func(f proto.Fragment, buf []byte) error {
				rc, err := src.Fetch(ctx, "bench", f)
				if err != nil {
					return err
				}
				defer rc.Close()
				if !verify {
					_, err = io.CopyBuffer(io.Discard, rc, buf)
					return err
				}
				h := proto.NewFragmentHasher()
				if _, err := io.CopyBuffer(h, rc, buf); err != nil {
					return err
				}
				want, _ := proto.ParseCID(f.CID)
				return h.Verify(want)
			}
			// Warm up: the connection and the page cache.
			if err := fetchOne(frags[0], make([]byte, 1<<20)); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(total)
			b.ResetTimer()
			var elapsed time.Duration
			for range b.N {
				start := time.Now()
				var next atomic.Int64
				var g errgroup.Group
				for range streams {
					g.Go(func() error {
						buf := make([]byte, 1<<20)
						for {
							i := next.Add(1) - 1
							if i >= total/fragSize {
								return nil
							}
							if err := fetchOne(frags[i%distinct], buf); err != nil {
								return err
							}
						}
					})
				}
				if err := g.Wait(); err != nil {
					b.Fatal(err)
				}
				elapsed += time.Since(start)
			}
			b.ReportMetric(float64(total)*float64(b.N)/elapsed.Seconds()/1e6, "MB/s")
		})
	}
}

package fetch

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shoal-project/shoal/proto"
)

// cappedSource is central behind a long lossy uplink: every request (one
// TCP stream) moves at most 320 KiB/s, however many run at once.
type cappedSource struct {
	kind string // "" is KindCentral
	data []byte

	mu           sync.Mutex // guards active and peak
	active, peak int
}

func (s *cappedSource) Kind() string {
	if s.kind == "" {
		return KindCentral
	}
	return s.kind
}

func (s *cappedSource) Fetch(_ context.Context, _ string, f proto.Fragment) (io.ReadCloser, error) {
	s.mu.Lock()
	s.active++
	s.peak = max(s.peak, s.active)
	s.mu.Unlock()
	return &cappedReader{s: s, r: bytes.NewReader(s.data[f.Offset : f.Offset+f.Size])}, nil
}

type cappedReader struct {
	s *cappedSource
	r *bytes.Reader
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.r.Len() == 0 {
		return 0, io.EOF
	}
	time.Sleep(50 * time.Millisecond) // 16 KiB per 50 ms of the bubble's clock
	return c.r.Read(p[:min(len(p), 16<<10)])
}

func (c *cappedReader) Close() error {
	c.s.mu.Lock()
	c.s.active--
	c.s.mu.Unlock()
	return nil
}

// TestFetchGrowsStreams: when each stream is capped (a lossy long uplink),
// the fetcher adds streams beyond Config.Streams, up to MaxStreams, because
// more streams raise the goodput.
func TestFetchGrowsStreams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		data := payload(512 << 15) // 512 fragments of 32 KiB: 16 MiB
		m := manifestOf(data, 32<<10)
		src := &cappedSource{data: data}
		f, st := newFetcher(t, Config{Streams: 4, MaxStreams: 16}, src)
		start := time.Now()
		if err := f.Fetch(t.Context(), m, &Stats{}); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		checkAll(t, st, m, data)
		t.Logf("16 MiB in %v of the bubble's clock; streams now %d, at most %d at once", took, f.StreamLimit(), src.peak)
		if src.peak <= 4 || f.StreamLimit() <= 4 {
			t.Errorf("%d requests at once, limit %d: want more than streams (4)", src.peak, f.StreamLimit())
		}
		if src.peak > 16 {
			t.Errorf("%d requests at once: want at most max_streams (16)", src.peak)
		}
		// At a fixed 4 streams, 16 MiB at 320 KiB/s each takes 12.8 s;
		// growing (after two warm-up windows) takes about 9.7 s.
		if took > 11*time.Second {
			t.Errorf("took %v: the streams did not grow", took)
		}
	})
}

// TestFetchFromRelayKeepsStreams: from a relay on the LAN the fetcher keeps
// Config.Streams, since more streams would only take the relay's port from
// the branch's other agents.
func TestFetchFromRelayKeepsStreams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		data := payload(128 << 15)
		m := manifestOf(data, 32<<10)
		relay := &cappedSource{kind: KindRelay, data: data}
		f, st := newFetcher(t, Config{Streams: 4, MaxStreams: 16}, newSource(KindCentral, data))
		f.SetRelays([]Source{relay})
		var stats Stats
		if err := f.Fetch(t.Context(), m, &stats); err != nil {
			t.Fatal(err)
		}
		checkAll(t, st, m, data)
		if relay.peak != 4 || f.StreamLimit() != 4 {
			t.Errorf("%d requests at once to the relay, limit %d: want 4 and 4", relay.peak, f.StreamLimit())
		}
		if got := stats.BytesRelay.Load(); got != int64(len(data)) {
			t.Errorf("%d bytes from the relay, want %d", got, len(data))
		}
	})
}

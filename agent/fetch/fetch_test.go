package fetch

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/fragstore"
	"github.com/shoal-project/shoal/proto"
)

// fakeSource serves fragments from memory and can corrupt or fail some.
type fakeSource struct {
	kind string
	data []byte

	mu       sync.Mutex    // guards the fields below
	requests map[int]int   // fragment index -> requests
	corrupt  map[int]int   // fragment index -> responses still to corrupt
	fail     map[int]int   // fragment index -> requests still to fail
	block    chan struct{} // when set, Fetch waits on it
	started  chan struct{} // receives one value per Fetch
}

func (s *fakeSource) Kind() string { return s.kind }

func (s *fakeSource) Fetch(ctx context.Context, pkg string, f proto.Fragment) (io.ReadCloser, error) {
	s.mu.Lock()
	s.requests[f.Index]++
	fail := s.fail[f.Index] > 0
	if fail {
		s.fail[f.Index]--
	}
	corrupt := s.corrupt[f.Index] > 0
	if corrupt {
		s.corrupt[f.Index]--
	}
	block, started := s.block, s.started
	s.mu.Unlock()
	if started != nil {
		select {
		case started <- struct{}{}:
		default:
		}
	}
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if fail {
		return nil, errors.New("connection reset")
	}
	b := bytes.Clone(s.data[f.Offset : f.Offset+f.Size])
	if corrupt {
		b[len(b)/2] ^= 0x40
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (s *fakeSource) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.requests {
		n += v
	}
	return n
}

func newSource(kind string, data []byte) *fakeSource {
	return &fakeSource{kind: kind, data: data, requests: map[int]int{}, corrupt: map[int]int{}, fail: map[int]int{}}
}

func manifestOf(data []byte, fragSize int) *proto.Manifest {
	m := &proto.Manifest{PackageID: "42", Size: int64(len(data)), FragmentSize: int64(fragSize)}
	for i, off := 0, 0; off < len(data); i++ {
		end := min(off+fragSize, len(data))
		m.Fragments = append(m.Fragments, proto.Fragment{Index: i, Offset: int64(off), Size: int64(end - off), CID: proto.FragmentCID(data[off:end]).String()})
		off = end
	}
	return m
}

func payload(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 3))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func newFetcher(t *testing.T, cfg Config, sources ...Source) (*Fetcher, *fragstore.Store) {
	t.Helper()
	st, err := fragstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(cfg, st, sources, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return f, st
}

func checkAll(t *testing.T, st *fragstore.Store, m *proto.Manifest, data []byte) {
	t.Helper()
	r := st.NewReader(m.Fragments, m.Size)
	defer r.Close()
	got, err := io.ReadAll(io.NewSectionReader(r, 0, m.Size))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("package bytes differ (err %v)", err)
	}
}

func TestFetch(t *testing.T) {
	data := payload(10*4096 + 123)
	m := manifestOf(data, 4096)
	tests := []struct {
		name         string
		corrupt      map[int]int
		fail         map[int]int
		wantRequests int
		wantBad      int64
	}{
		{name: "clean", wantRequests: 11},
		{name: "corrupt-once", corrupt: map[int]int{3: 1}, wantRequests: 12, wantBad: 1},
		{name: "fail-twice", fail: map[int]int{0: 2}, wantRequests: 13},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newSource(KindCentral, data)
			for k, v := range tt.corrupt {
				src.corrupt[k] = v
			}
			for k, v := range tt.fail {
				src.fail[k] = v
			}
			f, st := newFetcher(t, Config{Streams: 3}, src)
			var stats Stats
			if err := f.Fetch(t.Context(), m, &stats); err != nil {
				t.Fatal(err)
			}
			checkAll(t, st, m, data)
			if got := src.total(); got != tt.wantRequests {
				t.Errorf("requests = %d, want %d", got, tt.wantRequests)
			}
			for i, n := range src.requests {
				if n > 1 && tt.corrupt[i] == 0 && tt.fail[i] == 0 {
					t.Errorf("fragment %d fetched %d times", i, n)
				}
			}
			if stats.Done.Load() != 11 || stats.Total.Load() != 11 || stats.BadFragments.Load() != tt.wantBad {
				t.Errorf("stats done %d total %d bad %d", stats.Done.Load(), stats.Total.Load(), stats.BadFragments.Load())
			}
			wantBytes := int64(len(data)) + tt.wantBad*4096
			if got := stats.BytesCentral.Load(); got != wantBytes {
				t.Errorf("bytes from central = %d, want %d", got, wantBytes)
			}
		})
	}
}

func TestFetchResumesFromStore(t *testing.T) {
	data := payload(8 * 1000)
	m := manifestOf(data, 1000)
	src := newSource(KindCentral, data)
	f, st := newFetcher(t, Config{}, src)
	// An earlier run stored fragments 0..4.
	for _, fr := range m.Fragments[:5] {
		w, _ := st.Create(fr.CID, fr.Size)
		w.Write(data[fr.Offset : fr.Offset+fr.Size])
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	var stats Stats
	if err := f.Fetch(t.Context(), m, &stats); err != nil {
		t.Fatal(err)
	}
	if got := src.total(); got != 3 {
		t.Errorf("requests = %d, want 3 (only the missing fragments)", got)
	}
	checkAll(t, st, m, data)
}

func TestFetchGivesUp(t *testing.T) {
	data := payload(3000)
	m := manifestOf(data, 1000)
	src := newSource(KindCentral, data)
	src.corrupt[1] = 100
	f, st := newFetcher(t, Config{MaxAttempts: 2}, src)
	err := f.Fetch(t.Context(), m, &Stats{})
	if !errors.Is(err, ErrFragment) || !errors.Is(err, proto.ErrDigestMismatch) {
		t.Fatalf("err = %v, want ErrFragment wrapping a digest mismatch", err)
	}
	if ok, _ := st.Check(m.Fragments[1].CID, 1000); ok {
		t.Error("a corrupt fragment was stored")
	}
}

func TestFetchFallsBackToNextSource(t *testing.T) {
	data := payload(2000)
	m := manifestOf(data, 1000)
	bad := newSource(KindPeer, data)
	bad.corrupt[0], bad.corrupt[1] = 1, 1
	good := newSource(KindCentral, data)
	f, _ := newFetcher(t, Config{Streams: 1}, bad, good)
	var stats Stats
	if err := f.Fetch(t.Context(), m, &stats); err != nil {
		t.Fatal(err)
	}
	if stats.BytesPeer.Load() != 2000 || stats.BytesCentral.Load() != 2000 {
		t.Errorf("bytes peer %d central %d, want 2000 each", stats.BytesPeer.Load(), stats.BytesCentral.Load())
	}
}

func TestFetchCancelled(t *testing.T) {
	data := payload(4000)
	m := manifestOf(data, 1000)
	src := newSource(KindCentral, data)
	src.block = make(chan struct{})
	src.started = make(chan struct{}, 1)
	f, st := newFetcher(t, Config{Streams: 2}, src)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- f.Fetch(ctx, m, &Stats{}) }()
	<-src.started
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Fetch did not return after cancel")
	}
	missing, err := f.Missing(m)
	if err != nil || len(missing) != 4 {
		t.Errorf("missing = %d, %v; want 4", len(missing), err)
	}
	if n, _ := st.Usage(); n != 0 {
		t.Errorf("store holds %d bytes after a cancelled fetch", n)
	}
}

func TestRateLimit(t *testing.T) {
	data := payload(600 << 10)
	m := manifestOf(data, 100<<10)
	src := newSource(KindCentral, data)
	// 2 MiB/s with a 256 KiB bucket: 600 KiB take at least ~170 ms.
	f, _ := newFetcher(t, Config{RateLimit: 2 << 20}, src)
	start := time.Now()
	if err := f.Fetch(t.Context(), m, &Stats{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("600 KiB at 2 MiB/s took %v, want >= 150ms", d)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{name: "defaults", cfg: Config{}, ok: true},
		{name: "too-many-streams", cfg: Config{Streams: 100}},
		{name: "negative-rate", cfg: Config{RateLimit: -1}},
		{name: "short-timeout", cfg: Config{FragmentTimeout: time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the log handler's writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestFetchLogsFirstStoredFragment checks the line the branch lab measures
// "first fragment" by: once per run, with the package, and only for a
// verified fragment committed to the store, not for a request or a corrupt
// answer.
func TestFetchLogsFirstStoredFragment(t *testing.T) {
	data := payload(3000)
	m := manifestOf(data, 1000)
	tests := []struct {
		name    string
		corrupt map[int]int
		wantErr bool
		want    int
	}{
		{name: "clean", want: 1},
		{name: "first-answer-corrupt", corrupt: map[int]int{0: 1, 1: 1, 2: 1}, want: 1},
		{name: "never-verified", corrupt: map[int]int{0: 100, 1: 100, 2: 100}, wantErr: true, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newSource(KindCentral, data)
			for k, v := range tt.corrupt {
				src.corrupt[k] = v
			}
			st, err := fragstore.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			var logs syncBuffer
			f, err := New(Config{Streams: 3, MaxAttempts: 2}, st, []Source{src}, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Fetch(t.Context(), m, &Stats{}); (err != nil) != tt.wantErr {
				t.Fatalf("Fetch() = %v, want error %v", err, tt.wantErr)
			}
			got := 0
			for _, line := range strings.Split(logs.String(), "\n") {
				if strings.Contains(line, `msg="first fragment stored"`) {
					got++
					if !strings.Contains(line, " package=42") {
						t.Errorf("line lacks the package: %s", line)
					}
				}
			}
			if got != tt.want {
				t.Errorf("%d \"first fragment stored\" lines, want %d:\n%s", got, tt.want, logs.String())
			}
		})
	}
}

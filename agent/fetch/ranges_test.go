package fetch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shoal-project/shoal/proto"
)

// rangeSource is central behind a long lossy uplink that serves byte
// ranges: every request moves at most 320 KiB/s. ignore makes it answer a
// range with the whole fragment (a central without ranges); corrupt flips
// a byte of every range it serves.
type rangeSource struct {
	cappedSource
	ignore, corrupt bool

	mu     sync.Mutex // guards ranges and wholes
	ranges []string
	wholes int
}

func (s *rangeSource) Fetch(ctx context.Context, pkg string, f proto.Fragment) (io.ReadCloser, error) {
	s.mu.Lock()
	s.wholes++
	s.mu.Unlock()
	return s.cappedSource.Fetch(ctx, pkg, f)
}

func (s *rangeSource) FetchRange(ctx context.Context, pkg string, f proto.Fragment, off, end int64) (io.ReadCloser, error) {
	if s.ignore {
		return nil, fmt.Errorf("status 200 to a Range request: %w", ErrNoRanges)
	}
	s.mu.Lock()
	s.ranges = append(s.ranges, fmt.Sprintf("%d-%d", off, end))
	s.active++
	s.peak = max(s.peak, s.active)
	s.mu.Unlock()
	b := bytes.Clone(s.data[f.Offset+off : f.Offset+end])
	if s.corrupt {
		b[0] ^= 1
	}
	return &cappedReader{s: &s.cappedSource, r: bytes.NewReader(b)}, nil
}

// TestFetchRanges: a fragment asked in 4 parts comes in 4 exact byte ranges
// at once, about 4 times faster than whole on one capped stream, verified
// and stored, with its bytes counted once.
func TestFetchRanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		data := payload(1 << 20)
		m := manifestOf(data, 1<<20)
		src := &rangeSource{cappedSource: cappedSource{data: data}}
		f, store := newFetcher(t, Config{Streams: 4}, src)
		var st Stats
		start := time.Now()
		w, err := f.FetchRanges(t.Context(), m.PackageID, m.Fragments[0], 4, nil, &st)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Finish(); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		checkAll(t, store, m, data)
		want := []string{"0-262144", "262144-524288", "524288-786432", "786432-1048576"}
		slices.Sort(src.ranges)
		if fmt.Sprint(src.ranges) != fmt.Sprint(want) || src.wholes != 0 {
			t.Errorf("ranges %v and %d whole requests: want %v and none", src.ranges, src.wholes, want)
		}
		if src.peak != 4 {
			t.Errorf("%d requests at once, want 4", src.peak)
		}
		// Whole, 1 MiB at 320 KiB/s takes 3.2 s; in 4 ranges 0.8 s.
		if took > time.Second {
			t.Errorf("took %v of the bubble's clock: want about 0.8 s", took)
		}
		if got := st.BytesCentral.Load(); got != 1<<20 {
			t.Errorf("%d bytes from central counted, want %d", got, 1<<20)
		}
	})
}

// TestFetchRangesSmallFragment: a fragment under 2 × MinRange is fetched
// whole, and one of 3 × MinRange in at most 3 ranges.
func TestFetchRangesSmallFragment(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		data := payload(MinRange + 3*MinRange)
		m := manifestOf(data, MinRange) // fragments of 64 KiB: whole
		src := &rangeSource{cappedSource: cappedSource{data: data}}
		f, _ := newFetcher(t, Config{Streams: 4}, src)
		w, err := f.FetchRanges(t.Context(), m.PackageID, m.Fragments[0], 4, nil, &Stats{})
		if err != nil {
			t.Fatal(err)
		}
		w.Abort()
		if len(src.ranges) != 0 || src.wholes != 1 {
			t.Errorf("ranges %v, %d whole: want the 64 KiB fragment whole", src.ranges, src.wholes)
		}
		m3 := manifestOf(data[:3*MinRange], 3*MinRange)
		w, err = f.FetchRanges(t.Context(), m3.PackageID, m3.Fragments[0], 8, nil, &Stats{})
		if err != nil {
			t.Fatal(err)
		}
		w.Abort()
		if len(src.ranges) != 3 {
			t.Errorf("ranges %v: want 3 of 64 KiB", src.ranges)
		}
	})
}

// TestFetchRangesFallsBack: a central that does not serve ranges gets the
// fragment asked whole, and no more ranges after that; a corrupt range is
// refused (counted as a bad fragment) and the fragment fetched whole and
// verified. Nothing unverified is stored.
func TestFetchRangesFallsBack(t *testing.T) {
	for _, tc := range []struct {
		name            string
		ignore, corrupt bool
	}{{"no ranges", true, false}, {"corrupt range", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				data := payload(2 << 20)
				m := manifestOf(data, 1<<20)
				src := &rangeSource{cappedSource: cappedSource{data: data}, ignore: tc.ignore, corrupt: tc.corrupt}
				f, store := newFetcher(t, Config{Streams: 4}, src)
				var st Stats
				for _, fr := range m.Fragments[:1] {
					w, err := f.FetchRanges(t.Context(), m.PackageID, fr, 4, nil, &st)
					if err != nil {
						t.Fatal(err)
					}
					if err := w.Finish(); err != nil {
						t.Fatal(err)
					}
				}
				if ok, err := store.Check(m.Fragments[0].CID, m.Fragments[0].Size); err != nil || !ok {
					t.Fatalf("fragment 0 not stored verified: %v %v", ok, err)
				}
				if src.wholes != 1 {
					t.Errorf("%d whole requests, want 1", src.wholes)
				}
				if tc.corrupt && st.BadFragments.Load() != 1 {
					t.Errorf("%d bad fragments counted, want 1", st.BadFragments.Load())
				}
				if tc.ignore {
					w, err := f.FetchRanges(t.Context(), m.PackageID, m.Fragments[1], 4, nil, &st)
					if err != nil {
						t.Fatal(err)
					}
					w.Abort()
					if src.wholes != 2 {
						t.Errorf("%d whole requests after ranges were refused, want 2: ranges again", src.wholes)
					}
				}
			})
		})
	}
}

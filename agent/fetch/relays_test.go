package fetch

import (
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// namedSource gives a fake source a name, as client.RelaySource has.
type namedSource struct {
	*fakeSource
	name string
}

func (s namedSource) String() string { return s.name }

func TestRelayFallback(t *testing.T) {
	data := payload(20 * 1000)
	m := manifestOf(data, 1000)
	tests := []struct {
		name         string
		fail         map[int]int // relay failures per fragment
		wantRelay    int         // relay requests
		wantCentral  int         // central requests
		wantInDetail []string
	}{
		{name: "relay-serves", wantRelay: 20, wantCentral: 0, wantInDetail: []string{"19.5 KiB from relay"}},
		{name: "relay-flaky", fail: map[int]int{2: 1}, wantRelay: 20, wantCentral: 1,
			wantInDetail: []string{"relay http://r:8080 failed 1 request(s) (connection reset)", "18.6 KiB from relay, 1.0 KiB from central"}},
		{name: "relay-down", fail: allFragments(20), wantRelay: 3, wantCentral: 20,
			wantInDetail: []string{"relay http://r:8080 unreachable (connection reset); 19.5 KiB from central"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			relay := newSource(KindRelay, data)
			for k, v := range tt.fail {
				relay.fail[k] = v
			}
			central := newSource(KindCentral, data)
			f, st := newFetcher(t, Config{Streams: 1}, central)
			f.SetRelays([]Source{namedSource{relay, "relay http://r:8080"}})
			var stats Stats
			if err := f.Fetch(t.Context(), m, &stats); err != nil {
				t.Fatal(err)
			}
			checkAll(t, st, m, data)
			if got := relay.total(); got != tt.wantRelay {
				t.Errorf("relay requests = %d, want %d", got, tt.wantRelay)
			}
			if got := central.total(); got != tt.wantCentral {
				t.Errorf("central requests = %d, want %d", got, tt.wantCentral)
			}
			sum := stats.Summary()
			for _, w := range tt.wantInDetail {
				if !strings.Contains(sum, w) {
					t.Errorf("summary %q lacks %q", sum, w)
				}
			}
		})
	}
}

func allFragments(n int) map[int]int {
	m := map[int]int{}
	for i := range n {
		m[i] = 100
	}
	return m
}

func TestRelayCooloffEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		data := payload(10 * 1000)
		m := manifestOf(data, 1000)
		relay := newSource(KindRelay, data)
		relay.fail = allFragments(10)
		central := newSource(KindCentral, data)
		f, st := newFetcher(t, Config{Streams: 1, RelayCooloff: time.Minute}, central)
		f.SetRelays([]Source{namedSource{relay, "relay http://r:8080"}})
		if err := f.Fetch(t.Context(), m, &Stats{}); err != nil {
			t.Fatal(err)
		}
		if got := relay.total(); got != 3 {
			t.Fatalf("relay requests = %d, want 3 before the cool-off", got)
		}
		// The relay comes back; after the cool-off it is used again.
		relay.mu.Lock()
		relay.fail = map[int]int{}
		relay.mu.Unlock()
		for _, fr := range m.Fragments {
			if err := st.Remove(fr.CID); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(2 * time.Minute) // Fake time in the bubble.
		var stats Stats
		if err := f.Fetch(t.Context(), m, &stats); err != nil {
			t.Fatal(err)
		}
		if stats.BytesRelay.Load() != int64(len(data)) || stats.BytesCentral.Load() != 0 {
			t.Errorf("after the cool-off: relay %d central %d bytes, want all from the relay", stats.BytesRelay.Load(), stats.BytesCentral.Load())
		}
	})
}

func TestSummaryNotes(t *testing.T) {
	var st Stats
	st.BytesPeer.Store(3 << 20)
	st.Note("peer X sent a bad fragment (3) and was dropped for this package")
	st.Note("peer X sent a bad fragment (3) and was dropped for this package")
	st.sourceFailed(namedSource{newSource(KindCentral, nil), "central"}, errors.New("timeout"))
	got := st.Summary()
	want := "central unreachable (timeout); peer X sent a bad fragment (3) and was dropped for this package; 3.0 MiB from peers"
	if got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
}

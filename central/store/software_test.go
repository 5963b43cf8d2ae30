package store_test

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

func TestVersionKeyOrder(t *testing.T) {
	// Each version sorts before the next.
	ordered := []string{"", "1.0", "1.0a", "1.0.1", "1.2", "1.9", "1.10", "9.20", "16.04", "19.00", "23.01", "24.00b", "24.01", "24.08", "100"}
	for i := 1; i < len(ordered); i++ {
		if c := store.CompareVersions(ordered[i-1], ordered[i]); c >= 0 {
			t.Errorf("CompareVersions(%q, %q) = %d, want < 0 (keys %q, %q)", ordered[i-1], ordered[i], c,
				store.VersionKey(ordered[i-1]), store.VersionKey(ordered[i]))
		}
	}
	equal := [][2]string{{"24.0", "24.00"}, {"2:1.5.4", "1.5.4"}, {"1-5", "1.5"}, {"V1.2", "v1.2"}}
	for _, p := range equal {
		if c := store.CompareVersions(p[0], p[1]); c != 0 {
			t.Errorf("CompareVersions(%q, %q) = %d, want 0", p[0], p[1], c)
		}
	}
}

func TestParseVersionFilter(t *testing.T) {
	tests := []struct {
		name, in, op, ver string
		bad               bool
	}{
		{name: "bare", in: "24.00", op: "=", ver: "24.00"},
		{name: "less", in: "< 24", op: "<", ver: "24"},
		{name: "less-equal", in: "<=24.08", op: "<=", ver: "24.08"},
		{name: "not", in: "!= 1", op: "!=", ver: "1"},
		{name: "empty", in: "<", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op, ver, err := store.ParseVersionFilter(tt.in)
			if (err != nil) != tt.bad || op != tt.op || ver != tt.ver {
				t.Errorf("ParseVersionFilter(%q) = %q, %q, %v", tt.in, op, ver, err)
			}
		})
	}
}

// TestSoftwareVersionSearch finds computers by software name and a
// version-aware comparison, and by the absence of a software, on both
// backends.
func TestSoftwareVersionSearch(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		versions := map[string]string{"old": "9.20", "mid": "23.01", "cur": "24.00", "new": "24.08", "none": ""}
		ids := map[string]uint{}
		for i, name := range []string{"old", "mid", "cur", "new", "none"} {
			snap := storetest.Snapshot(devID(name, i), 0)
			snap.Computer.Name = name
			snap.Softwares = []store.Software{{Name: "curl", Version: "7.88"}}
			if v := versions[name]; v != "" {
				snap.Softwares = append(snap.Softwares, store.Software{Name: "7-Zip 24.08 (x64)", Version: v})
			}
			ids[name] = mustIngest(t, s, snap).ComputerID
		}
		tests := []struct {
			name string
			f    store.ComputerFilter
			want []string
		}{
			{name: "has", f: store.ComputerFilter{Software: "7-zip"}, want: []string{"cur", "mid", "new", "old"}},
			{name: "less-than-24", f: store.ComputerFilter{Software: "7-zip", SoftwareVersion: "< 24"}, want: []string{"mid", "old"}},
			{name: "at-least-24.0", f: store.ComputerFilter{Software: "7-zip", SoftwareVersion: ">=24.0"}, want: []string{"cur", "new"}},
			{name: "bare-equal", f: store.ComputerFilter{Software: "7-zip", SoftwareVersion: "24.00"}, want: []string{"cur"}},
			{name: "bare-equal-version-aware", f: store.ComputerFilter{Software: "7-zip", SoftwareVersion: "24.0"}, want: []string{"cur"}},
			{name: "equal-version-aware", f: store.ComputerFilter{Software: "7-zip", SoftwareVersion: "= 24.000"}, want: []string{"cur"}},
			{name: "not-equal", f: store.ComputerFilter{Software: "7-zip", SoftwareVersion: "!= 24.00"}, want: []string{"mid", "new", "old"}},
			{name: "does-not-have", f: store.ComputerFilter{NoSoftware: "7-ZIP"}, want: []string{"none"}},
			{name: "has-not-other", f: store.ComputerFilter{Software: "curl", NoSoftware: "zip"}, want: []string{"none"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, total, err := s.SearchComputers(t.Context(), tt.f)
				if err != nil {
					t.Fatal(err)
				}
				var names []string
				for _, c := range got {
					names = append(names, c.Name)
				}
				slices.Sort(names)
				if diff := cmp.Diff(tt.want, names); diff != "" || total != int64(len(tt.want)) {
					t.Errorf("computers (-want +got):\n%s\ntotal %d", diff, total)
				}
			})
		}
		if _, _, err := s.SearchComputers(t.Context(), store.ComputerFilter{Software: "x", SoftwareVersion: "<"}); err == nil {
			t.Error("a comparison without a version was accepted")
		}
	})
}

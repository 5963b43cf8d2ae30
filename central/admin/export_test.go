package admin

import "testing"

func TestCSVSafe(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{name: "plain", in: "vm", want: "vm"},
		{name: "formula", in: "=HYPERLINK(1)", want: "'=HYPERLINK(1)"},
		{name: "plus", in: "+1", want: "'+1"},
		{name: "at", in: "@x", want: "'@x"},
		{name: "empty", in: "", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CSVSafe(tt.in); got != tt.want {
				t.Errorf("CSVSafe(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

package inventory

import "testing"

func TestAutoTitle(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"firefox-arch-lang", "Mozilla Firefox (x64 fr)", "Mozilla Firefox"},
		{"firefox-version", "Mozilla Firefox 131.0", "Mozilla Firefox"},
		{"firefox-version-arch-lang", "Mozilla Firefox 133.0.3 (x64 en-US)", "Mozilla Firefox"},
		{"seven-zip", "7-Zip 24.08 (x64)", "7-Zip"},
		{"seven-zip-bare", "7-Zip", "7-Zip"},
		{"vcredist", "Microsoft Visual C++ 2015-2022 Redistributable (x64) - 14.38.33130", "Microsoft Visual C++ 2015-2022 Redistributable"},
		{"python", "Python 3.12.1 (64-bit)", "Python"},
		{"debian-kernel", "linux-image-6.1.0-27-amd64", "linux-image"},
		{"short-word-kept", "Adobe Acrobat DC", "Adobe Acrobat DC"},
		{"only-version", "2024", "2024"},
		{"no-change", "curl", "curl"},
		{"vlc", "VLC media player", "VLC media player"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AutoTitle(tt.in); got != tt.want {
				t.Errorf("AutoTitle(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

package agent

import "testing"

func TestEnrollCommand(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		config string
		want   string
	}{
		{name: "no-config", want: "shoal-agent enroll -state-dir /var/lib/shoal-agent -server https://<CENTRAL>:8443 -token <TOKEN> -ca <CA-FILE>"},
		{name: "config-gives-server-and-ca", config: "/etc/shoal/agent.yaml",
			cfg:  Config{Server: "https://c:8443", StateDir: "/srv/state", Enroll: EnrollConfig{CAFile: "/etc/shoal/ca.pem"}},
			want: "shoal-agent enroll -config /etc/shoal/agent.yaml -state-dir /srv/state -token <TOKEN>"},
		{name: "fingerprint", cfg: Config{Server: "https://c:8443", Enroll: EnrollConfig{CAFingerprint: "ab"}},
			want: "shoal-agent enroll -state-dir /var/lib/shoal-agent -token <TOKEN>"},
		{name: "quoted", cfg: Config{Server: "https://c:8443", StateDir: "/my state/it's"}, config: "/a b.yaml",
			want: `shoal-agent enroll -config '/a b.yaml' -state-dir '/my state/it'\''s' -token <TOKEN> -ca <CA-FILE>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EnrollCommand(tt.cfg, tt.config); got != tt.want {
				t.Errorf("EnrollCommand =\n  %s\nwant\n  %s", got, tt.want)
			}
		})
	}
}

package lab

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/shoal-project/shoal/agent/swarm"
	"github.com/shoal-project/shoal/proto/api"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr bool
	}{
		{name: "bytes", in: "524288", want: 524288},
		{name: "mib", in: "64MiB", want: 64 << 20},
		{name: "short-m", in: "8M", want: 8 << 20},
		{name: "gib", in: "1GiB", want: 1 << 30},
		{name: "fraction", in: "1.5KiB", want: 1536},
		{name: "empty", in: "", wantErr: true},
		{name: "negative", in: "-1MiB", wantErr: true},
		{name: "junk", in: "lots", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseSize(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseSize(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestDist(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want Dist
	}{
		{name: "empty", in: nil, want: Dist{}},
		{name: "one", in: []float64{3}, want: Dist{N: 1, P50: 3, P95: 3, Max: 3}},
		{name: "four", in: []float64{4, 1, 3, 2}, want: Dist{N: 4, P50: 2, P95: 4, Max: 4}},
		{name: "twenty", in: []float64{20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1},
			want: Dist{N: 20, P50: 10, P95: 19, Max: 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, distOf(tt.in)); diff != "" {
				t.Errorf("distOf(%v) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestTBFArgs(t *testing.T) {
	tests := []struct {
		name string
		mbit float64
		rtt  time.Duration
		want []string
	}{
		// 20 Mbit/s = 2.5 MB/s: BDP at 60 ms is 150,000 bytes, the queue
		// twice that plus the 32 KiB burst.
		{name: "default-wan", mbit: 20, rtt: 60 * time.Millisecond,
			want: []string{"-n", "ns", "qdisc", "replace", "dev", "d", "root", "tbf", "rate", "20000000bit", "burst", "32768", "limit", "332768"}},
		// A short path keeps a 128 KiB minimum queue.
		{name: "lan", mbit: 100, rtt: time.Millisecond,
			want: []string{"-n", "ns", "qdisc", "replace", "dev", "d", "root", "tbf", "rate", "100000000bit", "burst", "125000", "limit", "256072"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tbfArgs("ns", "d", tt.mbit, tt.rtt)); diff != "" {
				t.Errorf("tbfArgs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseLinkStats(t *testing.T) {
	in := `[{"ifindex":3,"ifname":"wb1","flags":["POINTOPOINT","UP"],"mtu":1500,"qdisc":"tbf",` +
		`"stats64":{"rx":{"bytes":614385,"packets":9000,"errors":0},"tx":{"bytes":34802028,"packets":24000,"errors":0}}}]`
	got, err := parseLinkStats([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(LinkBytes{RX: 614385, TX: 34802028}, got); diff != "" {
		t.Errorf("parseLinkStats (-want +got):\n%s", diff)
	}
	if _, err := parseLinkStats([]byte(`[]`)); err == nil {
		t.Error("parseLinkStats accepted an empty list")
	}
	if d := (LinkBytes{RX: 10, TX: 30}).Sub(LinkBytes{RX: 4, TX: 5}); d != (LinkBytes{RX: 6, TX: 25}) {
		t.Errorf("Sub = %+v", d)
	}
}

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    float64
		wantErr bool
	}{
		{name: "plain", in: "1234 (shoal-central) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 100 0 0",
			want: 3},
		{name: "spaces-in-comm", in: "77 (perl (worker) x) S 1 77 77 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 0 0 0", want: 0.1},
		{name: "short", in: "1 (x) S 1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("cpu = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseNSLink(t *testing.T) {
	if ino, ok := parseNSLink("net:[4026532281]"); !ok || ino != 4026532281 {
		t.Errorf("parseNSLink = %d, %v", ino, ok)
	}
	if _, ok := parseNSLink("mnt:[1]"); ok {
		t.Error("parseNSLink accepted a mount namespace")
	}
}

func TestLeftoverRE(t *testing.T) {
	tests := []struct {
		name string
		in   string
		pid  string
	}{
		{name: "dc", in: "slab1234-dc", pid: "1234"},
		{name: "agent", in: "slab99-b2a17", pid: "99"},
		{name: "foreign", in: "slabby-dc"},
		{name: "other-tool", in: "myns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := leftoverRE.FindStringSubmatch(tt.in)
			got := ""
			if m != nil {
				got = m[1]
			}
			if got != tt.pid {
				t.Errorf("pid of %q = %q, want %q", tt.in, got, tt.pid)
			}
		})
	}
}

func TestFirstFragment(t *testing.T) {
	log := strings.Join([]string{
		"[Thu Nov 26 18:58:43 2026][debug] Success downloading info file...",
		"[Thu Nov 26 18:58:51 2026][debug] [download] Downloading 111-1",
		"[Thu Nov  5 09:01:02 2026][debug] [download] Downloading 222-1",
		"[Thu Nov  5 09:01:05 2026][debug] [download] Downloading 222-2",
	}, "\n")
	tests := []struct {
		name    string
		pkg     string
		want    time.Time
		wantErr error
	}{
		{name: "first", pkg: "111", want: time.Date(2026, 11, 26, 18, 58, 51, 0, time.Local)},
		{name: "padded-day", pkg: "222", want: time.Date(2026, 11, 5, 9, 1, 2, 0, time.Local)},
		{name: "absent", pkg: "333", wantErr: errNoFragment},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := firstFragment([]byte(log), tt.pkg)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if !got.Equal(tt.want) {
				t.Errorf("first fragment at %v, want %v", got, tt.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{name: "defaults", cfg: Config{}},
		{name: "small", cfg: Config{SizeBytes: 8 << 20, Agents: 4, Branches: 1, UplinkMbit: 50, Scenarios: []string{"ocs-direct"}}},
		{name: "unknown-scenario", cfg: Config{Scenarios: []string{"carrier-pigeon"}}, wantErr: true},
		{name: "tiny-package", cfg: Config{SizeBytes: 10}, wantErr: true},
		{name: "too-many-agents", cfg: Config{Agents: MaxAgents + 1}, wantErr: true},
		{name: "foreign-prefix", cfg: Config{Prefix: "prod"}, wantErr: true},
		{name: "loss", cfg: Config{LossPct: 80}, wantErr: true},
		{name: "bbr", cfg: Config{CC: CCBBR}},
		{name: "cubic", cfg: Config{CC: "cubic"}, wantErr: true},
		{name: "unshaped-lan", cfg: Config{LANMbit: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err != nil) != tt.wantErr {
				t.Errorf("Validate() = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	f, err := ParseFlags([]string{"-size", "8MiB", "-agents", "4", "-branches", "1", "-uplink-mbit", "50",
		"-delay", "10ms", "-loss", "0.5", "-scenarios", "ocs-direct, shoal-p2p", "-out", "x",
		"-agent-log-level", "debug", "-agent-swarm", "upstream_streams: 2\nlease_max: 4", "-server-nice", "0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	zero := 0
	want := Config{SizeBytes: 8 << 20, Agents: 4, Branches: 1, UplinkMbit: 50, Delay: 10 * time.Millisecond,
		LossPct: 0.5, LANMbit: 100, RelayLANMbit: 1000, CC: "reno", Scenarios: []string{"ocs-direct", "shoal-p2p"}, OutDir: "x", BinDir: "bin",
		AgentLogLevel: "debug", AgentSwarm: "upstream_streams: 2\nlease_max: 4", ServerNice: &zero}
	if diff := cmp.Diff(want, f.Config); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	def, err := ParseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ScenarioNames(), def.Config.Scenarios); diff != "" {
		t.Errorf("default scenarios (-want +got):\n%s", diff)
	}
	if def.Config.CC != CCReno || def.Config.lanMbit() != 100 || def.Config.serverNice() != DefaultServerNice {
		t.Errorf("defaults: congestion control %q, LAN %g Mbit/s, server nice %d; want reno, 100 and %d",
			def.Config.CC, def.Config.lanMbit(), def.Config.serverNice(), DefaultServerNice)
	}
	if n := (Config{}).serverNice(); n != DefaultServerNice {
		t.Errorf("a config without server_nice gives servers nice %d, want %d", n, DefaultServerNice)
	}
	for _, bad := range [][]string{{"-scenarios", "nope"}, {"-cc", "cubic"}, {"-lan-mbit", "-5"}, {"-relay-lan-mbit", "-1"},
		{"-agent-swarm", "upstream_stream: 2"}, {"-agent-swarm", "upstream_streams: -1"}, {"-agent-log-level", "loud"},
		{"-server-nice", "-21"}, {"-server-nice", "20"}} {
		if _, err := ParseFlags(bad, io.Discard); err == nil {
			t.Errorf("ParseFlags accepted %q", bad)
		}
	}
}

// TestAgentYAMLSwarm: -agent-swarm lands under "swarm:" in the P2P
// agents' config, and relay-only agents keep the swarm disabled.
func TestAgentYAMLSwarm(t *testing.T) {
	p2p, relay := shoalMode{scenario: "shoal-p2p", p2p: true}, shoalMode{scenario: "shoal-relay", relay: true}
	for _, tt := range []struct {
		mode  shoalMode
		swarm string
		want  string
	}{
		{p2p, "", ""},
		{p2p, "upstream_streams: 2\nlease_max: 4\n", "swarm:\n  upstream_streams: 2\n  lease_max: 4\n"},
		{relay, "upstream_streams: 2", "swarm:\n  disabled: true\n"},
	} {
		got := agentYAML(tt.mode, tt.swarm)
		if got != tt.want {
			t.Errorf("agentYAML(%s, %q) = %q, want %q", tt.mode.scenario, tt.swarm, got, tt.want)
		}
		var cfg struct {
			Swarm swarm.Config `yaml:"swarm"`
		}
		if err := yaml.Unmarshal([]byte(got), &cfg); err != nil {
			t.Errorf("agentYAML(%s, %q): %v", tt.mode.scenario, tt.swarm, err)
		}
	}
}

func TestParseFlagsLANAndCC(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantLAN float64 // Config.lanMbit(): 0 is unshaped
		// wantRelay is Config.relayLANMbit(): 0 is unshaped.
		wantRelay float64
		wantCC    string
	}{
		{name: "defaults", args: nil, wantLAN: 100, wantRelay: 1000, wantCC: "reno"},
		{name: "unshaped", args: []string{"-lan-mbit", "0", "-relay-lan-mbit", "0"}, wantLAN: 0, wantRelay: 0, wantCC: "reno"},
		{name: "gigabit-bbr", args: []string{"-lan-mbit", "1000", "-cc", "bbr"}, wantLAN: 1000, wantRelay: 1000, wantCC: "bbr"},
		{name: "relay-on-a-100-mbit-port", args: []string{"-relay-lan-mbit", "100"}, wantLAN: 100, wantRelay: 100, wantCC: "reno"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFlags(tt.args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			c := f.Config.withDefaults()
			if c.lanMbit() != tt.wantLAN || c.relayLANMbit() != tt.wantRelay || c.CC != tt.wantCC {
				t.Errorf("LAN %g Mbit/s, relay port %g Mbit/s, congestion control %q; want %g, %g and %q",
					c.lanMbit(), c.relayLANMbit(), c.CC, tt.wantLAN, tt.wantRelay, tt.wantCC)
			}
		})
	}
}

func TestEvaluate(t *testing.T) {
	p := Params{SizeBytes: 64 << 20, UplinkMbit: 20, FloorSeconds: 26.8}
	five := 5.0
	good := Result{Scenario: "shoal-p2p", Status: StatusOK, Agents: 20, Branches: 1, Succeeded: 20, WANPerS: 1.05, WANPayloadPerS: 1.015,
		Completion: Dist{N: 20, P95: 80}, FirstFragment: Dist{N: 20, P95: 5}, LastDoneAfterWAN: &five}
	oneFailed := good
	oneFailed.Succeeded = 19
	failed := good
	failed.Status, failed.Reason = StatusFailed, "20 of 20 deployments final after 3m0s"
	tests := []struct {
		name string
		r    Result
		want []bool // the first goal is "every agent succeeds"
	}{
		{name: "ocs-baseline", r: Result{Scenario: "ocs-direct", Status: StatusOK, Agents: 4, Branches: 1, Succeeded: 4, WANPerS: 4.15}, want: []bool{true, true}},
		{name: "ocs-baseline-off", r: Result{Scenario: "ocs-direct", Status: StatusOK, Agents: 4, Branches: 1, Succeeded: 4, WANPerS: 2}, want: []bool{true, false}},
		{name: "ocs-relay", r: Result{Scenario: "ocs-relay", Status: StatusOK, Agents: 4, Branches: 2, Succeeded: 8, WANPerS: 1.036, WANPayloadPerS: 1.0}, want: []bool{true, true}},
		{name: "ocs-relay-two-copies", r: Result{Scenario: "ocs-relay", Status: StatusOK, Agents: 4, Branches: 1, Succeeded: 4, WANPerS: 2.07, WANPayloadPerS: 2.0}, want: []bool{true, false}},
		{name: "shoal-good", r: good, want: []bool{true, true, true, true, true}},
		{name: "shoal-one-agent-failed", r: oneFailed, want: []bool{false, true, true, true, true}},
		{name: "shoal-failed-scenario", r: failed, want: []bool{false, false, false, false, false}},
		{name: "shoal-slow", r: Result{Scenario: "shoal-both", Status: StatusOK, Agents: 20, Branches: 1, Succeeded: 20, WANPerS: 3, WANPayloadPerS: 2.9,
			Completion: Dist{N: 20, P95: 400}, FirstFragment: Dist{N: 20, P95: 90}},
			want: []bool{true, false, false, false, false}},
		{name: "shoal-baseline", r: Result{Scenario: "shoal-direct", Status: StatusOK, Agents: 4, Branches: 2, Succeeded: 8, WANPerS: 4.1,
			FirstFragment: Dist{N: 8, P95: 2}}, want: []bool{true, true, true}},
		{name: "skipped", r: Result{Scenario: "shoal-p2p", Status: StatusSkipped}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			evaluate(&r, p)
			var got []bool
			for _, g := range r.Goals {
				got = append(got, g.Pass)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("goal results (-want +got):\n%s\n%+v", diff, r.Goals)
			}
		})
	}
}

func sampleReport() *Report {
	return &Report{
		Params: Params{SizeBytes: 64 << 20, Branches: 2, UplinkMbit: 20, DelayMs: 30, FloorSeconds: 26.8, LANMbit: 100, RelayLANMbit: 1000, CC: "reno"},
		Scenarios: []*Result{
			{Scenario: "ocs-direct", Status: StatusOK, Agents: 4, Branches: 2, Succeeded: 8, WANPerS: 4.1,
				Completions: []float64{150, 160, 170, 171, 180, 182, 190, 200}, Completion: Dist{N: 8, P50: 171, P95: 200, Max: 200},
				WAN: []BranchWAN{{Branch: 1, DownBytes: 4 << 26}, {Branch: 2, DownBytes: 4 << 26}}},
			{Scenario: "shoal-p2p", Status: StatusSkipped, Reason: "needs P2P (issue 7)"},
		},
	}
}

func TestCDFIsWellFormedSVG(t *testing.T) {
	var b bytes.Buffer
	sampleReport().CDF(&b)
	dec := xml.NewDecoder(&b)
	lines := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("chart is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			lines++
		}
	}
	if lines != 1 {
		t.Errorf("chart has %d CDF lines, want 1 (skipped scenarios have none)", lines)
	}
}

func TestMarkdown(t *testing.T) {
	var b bytes.Buffer
	sampleReport().Markdown(&b)
	for _, want := range []string{"| ocs-direct | ok | 4 × 2 | 8 / 0 | 4.10 |", "| shoal-p2p | skipped: needs P2P (issue 7) |", "floor S·8/U = 26.8 s",
		"LAN 100 Mbit/s, relay LAN port 1000 Mbit/s, TCP congestion control reno"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, b.String())
		}
	}
}

func TestNiceStep(t *testing.T) {
	tests := []struct {
		name string
		span float64
		n    int
		want float64
	}{
		{name: "seconds", span: 210, n: 8, want: 50},
		{name: "small", span: 1.3, n: 8, want: 0.2},
		{name: "exact", span: 100, n: 10, want: 10},
		{name: "zero", span: 0, n: 8, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := niceStep(tt.span, tt.n); got != tt.want {
				t.Errorf("niceStep(%v, %d) = %v, want %v", tt.span, tt.n, got, tt.want)
			}
		})
	}
}

func TestLogged(t *testing.T) {
	log := strings.Join([]string{
		`time=2026-11-26T19:10:49.356Z level=INFO msg="agent running" server=https://10.99.0.1:8443 computer=3`,
		`time=2026-11-26T19:10:50.1Z level=INFO msg=fetching package=111 missing=8 total=8 streams=4`,
		`time=2026-11-26T19:10:51.2Z level=INFO msg=fetching package=222 missing=8 total=8 streams=4`,
		`time=2026-11-26T19:10:52.5Z level=INFO msg="first fragment stored" package=1111 fragment=0`,
		`time=2026-11-26T19:10:53.5Z level=INFO msg="first fragment stored" component=swarm package=111 fragment=3`,
	}, "\n")
	tests := []struct {
		name  string
		msg   string
		attrs []string
		want  time.Time
	}{
		{name: "quoted-message", msg: "agent running", want: time.Date(2026, 11, 26, 19, 10, 49, 356e6, time.UTC)},
		{name: "attribute", msg: "fetching", attrs: []string{"package=222"}, want: time.Date(2026, 11, 26, 19, 10, 51, 2e8, time.UTC)},
		{name: "absent", msg: "fetching", attrs: []string{"package=333"}},
		{name: "prefix-is-not-a-match", msg: "agent", want: time.Time{}},
		{name: "attribute-prefix-is-not-a-match", msg: "first fragment stored", attrs: []string{"package=11"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := logged([]byte(log), tt.msg, tt.attrs...); !got.Equal(tt.want) {
				t.Errorf("logged = %v, want %v", got, tt.want)
			}
		})
	}
	// First fragment is the first one stored, not the "fetching" line.
	if got, want := firstStored([]byte(log), "111"), time.Date(2026, 11, 26, 19, 10, 53, 5e8, time.UTC); !got.Equal(want) {
		t.Errorf("firstStored(111) = %v, want %v", got, want)
	}
	if got := firstStored([]byte(log), "222"); !got.IsZero() {
		t.Errorf("firstStored(222) = %v, want none: that agent only started to fetch", got)
	}
}

func TestParseMetrics(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]float64
	}{
		{name: "plain", in: "# HELP x y\n# TYPE x counter\nshoal_relay_upstream_bytes_total 8388608\nshoal_relay_hits_total 3\n",
			want: map[string]float64{"shoal_relay_upstream_bytes_total": 8388608, "shoal_relay_hits_total": 3}},
		{name: "labels-summed", in: "bytes{package=\"1\"} 10\nbytes{package=\"2\"} 5\n", want: map[string]float64{"bytes": 15}},
		{name: "garbage-skipped", in: "no-value\nx notanumber\n\ny 1e3\n", want: map[string]float64{"y": 1000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, parseMetrics([]byte(tt.in))); diff != "" {
				t.Errorf("parseMetrics (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckSites(t *testing.T) {
	one, two, other := uint(1), uint(2), uint(9)
	sites := []labSite{{ID: one, Name: "s-b1"}, {ID: two, Name: "s-b2"}}
	tests := []struct {
		name    string
		comps   []api.Computer
		wantErr bool
	}{
		{name: "all-in-sites", comps: []api.Computer{{Name: "a", SiteID: &one}, {Name: "b", SiteID: &two}}},
		{name: "no-site", comps: []api.Computer{{Name: "a", SiteID: &one}, {Name: "b"}}, wantErr: true},
		{name: "other-site", comps: []api.Computer{{Name: "a", SiteID: &other}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := checkSites(tt.comps, sites); (err != nil) != tt.wantErr {
				t.Errorf("checkSites: error %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestVerdict(t *testing.T) {
	pass := Goal{Name: "p95 completion", Pass: true}
	fail := Goal{Name: "p95 completion"}
	tests := []struct {
		name    string
		results []*Result
		wantErr bool
	}{
		{name: "all-pass", results: []*Result{{Scenario: "shoal-p2p", Status: StatusOK, Goals: []Goal{pass}}}},
		{name: "skipped-only", results: []*Result{{Scenario: "shoal-p2p", Status: StatusSkipped}}},
		{name: "goal-failed", results: []*Result{{Scenario: "shoal-p2p", Status: StatusOK, Goals: []Goal{pass, fail}}}, wantErr: true},
		{name: "scenario-failed", results: []*Result{{Scenario: "shoal-p2p", Status: StatusFailed}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := (&Report{Scenarios: tt.results}).Verdict()
			if (err != nil) != tt.wantErr {
				t.Errorf("Verdict() = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestCompletionTimesCountFailuresAsTimeout(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)
	at := func(sec int) *time.Time { v := t0.Add(time.Duration(sec) * time.Second); return &v }
	deps := []api.Deployment{
		{State: "success", FinishedAt: at(30)},
		{State: "success", FinishedAt: at(40)},
		{State: "error", FinishedAt: at(5)}, // failed fast: not a 5 s completion
		{State: "downloading"},              // timed out
	}
	got := completionTimes(deps, t0, 180*time.Second)
	if diff := cmp.Diff([]float64{30, 40, 180, 180}, got); diff != "" {
		t.Errorf("completion times (-want +got):\n%s", diff)
	}
	if d := distOf(got); d.N != 4 || d.P95 != 180 || d.P50 != 40 {
		t.Errorf("distribution %+v, want N 4, p50 40, p95 180", d)
	}
	ff := firstFragmentTimes([]time.Time{*at(2), {}}, t0, 180*time.Second)
	if diff := cmp.Diff([]float64{2, 180}, ff); diff != "" {
		t.Errorf("first-fragment times (-want +got):\n%s", diff)
	}
}

func TestCheckUplink(t *testing.T) {
	tests := []struct {
		name     string
		measured float64
		wantErr  bool
	}{
		{name: "perfect-shaper", measured: 20 * WireShare},
		{name: "a-little-low", measured: 18},
		{name: "just-inside", measured: 20 * WireShare * 0.91},
		{name: "half-rate", measured: 10, wantErr: true},
		{name: "lossy-single-stream", measured: 6.7, wantErr: true},
		{name: "unshaped", measured: 900, wantErr: true},
		{name: "too-fast", measured: 20 * WireShare * 1.11, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := checkUplink(tt.measured, 20); (err != nil) != tt.wantErr {
				t.Errorf("checkUplink(%g, 20) = %v, want error %v", tt.measured, err, tt.wantErr)
			}
		})
	}
}

func TestBranchPayload(t *testing.T) {
	branches := []*Branch{
		{Index: 1, Agents: []Host{{Name: "b1a01"}, {Name: "b1a02"}}},
		{Index: 2, Agents: []Host{{Name: "b2a01"}, {Name: "b2a02"}}},
	}
	deps := []api.Deployment{
		{ComputerName: "slab9-sb-b1a01", BytesCentral: 100, BytesRelay: 5000, BytesPeer: 7000},
		{ComputerName: "slab9-sb-b1a02", BytesCentral: 20},
		{ComputerName: "slab9-sb-b2a01", BytesCentral: 3},
		{ComputerName: "or-b2a02"}, // an OCS agent counts nothing
		{ComputerName: "elsewhere", BytesCentral: 1 << 30},
	}
	got := branchPayload(branches, deps, map[int]int64{1: 1000, 2: 64})
	if diff := cmp.Diff([]int64{1120, 67}, got); diff != "" {
		t.Errorf("payload by branch (-want +got):\n%s", diff)
	}
}

func TestPayloadPerS(t *testing.T) {
	tests := []struct {
		name        string
		wan         []BranchWAN
		centralPerS float64
		want        float64
	}{
		{name: "receivers-larger", wan: []BranchWAN{{PayloadPerS: 1.01}, {PayloadPerS: 1.2}}, centralPerS: 1.1, want: 1.2},
		// OCS agents report nothing: central's counter decides.
		{name: "receivers-silent", wan: []BranchWAN{{PayloadPerS: 0}}, centralPerS: 4.0, want: 4.0},
		{name: "nothing", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := payloadPerS(tt.wan, tt.centralPerS); got != tt.want {
				t.Errorf("payloadPerS = %g, want %g", got, tt.want)
			}
		})
	}
}

// TestUplinkLine: the summary states the least utilised branch's uplink
// utilisation and, for relay-only scenarios, the relay's LAN floor.
func TestUplinkLine(t *testing.T) {
	tests := []struct {
		name      string
		relayMbit float64
		r         Result
		want      string
	}{
		{name: "relay-100-mbit-port", relayMbit: 100, r: Result{Scenario: "shoal-relay", LANFloorSeconds: 48.3, Completion: Dist{P95: 58},
			CompletionRatio: Dist{P95: 2.3}, WAN: []BranchWAN{
				{Branch: 1, PayloadBytes: 48 << 20, BusySeconds: 30, Utilisation: 0.84},
				{Branch: 2, PayloadBytes: 48 << 20, BusySeconds: 33.25, Utilisation: 0.76}}},
			want: "uplink utilisation 76.0 % (payload 48 MiB in 33.2 s busy at 16 Mbit/s), p95 2.30 × WAN floor (25.2 s), relay LAN floor 48.3 s (N·S through the relay's 100 Mbit/s port), p95 1.20 × bound (48.3 s)"},
		{name: "relay-gigabit-port", relayMbit: 1000, r: Result{Scenario: "shoal-relay", LANFloorSeconds: 4.8, Completion: Dist{P95: 29},
			CompletionRatio: Dist{P95: 29 / 25.2}, WAN: []BranchWAN{{Branch: 1, PayloadBytes: 48 << 20, BusySeconds: 26.5, Utilisation: 0.949}}},
			want: "uplink utilisation 94.9 % (payload 48 MiB in 26.5 s busy at 16 Mbit/s), p95 1.15 × WAN floor (25.2 s), relay LAN floor 4.8 s (N·S through the relay's 1000 Mbit/s port), p95 1.15 × bound (25.2 s)"},
		{name: "p2p", relayMbit: 1000, r: Result{Scenario: "shoal-p2p", CompletionRatio: Dist{P95: 1.6},
			WAN: []BranchWAN{{Branch: 1, PayloadBytes: 48 << 20, BusySeconds: 29, Utilisation: 0.87}}},
			want: "uplink utilisation 87.0 % (payload 48 MiB in 29.0 s busy at 16 Mbit/s), p95 1.60 × WAN floor (25.2 s)"},
		{name: "no-busy-sample", r: Result{Scenario: "shoal-p2p", WAN: []BranchWAN{{Branch: 1}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Params{UplinkMbit: 16, FloorSeconds: 25.2, LANMbit: 100, RelayLANMbit: tt.relayMbit}
			if got := uplinkLine(&tt.r, p); got != tt.want {
				t.Errorf("uplinkLine:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestTargets(t *testing.T) {
	p := Params{SizeBytes: 48 << 20, UplinkMbit: 16, FloorSeconds: 25.2}
	four, nine := 4.0, 9.0
	good := Result{Scenario: "shoal-p2p", Status: StatusOK, Agents: 12, Branches: 1, Succeeded: 12, WANPerS: 1.06, WANPayloadPerS: 1.0,
		Completion: Dist{N: 12, P95: 29}, CompletionRatio: Dist{N: 12, P95: 29 / 25.2}, FirstFragment: Dist{N: 12, P95: 3},
		LastDoneAfterWAN: &four, WAN: []BranchWAN{{Branch: 1, BusySeconds: 28, Utilisation: 0.91}}}
	slowTail := good
	slowTail.Completion.P95, slowTail.CompletionRatio.P95, slowTail.LastDoneAfterWAN = 34, 34/25.2, &nine
	twoBranches := good
	twoBranches.WAN = []BranchWAN{{Branch: 1, BusySeconds: 28, Utilisation: 0.93}, {Branch: 2, BusySeconds: 30, Utilisation: 0.85}}
	failed := good
	failed.Status = StatusFailed
	// A relay-only branch: its bound is the larger of the WAN floor and
	// the relay's LAN floor N·S·8 ÷ its port rate.
	relayGigabit := good
	relayGigabit.Scenario, relayGigabit.LANFloorSeconds = "shoal-relay", 4.8
	relayPort100 := good
	relayPort100.Scenario, relayPort100.LANFloorSeconds = "shoal-relay", 48.3
	relayPort100.Completion.P95, relayPort100.CompletionRatio.P95 = 56.4, 56.4/25.2
	relayPort100Late := relayPort100
	relayPort100Late.Completion.P95 = 58.5
	tests := []struct {
		name string
		r    Result
		want []bool // p95 ÷ bound, tail, utilisation
	}{
		{name: "relay-gigabit-port-bound-is-the-wan-floor", r: relayGigabit, want: []bool{true, true, true}},
		{name: "relay-100-mbit-port-bound-is-its-lan-floor", r: relayPort100, want: []bool{true, true, true}},
		{name: "relay-100-mbit-port-late", r: relayPort100Late, want: []bool{false, true, true}},
		{name: "met", r: good, want: []bool{true, true, true}},
		{name: "late", r: slowTail, want: []bool{false, false, true}},
		{name: "least-used-branch", r: twoBranches, want: []bool{true, true, false}},
		{name: "failed-scenario", r: failed, want: []bool{false, false, false}},
		{name: "baseline-has-none", r: Result{Scenario: "shoal-direct", Status: StatusOK, Agents: 4, Branches: 1, Succeeded: 4, WANPerS: 4.1,
			FirstFragment: Dist{N: 4, P95: 2}}, want: nil},
		{name: "ocs-relay-has-none", r: Result{Scenario: "ocs-relay", Status: StatusOK, Agents: 4, Branches: 1, Succeeded: 4, WANPerS: 1.04, WANPayloadPerS: 1.0}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			evaluate(&r, p)
			var got []bool
			for _, g := range r.Targets {
				got = append(got, g.Pass)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("target results (-want +got):\n%s\n%+v", diff, r.Targets)
			}
			rep := &Report{Params: p, Scenarios: []*Result{&r}}
			if len(tt.want) > 0 && rep.Verdict() != nil && r.Status == StatusOK {
				t.Errorf("Verdict = %v; the targets must not change the exit status", rep.Verdict())
			}
		})
	}
}

// TestSetRelayCounters: what central sent beyond what the relays and the
// agents read is reported with the relays' cut responses.
func TestSetRelayCounters(t *testing.T) {
	const s = 48 << 20
	tests := []struct {
		name          string
		served        int64
		t             relayTotals
		agentsCentral int64
		want          int64
	}{
		{name: "relay-cut-responses", served: s + 1<<20, t: relayTotals{upstream: s, served: 12 * s, cuts: 9}, want: 1 << 20},
		{name: "agents-fetched-from-central-too", served: s + 3<<20, t: relayTotals{upstream: s - 2<<20, cuts: 1}, agentsCentral: 4 << 20, want: 1 << 20},
		{name: "never-negative", served: s, t: relayTotals{upstream: s + 10}, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Result{Scenario: "shoal-relay", Status: StatusOK, Branches: 1, PackageBytes: s, CentralServedBytes: tt.served, RelayMode: RelayEnrolled}
			setRelayCounters(&r, tt.t, tt.agentsCentral)
			if r.CentralUnreadBytes != tt.want || r.RelayCutResponses != tt.t.cuts || r.RelayUpstreamBytes != tt.t.upstream {
				t.Errorf("unread %d, cuts %d, upstream %d; want %d, %d, %d", r.CentralUnreadBytes, r.RelayCutResponses, r.RelayUpstreamBytes,
					tt.want, tt.t.cuts, tt.t.upstream)
			}
			var b bytes.Buffer
			(&Report{Scenarios: []*Result{&r}}).Summary(&b)
			if want := fmt.Sprintf("%d upstream responses cut by endgame splits", tt.t.cuts); !strings.Contains(b.String(), want) {
				t.Errorf("summary lacks %q:\n%s", want, b.String())
			}
		})
	}
}

// TestProbeUplinkMedian checks that one reading thrown off by a hiccup is
// probed again and the check decides on the median, while an uplink that
// really is off still fails and a probe error stops it.
func TestProbeUplinkMedian(t *testing.T) {
	want := 20 * WireShare
	for _, tt := range []struct {
		name     string
		readings []float64
		probes   int
		rate     float64
		wantErr  bool
	}{
		{name: "first in tolerance", readings: []float64{want}, probes: 1, rate: want},
		{name: "one hiccup", readings: []float64{want * 1.13, want, want * 0.98}, probes: 3, rate: want},
		{name: "really off", readings: []float64{want * 0.5, want * 0.6, want}, probes: 3, rate: want * 0.6, wantErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := 0
			rate, err := probeUplink(func() (float64, error) {
				r := tt.readings[n]
				n++
				return r, nil
			}, 20)
			if (err != nil) != tt.wantErr || n != tt.probes || rate != tt.rate {
				t.Errorf("probeUplink(%v) = %.2f, %v after %d probes; want %.2f, error %v after %d", tt.readings, rate, err, n, tt.rate, tt.wantErr, tt.probes)
			}
		})
	}
	boom := errors.New("dial refused")
	if _, err := probeUplink(func() (float64, error) { return 0, boom }, 20); !errors.Is(err, boom) {
		t.Errorf("probe error: got %v, want %v", err, boom)
	}
}

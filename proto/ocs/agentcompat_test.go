package ocs

import (
	"bytes"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

// unixAgentScript reads a reply the way the Unix agent 2.10 does: zlib
// uncompress (Ocsinventory::Compress), then XML::Simple::XMLin with the
// ForceArray options of Response/Prolog.pm, Modules/Download.pm and
// Response/Inventory.pm, and the same tests on the parsed values. It prints
// what the agent would act on.
const unixAgentScript = `
use strict; use warnings;
use XML::Simple; use Compress::Zlib;
binmode STDOUT, ':utf8';
my $mode = shift @ARGV;
local $/; my $raw = <STDIN>;
sub show { my ($h) = @_; join ' ', map { my $v = ref($h->{$_}) ? '' : $h->{$_}; $v =~ s/\n/\\n/g; "$_=$v" } sort keys %$h }
if ($mode eq 'info') {
	print show(XMLin($raw)), "\n";
	exit 0;
}
my $xml = Compress::Zlib::uncompress($raw);
defined $xml or die "Deflating problem\n";
if ($mode eq 'prolog') {
	my $p = XMLin($xml, ForceArray => ['OPTION', 'PARAM']);
	print 'SEND=', ($p->{RESPONSE} =~ /^SEND$/ ? 1 : 0), "\n";
	print "PROLOG_FREQ=$p->{PROLOG_FREQ}\n";
	for my $o (@{ $p->{OPTION} || [] }) {
		next unless $o->{NAME} =~ /download/i;
		for (@{ $o->{PARAM} }) {
			print "$_->{TYPE} ", show($_), "\n" if $_->{TYPE} eq 'CONF' || $_->{TYPE} eq 'PACK';
		}
	}
} elsif ($mode eq 'inventory') {
	my $p = XMLin($xml, ForceArray => ['ACCOUNTINFO']);
	print 'ACCOUNT_UPDATE=', ($p->{RESPONSE} =~ /^ACCOUNT_UPDATE$/ ? 1 : 0), "\n";
	print show($_), "\n" for @{ $p->{ACCOUNTINFO} || [] };
}
`

// runUnixAgentParser feeds body to unixAgentScript, skipping the test when
// Perl with XML::Simple and Compress::Zlib (the Unix agent's dependencies)
// is not installed.
func runUnixAgentParser(t *testing.T, mode string, body []byte) string {
	t.Helper()
	perl, err := exec.LookPath("perl")
	if err != nil {
		t.Skip("perl not installed")
	}
	if err := exec.Command(perl, "-MXML::Simple", "-MCompress::Zlib", "-e", "1").Run(); err != nil {
		t.Skip("perl lacks XML::Simple or Compress::Zlib")
	}
	cmd := exec.Command(perl, "-e", unixAgentScript, mode)
	cmd.Stdin = bytes.NewReader(body)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("Unix agent parser failed: %v\n%s", err, stderr.String())
	}
	return string(out)
}

// attrLine renders attributes like the script's show().
func attrLine(kv map[string]string) string {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strings.ReplaceAll(kv[k], "\n", `\n`)
	}
	return strings.Join(parts, " ")
}

func TestUnixAgentReadsPrologReply(t *testing.T) {
	for _, tt := range prologReplies {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := tt.reply.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			body, err := Encode(Zlib, doc)
			if err != nil {
				t.Fatal(err)
			}
			got := runUnixAgentParser(t, "prolog", body)

			r := tt.reply
			want := fmt.Sprintf("SEND=%d\nPROLOG_FREQ=%d\n", map[bool]int{true: 1}[r.Response == ResponseSend], r.PrologFreq)
			if dl := r.Download; dl != nil {
				c := dl.Conf
				want += "CONF " + attrLine(map[string]string{
					"TYPE": "CONF", "ON": boolString(c.On), "CYCLE_LATENCY": fmt.Sprint(c.CycleLatency),
					"FRAG_LATENCY": fmt.Sprint(c.FragLatency), "PERIOD_LATENCY": fmt.Sprint(c.PeriodLatency),
					"PERIOD_LENGTH": fmt.Sprint(c.PeriodLength), "TIMEOUT": fmt.Sprint(c.Timeout),
					"EXECUTION_TIMEOUT": fmt.Sprint(c.ExecutionTimeout),
				}) + "\n"
				for _, p := range dl.Packs {
					if !c.On {
						break
					}
					want += "PACK " + attrLine(map[string]string{
						"TYPE": "PACK", "ID": p.ID, "INFO_LOC": p.InfoLoc, "PACK_LOC": p.PackLoc,
						"CERT_PATH": orDefault(p.CertPath, DefaultCertPath), "CERT_FILE": orDefault(p.CertFile, DefaultCertFile),
						"SCHEDULE": p.Schedule, "POSTCMD": p.PostCmd, "FORCE": boolString(p.Force),
					}) + "\n"
				}
			}
			if got != want {
				t.Errorf("the Unix agent reads:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestUnixAgentReadsInventoryReply(t *testing.T) {
	for _, tt := range inventoryReplies {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := tt.reply.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			body, err := Encode(Zlib, doc)
			if err != nil {
				t.Fatal(err)
			}
			got := runUnixAgentParser(t, "inventory", body)
			want := fmt.Sprintf("ACCOUNT_UPDATE=%d\n", map[bool]int{true: 1}[tt.reply.AccountUpdate])
			if tt.reply.AccountUpdate {
				for _, a := range tt.reply.AccountInfo {
					want += attrLine(map[string]string{"KEYNAME": a.KeyName, "KEYVALUE": a.KeyValue}) + "\n"
				}
			}
			if got != want {
				t.Errorf("the Unix agent reads:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestUnixAgentReadsInfo(t *testing.T) {
	for _, tt := range infos {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := tt.info.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			got := runUnixAgentParser(t, "info", doc)
			i := tt.info
			kv := map[string]string{
				"ID": i.ID, "PRI": fmt.Sprint(i.Pri), "ACT": i.Act, "DIGEST": i.Digest,
				"PROTO": orDefault(i.Proto, "HTTP"), "FRAGS": fmt.Sprint(i.Frags),
				"DIGEST_ALGO": orDefault(i.DigestAlgo, "MD5"), "DIGEST_ENCODE": orDefault(i.DigestEncode, "Hexa"),
				"NOTIFY_USER": boolString(i.NotifyUser), "NOTIFY_TEXT": i.NotifyText, "NOTIFY_COUNTDOWN": i.NotifyCountdown,
				"NOTIFY_CAN_ABORT": boolString(i.NotifyCanAbort), "NOTIFY_CAN_DELAY": boolString(i.NotifyCanDelay),
				"NEED_DONE_ACTION": boolString(i.NeedDoneAction), "NEED_DONE_ACTION_TEXT": i.NeedDoneActionText,
				"GARDEFOU": "rien",
			}
			switch i.Act {
			case ActStore:
				kv["PATH"] = i.Path
			case ActLaunch:
				kv["NAME"] = i.Name
			case ActExecute:
				kv["COMMAND"] = i.Command
			}
			if want := attrLine(kv) + "\n"; got != want {
				t.Errorf("the Unix agent reads:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

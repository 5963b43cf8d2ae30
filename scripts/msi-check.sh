#!/usr/bin/env bash
# Inspects a built shoal-agent MSI with msiinfo (Debian msitools): the
# tables it must have, the SERVER, CA_FINGERPRINT and TOKEN properties, the
# ShoalAgent service entry, the enrollment, firewall and uninstall cleanup
# custom actions. make test runs
# it after make dist. Usage: scripts/msi-check.sh dist/out/shoal-agent-amd64.msi
set -euo pipefail
msi=${1:?usage: msi-check.sh file.msi}
fail() { echo "msi-check: $msi: $*" >&2; exit 1; }
tables=$(msiinfo tables "$msi")
for t in Property File Component ServiceInstall ServiceControl CustomAction InstallExecuteSequence Media; do
  grep -qx "$t" <<<"$tables" || fail "no $t table (tables: $(tr '\n' ' ' <<<"$tables"))"
done
props=$(msiinfo export "$msi" Property)
for p in SERVER CA_FINGERPRINT TOKEN; do
  grep -q "^$p"$'\t' <<<"$props" || grep -q "SecureCustomProperties.*$p" <<<"$props" || fail "property $p is not declared"
done
grep -q "SecureCustomProperties.*TOKEN" <<<"$props" || fail "TOKEN is not a secure property (it would not reach the server-side install)"
svc=$(msiinfo export "$msi" ServiceInstall)
grep -q $'ShoalAgent\tShoal agent' <<<"$svc" || fail "no ShoalAgent service entry: $svc"
grep -qP '\t2\t' <<<"$(tail -n +4 <<<"$svc")" || fail "ShoalAgent does not start automatically (StartType 2): $svc"
grep -qP '\tservice -state-dir "\[CommonAppDataFolder\]Shoal"\t' <<<"$(tail -n +4 <<<"$svc")" || fail "ShoalAgent's command line lacks the service argument: $svc"
ctl=$(msiinfo export "$msi" ServiceControl)
grep -q "ShoalAgent" <<<"$ctl" || fail "no ServiceControl for ShoalAgent"
ca=$(msiinfo export "$msi" CustomAction)
grep -q 'enroll -server "\[SERVER\]" -ca-fingerprint "\[CA_FINGERPRINT\]" -token "\[TOKEN\]" -state-dir "\[CommonAppDataFolder\]Shoal" -force' <<<"$ca" || fail "no enrollment custom action: $ca"
seq=$(msiinfo export "$msi" InstallExecuteSequence)
n=$(awk -F'\t' '$1=="Enroll" && $2=="TOKEN AND NOT Installed" {print $3}' <<<"$seq" | tr -d '\r')
# Deferred, after the file is installed (InstallFiles 4000) and before the service starts (5900).
[ -n "$n" ] && [ "$n" -gt 4000 ] && [ "$n" -lt 5900 ] || fail "Enroll is not scheduled between InstallFiles and StartServices: '$n'"
seqof() { awk -F'\t' -v a="$1" -v c="$2" '$1==a && $2==c {print $3}' <<<"$seq" | tr -d '\r'; }
grep -qP '^FirewallAdd\t.*\tfirewall add' <<<"$ca" || fail "no FirewallAdd custom action: $ca"
n=$(seqof FirewallAdd "NOT Installed")
[ -n "$n" ] && [ "$n" -gt 4000 ] && [ "$n" -lt 5900 ] || fail "FirewallAdd is not scheduled between InstallFiles and StartServices: '$n'"
grep -qP '^Cleanup\t.*\tuninstall -purge -state-dir "\[CommonAppDataFolder\]Shoal"' <<<"$ca" || fail "no Cleanup custom action: $ca"
n=$(seqof Cleanup 'REMOVE="ALL" AND NOT UPGRADINGPRODUCTCODE')
# At uninstall, after DeleteServices (2000) and before RemoveFiles (3500) takes the binary away.
[ -n "$n" ] && [ "$n" -gt 2000 ] && [ "$n" -lt 3500 ] || fail "Cleanup is not scheduled between DeleteServices and RemoveFiles: '$n'"
files=$(msiinfo export "$msi" File)
grep -q 'shoal-agent.exe' <<<"$files" || fail "shoal-agent.exe is not in the File table"
echo "msi-check: $msi: tables, properties SERVER/CA_FINGERPRINT/TOKEN, ShoalAgent service, enrollment, firewall and uninstall cleanup actions present"

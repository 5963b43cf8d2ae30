#!/usr/bin/env bash
# Installs the Debian packages Shoal's tests need when they are missing.
# Safe to run again; does nothing when everything is present.
set -euo pipefail

need=()
command -v ocsinventory-agent >/dev/null 2>&1 || need+=(ocsinventory-agent)
# The OCS agent unpacks tar.gz packages with tar and zip ones with unzip.
command -v unzip >/dev/null 2>&1 || need+=(unzip)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# The web UI browser tests drive headless Chromium.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# go test -race needs cgo.
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
# The store tests also run against a throw-away PostgreSQL server.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
# The replicas integration test puts three centrals behind Debian's HAProxy.
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
# The LDAP login tests run a throw-away OpenLDAP slapd (central/auth/authtest);
# ldap-utils gives ldapsearch to look into it by hand.
command -v slapd >/dev/null 2>&1 || [ -x /usr/sbin/slapd ] || need+=(slapd)
command -v ldapsearch >/dev/null 2>&1 || need+=(ldap-utils)
# The Windows agent's unit and integration tests run as Windows binaries under wine
# (go test -exec wine64); Debian's wine64 is a 64-bit-only wine, no i386 multiarch needed.
[ -x /usr/lib/wine/wine64 ] || command -v wine64 >/dev/null 2>&1 || need+=(wine64)
# make dist builds the Windows MSI with wixl; make test inspects it with msiinfo.
command -v wixl >/dev/null 2>&1 || need+=(wixl)
command -v msiinfo >/dev/null 2>&1 || need+=(msitools)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=sudo
  else
    echo "test-deps: missing ${need[*]} and not root; install them with apt-get" >&2
    exit 1
  fi
else
  SUDO=
fi
echo "test-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null

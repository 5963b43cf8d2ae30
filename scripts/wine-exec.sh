#!/usr/bin/env bash
# Runs a Windows program (a test binary from `go test -exec`, or
# shoal-agent.exe) under Debian's wine64. Usage:
#   GOOS=windows go test -exec "$PWD/scripts/wine-exec.sh" ./agent/install
# On first use it creates the wine prefix (WINEPREFIX, default
# ~/.cache/shoal-wine; about 30 s) and adds bcryptprimitives.dll, which
# wine 8.0 lacks and every Go 1.22+ Windows binary needs (scripts/bcryptshim).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
wine=/usr/lib/wine/wine64
[ -x "$wine" ] || wine=$(command -v wine64 || true)
if [ -z "$wine" ]; then
  echo "wine-exec: wine64 is not installed (scripts/test-deps.sh installs it)" >&2
  exit 127
fi
export WINEPREFIX=${WINEPREFIX:-${XDG_CACHE_HOME:-$HOME/.cache}/shoal-wine}
export WINEDEBUG=${WINEDEBUG:--all} WINEDLLOVERRIDES=${WINEDLLOVERRIDES:-mscoree,mshtml=}
dll=$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll
if [ ! -f "$dll" ]; then
  mkdir -p "$(dirname "$WINEPREFIX")"
  (
    flock 9
    if [ ! -f "$dll" ]; then
      "$wine" wineboot --init >/dev/null 2>&1 || true
      (cd "$root" && env -u GOOS -u GOARCH CGO_ENABLED=0 "${GO:-go}" run ./scripts/bcryptshim -o "$dll.tmp") && mv "$dll.tmp" "$dll"
    fi
  ) 9>"$WINEPREFIX.lock"
fi
exec "$wine" "$@"

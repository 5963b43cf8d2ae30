#!/usr/bin/env bash
# Cross-compiles shoal-agent for Windows (amd64 and arm64, CGO off) and vets
# every package of this module that the agent links, test files included,
# as Windows code. make test runs it; no Windows machine is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
export CGO_ENABLED=0
for arch in ${WINDOWS_ARCHES:-amd64 arm64}; do
  export GOOS=windows GOARCH=$arch
  mapfile -t pkgs < <($GO list -deps ./cmd/agent | grep '^github.com/shoal-project/shoal/')
  $GO build -o /dev/null ./cmd/agent
  $GO vet "${pkgs[@]}"
  echo "cross-windows: windows/$arch: shoal-agent builds, ${#pkgs[@]} packages vetted"
done

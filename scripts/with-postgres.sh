#!/usr/bin/env bash
# Runs a command with a throw-away PostgreSQL server (unix socket only, no
# TCP) and SHOAL_TEST_POSTGRES_DSN pointing at it, so the store tests run on
# PostgreSQL as well as SQLite. Without a PostgreSQL server installed, or when
# not root, the command runs alone and those tests skip with a message.
set -euo pipefail

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bindir" ] || [ "$(id -u)" -ne 0 ] || ! id postgres >/dev/null 2>&1; then
  echo "with-postgres: no PostgreSQL server here (or not root); PostgreSQL tests will skip" >&2
  exec "$@"
fi

dir=$(mktemp -d /tmp/shoal-pg-XXXXXX)
chown postgres: "$dir"
cleanup() {
  runuser -u postgres -- "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM

runuser -u postgres -- "$bindir/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
runuser -u postgres -- "$bindir/pg_ctl" -D "$dir/data" -w -t 60 -l "$dir/log" \
  -o "-c listen_addresses='' -c unix_socket_directories='$dir' -c fsync=off -c max_connections=200" start >/dev/null
export SHOAL_TEST_POSTGRES_DSN="host=$dir user=postgres dbname=postgres sslmode=disable"
echo "with-postgres: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on $dir" >&2
"$@"

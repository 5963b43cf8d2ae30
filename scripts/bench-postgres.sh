#!/usr/bin/env bash
# Starts (or stops) a PostgreSQL server that keeps its data in DIR, with
# scripts/with-postgres.sh's settings (unix socket only, fsync off), for
# benchmarks whose fleet takes long to generate: BenchmarkSearchPostgres
# reuses the fleet of the database named by SHOAL_BENCH_PG_DSN.
#
#   scripts/bench-postgres.sh start /work/bench/pg   # prints the DSN
#   SHOAL_BENCH_PG_DSN="$(scripts/bench-postgres.sh dsn /work/bench/pg)" \
#     SHOAL_BENCH_COMPUTERS=100000 go test -run '^$' -bench BenchmarkSearchPostgres -benchtime 1x -timeout 120m ./central/store
#   scripts/bench-postgres.sh stop /work/bench/pg
#
# Needs root and a PostgreSQL server installed (as with-postgres.sh).
set -euo pipefail

usage() { echo "usage: $0 start|stop|dsn DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
dir=$(realpath -m "$2")
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
dsn="host=$dir user=postgres dbname=postgres sslmode=disable"

case "$cmd" in
start)
  if [ -z "$bindir" ] || [ "$(id -u)" -ne 0 ] || ! id postgres >/dev/null 2>&1; then
    echo "bench-postgres: no PostgreSQL server here (or not root)" >&2
    exit 1
  fi
  mkdir -p "$dir"
  chown postgres: "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    runuser -u postgres -- "$bindir/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
  fi
  if ! runuser -u postgres -- "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    runuser -u postgres -- "$bindir/pg_ctl" -D "$dir/data" -w -t 120 -l "$dir/log" \
      -o "-c listen_addresses='' -c unix_socket_directories='$dir' -c fsync=off -c max_connections=200" start >/dev/null
  fi
  echo "$dsn"
  ;;
stop)
  [ -n "$bindir" ] || { echo "bench-postgres: no PostgreSQL server here" >&2; exit 1; }
  runuser -u postgres -- "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
  ;;
dsn)
  echo "$dsn"
  ;;
*)
  usage
  ;;
esac

#!/usr/bin/env bash
# The shared-study store's benchmark on loopback (see examples/study_bench.rs): a throwaway
# PostgreSQL (Debian's; initdb and pg_ctl as user postgres when run as root) in a temporary
# directory, started, measured with 64 concurrent connections, and stopped even on failure.
#   bench/study_bench.sh [--workers N] [--trials N]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
dir=$(mktemp -d /tmp/digits-bench-pg.XXXXXX)
[ "$(id -u)" = 0 ] && chown postgres "$dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
trap 'as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
echo bench > "$dir/pw" && { [ "$(id -u)" = 0 ] && chown postgres "$dir/pw" || true; }
as_pg "$bin/initdb" -D "$dir/data" -U digits --auth=scram-sha-256 --pwfile="$dir/pw" -E UTF8 >/dev/null
as_pg "$bin/pg_ctl" -D "$dir/data" -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=100" \
    -l "$dir/log" -w start >/dev/null
cargo run --release --quiet --example study_bench -- "postgres://digits:bench@127.0.0.1:$port/postgres" "$@"

#!/usr/bin/env bash
# The decision writer's ceiling without HTTP: closed-loop clients submit one decision at a time
# to the real group-commit writer and store (serve/examples/writer_load.rs), on SQLite and on
# PostgreSQL, each on a fresh database set up by `riskloop demo --no-serve`.
#
#   bash bench/writer.sh [SECONDS] [CLIENTS...]     (default: 6 s; 64 and 256 clients)
#
# PostgreSQL: RISKLOOP_BENCH_POSTGRES_URL (default the local server; database riskloop_bench_writer).
# RISKLOOP_BENCH_BIN_DIR: a folder holding `riskloop` and `writer_load` built earlier (to compare
# two builds in one sitting); unset, both are built here.
set -euo pipefail
SECONDS_PER_RUN=${1:-6}
shift || true
if [ $# -gt 0 ]; then CLIENTS=("$@"); else CLIENTS=(64 256); fi
cd "$(dirname "$0")/.."
ROOT=$PWD
PG_ADMIN=${RISKLOOP_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
export PGOPTIONS='-c client_min_messages=warning'

if [ -n "${RISKLOOP_BENCH_BIN_DIR:-}" ]; then
  BIN=$RISKLOOP_BENCH_BIN_DIR/riskloop
  LOAD=$RISKLOOP_BENCH_BIN_DIR/writer_load
else
  cargo build --release -p riskloop-serve --bin riskloop --example writer_load
  BIN=$ROOT/target/release/riskloop
  LOAD=$ROOT/target/release/examples/writer_load
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
source "$ROOT/bench/lib.sh"
score_body "$WORK/score.json"

echo "| engine | clients | decisions/s | mean batch | mean commit µs |"
echo "| --- | --- | --- | --- | --- |"
for clients in "${CLIENTS[@]}"; do
  dir=$WORK/sqlite-$clients
  mkdir -p "$dir"
  demo_key "$BIN" "$dir" > /dev/null
  "$LOAD" "sqlite://$dir/riskloop-data/riskloop.db" "$clients" "$SECONDS_PER_RUN" "$WORK/score.json"
done
if psql "$PG_ADMIN" -qc 'SELECT 1' >/dev/null 2>&1; then
  PG_URL=${PG_ADMIN%/*}/riskloop_bench_writer
  for clients in "${CLIENTS[@]}"; do
    psql "$PG_ADMIN" -qc 'DROP DATABASE IF EXISTS riskloop_bench_writer' -qc 'CREATE DATABASE riskloop_bench_writer'
    dir=$WORK/postgres-$clients
    mkdir -p "$dir"
    demo_key "$BIN" "$dir" "$PG_URL" > /dev/null
    "$LOAD" "$PG_URL" "$clients" "$SECONDS_PER_RUN" "$WORK/score.json"
  done
  psql "$PG_ADMIN" -qc 'DROP DATABASE IF EXISTS riskloop_bench_writer'
else
  echo "(PostgreSQL unreachable at $PG_ADMIN: skipped)" >&2
fi

#!/usr/bin/env bash
# Load benchmark of `POST /v1/score` with durable writes, on SQLite and on PostgreSQL, against a
# bare actix-web JSON echo endpoint of similar payload, all in one run on loopback.
#
#   bash bench/serve.sh [SECONDS] [CONNECTIONS...]
#
# For each target and each connection count (default 64): the maximum throughput (closed loop),
# then latency at half that rate (open loop, `oha -q`). Durable writes commit in groups, so
# their throughput grows with the requests in flight; the echo's does not need to. The load
# generator is oha (crates.io), installed once under target/bench-tools. Each row also gives the
# whole machine's CPU use and the server process's CPU time per request (PostgreSQL's own not
# included) during the closed-loop run.
# PostgreSQL: RISKLOOP_BENCH_POSTGRES_URL (default the local server).
# RISKLOOP_BENCH_BIN runs another riskloop binary (an older build, to compare in one run).
set -euo pipefail
SECONDS_PER_RUN=${1:-15}
shift $(($# > 0 ? 1 : 0))
CONNECTION_COUNTS=("${@:-64}")
cd "$(dirname "$0")/.."
ROOT=$PWD
PG_ADMIN=${RISKLOOP_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}

cargo build --release -p riskloop-serve --bin riskloop --example echo
source "$ROOT/bench/lib.sh"
OHA=$(bench_oha)
BIN=${RISKLOOP_BENCH_BIN:-$ROOT/target/release/riskloop}
unset RISKLOOP_BENCH_BIN # builds before RISKLOOP_BENCH_* was ignored refuse it
ECHO=$ROOT/target/release/examples/echo
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

wait_up() { for _ in $(seq 100); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "not up: $1" >&2; exit 1; }

# cpu_ticks [PID]: the machine's busy and idle clock ticks, and the process's CPU ticks.
cpu_ticks() {
  local busy idle
  read -r busy idle < <(awk 'NR == 1 {print $2 + $3 + $4 + $7 + $8, $5 + $6}' /proc/stat)
  echo "$busy $idle $(awk '{print $14 + $15}' "/proc/${1:-self}/stat")"
}

# load NAME URL BODY_FILE SERVER_PID [HEADER...]: prints one table row per connection count.
load() {
  local name=$1 url=$2 body=$3 pid=$4; shift 4
  local headers=()
  for h in "$@"; do headers+=(-H "$h"); done
  local common=(-m POST -T application/json -D "$body" --no-tui --output-format json "${headers[@]}")
  local c rps before after
  for c in "${CONNECTION_COUNTS[@]}"; do
    before=$(cpu_ticks "$pid")
    "$OHA" -z "${SECONDS_PER_RUN}s" -c "$c" "${common[@]}" "$url" > "$WORK/max.json"
    after=$(cpu_ticks "$pid")
    rps=$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["summary"]["requestsPerSec"]))' "$WORK/max.json")
    "$OHA" -z "${SECONDS_PER_RUN}s" -c "$c" -q $((rps / 2)) "${common[@]}" "$url" > "$WORK/half.json"
    python3 - "$name" "$c" "$WORK/max.json" "$WORK/half.json" "$before" "$after" "$(getconf CLK_TCK)" <<'PY2'
import json, sys
name, c, full, half = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3])), json.load(open(sys.argv[4]))
(b0, i0, s0), (b1, i1, s1) = (map(int, a.split()) for a in sys.argv[5:7])
hz = int(sys.argv[7])
def row(r):
    s, p = r["summary"], r["latencyPercentiles"]
    codes = r.get("statusCodeDistribution", {})
    ok = sum(v for k, v in codes.items() if k.startswith("2"))
    return s["requestsPerSec"], p["p50"] * 1e3, p["p99"] * 1e3, ok, sum(codes.values())
m, h = row(full), row(half)
busy = 100 * (b1 - b0) / max(b1 - b0 + i1 - i0, 1)
server_us = (s1 - s0) / hz * 1e6 / max(m[4], 1)
print(f"| {name} | {c} | {m[0]:,.0f} | {m[1]:.2f} | {m[2]:.2f} | {busy:.0f} % | {server_us:.1f} | {h[0]:,.0f} | {h[1]:.2f} | {h[2]:.2f} | {m[3]+h[3]:,} of {m[4]+h[4]:,} |")
PY2
  done
}

setup() { # setup NAME [DATABASE_URL]: a model, a key and a server on a fresh database.
  local dir=$WORK/$1
  mkdir -p "$dir"
  demo_key "$BIN" "$dir" "${2:-}" > "$dir/key"
}

score_body "$WORK/score.json"

"$ECHO" 127.0.0.1:18081 >/dev/null & PIDS+=($!)
ECHO_PID=$!
wait_up_post() { for _ in $(seq 100); do curl -sf -X POST -H 'Content-Type: application/json' -d '{}' "$1" >/dev/null && return 0; sleep 0.1; done; exit 1; }
wait_up_post http://127.0.0.1:18081/echo

echo "| target | connections | max req/s | p50 ms | p99 ms | CPU busy | server µs/req | req/s at half | p50 ms | p99 ms | 2xx |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
load "actix-web JSON echo" http://127.0.0.1:18081/echo "$WORK/score.json" "$ECHO_PID"

setup sqlite
(cd "$WORK/sqlite" && exec "$BIN" serve --listen 127.0.0.1:18080 >"$WORK/sqlite/serve.log" 2>&1) & PIDS+=($!)
SERVER_PID=$!
wait_up http://127.0.0.1:18080/readyz
load "POST /v1/score, SQLite" http://127.0.0.1:18080/v1/score "$WORK/score.json" "$SERVER_PID" "Authorization: Bearer $(cat "$WORK/sqlite/key")"
echo "  (SQLite decisions stored: $(sqlite3 "$WORK/sqlite/riskloop-data/riskloop.db" 'select count(*) from decisions' 2>/dev/null || echo '?'))" >&2

if psql "$PG_ADMIN" -qc 'DROP DATABASE IF EXISTS riskloop_bench' 2>/dev/null && psql "$PG_ADMIN" -qc 'CREATE DATABASE riskloop_bench'; then
  PG_URL=${PG_ADMIN%/*}/riskloop_bench
  setup postgres "$PG_URL"
  (cd "$WORK/postgres" && DATABASE_URL=$PG_URL exec "$BIN" serve --listen 127.0.0.1:18082 >"$WORK/postgres/serve.log" 2>&1) & PIDS+=($!)
  SERVER_PID=$!
  wait_up http://127.0.0.1:18082/readyz
  load "POST /v1/score, PostgreSQL" http://127.0.0.1:18082/v1/score "$WORK/score.json" "$SERVER_PID" "Authorization: Bearer $(cat "$WORK/postgres/key")"
  echo "  (PostgreSQL decisions stored: $(psql "$PG_URL" -Atc 'select count(*) from decisions' 2>/dev/null || echo '?'))" >&2
else
  echo "(PostgreSQL unreachable at $PG_ADMIN: skipped)" >&2
fi

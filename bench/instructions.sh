#!/usr/bin/env bash
# Instructions per request of `POST /v1/score` and of the echo endpoint, counted by valgrind's
# callgrind: the same count for the same binary and requests whatever else the machine is doing,
# so two builds can be compared on this noisy machine in one run each, where req/s needs many.
#
#   bash bench/instructions.sh [REQUESTS] [CONNECTIONS]
#
# Each server runs under callgrind; after 1,000 warm-up requests its counters are zeroed, then
# REQUESTS requests (default 4,000, over CONNECTIONS connections, default 16) are counted. User
# space only: the kernel's share (TCP on loopback, the WAL's writes and syncs) is not counted;
# `bench/writer_cycle.sh` gives CPU time per thread. The writer commits smaller batches under
# callgrind than at full speed, so its per-commit costs weigh more here than they do there.
# valgrind's CPU has no SHA instructions, so SHA-256 runs sha2's portable code here, about 50 times
# the instructions it takes natively: it is shown apart and left out of "without SHA-256".
# RISKLOOP_BENCH_BIN counts another riskloop binary. KEEP=1 keeps the callgrind files (the folder is
# printed) for `callgrind_annotate`.
set -euo pipefail
REQUESTS=${1:-4000}
CONNECTIONS=${2:-16}
cd "$(dirname "$0")/.."
ROOT=$PWD
command -v valgrind > /dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
if [ -z "${RISKLOOP_BENCH_BIN:-}" ]; then
  cargo build --release -p riskloop-serve --bin riskloop
fi
cargo build --release -p riskloop-serve --example echo
BIN=${RISKLOOP_BENCH_BIN:-$ROOT/target/release/riskloop}
ECHO=$ROOT/target/release/examples/echo
source "$ROOT/bench/lib.sh"
OHA=$(bench_oha)
WORK=$(mktemp -d)
SERVER=
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2> /dev/null
  if [ -n "${KEEP:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
cd "$WORK"
KEY=$(demo_key "$BIN" "$WORK")
score_body score.json

# count NAME URL AUTH COMMAND...: runs COMMAND under callgrind and counts REQUESTS posts to URL.
count() {
  local name=$1 url=$2 auth=$3
  shift 3
  valgrind --tool=callgrind --callgrind-out-file="$WORK/$name.cg" "$@" > "$name.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 300); do
    curl -s -o /dev/null -X POST "$url" && break
    kill -0 "$SERVER" 2> /dev/null || break
    sleep 0.2
  done
  curl -s -o /dev/null -X POST "$url" || { echo "$name did not start; its log:" >&2; cat "$name.log" >&2; exit 1; }
  load() {
    "$OHA" -n "$1" -c "$CONNECTIONS" -m POST -T application/json -D score.json -H "$auth" \
      --no-tui --output-format json "$url"
  }
  load 1000 > /dev/null
  callgrind_control -z "$SERVER" > /dev/null 2>&1
  load "$REQUESTS" > "$name.oha.json"
  callgrind_control -d "$SERVER" > /dev/null 2>&1
  kill "$SERVER"
  wait "$SERVER" || true
  SERVER=
  callgrind_annotate --inclusive=yes --threshold=100 "$name.cg.1" > "$name.txt" 2> /dev/null
}
count echo http://127.0.0.1:18097/echo "X-Unused: 1" "$ECHO" 127.0.0.1:18097
count score http://127.0.0.1:18098/v1/score "Authorization: Bearer $KEY" \
  "$BIN" serve --listen 127.0.0.1:18098

python3 - "$REQUESTS" <<'PY'
import json, re, sys
requests = int(sys.argv[1])
def inclusive(name):
    out = {}
    for line in open(f"{name}.txt"):
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)$", line)
        if m:
            out.setdefault(m.group(2), int(m.group(1).replace(",", "")))
    return out
def part(costs, pattern):
    # A function's first (largest) inclusive line: the frames that call it are named after
    # their own files, so one pattern can match a function and its callers' lines.
    return max((n for f, n in costs.items() if re.search(pattern, f)), default=0)
for name in ("echo", "score"):
    codes = json.load(open(f"{name}.oha.json"))["statusCodeDistribution"]
    ok = codes.get("200", 0)
    if ok != requests:
        sys.exit(f"{name}: {ok} of {requests} requests answered 200: {codes}")
    costs = inclusive(name)
    total = part(costs, r"PROGRAM TOTALS")
    sha = part(costs, r"sha2::sha256::soft::compress \[")
    parts = {
        "HTTP workers": part(costs, r"h1/dispatcher\.rs:<actix_http::h1::dispatcher::Dispatcher<.*\]$"),
        "decision writer": part(costs, r"riskloop_serve::writer::sqlite_sink::insert_batch \["),
        "checkpointer": part(costs, r"riskloop_serve::writer::sqlite_sink::checkpoint \["),
    }
    shown = ", ".join(f"{k} {v / requests:,.0f}" for k, v in parts.items() if v)
    print(f"{name}: {total / requests:,.0f} instructions per request, {(total - sha) / requests:,.0f} "
          f"without SHA-256 ({sha / requests:,.0f}); of all: {shown}")
PY

#!/usr/bin/env bash
# The SQLite decision writer's cycle under load: one closed-loop `oha` run against a fresh
# `riskloop demo` database, and what `/metrics` and the server's threads counted during it.
#
#   bash bench/writer_cycle.sh [CONNECTIONS] [SECONDS] [CONFIG_TOML]
#
# Prints decisions/s; commits, decisions per commit, time per commit and how much of the run the
# writer spent inside commits (from `riskloop_writer_*`); and each server thread's CPU time and
# context switches per decision (from /proc/<pid>/task/*/stat and status). Quick enough to
# interleave two builds several times, which this machine's noise needs: RISKLOOP_BENCH_BIN
# runs another binary. CONFIG_TOML, if given, is passed to `serve --config` (e.g. a file
# holding `[writer]` and `linger_us = 100`).
set -euo pipefail
CONNECTIONS=${1:-64}
SECONDS_PER_RUN=${2:-6}
CONFIG=${3:+$(realpath "$3")}
cd "$(dirname "$0")/.."
ROOT=$PWD
if [ -z "${RISKLOOP_BENCH_BIN:-}" ]; then
  cargo build --release -p riskloop-serve --bin riskloop
fi
BIN=${RISKLOOP_BENCH_BIN:-$ROOT/target/release/riskloop}
source "$ROOT/bench/lib.sh"
OHA=$(bench_oha)
WORK=$(mktemp -d)
SERVER=
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
cd "$WORK"
KEY=$(demo_key "$BIN" "$WORK")
score_body score.json
"$BIN" serve --listen 127.0.0.1:18093 ${CONFIG:+--config "$CONFIG"} > serve.log 2>&1 &
SERVER=$!
for _ in $(seq 100); do
  curl -sf http://127.0.0.1:18093/readyz > /dev/null && break
  kill -0 "$SERVER" 2> /dev/null || break
  sleep 0.1
done
curl -sf http://127.0.0.1:18093/readyz > /dev/null || {
  echo "riskloop serve did not become ready; its log:" >&2
  cat serve.log >&2
  exit 1
}
load() {
  "$OHA" -z "$1" -c "$CONNECTIONS" -m POST -T application/json -D score.json \
    -H "Authorization: Bearer $KEY" --no-tui --output-format json http://127.0.0.1:18093/v1/score
}
threads() { # NAME CPU_TICKS CONTEXT_SWITCHES, one line per thread
  for t in /proc/$SERVER/task/*; do
    echo "$(tr ' ' _ < "$t/comm") $(awk '{print $14 + $15}' "$t/stat") $(awk '/ctxt_switches/ {n += $2} END {print n}' "$t/status")"
  done
}
load 2s > /dev/null # warm-up
curl -sf http://127.0.0.1:18093/metrics > metrics0
threads > threads0
load "${SECONDS_PER_RUN}s" > oha.json
threads > threads1
curl -sf http://127.0.0.1:18093/metrics > metrics1
python3 - "$(getconf CLK_TCK)" "$SECONDS_PER_RUN" <<'PY'
import collections, json, sys
hz, seconds = int(sys.argv[1]), float(sys.argv[2])
def metrics(path):
    out = {}
    for line in open(path):
        parts = line.split()
        if not line.startswith("#") and len(parts) == 2:
            out[parts[0]] = float(parts[1])
    return out
m0, m1 = metrics("metrics0"), metrics("metrics1")
delta = lambda k: m1.get(k, 0) - m0.get(k, 0)
summary = json.load(open("oha.json"))["summary"]
commits = delta("riskloop_writer_batch_size_count")
decisions = delta("riskloop_writer_batch_size_sum")
inside = delta("riskloop_writer_commit_duration_seconds_sum")
print(f"{summary['requestsPerSec']:,.0f} decisions/s; {commits:,.0f} commits of "
      f"{decisions / max(commits, 1):.1f} decisions, {inside / max(commits, 1) * 1e6:.0f} µs each; "
      f"writer inside commits {inside / seconds * 100:.0f} % of the run")
ticks = [collections.Counter(), collections.Counter()]
switches = [collections.Counter(), collections.Counter()]
for t, s, path in zip(ticks, switches, ("threads0", "threads1")):
    for line in open(path):
        name, n, c = line.split()
        t[name] += int(n)
        s[name] += int(c)
def per_decision(pair, scale):
    return {k: (pair[1][k] - pair[0][k]) * scale / max(decisions, 1) for k in pair[1]}
for what, per, unit in (
    ("server CPU µs per decision", per_decision(ticks, 1e6 / hz), 0.05),
    ("context switches per decision", per_decision(switches, 1), 0.005),
):
    print(f"{what}: {sum(per.values()):.2f} (" +
          ", ".join(f"{k} {v:.2f}" for k, v in sorted(per.items()) if v >= unit) + ")")
PY

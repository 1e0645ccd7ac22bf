#!/usr/bin/env bash
# Where a durable `POST /v1/score` spends its CPU, per server thread (HTTP workers, SQLite's
# writer, its checkpointer), on a fresh SQLite database set up by `riskloop demo --no-serve`.
#
#   bash bench/serve_threads.sh [SECONDS] [CONNECTIONS...]    (default: 10 s; 64 and 256)
#       per thread and decision: user and system CPU µs, context switches, and the share of the
#       run it spent on a core and waiting for one (/proc/<pid>/task/*/{stat,status,schedstat}),
#       and where `perf` can count syscall tracepoints, the `pwrite`s and syncs (`fsync`,
#       `fdatasync`) it made, and its `write`s: the server writes no file or socket with
#       `write`, so these are the eventfd writes that wake another thread's tokio runtime.
#       Counts, so they compare across noisy runs
#   CALLGRIND=3000 bash bench/serve_threads.sh
#       instead: the server under valgrind's callgrind, instructions per decision per thread for
#       3,000 requests at 64 connections after a warm-up. Instructions do not depend on what else
#       the machine does, so two builds compare within a percent on a noisy machine. valgrind
#       hides the CPU's SHA extensions: sha2 runs its software rounds there, about 55,000
#       instructions a request on the HTTP workers that the real server does in hardware, and
#       it counts `rep stosb` once per byte (actix-http zeroes 3 KB on every parse attempt); the
#       last row leaves both out.
#       CALLGRIND_KEEP=DIR also keeps callgrind's files there, per thread, for
#       `callgrind_annotate --inclusive=yes DIR/cg.PID-THREAD`.
#
# RISKLOOP_BENCH_BIN runs another riskloop binary (an older build, to compare in one run).
set -euo pipefail
SECONDS_PER_RUN=${1:-10}
shift || true
if [ $# -gt 0 ]; then CONNECTIONS=("$@"); else CONNECTIONS=(64 256); fi
cd "$(dirname "$0")/.."
ROOT=$PWD
cargo build --release -p riskloop-serve --bin riskloop
source "$ROOT/bench/lib.sh"
OHA=$(bench_oha)
BIN=${RISKLOOP_BENCH_BIN:-$ROOT/target/release/riskloop}
unset RISKLOOP_BENCH_BIN
WORK=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
URL=http://127.0.0.1:18093

score_body "$WORK/score.json"

# start [WRAPPER...]: a fresh database, a key, and the server (under WRAPPER, if given).
start() {
  rm -rf "$WORK/db" && mkdir -p "$WORK/db"
  KEY=$(demo_key "$BIN" "$WORK/db")
  (cd "$WORK/db" && exec "$@" "$BIN" serve --listen 127.0.0.1:18093 > serve.log 2>&1) &
  PID=$!
  for _ in $(seq 600); do curl -sf "$URL/readyz" >/dev/null && return 0; sleep 0.2; done
  echo "not up" >&2; exit 1
}
oha() { "$OHA" -m POST -T application/json -D "$WORK/score.json" -H "Authorization: Bearer $KEY" --no-tui "$@" "$URL/v1/score"; }
stop() { kill -INT "$PID"; wait "$PID" || true; PID=; }
stored() { python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from decisions").fetchone()[0])' "$WORK/db/riskloop-data/riskloop.db"; }

if [ -n "${CALLGRIND:-}" ]; then
  start valgrind --tool=callgrind --separate-threads=yes --instr-atstart=no --callgrind-out-file="$WORK/cg.%p"
  oha -n 500 -c 64 > /dev/null
  callgrind_control -i on "$PID" > /dev/null
  oha -n "$CALLGRIND" -c 64 --output-format json > "$WORK/run.json"
  callgrind_control -i off "$PID" > /dev/null
  callgrind_control -d "$PID" > /dev/null
  stop
  echo "| thread | instructions per decision |"
  echo "| --- | --- |"
  http=0 artefacts=0
  for f in "$WORK"/cg.*-*; do
    total=$(awk '/^totals:/ {print $2}' "$f"); [ "${total:-0}" -gt 0 ] || continue
    if grep -q "riskloop_serve::writer::sqlite_sink::insert_batch" "$f"; then name="SQLite writer"
    elif grep -q "riskloop_serve::writer::sqlite_sink::checkpoint" "$f"; then name="checkpointer"
    elif grep -q sqlite3VdbeExec "$f"; then name="a pool connection (reads)"
    else
      http=$((http + total))
      # Two counts that say more about valgrind than about the server: sha2's software rounds
      # (the CPU's SHA extensions are hidden) and memset done with `rep stosb`, counted once per
      # byte (actix zeroes a 3 KB header index on every parse attempt, a varying number per
      # request).
      for fn in 'sha2::sha256::soft::compress [' '__memset_avx2_unaligned_erms ['; do
        n=$(callgrind_annotate --inclusive=yes "$f" 2>/dev/null \
          | awk -v fn="$fn" 'index($0, fn) && !n {gsub(",", "", $1); n = $1} END {print n + 0}')
        artefacts=$((artefacts + n))
      done
      continue
    fi
    [ $((total / CALLGRIND)) -gt 100 ] && echo "| $name | $((total / CALLGRIND)) |"
  done
  echo "| HTTP workers, together | $((http / CALLGRIND)) |"
  echo "| HTTP workers, without SHA-256's software rounds and memset | $(((http - artefacts) / CALLGRIND)) |"
  if [ -n "${CALLGRIND_KEEP:-}" ]; then mkdir -p "$CALLGRIND_KEEP" && cp "$WORK"/cg.* "$CALLGRIND_KEEP"/; fi
  python3 -c 'import json, sys; codes = json.load(open(sys.argv[1]))["statusCodeDistribution"]; print("(%d answered 2xx)" % sum(v for k, v in codes.items() if k.startswith("2")))' "$WORK/run.json"
  echo "(stored: $(stored) decisions, warm-up and demo included)"
  exit 0
fi

snapshot() {
  for t in /proc/"$PID"/task/*; do
    echo "$(basename "$t") $(tr ' ' _ < "$t/comm") $(sed 's/.*) //' "$t/stat" | awk '{print $12, $13}')" \
      "$(awk '/^voluntary_ctxt/ {v = $2} /^nonvoluntary_ctxt/ {n = $2} END {print v, n}' "$t/status")" \
      "$(cut -d' ' -f1,2 "$t/schedstat")"
  done
}
# count_syscalls: per thread of the server, until stopped (empty where perf cannot count them).
SYSCALLS=syscalls:sys_enter_pwrite64,syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync,syscalls:sys_enter_write
count_syscalls() {
  : > "$WORK/syscalls.csv"
  PERF=
  if perf stat -e "$SYSCALLS" true > /dev/null 2>&1; then
    perf stat --per-thread -x, -e "$SYSCALLS" -p "$PID" -o "$WORK/syscalls.csv" & PERF=$!
  fi
}
echo "| connections | decisions/s | thread | user µs | system µs | switches (voluntary / not) | on a core | waiting for one | pwrite | syncs | wake-ups (write) |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for c in "${CONNECTIONS[@]}"; do
  start
  oha -n 2000 -c "$c" > /dev/null
  snapshot > "$WORK/before"
  count_syscalls
  oha -z "${SECONDS_PER_RUN}s" -c "$c" --output-format json > "$WORK/run.json"
  [ -n "$PERF" ] && { kill -INT "$PERF"; wait "$PERF" || true; }
  snapshot > "$WORK/after"
  stop
  python3 - "$c" "$WORK/before" "$WORK/after" "$WORK/run.json" "$(getconf CLK_TCK)" "$WORK/syscalls.csv" <<'PY'
import json, sys
c, hz = sys.argv[1], int(sys.argv[5])
# perf's CSV: "comm-tid,count,unit,event,..." per thread and event.
calls = {}
for line in open(sys.argv[6]):
    f = line.strip().split(",")
    if len(f) > 3 and "-" in f[0] and f[1].isdigit():
        kind = {"pwrite64": "pwrite", "write": "write"}.get(f[3].rsplit("sys_enter_", 1)[-1], "sync")
        calls.setdefault(f[0].rsplit("-", 1)[1], {}).setdefault(kind, 0)
        calls[f[0].rsplit("-", 1)[1]][kind] += int(f[1])
before = {l.split()[0]: l.split() for l in open(sys.argv[2])}
after = {l.split()[0]: l.split() for l in open(sys.argv[3])}
run = json.load(open(sys.argv[4]))
n = max(sum(v for k, v in run["statusCodeDistribution"].items() if k.startswith("2")), 1)
secs, rps = run["summary"]["total"], run["summary"]["requestsPerSec"]
rows, totals = [], [0.0, 0.0]
for tid, a in after.items():
    b = before.get(tid, [tid, a[1]] + ["0"] * 6)
    d = [int(x) - int(y) for x, y in zip(a[2:], b[2:])]
    user, system = d[0] / hz * 1e6 / n, d[1] / hz * 1e6 / n
    totals[0] += user; totals[1] += system
    if user + system >= 0.05:
        name = {"actix-server_wo": "HTTP worker", "sqlite-writer": "SQLite writer",
                "sqlite-checkpoi": "checkpointer"}.get(a[1], a[1].replace("_", " "))
        k = calls.get(tid)
        io = f"{k.get('pwrite', 0) / n:.3f} | {k.get('sync', 0) / n:.4f} | {k.get('write', 0) / n:.3f}" if k else " | | "
        rows.append(f"| {c} | {rps:,.0f} | {name} | {user:.2f} | {system:.2f} | {d[2] / n:.3f} / {d[3] / n:.3f} | {d[4] / 1e7 / secs:.0f} % | {d[5] / 1e7 / secs:.0f} % | {io} |")
print("\n".join(sorted(rows)))
print(f"| {c} | {rps:,.0f} | the server | {totals[0]:.2f} | {totals[1]:.2f} | | | | | | |")
PY
done

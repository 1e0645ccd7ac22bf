#!/usr/bin/env bash
# Soak: MINUTES (default 10) of mixed traffic on SQLite, then on PostgreSQL when
# RISKLOOP_TEST_POSTGRES_URL is set (a database of its own is created and dropped): scores, batches,
# outcomes, reviews, list and detail reads from THREADS clients, a promotion and a policy edit
# halfway; throughput, p50/p99 and RSS per minute, errors by status, and every 2xx stored.
# Results: target/soak/<engine>.json. Uses RISKLOOP (default target/debug/riskloop).
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES="${1:-10}"
THREADS="${2:-8}"
RISKLOOP="${RISKLOOP:-target/debug/riskloop}"
[ -x "$RISKLOOP" ] || cargo build --bin riskloop
mkdir -p target/soak
status=0
python3 bench/soak.py "$RISKLOOP" "$MINUTES" "$THREADS" target/soak/sqlite.json || status=1
if [ -n "${RISKLOOP_TEST_POSTGRES_URL:-}" ]; then
    db="riskloop_soak_$$"
    base="${RISKLOOP_TEST_POSTGRES_URL%/*}"
    psql "$RISKLOOP_TEST_POSTGRES_URL" -qc "CREATE DATABASE $db"
    python3 bench/soak.py "$RISKLOOP" "$MINUTES" "$THREADS" target/soak/postgres.json "$base/$db" || status=1
    psql "$RISKLOOP_TEST_POSTGRES_URL" -qc "DROP DATABASE $db WITH (FORCE)"
fi
exit $status

#!/usr/bin/env bash
# A large loan book through `riskloop ingest`: ROWS synthetic rows (default 20,000,000) written
# as one CSV and, split by application year, as one CSV per vintage; each ingested under
# /usr/bin/time -v (wall seconds, CPU share, peak RSS): as one file with every row held
# (`--fit-rows 0`), as one file in two passes (the default `fit_rows`, a 2,000,000-row sample),
# and per vintage in two passes. See bench/README.md.
#
#   bash bench/ingest_large.sh [ROWS]
#
# Builds nothing: $RISKLOOP, else target/release/riskloop, else target/debug/riskloop.
set -euo pipefail
ROWS=${1:-20000000}
cd "$(dirname "$0")/.."
ROOT=$PWD
source "$ROOT/bench/lib.sh"
BIN=$(riskloop_bin)
WORK=$ROOT/target/bench-large
rm -rf "$WORK"
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT

measure() { # LABEL CMD...: runs CMD under GNU time; prints one table row
  local label=$1
  shift
  /usr/bin/time -v "$@" > "$WORK/out.txt" 2> "$WORK/time.txt" || {
    cat "$WORK/out.txt" "$WORK/time.txt" >&2
    return 1
  }
  local wall cpu rss
  wall=$(grep "Elapsed (wall clock)" "$WORK/time.txt" | awk '{print $NF}')
  cpu=$(grep "Percent of CPU" "$WORK/time.txt" | awk '{print $NF}')
  rss=$(grep "Maximum resident" "$WORK/time.txt" | awk '{printf "%.0f", $NF / 1024}')
  echo "| $label | $wall | $cpu | $rss |"
}

echo "binary: $BIN ($(sha256sum "$BIN" | cut -c1-16)…); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| step | wall | CPU | peak RSS MiB |"
echo "| --- | --- | --- | --- |"
measure "synth $ROWS rows" "$BIN" synth --rows "$ROWS" --seed 7 --out "$WORK/book.csv"
echo "| (the CSV: $(du -m "$WORK/book.csv" | cut -f1) MiB) | | | |"
measure "ingest $ROWS rows, one file, every row held" "$BIN" ingest \
  --spec data/synthetic_loans.toml --input "$WORK/book.csv" --out "$WORK/held" --fit-rows 0
grep -E "rows read|train" "$WORK/out.txt" | head -3 | sed 's/^/    /'
measure "ingest $ROWS rows, one file, two passes" "$BIN" ingest \
  --spec data/synthetic_loans.toml --input "$WORK/book.csv" --out "$WORK/dataset"
grep -E "rows read|sample|train" "$WORK/out.txt" | head -4 | sed 's/^/    /'
rm -rf "$WORK/held" "$WORK/dataset"
# The same book as one file per vintage (application year): read as one book, the pipeline
# fitted once on the training split and applied to every file.
mkdir -p "$WORK/vintages"
awk -F, -v dir="$WORK/vintages" '
  NR == 1 { header = $0; for (i = 1; i <= NF; i++) if ($i == "application_date") at = i; next }
  { year = substr($at, 1, 4); file = dir "/" year ".csv"
    if (!(file in seen)) { seen[file] = 1; print header > file }
    print >> file }' "$WORK/book.csv"
rm "$WORK/book.csv"
echo "| ($(ls "$WORK/vintages" | wc -l) vintage files) | | | |"
measure "ingest $ROWS rows, one file per vintage, two passes" "$BIN" ingest \
  --spec data/synthetic_loans.toml --input "$WORK"/vintages/*.csv --out "$WORK/by-vintage"
grep -E "rows read|sample|train" "$WORK/out.txt" | head -4 | sed 's/^/    /'
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

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
  /usr/bin/time -v "$@" > "$WORK/out.txt" 2> "$WORK/time.txt" &
  local timer=$! child="" anon=0 file=0 a f
  # GNU time's maximum RSS counts the pages of the input that Polars maps (file-backed, given
  # back under pressure) with the process's own memory: sample the two apart.
  while kill -0 "$timer" 2> /dev/null; do
    [ -z "$child" ] && child=$(pgrep -P "$timer" | head -1 || true)
    if [ -n "$child" ]; then
      a=$(awk '/^RssAnon/ {print $2}' "/proc/$child/status" 2> /dev/null || true)
      f=$(awk '/^RssFile/ {print $2}' "/proc/$child/status" 2> /dev/null || true)
      if [ -n "$a" ] && [ "$a" -gt "$anon" ]; then anon=$a; fi
      if [ -n "$f" ] && [ "$f" -gt "$file" ]; then file=$f; fi
    fi
    sleep 0.2
  done
  wait "$timer" || {
    cat "$WORK/out.txt" "$WORK/time.txt" >&2
    return 1
  }
  local wall cpu rss
  wall=$(grep "Elapsed (wall clock)" "$WORK/time.txt" | awk '{print $NF}')
  cpu=$(grep "Percent of CPU" "$WORK/time.txt" | awk '{print $NF}')
  rss=$(grep "Maximum resident" "$WORK/time.txt" | awk '{printf "%.0f", $NF / 1024}')
  echo "| $label | $wall | $cpu | $rss | $((anon / 1024)) | $((file / 1024)) |"
}

echo "binary: $BIN ($(sha256sum "$BIN" | cut -c1-16)…); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| step | wall | CPU | peak RSS MiB (GNU time) | peak anonymous MiB | peak file-backed MiB |"
echo "| --- | --- | --- | --- | --- | --- |"
measure "synth $ROWS rows" "$BIN" synth --rows "$ROWS" --seed 7 --out "$WORK/book.csv"
echo "| (the CSV: $(du -m "$WORK/book.csv" | cut -f1) MiB) | | | | | |"
measure "ingest $ROWS rows, one file, --fit-rows 0 (every row held)" "$BIN" ingest \
  --spec data/synthetic_loans.toml --input "$WORK/book.csv" --out "$WORK/held" --fit-rows 0
grep -E "rows read|train" "$WORK/out.txt" | head -3 | sed 's/^/    /'
measure "ingest $ROWS rows, one file, default fit_rows (2,000,000)" "$BIN" ingest \
  --spec data/synthetic_loans.toml --input "$WORK/book.csv" --out "$WORK/dataset"
grep -E "rows read|sample|train" "$WORK/out.txt" | head -4 | sed 's/^/    /'
measure "ingest $ROWS rows, one file, --fit-rows 500000" "$BIN" ingest \
  --spec data/synthetic_loans.toml --input "$WORK/book.csv" --out "$WORK/small-sample" \
  --fit-rows 500000
rm -rf "$WORK/held" "$WORK/dataset" "$WORK/small-sample"
# The same book as one file per vintage (application year): read as one book, the pipeline
# fitted once on the training split and applied to every file.
mkdir -p "$WORK/vintages"
awk -F, -v dir="$WORK/vintages" '
  NR == 1 { header = $0; for (i = 1; i <= NF; i++) if ($i == "application_date") at = i; next }
  { year = substr($at, 1, 4); file = dir "/" year ".csv"
    if (!(file in seen)) { seen[file] = 1; print header > file }
    print >> file }' "$WORK/book.csv"
rm "$WORK/book.csv"
echo "| ($(ls "$WORK/vintages" | wc -l) vintage files) | | | | | |"
measure "ingest $ROWS rows, one file per vintage, default fit_rows" "$BIN" ingest \
  --spec data/synthetic_loans.toml --input "$WORK"/vintages/*.csv --out "$WORK/by-vintage"
grep -E "rows read|sample|train" "$WORK/out.txt" | head -4 | sed 's/^/    /'
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

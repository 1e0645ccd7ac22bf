#!/usr/bin/env bash
# Training speed: `riskloop train` (default settings) with several seeds against LightGBM on the
# same rows of a large synthetic book, in one run. See bench/README.md.
#
#   bash bench/train_speed.sh                          # 1,000,000 rows, seeds 1 2 3
#   ROWS=200000 SEEDS="1 2" bash bench/train_speed.sh
#   RISKLOOP=target/compare/bin/riskloop2 nice -n 10 bash bench/train_speed.sh
#
# Builds nothing: it runs the riskloop binary in $RISKLOOP (default target/release/riskloop,
# else target/debug/riskloop). Each trainer runs under `/usr/bin/time -v` (wall seconds, CPU %,
# max RSS). Work files go to target/compare/speed/; one JSON line is appended to
# target/compare/train_speed.jsonl. LightGBM comes from the venv of bench/compare.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/lib.sh
RISKLOOP=$(riskloop_bin)
if [ ! -x /usr/bin/time ]; then
  echo "needs GNU time at /usr/bin/time (apt-get install time)" >&2
  exit 1
fi
ROWS=${ROWS:-1000000}
SEEDS=${SEEDS:-1 2 3}
SPEC=data/synthetic_loans.toml
OUT=target/compare
WORK=$OUT/speed
RESULTS=$OUT/train_speed.jsonl

# The Python side: the pinned venv (bench/lib.sh), as for compare.sh.
PY=$(bench_python)
export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 MKL_NUM_THREADS=2

# timed NAME COMMAND...: COMMAND under `/usr/bin/time -v` (figures in $WORK/time_NAME.txt), its
# output in $WORK/NAME.log; on failure shows the log's end and stops.
timed() {
  local name=$1 started=$SECONDS
  shift
  echo "   $(date -u +%H:%M:%S) $name: $*"
  if ! /usr/bin/time -v -o "$WORK/time_$name.txt" "$@" > "$WORK/$name.log" 2>&1; then
    echo "FAILED: $*" >&2
    tail -n 40 "$WORK/$name.log" >&2
    exit 1
  fi
  echo "   $(date -u +%H:%M:%S) $name: $((SECONDS - started)) s"
}

RUN=$(date -u +%Y%m%dT%H%M%SZ)
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- . ':!bench' 2>/dev/null || COMMIT="$COMMIT+uncommitted"
BINARY_SHA256=$(sha256sum "$RISKLOOP" | cut -d' ' -f1)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== run $RUN with $RISKLOOP (sha256 ${BINARY_SHA256:0:16}; tree at $COMMIT); $ROWS rows," \
  "seeds $SEEDS; $(nproc) cores, load average $LOAD_START"
rm -rf "$WORK"
mkdir -p "$WORK"

started=$SECONDS
"$RISKLOOP" synth --rows "$ROWS" --seed 7 --out "$WORK/book.csv" > "$WORK/synth.log" 2>&1 || {
  tail -n 40 "$WORK/synth.log" >&2
  exit 1
}
SYNTH_S=$((SECONDS - started))
echo "   synth: $SYNTH_S s"
timed ingest "$RISKLOOP" ingest --spec "$SPEC" --input "$WORK/book.csv" --out "$WORK/dataset"

echo "== riskloop train (default settings), seeds $SEEDS"
for seed in $SEEDS; do
  timed "seed$seed" "$RISKLOOP" train --data "$WORK/dataset" --out "$WORK/models_seed$seed" --seed "$seed"
done

echo "== LightGBM on the same train/valid/test rows"
timed lightgbm "$PY" bench/train_speed.py lightgbm --spec "$SPEC" --raw "$WORK/book.csv" \
  --dataset "$WORK/dataset" --out "$WORK/lightgbm.json"
tail -n 1 "$WORK/lightgbm.log"

echo
echo "== run $RUN; appended to $RESULTS"
"$PY" bench/train_speed.py report --run "$RUN" --work "$WORK" --seeds "$SEEDS" \
  --results "$RESULTS" --binary "$RISKLOOP" --binary-sha256 "$BINARY_SHA256" --commit "$COMMIT" \
  --raw-rows "$ROWS" --cores "$(nproc)" --synth-s "$SYNTH_S" \
  --loadavg-start "$LOAD_START" --loadavg-end "$(cut -d' ' -f1-3 /proc/loadavg)"

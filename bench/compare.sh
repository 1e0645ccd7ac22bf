#!/usr/bin/env bash
# Model comparison: riskloop's bundle against LightGBM and a WoE logistic scorecard trained on
# the same train/valid rows, test AUCs with paired DeLong tests. See bench/README.md.
#
#   bash bench/compare.sh                          # german synthetic synthetic_dti synthetic_era credit_data uci_credit_card
#   bash bench/compare.sh german credit_data       # some of them
#   RISKLOOP=target/debug/riskloop SYNTH_ROWS=100000 bash bench/compare.sh
#   SPLIT_SEEDS="$(seq -s ' ' 1 20)" bash bench/compare.sh german credit_data uci_credit_card
#
# SPLIT_SEEDS: each data set with a stratified split is split again with each seed (its spec's
# `[split] seed` replaced) and the three models compared on every split; a summary over the
# splits follows the table. A data set split by time has one split whatever the seed.
#
# Builds nothing: it runs the riskloop binary in $RISKLOOP (default target/release/riskloop,
# else target/debug/riskloop). Results are appended to target/compare/results.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/lib.sh
RISKLOOP=$(riskloop_bin)
SYNTH_ROWS=${SYNTH_ROWS:-200000}
OUT=target/compare
RESULTS=$OUT/results.jsonl

# The Python side: the pinned venv (bench/lib.sh).
PY=$(bench_python)
# Two cores on the development machines: no library takes more.
export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 MKL_NUM_THREADS=2

echo "== self-test: derived features, fast DeLong"
"$PY" bench/compare.py selftest

# step LOG COMMAND...: runs COMMAND with its output in LOG; on failure shows LOG's end and stops.
step() {
  local log=$1 started=$SECONDS
  shift
  if ! "$@" > "$log" 2>&1; then
    echo "FAILED: $*" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
  echo "   $(basename "$log" .log): $((SECONDS - started)) s"
}

RUN=$(date -u +%Y%m%dT%H%M%SZ)
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
# The binary may have been built from uncommitted changes: say so (bench/ itself aside).
git diff --quiet HEAD -- . ':!bench' 2>/dev/null || COMMIT="$COMMIT+uncommitted"
BINARY_SHA256=$(sha256sum "$RISKLOOP" | cut -d' ' -f1)
if [ "$#" -gt 0 ]; then DATASETS=("$@"); else DATASETS=(german synthetic synthetic_dti synthetic_era credit_data uci_credit_card); fi
echo "== run $RUN with $RISKLOOP (sha256 ${BINARY_SHA256:0:16}; tree at $COMMIT)"
SEEDS=(${SPLIT_SEEDS:-})
for name in "${DATASETS[@]}"; do
 for seed in "${SEEDS[@]:-spec}"; do
  work=$OUT/work/$name
  rm -rf "$work"
  mkdir -p "$work"
  echo "== $name${SPLIT_SEEDS:+ (split seed $seed)}"
  case $name in
    german)
      spec=data/german_credit.toml raw=data/german_credit.csv ;;
    synthetic | synthetic_dti)
      # The same book for both; synthetic_dti's spec adds debt_to_income = ratio(loan_amount,
      # annual_income), a derived feature.
      spec=data/synthetic_loans.toml raw=$work/book.csv
      if [ "$name" = synthetic_dti ]; then spec=bench/specs/synthetic_dti.toml; fi
      step "$work/synth.log" "$RISKLOOP" synth --rows "$SYNTH_ROWS" --seed 7 --out "$raw" ;;
    synthetic_era)
      # The book with an era artefact: from 2022 on home_ownership is written in a new
      # system's codes (M, R, O, X, N); the spec's map reads both eras as one.
      spec=bench/specs/synthetic_era.toml raw=$work/book.csv
      step "$work/synth.log" "$RISKLOOP" synth --rows "$SYNTH_ROWS" --seed 7 \
        --recode-after 2022-01-01 --out "$raw" ;;
    credit_data | uci_credit_card)
      spec=bench/specs/$name.toml raw=$work/$name.csv
      step "$work/extract.log" "$PY" bench/compare.py extract "$name" "$raw" ;;
    *)
      echo "unknown data set $name (german, synthetic, synthetic_dti, synthetic_era, credit_data, uci_credit_card)" >&2
      exit 1 ;;
  esac
  if [ "$seed" != spec ]; then
    if ! grep -q '^method = "stratified"' "$spec"; then
      echo "   $spec splits by time: one split whatever the seed" >&2
      [ "$seed" = "${SEEDS[0]}" ] || continue
    fi
    sed "s/^seed = .*/seed = $seed/" "$spec" > "$work/spec.toml"
    spec=$work/spec.toml
  fi
  step "$work/ingest.log" "$RISKLOOP" ingest --spec "$spec" --input "$raw" --out "$work/dataset"
  step "$work/train.log" "$RISKLOOP" train --data "$work/dataset" --out "$work/models"
  bundles=("$work"/models/*/)
  if [ "${#bundles[@]}" -ne 1 ] || [ ! -f "${bundles[0]}manifest.json" ]; then
    echo "expected one model bundle under $work/models, found: ${bundles[*]}" >&2
    exit 1
  fi
  model=${bundles[0]%/}
  step "$work/score.log" "$RISKLOOP" score --model "$model" --input "$raw" --out "$work/scores.parquet"
  "$PY" bench/compare.py evaluate --name "$name" --spec "$spec" --raw "$raw" \
    --dataset "$work/dataset" --model "$model" --scores "$work/scores.parquet" \
    --results "$RESULTS" --run "$RUN" --binary "$RISKLOOP" --binary-sha256 "$BINARY_SHA256" --commit "$COMMIT"
 done
done

echo
echo "== run $RUN: test AUCs, paired DeLong p-values (riskloop vs each); appended to $RESULTS"
"$PY" bench/compare.py table --run "$RUN" "$RESULTS"
if [ -n "${SPLIT_SEEDS:-}" ]; then
  echo
  echo "== run $RUN: over the splits"
  "$PY" bench/compare.py summary --run "$RUN" "$RESULTS"
fi

#!/usr/bin/env bash
# Training throughput on CPU and on an NVIDIA GPU (burn-cuda), on ROWS synthetic applications.
#
#   bash bench/gpu.sh [ROWS] [EPOCHS]        # default 1,000,000 rows, 3 epochs
#
# Builds `riskloop` with `--features cuda` when cargo is available (the GPU machines have no Rust
# toolchain: build here, carry target/release/riskloop there, and run this script). Asking for
# `--device cuda` without a GPU is a clear error, so on a machine without one only CPU runs.
set -euo pipefail
ROWS=${1:-1000000}
EPOCHS=${2:-3}
cd "$(dirname "$0")/.."
# RISKLOOP_BENCH_BIN names a prebuilt binary (the GPU machines have no Rust toolchain).
if [ -z "${RISKLOOP_BENCH_BIN:-}" ] && command -v cargo >/dev/null; then
  cargo build --release --features cuda -p riskloop-serve --bin riskloop
fi
BIN=${RISKLOOP_BENCH_BIN:-target/release/riskloop}
WORK=${RISKLOOP_BENCH_DIR:-target/bench-gpu}
mkdir -p "$WORK"
[ -f "$WORK/book_$ROWS.csv" ] || "$BIN" synth --rows "$ROWS" --seed 3 --out "$WORK/book_$ROWS.csv"
[ -d "$WORK/dataset_$ROWS" ] || "$BIN" ingest --spec data/synthetic_loans.toml --input "$WORK/book_$ROWS.csv" --out "$WORK/dataset_$ROWS" > /dev/null
for batch in 512 4096; do
  cat > "$WORK/train.toml" <<TOML
model = "additive"
max_epochs = $EPOCHS
patience = $EPOCHS
batch_size = $batch
TOML
  for device in cpu cuda; do
    rm -rf "$WORK/models"
    if out=$("$BIN" train --data "$WORK/dataset_$ROWS" --out "$WORK/models" --device $device --config "$WORK/train.toml" 2>&1); then
      echo "$device batch $batch: $(echo "$out" | grep -o '[0-9]* samples/s on [A-Za-z]*' | head -1); $(echo "$out" | grep '^int8 test')"
    else
      echo "$device batch $batch: $(echo "$out" | tail -1)"
    fi
  done
done

#!/usr/bin/env bash
# Whole-ETL benchmark: riskloop ingest vs Polars reading the same CSV. See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p riskloop-ingest --bench etl -- "${1:-1000000}" "${2:-3}"

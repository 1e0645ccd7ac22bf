# Shared by the bench scripts: `source "$ROOT/bench/lib.sh"` once ROOT is the repository root.

# The load generator, oha (crates.io), installed once under target/bench-tools; prints its path.
bench_oha() {
  local oha=$ROOT/target/bench-tools/bin/oha
  [ -x "$oha" ] || cargo install oha --locked --root "$ROOT/target/bench-tools" >&2
  echo "$oha"
}

# demo_key BIN DIR [DATABASE_URL]: a fresh demo database set up in DIR by `BIN demo --no-serve`
# (a model, a policy, an integration key); prints that key, or says why it failed.
demo_key() {
  local bin=$1 dir=$2
  (cd "$dir" && env ${3:+DATABASE_URL=$3} "$bin" demo --no-serve > demo.txt 2> demo.err) || {
    echo "$bin demo failed in $dir:" >&2
    cat "$dir/demo.err" >&2
    return 1
  }
  grep -A1 "shown once" "$dir/demo.txt" | tail -1 | tr -d ' '
}

# The score request every load benchmark sends, written to FILE.
score_body() {
  python3 "$ROOT/bench/score_body.py" "$ROOT/data/german_credit.csv" > "$1"
}

# The riskloop binary the model benchmarks run: $RISKLOOP, else target/release/riskloop, else
# target/debug/riskloop; prints its absolute path, or says how to get one and fails.
riskloop_bin() {
  local bin=${RISKLOOP:-}
  if [ -z "$bin" ]; then
    for candidate in target/release/riskloop target/debug/riskloop; do
      if [ -x "$candidate" ]; then bin=$candidate; break; fi
    done
  fi
  if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    echo "no riskloop binary (${bin:-target/release/riskloop or target/debug/riskloop}):" \
      "build one with 'cargo build --release' or set RISKLOOP" >&2
    return 1
  fi
  realpath "$bin"
}

# The model benchmarks' Python: a venv at target/bench-venv with bench/compare-requirements.txt's
# pinned packages, reinstalled when the pins change; prints its python. Two cores on the
# development machines: no numeric library takes more.
bench_python() {
  local venv=target/bench-venv req=bench/compare-requirements.txt
  if ! cmp -s "$req" "$venv/.requirements"; then
    echo "== installing $req into $venv" >&2
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$req" >&2
    cp "$req" "$venv/.requirements"
  fi
  echo "$venv/bin/python"
}


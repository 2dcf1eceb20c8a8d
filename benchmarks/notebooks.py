"""How long each chapter notebook took to execute in the last book build, against the
quick profile's budget (each notebook ≤ 3 min on 2 cores).

Reads the execution times myst-nb records in the book's execution cache; run it after
``make book`` (or ``make test``, which builds the book through the same cache):

    .venv/bin/python benchmarks/notebooks.py --out benchmarks/results/notebooks-cpu.md

A timing target belongs here, not in the test suite: a loaded or throttled machine
would make a timed test fail for reasons unrelated to the code.
"""
from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

BUDGET_S = 180
ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    from jupyter_cache import get_cache

    cache = get_cache(str(ROOT / "_build/.jupyter_cache"))
    records = {Path(r.uri).name: r for r in cache.list_cache_records()}
    lines = ["# Notebook execution times", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores; profile from the build "
             "(quick on a CPU machine). Budget: 180 s per notebook.", "",
             "| notebook | seconds | within budget |", "|---|---|---|"]
    over = 0
    for nb in sorted((ROOT / "book").glob("*.ipynb")):
        rec = records.get(nb.name)
        if rec is None:
            lines.append(f"| {nb.name} | not executed yet | |")
            continue
        t = float(rec.data.get("execution_seconds", float("nan")))
        over += t > BUDGET_S
        lines.append(f"| {nb.name} | {t:.0f} | {'yes' if t <= BUDGET_S else 'NO'} |")
    print("\n".join(lines))
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())

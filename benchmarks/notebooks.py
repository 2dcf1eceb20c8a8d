"""How long each chapter notebook takes to execute, against the quick profile's budget
(each notebook ≤ 3 min on 2 cores).

Two ways to measure:

* default: read the execution times myst-nb recorded in the book's execution cache; run it
  after ``make book`` (or ``make test``, which builds the book through the same cache). In a
  book build the chapters share one checkpoint folder, so a chapter that finds another
  chapter's quick checkpoints loads them instead of training (the comparison chapter trains
  every method's; the method chapters then load theirs): these are *build* times.
* ``--fresh``: execute every chapter on its own, each with an empty checkpoint folder, the
  way a student runs one chapter on a fresh laptop: these are the times the workshop guide
  quotes (training included).

    .venv/bin/python benchmarks/notebooks.py --out benchmarks/results/notebooks-cpu.md
    .venv/bin/python benchmarks/notebooks.py --fresh --out benchmarks/results/notebooks-fresh-cpu.md

A timing target belongs here, not in the test suite: a loaded or throttled machine
would make a timed test fail for reasons unrelated to the code.
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

BUDGET_S = 180
ROOT = Path(__file__).resolve().parents[1]


def cached_times() -> dict[str, float]:
    """Execution seconds per notebook name from the book's jupyter-cache."""
    from jupyter_cache import get_cache

    cache = get_cache(str(ROOT / "_build/.jupyter_cache"))
    return {Path(r.uri).name: float(r.data.get("execution_seconds", float("nan")))
            for r in cache.list_cache_records()}


def fresh_time(nb_path: Path, timeout: int = 1800) -> float:
    """Execute one notebook with an empty checkpoint folder (quick profile); wall seconds."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(nb_path, as_version=4)
    with tempfile.TemporaryDirectory() as ckpt:
        old = {k: os.environ.get(k) for k in ("INPAINTLIB_CHECKPOINTS", "INPAINTLIB_PROFILE")}
        os.environ["INPAINTLIB_CHECKPOINTS"] = ckpt
        os.environ.setdefault("INPAINTLIB_PROFILE", "quick")
        try:
            start = time.perf_counter()
            NotebookClient(nb, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": str(nb_path.parent)}}).execute()
            return time.perf_counter() - start
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None)
    ap.add_argument("--fresh", action="store_true",
                    help="execute each chapter alone with an empty checkpoint folder")
    args = ap.parse_args()
    notebooks = sorted((ROOT / "book").glob("*.ipynb"))
    if args.fresh:
        how = ("each chapter executed alone with an empty checkpoint folder (training included), "
               f"{time.strftime('%Y-%m-%d')}")
        times = {}
        for nb in notebooks:
            times[nb.name] = fresh_time(nb)
            print(f"{nb.name}: {times[nb.name]:.0f} s", flush=True)
    else:
        how = "from the last book build's execution cache (chapters share one checkpoint folder)"
        times = cached_times()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = ["# Notebook execution times", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, load average {load:.1f} at the end; "
             f"profile {os.environ.get('INPAINTLIB_PROFILE') or 'quick'}; {how}. Budget: {BUDGET_S} s per notebook.", "",
             "| notebook | seconds | within budget |", "|---|---|---|"]
    over = 0
    for nb in notebooks:
        t = times.get(nb.name)
        if t is None:
            lines.append(f"| {nb.name} | not executed yet | |")
            continue
        over += t > BUDGET_S
        lines.append(f"| {nb.name} | {t:.0f} | {'yes' if t <= BUDGET_S else 'NO'} |")
    print("\n".join(lines))
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())

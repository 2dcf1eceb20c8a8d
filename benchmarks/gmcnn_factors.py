"""GMCNN's missed target, one factor at a time: which change of the reference run moves its
PSNR toward Telea's?

The GMCNN reference model (``python -m inpaintlib.reference build gmcnn``: 64 px, width ×0.25,
1,500 + 300 steps, free-form holes) misses the book's target — beat the best classical
baseline in the 40–60 % bucket, come within 0.5 dB of it in 20–40 % — by about 2 dB. This
script trains short runs of the same recipe (300 pre-training + 60 fine-tuning steps, seed 0,
one CPU thread) that each change one thing against a base run, and scores each exactly as
the reference cards are scored (:func:`inpaintlib.reference.evaluate_reference`: the held-out
sample-bank photos, 24 fixed free-form masks per bucket, composited) beside Telea and the
mean-colour fill at the run's own size:

* ``base``: the reference's settings at a fifth of its steps;
* ``pretrain_only``: no fine-tuning phase (no ID-MRF, no critics), the same number of steps;
* ``lr``: pre-training at 5e-4 instead of 2e-4;
* ``width``: the generator twice as wide (×0.5);
* ``size``: 128 px instead of 64 (the confidence kernel scales with the image);
* ``steps``: three times the steps (900 + 180).

The ``gap`` columns are GMCNN − Telea; a factor's effect is its gap minus the base's. Each
run trains on the 14 sample-bank training photos only (``mate-backgrounds``/``opencv-doc`` are
never used). A full run takes about 35 minutes on two CPU cores:

    .venv/bin/python benchmarks/gmcnn_factors.py                  # all factors
    .venv/bin/python benchmarks/gmcnn_factors.py --factors base width
    .venv/bin/python benchmarks/gmcnn_factors.py --scale 0.1      # a smoke run (tests)

Runs already in ``--json`` are kept and not retrained; the Markdown table goes to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import _provenance  # noqa: E402  (benchmarks/, the script's folder)

BASE = dict(image_size=64, width=0.25, pretrain_steps=300, finetune_steps=60, masks="free_form")
FACTORS = {
    "base": ("the reference's settings, 300 + 60 steps", {}),
    "pretrain_only": ("pre-training only, 360 steps (no ID-MRF, no critics)", dict(pretrain_steps=360, finetune_steps=0)),
    "lr": ("pre-training learning rate 5e-4 (2e-4)", dict(lr_pretrain=5e-4)),
    "width": ("generator width ×0.5 (×0.25)", dict(width=0.5)),
    "size": ("128 px (64 px)", dict(image_size=128)),
    "steps": ("3× the steps, 900 + 180", dict(pretrain_steps=900, finetune_steps=180)),
}


def run_factor(name: str, scale: float, per_bucket: int, work: Path) -> dict:
    import torch

    from inpaintlib import reference
    from inpaintlib.registry import get_recipe

    overrides = {**BASE, **FACTORS[name][1]}
    for k, v in list(overrides.items()):
        if k.endswith("_steps") and v:
            overrides[k] = max(1, int(round(v * scale)))
    start = time.perf_counter()
    net = get_recipe("gmcnn")(profile="quick", out_dir=work / name, overrides=overrides, seed=0, progress=False)
    wall = time.perf_counter() - start
    net = net.cpu().float().eval()
    with torch.no_grad():
        scores = reference.evaluate_reference({"gmcnn": net}, overrides["image_size"], per_bucket=per_bucket)
    buckets = [b for b in scores["gmcnn"]]
    return {"overrides": overrides, "train_seconds": round(wall, 1),
            "psnr": {b: {m: scores[m][b]["psnr"]["mean"] for m in ("gmcnn", "telea", "mean_colour")} for b in buckets},
            "se": {b: scores["gmcnn"][b]["psnr"]["se"] for b in buckets}}


def table(results: dict, header: str) -> str:
    base = results.get("base")
    lines = [header, "",
             "| run | size | train s | GMCNN 20–40 % | Telea | gap | GMCNN 40–60 % | Telea | gap | effect on the gaps |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, (label, _) in FACTORS.items():
        r = results.get(name)
        if r is None:
            continue
        cells, gaps = [], []
        for b in ("20–40%", "40–60%"):
            p = r["psnr"][b]
            gap = p["gmcnn"] - p["telea"]
            gaps.append(gap)
            cells += [f"{p['gmcnn']:.2f} ± {r['se'][b]:.2f}", f"{p['telea']:.2f}", f"{gap:+.2f}"]
        if base is not None and name != "base":
            bg = [base["psnr"][b]["gmcnn"] - base["psnr"][b]["telea"] for b in ("20–40%", "40–60%")]
            effect = f"{gaps[0] - bg[0]:+.2f} / {gaps[1] - bg[1]:+.2f} dB"
        else:
            effect = "—"
        lines.append(f"| {label} | {r['overrides']['image_size']} px | {r['train_seconds']:.0f} | "
                     + " | ".join(cells) + f" | {effect} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--factors", nargs="+", choices=list(FACTORS), default=list(FACTORS))
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every phase's steps (smoke runs)")
    ap.add_argument("--per-bucket", type=int, default=None, help="masks per bucket (default: the cards' 24)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "gmcnn-factors-cpu.json"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "gmcnn-factors-cpu.md"))
    args = ap.parse_args(argv)

    import torch

    from inpaintlib import reference

    torch.set_num_threads(args.threads)
    per_bucket = args.per_bucket or reference.EVAL_PER_BUCKET
    path = Path(args.json)
    results = json.loads(path.read_text()) if path.is_file() else {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.factors:
            if name in results:
                continue
            results[name] = run_factor(name, args.scale, per_bucket, Path(tmp))
            print(f"{name}: {json.dumps(results[name]['psnr'])}", flush=True)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    commit, load = _provenance.commit(), _provenance.load_average()
    header = (f"# GMCNN: one factor at a time\n\nMachine: {platform.machine()}, {os.cpu_count()} cores, "
              f"{args.threads} thread(s) per run, load average {load:.1f} at the end (shared machine: times are "
              f"upper bounds); torch {torch.__version__}; commit {commit}; {time.strftime('%Y-%m-%d')}. "
              f"Seed 0, free-form holes, the 14 sample-bank training photos; scored like the reference cards "
              f"(held-out photos, {per_bucket} fixed masks per bucket, composited; PSNR mean ± SE in dB). "
              f"Steps ×{args.scale:g}. Gap = GMCNN − Telea; effect = the run's gaps minus the base run's "
              "(20–40 % / 40–60 %).")
    text = table(results, header) + "\n"
    print(text)
    Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

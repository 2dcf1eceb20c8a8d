"""The input pipeline alone: training images per second at 256 px, per number of data workers.

A teacher sizing a GPU session needs to know whether the data keeps the GPU busy. This
script builds, in a temporary folder and from the offline sample bank (nothing is
downloaded), a small dataset laid out like the prepared CelebA (178×218 JPEG faces-sized
photos, the partition file) and NVIDIA training masks (512-px PNGs), then times the
streams the recipes train on, through :class:`inpaintlib.data.Prefetched` with 0, 1, 2, …
worker processes:

* ``ctsdg``: CelebA (centre 178 crop → 256) + augmented NVIDIA masks + the two Canny maps
  per image (``EdgePairs``), batch 6;
* ``pconv``: the same images and masks without edges, batch 6.

Beside each, the images/s a training step consumes on a GPU, read from the newest
``benchmarks/results/gpu_check-*.json`` when one exists (``benchmarks/gpu_check.py``);
without one the column says so. A pipeline slower than the GPU step starves the GPU: add
workers (the profiles use 4 in ``workshop`` and 8 in ``paper``) or a machine with more cores.

    .venv/bin/python benchmarks/loader.py                      # writes benchmarks/results/loader-cpu.md
    .venv/bin/python benchmarks/loader.py --workers 0 1 2 4 --seconds 20
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import _provenance  # noqa: E402  (benchmarks/, the script's folder)
from inpaintlib.data import CelebA, Prefetched, TrainingPairs, sample_bank_images  # noqa: E402
from inpaintlib.masks import NvidiaMasks, generate  # noqa: E402

STREAMS = ("ctsdg", "pconv")


def make_fake_data(root: Path, n_images: int = 48, n_masks: int = 24) -> Path:
    """A CelebA-like folder (178×218 JPEGs cut from the sample bank's training photos, every
    image in partition 0) and 512-px free-form PNG masks as ``nvidia_masks/train``."""
    photos = [img for _, img in sample_bank_images("train")]
    faces = root / "celeba" / "img_align_celeba"
    faces.mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines = []
    for i in range(n_images):
        arr = (photos[i % len(photos)].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        h, w = arr.shape[:2]
        top, left = int(rng.integers(0, max(1, h - 218))), int(rng.integers(0, max(1, w - 178)))
        crop = Image.fromarray(arr[top:top + 218, left:left + 178]).resize((178, 218))
        name = f"{i + 1:06d}.jpg"
        crop.save(faces / name, quality=95)
        lines.append(f"{name} 0")
    (root / "celeba" / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    masks = root / "nvidia_masks" / "train"
    masks.mkdir(parents=True)
    for i in range(n_masks):
        m = generate("free_form", 512, ratio=(0.05, 0.3), seed=i)[0].numpy()
        Image.fromarray((m * 255).astype(np.uint8)).save(masks / f"{i:05d}.png")
    return root


def stream(name: str, root: Path, size: int, batch: int):
    pairs = TrainingPairs(batch, size, images=CelebA(root / "celeba", size=size),
                          masks=NvidiaMasks(root / "nvidia_masks", size=size), ratio=None, seed=0)
    if name == "ctsdg":
        from inpaintlib.recipes.ctsdg import EdgePairs

        return EdgePairs(pairs, 2.0)
    return pairs


def time_stream(data, workers: int, seconds: float, min_batches: int = 4) -> dict:
    """Batches per second from ``Prefetched(data, workers)`` after the workers' first batch."""
    pre = Prefetched(data, num_workers=workers, pin_memory=False)
    it = pre.batches(0)
    batch = next(it)                                   # start-up: workers fork, first decode
    n_images = batch[0].shape[0]
    count, start = 0, time.perf_counter()
    while count < min_batches or time.perf_counter() - start < seconds:
        next(it)
        count += 1
    elapsed = time.perf_counter() - start
    pre.close()
    return {"workers": workers, "batches": count, "s_per_batch": elapsed / count,
            "images_per_s": count * n_images / elapsed}


def gpu_step_rates() -> dict:
    """``{recipe: (images/s of its fastest measured training step, device)}`` from the newest GPU check."""
    files = sorted(glob.glob(str(ROOT / "benchmarks" / "results" / "gpu_check-*.json")), key=os.path.getmtime)
    for path in reversed(files):
        try:
            rec = json.loads(Path(path).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(rec, list):
            rec = rec[-1] if rec else {}
        if rec.get("dry_run"):
            continue
        device = (rec.get("device_info") or {}).get("name", "GPU")
        best = {}
        for entry in rec.get("training_steps", []):
            if entry.get("status") != "ok" or "images_per_s" not in entry:
                continue
            recipe = str(entry.get("case", "")).split("/")[0]
            if entry["images_per_s"] > best.get(recipe, (0, ""))[0]:
                best[recipe] = (entry["images_per_s"], f"{device}, {entry.get('variant')}")
        if best:
            return best
    return {}


def render(rows: list, gpu: dict, args) -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = ["# Input pipeline: training images per second", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, load average {load:.1f} at the end; "
             f"torch {torch.__version__}; commit {_provenance.commit()}; {time.strftime('%Y-%m-%d')}. "
             f"{args.size} px, batch {args.batch}, fake CelebA-layout JPEGs and 512-px NVIDIA-layout masks "
             f"made from the sample bank; each figure after the workers' first batch, over ≥ {args.seconds:g} s.",
             "", "| stream | workers | s / batch | images / s | GPU step consumes (images / s) | verdict |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        rate = gpu.get(r["stream"])
        if rate:
            need = f"{rate[0]:.0f} ({rate[1]})"
            verdict = "keeps up" if r["images_per_s"] >= rate[0] else \
                f"starves the GPU ({r['images_per_s'] / rate[0]:.0%} of its rate)"
        else:
            need, verdict = "no GPU record yet", "—"
        lines.append(f"| {r['stream']} | {r['workers']} | {r['s_per_batch']:.3f} | {r['images_per_s']:.1f} | "
                     f"{need} | {verdict} |")
    lines += ["", "`ctsdg` includes the two Canny maps per image (`EdgePairs`); `pconv` is images and masks only. "
              "With 0 workers the training process makes each batch before its step, so a step costs data + GPU "
              "time; with workers the batches are made while the GPU computes, so a step costs the larger of the "
              "two, and the pipeline's rate grows with the workers up to the number of free cores (more workers "
              "than cores only help while one waits on the disk)."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--streams", nargs="+", default=list(STREAMS), choices=STREAMS)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=6)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--images", type=int, default=48, help="images in the fake dataset")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "loader-cpu.md"))
    args = p.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = make_fake_data(Path(tmp), n_images=args.images)
        for name in args.streams:
            for w in args.workers:
                r = {"stream": name, **time_stream(stream(name, root, args.size, args.batch), w, args.seconds)}
                rows.append(r)
                print(f"{name:>6}, {w} workers: {r['s_per_batch']:.3f} s/batch, {r['images_per_s']:.1f} images/s",
                      flush=True)
    text = render(rows, gpu_step_rates(), args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_suffix(out.suffix + ".tmp")
    tmp_out.write_text(text)
    os.replace(tmp_out, out)
    print(text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
